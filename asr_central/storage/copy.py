"""Copying one central database into another, on any engine (SQLite to PostgreSQL when a
dealer outgrows one host), and proving the copy: per table, the row count and a digest
of the rows that both engines compute alike.

The tables are listed here in foreign-key order (parents first), each with its primary
key; a test holds the list to the schema, so a migration that adds a table fails it until
the table is listed. The migration ledger is not copied: both databases were migrated by
this version when opened, and their schema versions are compared instead.

Rows are read in primary-key order, a batch at a time (keyset pagination: `WHERE key >
last ORDER BY key LIMIT n`, never an open cursor over a whole table), and written in one
transaction, so a copy that fails leaves the destination as empty as it was.

The digest: each row's values, by column name, normalised (bytes and memoryview alike, an integral float
as an int, so SQLite's REAL 5.0 and PostgreSQL's 5 agree), hashed, and the row hashes
summed modulo 2**256. A sum does not depend on the order rows are read in, which differs
between engines for text keys (SQLite compares bytes, PostgreSQL its collation).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from asr_core.errors import StoreError
from asr_central.storage.base import UnitOfWork

__all__ = ["BATCH", "TABLES", "TRANSIENT", "Table", "TableCheck", "copy_rows", "check_table",
           "filled_tables", "normalise"]

# Rows per read and per executemany: a summary row carries its payload (a few kB).
BATCH = 500


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    key: tuple[str, ...]


# Foreign-key order: a table comes after every table it references.
TABLES: tuple[Table, ...] = (
    Table("agents", ("agent_id",)),
    Table("agent_keys", ("key_id",)),
    Table("enrollment_tokens", ("token_hash",)),
    Table("summaries", ("id",)),
    Table("cartridge_events", ("id",)),
    Table("device_status", ("serial",)),
    Table("supply_latest", ("device_serial", "supply_index")),
    Table("supply_history", ("device_serial", "supply_index", "day")),
    Table("summary_retention", ("name",)),
    Table("contacts", ("contact_id",)),
    Table("sites", ("site_id",)),
    Table("registry_devices", ("serial",)),
    Table("supply_catalog", ("part_number",)),
    Table("orders", ("order_id",)),
    Table("order_lines", ("line_id",)),
    Table("shipped_cartridges", ("cartridge_serial",)),
    Table("central_alerts", ("alert_key",)),
    Table("usage_changes", ("device_serial", "supply_key", "started_at")),
    Table("replenish_state", ("name",)),
    Table("job_runs", ("job",)),
    Table("console_users", ("username",)),
    Table("console_user_sites", ("username", "site_id")),
    Table("console_audit", ("audit_id",)),
    Table("mail_events", ("event_key",)),
    Table("mail_outbox", ("message_id",)),
)

# Not copied: what a running central keeps for minutes or hours (replay nonces of control
# calls, the throttles' counts, console sessions: people sign in again on the new database).
TRANSIENT = frozenset({"control_nonces", "rate_limit_hits", "rate_limit_counters",
                       "console_sessions"})


@dataclass(frozen=True, slots=True)
class TableCheck:
    """One table of both databases: row counts and digests (hex)."""

    table: str
    source_rows: int
    dest_rows: int
    source_digest: str
    dest_digest: str

    @property
    def ok(self) -> bool:
        return self.source_rows == self.dest_rows and self.source_digest == self.dest_digest


def _execute(conn: UnitOfWork, sql: str, params: Sequence[Any] = ()) -> Any:
    return conn.execute(sql, tuple(params))  # type: ignore[attr-defined, unused-ignore]


def columns(conn: UnitOfWork, table: Table) -> list[str]:
    """The table's columns, in the order of its definition; [] for an empty table on a
    unit of work whose results carry no description (the names then come from a row)."""
    cursor = _execute(conn, f"SELECT * FROM {table.name} LIMIT 1")
    description = getattr(cursor, "description", None)
    if description:
        return [d[0] for d in description]
    row = cursor.fetchone()
    return list(row.keys()) if row is not None else []


def filled_tables(conn: UnitOfWork) -> list[str]:
    """The listed tables that hold at least one row."""
    return [t.name for t in TABLES
            if _execute(conn, f"SELECT 1 FROM {t.name} LIMIT 1").fetchone() is not None]


def _batches(conn: UnitOfWork, table: Table, cols: Sequence[str],
             batch: int) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows in key order, `batch` at a time."""
    key = ", ".join(table.key)
    select = f"SELECT {', '.join(cols)} FROM {table.name}"
    at = [cols.index(k) for k in table.key]
    last: tuple[Any, ...] | None = None
    while True:
        if last is None:
            rows = _execute(conn, f"{select} ORDER BY {key} LIMIT ?", (batch,)).fetchall()
        else:
            marks = ", ".join("?" for _ in table.key)
            rows = _execute(conn, f"{select} WHERE ({key}) > ({marks}) ORDER BY {key} LIMIT ?",
                            (*last, batch)).fetchall()
        if not rows:
            return
        out = [tuple(row[i] for i in range(len(cols))) for row in rows]
        yield out
        if len(rows) < batch:
            return
        last = tuple(out[-1][i] for i in at)


def copy_rows(source: UnitOfWork, dest: UnitOfWork, table: Table, *, batch: int = BATCH,
              progress: Callable[[str, int], None] | None = None) -> int:
    """Insert every row of `table` from `source` into `dest`; returns how many."""
    cols = columns(source, table)
    if not cols:
        return 0  # empty
    known = columns(dest, table)
    missing = set(cols) - set(known) if known else set()
    if missing:
        raise StoreError(f"table {table.name}: the destination has no column "
                         f"{', '.join(sorted(missing))}; both must have the same schema version")
    insert = (f"INSERT INTO {table.name} ({', '.join(cols)}) "
              f"VALUES ({', '.join('?' for _ in cols)})")
    copied = 0
    for rows in _batches(source, table, cols, batch):
        dest.executemany(insert, [tuple(_writable(v) for v in row) for row in rows])  # type: ignore[attr-defined, unused-ignore]
        copied += len(rows)
        if progress is not None:
            progress(table.name, copied)
    return copied


def _writable(value: Any) -> Any:
    # PostgreSQL hands bytea out as memoryview; both drivers take bytes in.
    return bytes(value) if isinstance(value, (memoryview, bytearray)) else value


def normalise(value: Any) -> Any:
    """A value as both engines' drivers agree on it (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (float, Decimal)):
        number = float(value)
        return int(number) if number.is_integer() else number
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"hex": bytes(value).hex()}  # a mapping: no text value can look like it
    return {"text": str(value)}


def check_table(source: UnitOfWork, dest: UnitOfWork, table: Table, *,
                batch: int = BATCH) -> TableCheck:
    """Row counts and digests of `table` in both databases."""
    (n_src, d_src), (n_dst, d_dst) = (_digest(conn, table, batch) for conn in (source, dest))
    return TableCheck(table.name, n_src, n_dst, d_src, d_dst)


def _digest(conn: UnitOfWork, table: Table, batch: int) -> tuple[int, str]:
    # columns by name: the digest must not depend on where an engine put a column
    cols = sorted(columns(conn, table))
    total, count = 0, 0
    if not cols:
        return 0, f"{0:064x}"
    for rows in _batches(conn, table, cols, batch):
        for row in rows:
            line = json.dumps([normalise(v) for v in row], separators=(",", ":"),
                              ensure_ascii=False).encode()
            total = (total + int.from_bytes(hashlib.sha256(line).digest(), "big")) % 2**256
            count += 1
    return count, f"{total:064x}"
