"""The leader lock of the workers on one database, on each engine: the SQLite file's OS lock
and PostgreSQL's session advisory lock. One holder at a time; the lock dies with the process
that holds it (kill -9, a real process), and is given back at shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from asr_central.storage.base import Leadership
from asr_central.storage.postgres.leader import AdvisoryLeadership
from asr_central.storage.sqlite.leader import FileLeadership

Factory = Callable[[], Leadership]

# A worker that takes the lock, says so, and waits to be killed.
HOLDER = """
import sys, time
from pathlib import Path
engine, where = sys.argv[1], sys.argv[2]
if engine == "sqlite":
    from asr_central.storage.sqlite.leader import FileLeadership
    lead = FileLeadership(Path(where))
else:
    from asr_central.storage.postgres.leader import AdvisoryLeadership
    lead = AdvisoryLeadership(where)
assert lead.try_acquire()
print("held", flush=True)
time.sleep(600)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "central.db")
    return "postgres", str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make(engine: tuple[str, str]) -> Iterator[Factory]:
    made: list[Leadership] = []

    def factory() -> Leadership:
        kind, where = engine
        lead: Leadership = (FileLeadership(Path(where)) if kind == "sqlite"
                            else AdvisoryLeadership(where))
        made.append(lead)
        return lead

    yield factory
    for lead in made:
        lead.release()


def test_one_worker_leads_at_a_time_and_hands_over_at_shutdown(make: Factory) -> None:
    first, second = make(), make()
    assert first.try_acquire() and first.held
    assert not second.try_acquire() and not second.held
    assert first.try_acquire()  # still held, checked
    first.release()
    assert not first.held
    assert second.try_acquire() and second.held
    assert not first.try_acquire()


def test_the_lock_dies_with_a_killed_leader(engine: tuple[str, str], make: Factory) -> None:
    kind, where = engine
    with subprocess.Popen([sys.executable, "-c", HOLDER, kind, where], stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
                          ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == b"held"
            follower = make()
            assert not follower.try_acquire()
            holder.send_signal(signal.SIGKILL)
            holder.wait(10)
            # the lock is freed as the process goes; a few tries leave the server time
            assert any(follower.try_acquire() or _pause() for _ in range(50))
        finally:
            if holder.poll() is None:
                holder.kill()


def _pause() -> bool:
    time.sleep(0.1)
    return False
