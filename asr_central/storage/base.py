"""The storage seam the service programs against: a database that hands out units of work,
and what a unit of work is to the storage functions.

The service opens a database with `asr_central.storage.open_database(url)` and passes the
unit of work it gets from `connection()`, `transaction()` or `write()` to the storage
functions of the subject modules (`asr_central.storage.<subject>`), whichever engine the URL
named. No SQL, and no driver module, is written in the service.

A unit of work (`Connection`) is the one surface both engines give the subject modules:
`execute(sql, params)` with `?` placeholders, `executemany`, a cursor with `rowcount`,
`fetchone`, `fetchall` and iteration, rows addressable by position and by column name
(`dict(row)` gives the columns). SQLite's own connection is one as it stands; the
PostgreSQL engine translates the placeholders (asr_central.storage.postgres.dialect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from asr_core import migrations

__all__ = ["Connection", "Cursor", "Row", "UnitOfWork", "Database", "Leadership"]

T = TypeVar("T")


class Row(Protocol):
    """One result row: `row[0]`, `row["column"]`, unpacking, and `dict(row)`."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def keys(self) -> list[str]: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What `execute` returns: the rows of a query, or how many rows a write touched."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...  # a Row, or None past the last

    def fetchall(self) -> list[Any]: ...  # Rows

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """A unit of work: statements in portable SQL with `?` placeholders."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any: ...


# The name the service knows a unit of work by.
UnitOfWork = Connection


class Leadership(Protocol):
    """Which of the workers on one database runs the leader's jobs (the policy, retention,
    the notifier): a lock the engine holds for this process and frees when it dies (an OS
    file lock beside a SQLite file, a PostgreSQL session advisory lock), so another worker
    takes over at its next try."""

    @property
    def held(self) -> bool:
        """Whether this process held the lock at the last try."""
        ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free, without waiting; True while this process holds it
        (a held lock is checked to be still held)."""
        ...

    def release(self) -> None:
        """Give the lock up (at shutdown), so that another worker need not wait for a try."""
        ...


class Database(Protocol):
    """One database: units of work in the caller's thread, group-committed writes from the
    event loop, and the signal that it was closed (background workers stop on it)."""

    url: str

    @property
    def closed(self) -> bool: ...

    @property
    def engine(self) -> str:
        """"sqlite" or "postgresql"."""
        ...

    def wait_closed(self, timeout: float) -> bool:
        """True once `close()` was called; waits at most `timeout` seconds for it."""
        ...

    def connection(self) -> Connection:
        """A unit of work for reads outside a transaction (each statement on its own)."""
        ...

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction, committed on leaving the block, rolled back on an exception."""
        ...

    async def write(self, work: Callable[[Connection], T]) -> T:
        """`work(unit)`'s result once the group transaction that ran it is durable."""
        ...

    def leadership(self) -> Leadership:
        """This process's stake in the leadership of the workers on this database (one
        object per Database)."""
        ...

    def ping(self) -> None:
        """A round trip to the database; raises StoreError if it does not answer."""
        ...

    def migration_status(self) -> migrations.Status:
        """The schema version, applied and pending migrations (nothing is changed)."""
        ...

    def reset_identities(self) -> None:
        """Set each generated id's next value past the largest stored (after a bulk load
        that wrote the ids itself); nothing to do where the engine derives it."""
        ...

    def close(self) -> None: ...
