"""The leadership of the workers on one PostgreSQL database: a session advisory lock
(`pg_try_advisory_lock`) held on a connection of its own, outside any pool, so that no
other work ever runs on it or hands it back. The server frees the lock when the session
ends: the process exits or dies, or its connection breaks; another worker then takes it at
its next try. Advisory locks are per database: centrals on other databases of the same
server do not contend."""

from __future__ import annotations

import hashlib
import logging
import threading

import psycopg

__all__ = ["LEADER_KEY", "AdvisoryLeadership"]

log = logging.getLogger("asr_central.leader")

# The lock's key: a fixed 64-bit number derived from a name, so that it reads as ours in
# pg_locks and no other advisory lock user picks it by chance.
LEADER_KEY = int.from_bytes(hashlib.sha256(b"asr-central leader").digest()[:8], "big",
                            signed=True)

# A broken connection must be noticed within a try or two: TCP keepalives on the lock's
# connection (a leader cut off from the server loses its lock there as the server sees it).
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
               "keepalives_count": 3}


class AdvisoryLeadership:
    """`storage.base.Leadership` for the PostgreSQL database at `conninfo` (a URL)."""

    def __init__(self, conninfo: str, *, key: int = LEADER_KEY,
                 connect_timeout: float = 5.0) -> None:
        self.conninfo = conninfo
        self.key = key
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None
        self._guard = threading.Lock()
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        with self._guard:
            try:
                if self._held:
                    assert self._conn is not None
                    # the session alive is the lock held: only release() unlocks it
                    self._conn.execute("SELECT 1")
                    return True
                conn = self._connection()
                row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                self._held = bool(row and row[0])
            except psycopg.Error as exc:
                if self._held:
                    log.warning("this worker lost the leadership: its lock connection broke "
                                "(%s); another worker takes over", exc)
                else:
                    log.warning("cannot try the leadership (%s); trying again later", exc)
                self._drop()
                return False
        if self._held:
            log.info("this worker leads: it runs the policy, retention and the notifier "
                     "(advisory lock %d)", self.key)
        return self._held

    def _connection(self) -> psycopg.Connection[tuple[object, ...]]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.conninfo, autocommit=True,
                                         connect_timeout=max(1, round(self.connect_timeout)),
                                         application_name="asr-central leader",
                                         **_KEEPALIVES)  # type: ignore[arg-type]
        return self._conn

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass  # it is broken already: nothing to give back

    def release(self) -> None:
        with self._guard:
            if self._held and self._conn is not None:
                try:
                    self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
                except psycopg.Error:
                    pass  # closing the session below frees it anyway
            self._drop()
