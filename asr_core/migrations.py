"""Schema migrations for both programs' SQLite files: numbered `NNN_name.sql` files shipped
in a package, applied in order, each once, each in its own transaction, recorded in a
ledger table. A database whose ledger names a migration newer than any the code ships was
written by a newer version: it is refused, not run against.

Each program keeps its own ledger table (the agent's `schema_version`, central's
`schema_migrations`) so that existing files need no conversion. Never edit an applied
migration; add one with the next free number.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from importlib.resources.abc import Traversable

from asr_core.errors import StoreError

__all__ = ["Migration", "Ledger", "load", "apply", "split_sql", "schema_version"]

_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    number: int
    name: str  # the file name, e.g. 010_registry_orders.sql
    sql: str


@dataclass(frozen=True)
class Ledger:
    """Where applied migrations are recorded: `table(<column> INTEGER PRIMARY KEY, name,
    applied_at)`. `name_is_file` says whether `name` holds the file name or only the part between the
    number and `.sql`."""

    table: str
    column: str
    name_is_file: bool = True


def load(folder: Traversable) -> list[Migration]:
    """The migrations shipped in `folder` (`importlib.resources.files(...)`), by number."""
    found = [Migration(int(m.group(1)), entry.name, entry.read_text(encoding="utf-8"))
             for entry in folder.iterdir()
             if (m := _NAME.match(entry.name))]
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(numbers) != len(set(numbers)):
        raise StoreError(f"two migrations share a number in {folder}: {numbers}; the package "
                         "is damaged, reinstall it")
    return found


def schema_version(conn: sqlite3.Connection, ledger: Ledger) -> int:
    """The newest migration applied (0 for none)."""
    row = conn.execute(f"SELECT COALESCE(MAX({ledger.column}), 0) FROM {ledger.table}").fetchone()
    return int(row[0])


def _applied(conn: sqlite3.Connection, ledger: Ledger) -> set[int]:
    return {int(row[0]) for row in conn.execute(f"SELECT {ledger.column} FROM {ledger.table}")}


def apply(conn: sqlite3.Connection, migrations: list[Migration], ledger: Ledger, *,
          applied_at: str, where: str, program: str) -> list[str]:
    """Apply the migrations `conn`'s database lacks; returns their file names.

    `conn` is in autocommit mode (isolation_level=None). `where` names the database and
    `program` the program in errors. A migration missing from the ledger is applied even
    if newer ones are recorded. Each migration runs under BEGIN IMMEDIATE, after checking again that no other
    process applied it meanwhile.
    """
    try:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {ledger.table} ({ledger.column} INTEGER "
                     "PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)")
        applied = _applied(conn, ledger)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{where}: cannot read its schema version ({exc}); if the file is "
                         "damaged, move it aside") from None
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
            # executescript would COMMIT implicitly; statements run inside our transaction.
            conn.execute("BEGIN IMMEDIATE")
            if migration.number in _applied(conn, ledger):
                conn.execute("COMMIT")  # another process applied it meanwhile
                continue
            for statement in split_sql(migration.sql):
                conn.execute(statement)
            conn.execute(f"INSERT INTO {ledger.table} ({ledger.column}, name, applied_at) "
                         "VALUES (?, ?, ?)", (migration.number, stem, applied_at))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"{where}: migration {migration.name} failed ({exc}); nothing of "
                             "it was applied") from None
        done.append(migration.name)
    return done


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
