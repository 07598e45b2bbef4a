"""Schema migrations for both programs' databases: numbered `NNN_name.sql` files shipped in
a package, applied in order, each once, each in its own transaction, recorded in a ledger
table. A database whose ledger names a migration newer than any the code ships was written
by a newer version: it is refused, not run against.

Each program keeps its own ledger table (the agent's `schema_version`, central's
`schema_migrations`) so that existing files need no conversion. Never edit an applied
migration; add one with the next free number.

One runner for every engine: `apply` takes a SQLite connection as it is, or a `Target`
that another engine's adapter writes (central's PostgreSQL engine does: its own DDL words,
its own lock). A file `NNN_name.<engine>.sql` beside `NNN_name.sql` is that migration's
text for that engine, for a statement that has no portable form; the SQLite text is the
plain file.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from typing import Any, Protocol

from asr_core.errors import StoreError

__all__ = ["Migration", "Ledger", "Target", "SqliteTarget", "Status", "load", "apply",
           "status", "split_sql", "schema_version"]

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)(?:\.([a-z]+))?\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # the file name, e.g. 010_registry_orders.sql
    sql: str
    # engine -> the text of `NNN_name.<engine>.sql`, where one is shipped
    variants: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Ledger:
    """Where applied migrations are recorded: `table(<column> INTEGER PRIMARY KEY, name,
    applied_at)`. `name_is_file` says whether `name` holds the file name or only the part between the
    number and `.sql`."""

    table: str
    column: str
    name_is_file: bool = True


class Target(Protocol):
    """One engine's database as the runner drives it."""

    errors: tuple[type[Exception], ...]  # the driver's errors, reported as StoreError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (`?` placeholders); its rows, if any."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """A transaction that holds the database's migration lock: another process
        migrating at the same moment waits for it. Committed on leaving, rolled back on an
        exception."""
        ...

    def statements(self, migration: Migration) -> list[str]:
        """The statements of `migration` in this engine's words."""
        ...


class SqliteTarget:
    """A SQLite connection in autocommit mode (isolation_level=None): the lock is
    BEGIN IMMEDIATE, the file's one writer."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.conn.execute(sql, params).fetchall()]

    @contextmanager
    def locked(self) -> Iterator[None]:
        # executescript would COMMIT implicitly; statements run inside our transaction.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        finally:
            if self.conn.in_transaction:  # an exception, or a COMMIT that failed
                self.conn.execute("ROLLBACK")

    def statements(self, migration: Migration) -> list[str]:
        return split_sql(migration.variants.get("sqlite", migration.sql))


def load(folder: Traversable) -> list[Migration]:
    """The migrations shipped in `folder` (`importlib.resources.files(...)`), by number."""
    plain: list[Migration] = []
    variants: dict[int, dict[str, str]] = {}
    for entry in folder.iterdir():
        m = _NAME.match(entry.name)
        if not m:
            continue
        if m.group(3) is None:
            plain.append(Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8")))
        else:
            variants.setdefault(int(m.group(1)), {})[m.group(3)] = entry.read_text(
                encoding="utf-8")
    plain.sort(key=lambda m: m.number)
    numbers = [m.number for m in plain]
    if len(numbers) != len(set(numbers)):
        raise StoreError(f"two migrations share a number in {folder}: {numbers}; the package "
                         "is damaged, reinstall it")
    orphans = set(variants) - set(numbers)
    if orphans:
        raise StoreError(f"an engine's migration text has no plain migration in {folder}: "
                         f"{sorted(orphans)}; the package is damaged, reinstall it")
    return [Migration(m.number, m.name, m.sql, variants.get(m.number, {})) for m in plain]


def _target(conn: sqlite3.Connection | Target) -> Target:
    return SqliteTarget(conn) if isinstance(conn, sqlite3.Connection) else conn


def schema_version(conn: sqlite3.Connection | Target, ledger: Ledger) -> int:
    """The newest migration applied (0 for none)."""
    rows = _target(conn).execute(f"SELECT COALESCE(MAX({ledger.column}), 0) FROM {ledger.table}")
    return int(rows[0][0])


def _applied(target: Target, ledger: Ledger) -> dict[int, str]:
    return {int(row[0]): str(row[1]) for row in
            target.execute(f"SELECT {ledger.column}, applied_at FROM {ledger.table}")}


def _ledger_sql(ledger: Ledger) -> str:
    return (f"CREATE TABLE IF NOT EXISTS {ledger.table} ({ledger.column} INTEGER "
            "PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL);")


def _read_ledger(target: Target, ledger: Ledger, where: str) -> dict[int, str]:
    try:
        if isinstance(target, SqliteTarget):
            target.execute(_ledger_sql(ledger))
        else:
            # Two processes creating the table at once clash on other engines: under the lock.
            with target.locked():
                for statement in target.statements(Migration(0, "ledger", _ledger_sql(ledger))):
                    target.execute(statement)
        return _applied(target, ledger)
    except target.errors as exc:
        raise StoreError(f"{where}: cannot read its schema version ({exc}); if the file is "
                         "damaged, move it aside") from None


def apply(conn: sqlite3.Connection | Target, migrations: list[Migration], ledger: Ledger, *,
          applied_at: str, where: str, program: str) -> list[str]:
    """Apply the migrations `conn`'s database lacks; returns their file names.

    A SQLite `conn` is in autocommit mode (isolation_level=None). `where` names the database
    and `program` the program in errors. A migration missing from the ledger is applied even
    if newer ones are recorded. Each migration runs under the target's lock (SQLite: BEGIN
    IMMEDIATE), after checking again that no other process applied it meanwhile.
    """
    target = _target(conn)
    applied = _read_ledger(target, ledger, where)
    newest = max((m.number for m in migrations), default=0)
    current = max(applied, default=0)
    if current > newest:
        raise StoreError(f"{where} has schema version {current}, newer than this {program} "
                         f"knows ({newest}); upgrade the {program} or restore an older copy")
    done: list[str] = []
    for migration in migrations:
        if migration.number in applied:
            continue
        stem = (migration.name if ledger.name_is_file
                else migration.name.removesuffix(".sql").split("_", 1)[1])
        try:
            with target.locked():
                if migration.number in _applied(target, ledger):
                    continue  # another process applied it meanwhile
                for statement in target.statements(migration):
                    target.execute(statement)
                target.execute(f"INSERT INTO {ledger.table} ({ledger.column}, name, applied_at) "
                               "VALUES (?, ?, ?)", (migration.number, stem, applied_at))
        except target.errors as exc:
            raise StoreError(f"{where}: migration {migration.name} failed ({exc}); nothing of "
                             "it was applied") from None
        done.append(migration.name)
    return done


@dataclass(frozen=True)
class Status:
    """Where a database stands: the newest migration applied, the applied ones (number,
    name as recorded, applied_at) and the files not applied yet."""

    version: int
    applied: tuple[tuple[int, str, str], ...]
    pending: tuple[str, ...]
    newer_than_code: bool


def status(conn: sqlite3.Connection | Target, migrations: list[Migration], ledger: Ledger, *,
           where: str) -> Status:
    """What `apply` would do, without doing it (a database never migrated has applied none)."""
    target = _target(conn)
    try:
        present = target.execute(f"SELECT 1 FROM {ledger.table} WHERE 1 = 0") is not None
    except target.errors:
        present = False
    applied: dict[int, tuple[int, str, str]] = {}
    if present:
        try:
            applied = {int(r[0]): (int(r[0]), str(r[1]), str(r[2])) for r in target.execute(
                f"SELECT {ledger.column}, name, applied_at FROM {ledger.table}")}
        except target.errors as exc:
            raise StoreError(f"{where}: cannot read its schema version ({exc})") from None
    newest = max((m.number for m in migrations), default=0)
    return Status(max(applied, default=0), tuple(applied[n] for n in sorted(applied)),
                  tuple(m.name for m in migrations if m.number not in applied),
                  max(applied, default=0) > newest)


def split_sql(sql: str) -> list[str]:
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
