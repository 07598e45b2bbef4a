"""kill -9 while writing: the store still opens, is intact and holds every acknowledged sample."""

from __future__ import annotations

import importlib.util
import random
from pathlib import Path

import pytest

_BENCH = Path(__file__).resolve().parent.parent / "bench" / "store_crash.py"
_spec = importlib.util.spec_from_file_location("store_crash_bench", _BENCH)
assert _spec is not None and _spec.loader is not None
crash = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(crash)

ROUNDS = 50


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_sample(tmp_path: Path) -> None:
    """50 writers killed with SIGKILL at random moments (same writer as bench/store_crash.py)."""
    rng = random.Random(20260302)
    db = tmp_path / "crash.sqlite3"
    start, acked_all = 0, []
    for round_no in range(ROUNDS):
        acked, start = crash.crash_round(db, start, rng, max_delay=0.08)
        assert acked, f"round {round_no}: the writer acknowledged nothing before the kill"
        acked_all += acked
        integrity, missing = crash.check(db, acked_all)
        assert integrity == "ok", f"round {round_no}: integrity_check says {integrity}"
        assert missing == 0, f"round {round_no}: {missing} acknowledged readings lost"
    assert len(acked_all) > ROUNDS
