"""Central's database read and written directly by tests, on either engine: a URL in, rows
out that answer `row[0]` and `row["column"]`, with `?` placeholders on both engines.

A separate connection each time (SQLite's WAL, and PostgreSQL, let it read beside the
server's own)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from asr_central.storage import engine_of


def is_postgres(url: str) -> bool:
    return engine_of(url) == "postgresql"


def sqlite_file(url: str) -> Path:
    """The file of a `sqlite:///` URL (the tests about the SQLite file itself)."""
    assert not is_postgres(url), url
    return Path(url.removeprefix("sqlite:///"))


def query(url: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """The rows of one statement (committed at once if it writes)."""
    if is_postgres(url):
        import psycopg

        from asr_central.storage.postgres.dialect import placeholders, row_factory
        with psycopg.connect(url, autocommit=True, row_factory=row_factory,
                             cursor_factory=psycopg.RawCursor) as conn:
            cur = conn.execute(placeholders(sql), params)
            return cur.fetchall() if cur.description is not None else []
    conn = sqlite3.connect(sqlite_file(url), isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def tables(url: str) -> list[str]:
    """The names of the tables in the database, sorted."""
    if is_postgres(url):
        sql = ("SELECT table_name FROM information_schema.tables "
               "WHERE table_schema = current_schema() ORDER BY table_name")
    else:
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table' "
               "AND name NOT LIKE 'sqlite_%' ORDER BY name")
    return [r[0] for r in query(url, sql)]


def columns(url: str, table: str) -> list[str]:
    """The column names of `table`, in order."""
    if is_postgres(url):
        return [r[0] for r in query(
            url, "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                 "current_schema() AND table_name = ? ORDER BY ordinal_position", (table,))]
    return [r["name"] for r in query(url, f"PRAGMA table_info({table})")]
