"""What several workers on one database share, kept in it rather than in one process's
memory: control-message nonces already used, the admin throttle's counts (a `limits`
storage), and when each job of the leader last ran and is next due.

Portable SQL with `?` placeholders (SQLite and PostgreSQL). A job is claimed by a compare-
and-set on its row (`next_due_at` as read): of two workers that find it due, one wins,
whatever the engine's isolation level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from limits.storage import MovingWindowSupport, Storage

from asr_central.storage import times
from asr_central.storage.base import Connection, Database

__all__ = ["first_use", "prune_nonces", "JobRun", "job_run", "claim_job", "set_job_mark", "reschedule_job",
           "newest_summary_id", "RateLimitStorage", "MAX_WINDOW_S"]


# ------------------------------------------------------------------------------ nonces

def first_use(conn: Connection, agent_id: str, nonce: str, now: datetime) -> bool:
    """Record `nonce` of `agent_id` as used; False if it was used before (a replay)."""
    row = conn.execute(
        "INSERT INTO control_nonces (agent_id, nonce, seen_at) VALUES (?, ?, ?) "
        "ON CONFLICT (agent_id, nonce) DO NOTHING RETURNING agent_id",
        (agent_id, nonce, times.stamp(now))).fetchone()
    return row is not None


def prune_nonces(conn: Connection, before: datetime) -> int:
    """Forget nonces first used before `before` (their messages are stale by then)."""
    cur = conn.execute("DELETE FROM control_nonces WHERE seen_at < ?", (times.stamp(before),))
    return int(cur.rowcount)


# ------------------------------------------------------------------------------ job cadence

@dataclass(frozen=True, slots=True)
class JobRun:
    job: str
    started_at: datetime
    next_due_at: datetime
    runner: str
    mark: int


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def job_run(conn: Connection, job: str) -> JobRun | None:
    """The job's last run as recorded, or None if it never ran."""
    row = conn.execute("SELECT job, started_at, next_due_at, runner, mark FROM job_runs "
                       "WHERE job = ?", (job,)).fetchone()
    if row is None:
        return None
    return JobRun(row[0], _parse(row[1]), _parse(row[2]), row[3], int(row[4]))


def claim_job(conn: Connection, job: str, now: datetime, interval: timedelta,
              runner: str, *, mark: int | None = None) -> bool:
    """Start `job` if it is due at `now` (never ran, or its next due time has come); True
    if this caller won it. It is then due again `interval` later; `mark` (default: kept)
    is stored as the job's cursor. Atomic on both engines: the update applies only to the
    row as it was read, so of two workers that read it due, one wins."""
    row = conn.execute("SELECT next_due_at, mark FROM job_runs WHERE job = ?",
                       (job,)).fetchone()
    started, due = times.stamp(now), times.stamp(now + interval)
    if row is None:
        won = conn.execute(
            "INSERT INTO job_runs (job, started_at, next_due_at, runner, mark) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (job) DO NOTHING RETURNING job",
            (job, started, due, runner, mark or 0)).fetchone()
        return won is not None
    if _parse(row[0]) > now:
        return False
    won = conn.execute(
        "UPDATE job_runs SET started_at = ?, next_due_at = ?, runner = ?, mark = ? "
        "WHERE job = ? AND next_due_at = ? RETURNING job",
        (started, due, runner, int(row[1]) if mark is None else mark, job, row[0])).fetchone()
    return won is not None


def set_job_mark(conn: Connection, job: str, mark: int) -> None:
    """Move `job`'s cursor to `mark` (after a run that completed)."""
    conn.execute("UPDATE job_runs SET mark = ? WHERE job = ? AND mark < ?", (mark, job, mark))


def reschedule_job(conn: Connection, job: str, due_at: datetime) -> None:
    """Make `job` due at `due_at` (sooner: a backlog to go on with)."""
    conn.execute("UPDATE job_runs SET next_due_at = ? WHERE job = ?",
                 (times.stamp(due_at), job))


def newest_summary_id(conn: Connection) -> int:
    """The id of the newest summary stored by any worker (0 for none): a policy run compares
    it with its mark to know whether anything arrived since."""
    row = conn.execute("SELECT COALESCE(MAX(id), 0) FROM summaries").fetchone()
    return int(row[0])


# ------------------------------------------------------------------------------ rate limits

_Clock = Callable[[], float]
# Hits older than this are dropped whichever address made them (a guesser's many addresses
# leave no rows for good); no window may be longer.
MAX_WINDOW_S = 86_400


class RateLimitStorage(Storage, MovingWindowSupport):
    """A `limits` storage in central's database, so that every worker counts the same hits:
    the moving window (one row per hit, pruned as it slides) and fixed-window counters.

    The window test and the hit are two statements, as in `limits`' own storages: two
    workers can each let one attempt past the limit at the same instant, which a throttle
    against guessing tolerates."""

    STORAGE_SCHEME = None  # built from a Database, not from a URI

    def __init__(self, db: Database, *, clock: _Clock = time.time) -> None:
        super().__init__()
        self.db = db
        self._clock = clock

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ()  # database errors surface as they are: the service logs them

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _read(self) -> Connection:
        return self.db.connection()

    def _write(self) -> AbstractContextManager[Connection]:
        return self.db.transaction()

    # moving window

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        if expiry > MAX_WINDOW_S:
            raise ValueError(f"a rate limit window of {expiry} s is longer than the "
                             f"{MAX_WINDOW_S} s this storage keeps hits for")
        if amount > limit:
            return False
        now = self._now_ms()
        start = now - expiry * 1000
        with self._write() as conn:
            conn.execute("DELETE FROM rate_limit_hits WHERE hit_at_ms < ?",
                         (now - MAX_WINDOW_S * 1000,))
            conn.execute("DELETE FROM rate_limit_hits WHERE limit_key = ? AND hit_at_ms < ?",
                         (key, start))
            count = conn.execute("SELECT COUNT(*) FROM rate_limit_hits WHERE limit_key = ?",
                                 (key,)).fetchone()[0]
            if int(count) + amount > limit:
                return False
            conn.executemany("INSERT INTO rate_limit_hits (limit_key, hit_at_ms) VALUES (?, ?)",
                             [(key, now)] * amount)
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = self._now_ms()
        row = self._read().execute(
            "SELECT COUNT(*), MIN(hit_at_ms) FROM rate_limit_hits WHERE limit_key = ? "
            "AND hit_at_ms >= ?", (key, now - expiry * 1000)).fetchone()
        count = int(row[0])
        return (int(row[1]) / 1000 if count else now / 1000), count

    # fixed window

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = self._now_ms()
        with self._write() as conn:
            conn.execute("DELETE FROM rate_limit_counters WHERE expires_at_ms < ?", (now,))
            row = conn.execute(
                "INSERT INTO rate_limit_counters (limit_key, hits, expires_at_ms) "
                "VALUES (?, ?, ?) ON CONFLICT (limit_key) DO UPDATE SET "
                "hits = CASE WHEN rate_limit_counters.expires_at_ms <= ? "
                "THEN excluded.hits ELSE rate_limit_counters.hits + excluded.hits END, "
                "expires_at_ms = CASE WHEN rate_limit_counters.expires_at_ms <= ? "
                "THEN excluded.expires_at_ms ELSE rate_limit_counters.expires_at_ms END "
                "RETURNING hits", (key, amount, now + expiry * 1000, now, now)).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        row = self._read().execute(
            "SELECT hits FROM rate_limit_counters WHERE limit_key = ? AND expires_at_ms > ?",
            (key, self._now_ms())).fetchone()
        return int(row[0]) if row is not None else 0

    def get_expiry(self, key: str) -> float:
        row = self._read().execute(
            "SELECT expires_at_ms FROM rate_limit_counters WHERE limit_key = ? "
            "AND expires_at_ms > ?", (key, self._now_ms())).fetchone()
        return int(row[0]) / 1000 if row is not None else self._clock()

    # housekeeping

    def check(self) -> bool:
        try:
            self.db.ping()
        except Exception:  # noqa: BLE001 - `limits` asks for a yes or no
            return False
        return True

    def reset(self) -> int | None:
        with self._write() as conn:
            hits = conn.execute("DELETE FROM rate_limit_hits").rowcount
            counters = conn.execute("DELETE FROM rate_limit_counters").rowcount
        return int(hits) + int(counters)

    def clear(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM rate_limit_hits WHERE limit_key = ?", (key,))
            conn.execute("DELETE FROM rate_limit_counters WHERE limit_key = ?", (key,))
