"""The central service's one storage entry point: open a database by URL, migrate it,
hand out transactions. The subject modules in `asr_central.storage` take the connection it gives.

URLs: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a bare file path.
PostgreSQL (`postgresql://…`) is the other engine (asr_central.storage.postgres); the
subject modules write portable SQL with `?` placeholders that both run.

Migrations are the numbered `NNN_name.sql` files in `asr_central/storage/migrations/`, applied
at start by `asr_core.migrations` (in order, each once, each in its own transaction, recorded in
`schema_migrations`; a database of a newer version is refused). Anyone adding tables adds a new
file with the next free number; never edit an applied one.

Durability: an agent forgets a summary once central has acknowledged it, so a commit must
be on disk before its answer leaves: WAL with `synchronous=FULL` (the WAL is fsynced at
every commit; `NORMAL` could lose the last commits to a power cut or kernel crash).
An fsync costs milliseconds, so ingest does not commit per request: `write()` is the group
commit both engines share (asr_central.storage.group_commit), one transaction and one
commit for the writes queued while the previous commit was in progress.

Writers in this process take one lock before `BEGIN IMMEDIATE`: waiting on a Python lock
wakes the next writer as soon as the lock is free, whereas SQLite's busy handler polls
with sleeps of 1 to 100 ms and turned concurrent writers into a convoy.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from asr_core import migrations
from asr_core.errors import ConfigError, StoreError
from asr_central.storage import migrations as schema
from asr_central.storage.group_commit import GroupCommit
from asr_central.storage.sqlite.leader import FileLeadership
from asr_central.storage.times import stamp

BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another process's write

T = TypeVar("T")


__all__ = ["Database", "open_database", "sqlite_path_from_url"]


def sqlite_path_from_url(url: str) -> Path:
    if "://" not in url:
        return Path(url)
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///rel.db -> "rel.db"; sqlite:////abs/x.db -> "/abs/x.db"
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"database URL {url!r} names no file; write sqlite:///path.db",
                              key="db")
        return Path(path)
    raise ConfigError(f"database URL scheme {parsed.scheme!r} is not supported; use "
                      "sqlite:///path.db or postgresql://user@host:port/database", key="db")


class Database:
    """A SQLite file in WAL mode, one connection per thread, migrations applied at open;
    `transaction()` for a write in the caller's thread, `submit()` for group-committed ones."""

    engine = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path_from_url(url)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        # A plain lock: the group commit takes it on the event loop and releases it in its
        # commit thread. `_writer` tells a nested transaction() from a wait (see there).
        self._write_lock = threading.Lock()
        self._writer: int | None = None
        self._group: _GroupCommit | None = None
        self._closed = threading.Event()
        self._leadership: FileLeadership | None = None

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float) -> bool:
        """True once `close()` was called; waits at most `timeout` seconds for it."""
        return self._closed.wait(timeout)

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE in transaction()).
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")  # durable at commit (module docstring)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the central database ({exc}); "
                             "check the --db path and its directory permissions") from exc
        with self._lock:
            self._all.append(conn)
        return conn

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: taken at once (no lock upgrade deadlocks), committed or rolled back."""
        conn = self.connection()
        if self._writer == threading.get_ident():
            # Nested in this thread's own transaction: SQLite refuses it with a clear error
            # ("cannot start a transaction within a transaction") where the lock would wait
            # forever.
            conn.execute("BEGIN IMMEDIATE")
            raise StoreError("a transaction is already open in this thread")
        with self._write_lock:
            self._writer = threading.get_ident()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                else:
                    conn.execute("COMMIT")
            finally:
                self._writer = None

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(conn)`'s result once the transaction that ran it is committed and on disk.

        Call from the event loop. Work queued while a commit is in progress runs in the next
        group: one transaction, each job under its own savepoint (a job that raises rolls
        back alone and its exception is raised here), one commit. The statements run on the
        event loop's thread, which holds the GIL anyway, and so does BEGIN when the write
        lock is free; the commit (the fsync), and waiting for a lock another writer holds,
        run in a helper thread, so the loop keeps serving requests. Each hop to that thread
        and back costs CPU and, on a busy machine, milliseconds of waiting: one per group.
        """
        loop = asyncio.get_running_loop()
        group = self._group
        if group is None or group.loop is not loop:
            group = self._group = _GroupCommit(self, loop)
        return await group.run(work)

    def leadership(self) -> FileLeadership:
        """The leader lock of the workers on this file (see sqlite.leader)."""
        with self._lock:
            if self._leadership is None:
                self._leadership = FileLeadership(self.path.absolute())
            return self._leadership

    def ping(self) -> None:
        """A round trip to the file (the health check)."""
        try:
            self.connection().execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: the central database does not answer ({exc})") from exc

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        return migrations.apply(self.connection(), schema.files(), schema.LEDGER,
                                applied_at=stamp(datetime.now(UTC)),
                                where=f"the central database {self.path}",
                                program="central service")

    def migration_status(self) -> migrations.Status:
        """Where the file's schema stands; a missing file is an error, not created."""
        if not self.path.exists():
            raise StoreError(f"{self.path}: no central database there; check the --db path")
        return migrations.status(self.connection(), schema.files(), schema.LEDGER,
                                 where=f"the central database {self.path}")

    def reset_identities(self) -> None:
        """Nothing to do: SQLite's next AUTOINCREMENT id follows the largest stored one."""

    def close(self) -> None:
        self._closed.set()
        if self._leadership is not None:
            self._leadership.release()
        group, self._group = self._group, None
        if group is not None:
            group.executor.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class _GroupCommit(GroupCommit[sqlite3.Connection, sqlite3.Connection]):
    """The group commit of one Database on one event loop (see `Database.write`)."""

    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.db = db
        self.conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self.conn is None:
            conn = self.db._connect()
            # BEGIN on the event loop must not wait: a busy database is waited for by
            # begin_waiting, in the commit thread.
            conn.execute("PRAGMA busy_timeout=0")
            self.conn = conn
        return self.conn

    def begin_at_once(self) -> sqlite3.Connection | None:
        if not self.db._write_lock.acquire(blocking=False):
            return None
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # busy (another process writes): wait in the thread
            self.db._write_lock.release()
            return None
        except BaseException:
            self.db._write_lock.release()
            raise
        return conn

    def begin_waiting(self) -> sqlite3.Connection:
        conn = self._connection()
        self.db._write_lock.acquire()
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute("PRAGMA busy_timeout=0")
        except BaseException:
            self.db._write_lock.release()
            raise
        return conn

    def end(self, conn: sqlite3.Connection, commit: bool) -> None:
        try:
            conn.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            try:
                if conn.in_transaction:  # a failed COMMIT leaves it open
                    conn.execute("ROLLBACK")
            finally:
                self.db._write_lock.release()

    def unit(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        return conn

    def describe(self, exc: BaseException) -> str:
        return f"{self.db.path}: {exc}"


def open_database(url: str, *, migrate: bool = True) -> Database:
    """The database at `url`, migrated unless `migrate` is False."""
    db = Database(url)
    if migrate:
        db.migrate()
    return db
