"""The central service's one storage entry point: open a database by URL, migrate it,
hand out transactions. Store modules in `asr_central.store` take the connection it gives.

URLs: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, or a bare file path.
PostgreSQL (`postgresql://…`) is the planned scale-out target; the store modules write
portable SQL with `?` placeholders so an adapter here can translate them.

Migrations are the numbered `NNN_name.sql` files in `asr_central/migrations/`, applied in
order at start, each once, each in its own transaction, recorded in `schema_migrations`.
Anyone adding tables adds a new file with the next free number; never edit an applied one.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from urllib.parse import urlparse

from asr_agent.errors import ConfigError, StoreError

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")

__all__ = ["Database", "open_database", "sqlite_path_from_url", "migration_files"]


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
    if parsed.scheme in {"postgresql", "postgres"}:
        raise ConfigError("PostgreSQL is not supported by this version yet; use a sqlite:/// "
                          "URL", key="db")
    raise ConfigError(f"database URL scheme {parsed.scheme!r} is not supported; use sqlite:///",
                      key="db")


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) for every migration shipped in the package, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("asr_central.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort()
    numbers = [n for n, _, _ in found]
    if len(numbers) != len(set(numbers)):
        raise StoreError(f"two migrations share a number in asr_central/migrations: {numbers}")
    return found


class Database:
    """A SQLite file in WAL mode, one connection per thread, migrations applied at open."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path_from_url(url)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE in transaction()).
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=10.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at checkpoint, never corrupt
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=10000")
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def migrate(self) -> list[str]:
        """Apply the migrations not yet applied; returns their names."""
        conn = self.connection()
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        applied = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
        done: list[str] = []
        for number, name, sql in migration_files():
            if number in applied:
                continue
            try:
                # executescript would COMMIT implicitly; run statements inside our own transaction.
                conn.execute("BEGIN IMMEDIATE")
                for statement in _split_sql(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (number, name, applied_at) "
                             "VALUES (?, ?, ?)", (number, name, datetime.now(UTC).isoformat()))
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                conn.execute("ROLLBACK")
                raise StoreError(f"migration {name} failed on {self.path}: {exc}") from exc
            done.append(name)
        return done

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def _split_sql(sql: str) -> list[str]:
    """Statements of a migration file; `sqlite3.complete_statement` respects triggers and quotes."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise StoreError(f"unterminated SQL statement in a migration: {buffer.strip()[:80]!r}")
    return statements


def open_database(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db
