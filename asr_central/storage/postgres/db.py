"""Central's database on PostgreSQL: a psycopg connection pool, transactions, group commit
and migrations, with the contract of the SQLite engine (asr_central.storage.sqlite.db).

URLs: `postgresql://user:password@host:port/database?options` (or `postgres://`), as libpq
reads them. The password never appears in an error or a log line: every text that names
the database names it by `asr_core.secret.redact_url`, and the driver's messages are
scrubbed of it.

Units of work: `connection()` runs each statement on its own (autocommit) on a connection
borrowed from the pool for that statement, so a thread holds none between requests;
`transaction()` borrows one for the block. Writers take one transaction-scoped advisory lock
after BEGIN (`WRITE_LOCK`): the subject modules were written against SQLite's one writer at
a time (a check, then a write, in one transaction), and under PostgreSQL's READ COMMITTED two
writers could both pass the same check. Within a process a Python lock is taken first, so
that waiting writers hold no pooled connection and wake as soon as it is free.

Durability: a summary is acknowledged only once its commit is durable. Every connection
sets `synchronous_commit = on` (a server configured otherwise could lose acknowledged
commits to a crash), so COMMIT returns once the WAL is flushed. `write()` is the group
commit both engines share (asr_central.storage.group_commit). Each statement is a round trip
to the server: BEGIN and the write lock go as one.

Text PostgreSQL cannot store: a NUL character (U+0000) in a text parameter raises
`UnstorableText` (a StoreError the service answers 422) before the statement is sent, not the
driver's DataError (a 500) after it. The service refuses such text where it comes in and names
the field (asr_central.service.api.storable); this check is the net under that one, for a
route, command or job that forgot it, and costs a scan of each statement's parameters.

Migrations are the files of `asr_central.storage.migrations`, applied by
`asr_core.migrations` at open, each in a transaction holding `MIGRATION_LOCK` (an advisory
lock): several workers may start at once, one applies, the others find it done.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from asr_core import migrations
from asr_core.errors import StoreError
from asr_core.secret import redact_url, url_password
from asr_central.storage import migrations as schema
from asr_central.storage.group_commit import GroupCommit
from asr_central.storage.postgres.dialect import ddl, placeholders, row_factory
from asr_central.storage.postgres.leader import AdvisoryLeadership
from asr_central.storage.text import UnstorableText
from asr_central.storage.times import stamp

__all__ = ["Database", "open_database", "is_postgres_url", "MIGRATION_LOCK", "WRITE_LOCK"]

# Advisory lock keys (64-bit, any value no other program on the database uses).
MIGRATION_LOCK = 0x415352_6D6967  # "ASR" "mig"
WRITE_LOCK = 0x415352_777269      # "ASR" "wri"
POOL_SIZE = 10             # connections per process at most
CONNECT_TIMEOUT_S = 10     # a server that does not answer in this time is reported
POOL_WAIT_S = 30.0         # how long a statement waits for a free pooled connection
LOCK_WAIT = "10s"          # how long a writer waits for another process's write (lock_timeout)

# One round trip each (several statements without parameters go as one simple query).
_BEGIN_WRITING = (f"BEGIN; SET LOCAL lock_timeout = '{LOCK_WAIT}'; "
                  f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")
_BEGIN_IF_FREE = f"BEGIN; SELECT pg_try_advisory_xact_lock({WRITE_LOCK})"

T = TypeVar("T")



def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def _storable(sql: str, parameters: Sequence[Any]) -> Sequence[Any]:
    """`parameters`, if none is text with a NUL; else UnstorableText (module docstring)."""
    for i, value in enumerate(parameters):
        if isinstance(value, str) and "\x00" in value:
            said = " ".join(sql.split())[:60]
            raise UnstorableText(
                f"parameter {i + 1} of `{said}…` holds a NUL character (U+0000), "
                "which PostgreSQL text cannot hold: remove it from the input that brought it")
    return parameters


def _all_storable(sql: str, seq_of_parameters: Iterable[Sequence[Any]]
                  ) -> Iterator[Sequence[Any]]:
    # lazily: a bulk load's rows are never all held at once
    return (_storable(sql, parameters) for parameters in seq_of_parameters)


class _Unit:
    """A unit of work on one connection: portable SQL (`?` placeholders) said to psycopg."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> psycopg.Cursor[Any]:
        return self._conn.execute(placeholders(sql), _storable(sql, parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> None:
        rows = _all_storable(sql, seq_of_parameters)
        with self._conn.cursor() as cur:
            cur.executemany(placeholders(sql), rows)


class _Result:
    """The rows of a statement that ran on its own (`Database.connection()`)."""

    __slots__ = ("rows", "rowcount", "_at")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self.rows = rows
        self.rowcount = rowcount
        self._at = 0

    def fetchone(self) -> Any:
        if self._at >= len(self.rows):
            return None
        self._at += 1
        return self.rows[self._at - 1]

    def fetchall(self) -> list[Any]:
        rest, self._at = self.rows[self._at:], len(self.rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class _Autocommit:
    """`Database.connection()`: each statement on a connection borrowed for it alone."""

    __slots__ = ("_db",)

    def __init__(self, db: Database) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> _Result:
        _storable(sql, parameters)
        with self._db._borrow() as conn:
            cur = conn.execute(placeholders(sql), parameters)
            rows = cur.fetchall() if cur.description is not None else []
            return _Result(rows, cur.rowcount)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> None:
        rows = _all_storable(sql, seq_of_parameters)
        with self._db._borrow() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(placeholders(sql), rows)


class Database:
    """A PostgreSQL database behind a pool; see the module docstring."""

    engine = "postgresql"

    def __init__(self, url: str) -> None:
        if not is_postgres_url(url):
            raise StoreError(f"{redact_url(url)} is not a PostgreSQL URL; write "
                             "postgresql://user@host:port/database")
        self.url = url
        self.shown = redact_url(url)  # the URL as errors and logs name it
        self._secret = url_password(url)
        self._pool = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, open=False,
                                    kwargs=self._connect_options(), configure=_configure,
                                    name="asr-central", timeout=POOL_WAIT_S)
        self._local = threading.local()
        self._leadership: AdvisoryLeadership | None = None
        self._leadership_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._group: _GroupCommit | None = None
        self._closed = threading.Event()
        self._reader = _Autocommit(self)

    # --- connections ---------------------------------------------------------------------

    @staticmethod
    def _connect_options() -> dict[str, Any]:
        # RawCursor: `$n` placeholders, sent as they are (dialect.placeholders)
        return {"autocommit": True, "row_factory": row_factory,
                "cursor_factory": psycopg.RawCursor, "connect_timeout": CONNECT_TIMEOUT_S}

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "<secret>") if self._secret else text

    def where(self) -> str:
        """The database as an error names it: host, port and database, no password."""
        try:
            info = conninfo_to_dict(self.url)
        except psycopg.Error:
            return self.shown
        host = info.get("host") or "localhost"
        port = info.get("port") or "5432"
        name = info.get("dbname") or info.get("user") or "(default)"
        return f"PostgreSQL database {name!r} on {host} port {port}"

    def _unreachable(self, exc: BaseException) -> StoreError:
        detail = " ".join(self._scrub(str(exc)).split()) or type(exc).__name__
        return StoreError(f"{self.where()}: cannot connect ({detail}); check that the server "
                          "runs and listens there, and the user, password and database name "
                          f"in the --db URL ({self.shown})")

    def connect(self) -> psycopg.Connection[Any]:
        """A connection of its own (not pooled), configured as the pool's are."""
        try:
            conn: psycopg.Connection[Any] = psycopg.connect(self.url, **self._connect_options())
        except psycopg.Error as exc:
            raise self._unreachable(exc) from None
        _configure(conn)
        return conn

    def open(self) -> None:
        """Open the pool (after migrate(): its connections are checked at once)."""
        try:
            self._pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            raise self._unreachable(exc) from None

    @contextmanager
    def _borrow(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            raise StoreError(f"{self.where()}: no connection free or possible within "
                             f"{POOL_WAIT_S:g} s ({self._scrub(str(exc))}); check that the "
                             "server runs, and its max_connections") from None

    # --- the contract --------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def wait_closed(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    def connection(self) -> _Autocommit:
        return self._reader

    @contextmanager
    def transaction(self) -> Iterator[_Unit]:
        """A write transaction holding the write lock; committed or rolled back."""
        if getattr(self._local, "writing", False):
            raise StoreError("cannot start a transaction within a transaction: one is already open "
                             "in this thread")
        with self._write_lock:
            self._local.writing = True
            try:
                with self._borrow() as conn:
                    try:
                        conn.execute(_BEGIN_WRITING)
                        yield _Unit(conn)
                        conn.execute("COMMIT")
                    finally:
                        if conn.info.transaction_status != TransactionStatus.IDLE:
                            conn.execute("ROLLBACK")
            finally:
                self._local.writing = False

    async def write(self, work: Callable[[_Unit], T]) -> T:
        """`work(unit)`'s result once the group transaction that ran it is committed and
        durable (see SQLite's `Database.write`: the same group commit)."""
        loop = asyncio.get_running_loop()
        group = self._group
        if group is None or group.loop is not loop:
            if group is not None:
                group.close()  # its loop ended (a test's asyncio.run): so did its work
            group = self._group = _GroupCommit(self, loop)
        return await group.run(work)

    def ping(self) -> None:
        try:
            with self._borrow() as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            raise StoreError(f"{self.where()}: the central database does not answer "
                             f"({self._scrub(str(exc))})") from exc

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        with self.connect() as conn:
            return migrations.apply(_Target(conn), schema.files(), schema.LEDGER,
                                    applied_at=stamp(datetime.now(UTC)),
                                    where=f"the central {self.where()}",
                                    program="central service")

    def migration_status(self) -> migrations.Status:
        with self.connect() as conn:
            return migrations.status(_Target(conn), schema.files(), schema.LEDGER,
                                     where=f"the central {self.where()}")

    def reset_identities(self) -> None:
        """After a bulk load that wrote the ids: each identity column's sequence set past
        the largest id stored, so the next row generated does not clash with one."""
        with self.transaction() as unit:
            conn = unit._conn
            columns = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND is_identity = 'YES'").fetchall()
            for table, column in columns:
                conn.execute(pgsql.SQL(
                    "SELECT setval(pg_get_serial_sequence($1, $2), "
                    "COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)").format(
                        column=pgsql.Identifier(column), table=pgsql.Identifier(table)),
                    (table, column))

    def leadership(self) -> AdvisoryLeadership:
        """The leader lock of the workers on this database (see postgres.leader)."""
        with self._leadership_lock:
            if self._leadership is None:
                self._leadership = AdvisoryLeadership(self.url)
            return self._leadership

    def close(self) -> None:
        self._closed.set()
        if self._leadership is not None:
            self._leadership.release()
        group, self._group = self._group, None
        if group is not None:
            group.close()
        self._pool.close()


def _configure(conn: psycopg.Connection[Any]) -> None:
    # Acknowledged means durable, whatever the server's default (module docstring).
    conn.execute("SET synchronous_commit = on")


class _Target:
    """`asr_core.migrations.Target` for a PostgreSQL connection in autocommit mode."""

    errors: tuple[type[Exception], ...] = (psycopg.Error,)

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(placeholders(sql), params)
        return [tuple(row) for row in cur.fetchall()] if cur.description is not None else []

    @contextmanager
    def locked(self) -> Iterator[None]:
        self.conn.execute("BEGIN")
        try:
            self.conn.execute("SELECT pg_advisory_xact_lock($1)", (MIGRATION_LOCK,))
            yield
            self.conn.execute("COMMIT")
        finally:
            if self.conn.info.transaction_status != TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")

    def statements(self, migration: migrations.Migration) -> list[str]:
        text = migration.variants.get("postgres")
        if text is not None:
            return migrations.split_sql(text)
        return [ddl(s) for s in migrations.split_sql(migration.sql)]


class _GroupCommit(GroupCommit[psycopg.Connection[Any], _Unit]):
    """The group commit of one Database on one event loop (see `Database.write`)."""

    def __init__(self, db: Database, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.db = db
        self.conn: psycopg.Connection[Any] | None = None

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self.conn is None or self.conn.closed:
            self.conn = self.db.connect()
        return self.conn

    def begin_at_once(self) -> psycopg.Connection[Any] | None:
        if not self.db._write_lock.acquire(blocking=False):
            return None
        try:
            conn = self._connection()
            cur = conn.execute(_BEGIN_IF_FREE)
            cur.nextset()  # past BEGIN's result, to the lock's
            got = cur.fetchone()
            if got is not None and got[0]:
                return conn
            conn.execute("ROLLBACK")  # another process writes: wait in the thread
        except BaseException:
            self._drop_broken()
            self.db._write_lock.release()
            raise
        self.db._write_lock.release()
        return None

    def begin_waiting(self) -> psycopg.Connection[Any]:
        self.db._write_lock.acquire()
        try:
            conn = self._connection()
            conn.execute(_BEGIN_WRITING)
        except BaseException:
            self._end_quietly()
            self.db._write_lock.release()
            raise
        return conn

    def _drop_broken(self) -> None:
        if self.conn is not None and self.conn.broken:
            self.conn.close()
            self.conn = None

    def _end_quietly(self) -> None:
        conn = self.conn
        try:
            if conn is not None and not conn.closed and \
                    conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
        except psycopg.Error:
            pass  # the connection is gone: dropped below
        self._drop_broken()

    def end(self, conn: psycopg.Connection[Any], commit: bool) -> None:
        try:
            conn.execute("COMMIT" if commit else "ROLLBACK")
        finally:
            try:
                self._end_quietly()  # a failed COMMIT leaves it open
            finally:
                self.db._write_lock.release()

    def unit(self, conn: psycopg.Connection[Any]) -> _Unit:
        return _Unit(conn)

    def describe(self, exc: BaseException) -> str:
        return f"{self.db.where()}: {self.db._scrub(str(exc))}"


def open_database(url: str, *, migrate: bool = True) -> Database:
    """The database at `url`, migrated (unless `migrate` is False), its pool open."""
    db = Database(url)
    if migrate:
        db.migrate()
    else:
        db.connect().close()  # reachable, or a StoreError that says why
    try:
        db.open()
    except BaseException:
        db.close()
        raise
    return db
