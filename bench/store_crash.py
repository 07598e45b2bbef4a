"""kill -9 a process writing readings into the store, many times; count what survives.

    .venv/bin/python bench/store_crash.py [--rounds 300] [--seed 1]

Each round starts a writer that records one reading per transaction and prints the
reading's number once `record_reading` has returned (the acknowledgement), kills it with
SIGKILL after a random delay, then checks that the store opens, `PRAGMA integrity_check`
says ok and every acknowledged reading is there. As a baseline for the cost of the
durability the writer's throughput is measured in the same run with synchronous=FULL
(the store's setting) and with synchronous=OFF.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

WRITER = r"""
import sys
from datetime import UTC, datetime, timedelta
from asr_core.records import Device, LevelState, Reading, Supply, SupplyClass, SupplyType, SupplyUnit
from asr_agent.adapters.store import Store

db, start, limit, sync = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
store = Store(db)
if sync != "FULL":
    store._conn().execute(f"PRAGMA synchronous = {sync}")
dev = Device("1.3.6.1.4.1.253.8.62.1.35.2.3.1.1", "Xerox AltaLink C8045", "CRASH1", "xerox", "C8045", True)
t0 = datetime(2026, 1, 1, tzinfo=UTC)
out = sys.stdout
for i in range(start, start + limit):
    sup = tuple(Supply(k, f"Toner {k}", SupplyType.TONER, SupplyClass.CONSUMED, None, SupplyUnit.TENTHS_OF_GRAMS,
                       5300, 5300 - i % 5000, (5300 - i % 5000) / 53, LevelState.OK, "006R01509", None, 5300 - i % 5000, 5300)
                for k in range(1, 5))
    store.record_reading(Reading("127.0.0.1", 161, t0 + timedelta(seconds=i), dev, sup, page_count=i))
    out.write(f"{i}\n")
    out.flush()
"""


def writer_cmd(db: Path, start: int, limit: int, sync: str = "FULL") -> list[str]:
    return [sys.executable, "-c", WRITER, str(db), str(start), str(limit), sync]


def crash_round(db: Path, start: int, rng: random.Random, *, max_delay: float = 0.15) -> tuple[list[int], int]:
    """One writer killed at a random moment; returns (acknowledged ids, next start)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    with subprocess.Popen(writer_cmd(db, start, 1_000_000), stdout=subprocess.PIPE, env=env) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and writing
        time.sleep(rng.uniform(0.0, max_delay))
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
    acked = [int(x) for x in (first + rest).split()]
    return acked, (max(acked) + 1 if acked else start)


def check(db: Path, acked: list[int]) -> tuple[str, int]:
    """(integrity_check result, how many acknowledged readings are missing)."""
    from datetime import UTC, datetime, timedelta

    from asr_agent.adapters.store import Store

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    with Store(db) as store:
        integrity = store.integrity_check()
        rows = store._conn().execute("SELECT taken_at FROM samples WHERE supply_index = 4").fetchall()
    have = {datetime.fromisoformat(r[0]) for r in rows}
    missing = sum(1 for i in acked if t0 + timedelta(seconds=i) not in have)
    return integrity, missing


def throughput(db: Path, sync: str, n: int = 1000) -> float:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t = time.perf_counter()
    subprocess.run(writer_cmd(db, 0, n, sync), check=True, stdout=subprocess.DEVNULL, env=env)
    return n / (time.perf_counter() - t)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "crash.sqlite3"
        start, acked_total, missing_total, bad = 0, 0, 0, 0
        t = time.perf_counter()
        all_acked: list[int] = []
        for _ in range(args.rounds):
            acked, start = crash_round(db, start, rng)
            all_acked += acked
            integrity, missing = check(db, all_acked)
            acked_total += len(acked)
            missing_total += missing
            bad += integrity != "ok"
        wall = time.perf_counter() - t
        full = throughput(Path(tmp) / "full.sqlite3", "FULL")
        off = throughput(Path(tmp) / "off.sqlite3", "OFF")
    print(f"rounds killed with SIGKILL:      {args.rounds} in {wall:.1f} s")
    print(f"readings acknowledged:           {acked_total}")
    print(f"acknowledged readings missing:   {missing_total}")
    print(f"integrity_check failures:        {bad}")
    print(f"readings/s synchronous=FULL:     {full:.0f}")
    print(f"readings/s synchronous=OFF:      {off:.0f}  (baseline; FULL/OFF = {full / off:.2f})")
    return 1 if missing_total or bad else 0


if __name__ == "__main__":
    sys.exit(main())
