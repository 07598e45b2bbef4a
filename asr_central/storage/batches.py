"""Statements over many rows at once: multi-row VALUES and IN lists, cut into a few sizes.

A statement per row costs a round trip each on PostgreSQL (a policy run touching 30,000
alerts spent a minute waiting on them); one statement per piece costs a few. Piece sizes are
powers of two so that a handful of statement texts, prepared once and cached, serve every
batch, and no piece passes SQLite's least limit on parameters (999).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any

from asr_central.storage.base import Connection, Row

__all__ = ["MOST_PARAMETERS", "pieces", "rows_sql", "write_rows", "select_in", "update_in"]

MOST_PARAMETERS = 999


def pieces(rows: int, most: int) -> Iterator[tuple[int, int]]:
    """(start, count) of the statements covering `rows` rows, `most` (a power of two) at a
    time: counts are powers of two."""
    start = 0
    while start < rows:
        count = min(most, 1 << ((rows - start).bit_length() - 1))
        yield start, count
        start += count


def most_rows(width: int) -> int:
    """The largest power of two of rows of `width` parameters within MOST_PARAMETERS."""
    return 1 << ((MOST_PARAMETERS // width).bit_length() - 1)


@functools.cache
def rows_sql(head: str, width: int, tail: str, rows: int) -> str:
    """`head` VALUES (?, …) × `rows` `tail`: one statement for `rows` rows."""
    row = "(" + ", ".join(["?"] * width) + ")"
    return head + " VALUES " + ", ".join([row] * rows) + tail


def write_rows(conn: Connection, head: str, width: int, tail: str, params: Sequence[Any],
               most: int | None = None) -> list[Row]:
    """Write the rows whose parameters `params` holds one after another (`width` each);
    returns what the statements return (`tail` may end in RETURNING)."""
    out: list[Row] = []
    for start, count in pieces(len(params) // width, most or most_rows(width)):
        cur = conn.execute(rows_sql(head, width, tail, count),
                           list(params[start * width:(start + count) * width]))
        if "RETURNING" in tail:
            out += cur.fetchall()
    return out


@functools.cache
def _in_sql(head: str, tail: str, count: int) -> str:
    return f"{head} IN ({', '.join(['?'] * count)}){tail}"


def select_in(conn: Connection, head: str, keys: Sequence[Any], tail: str = "",
              before: Sequence[Any] = ()) -> list[Row]:
    """The rows of `head` IN (keys…) `tail`, over all keys; `before` are the parameters of
    `head` itself."""
    out: list[Row] = []
    most = most_rows(1) // 2
    for start, count in pieces(len(keys), most):
        out += conn.execute(_in_sql(head, tail, count),
                            [*before, *keys[start:start + count]]).fetchall()
    return out


def update_in(conn: Connection, head: str, keys: Sequence[Any],
              before: Sequence[Any] = ()) -> int:
    """Run `head` IN (keys…) over all keys (an UPDATE or DELETE); the rows it changed."""
    changed = 0
    most = most_rows(1) // 2
    for start, count in pieces(len(keys), most):
        changed += conn.execute(_in_sql(head, "", count),
                                [*before, *keys[start:start + count]]).rowcount
    return changed
