"""The storage seam the service programs against: a database that hands out units of work,
and what a unit of work is to the service (nothing it may look into).

The service opens a database with `asr_central.storage.open_database(url)` and passes the
unit of work it gets from `transaction()` or `write()` to the storage functions of the
subject modules (`asr_central.storage.<subject>`), whichever engine the URL named. No SQL, and no driver module, is written in the service.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol, TypeVar

__all__ = ["UnitOfWork", "Database", "Leadership"]

T = TypeVar("T")


class UnitOfWork(Protocol):
    """An open connection or transaction of the adapter: opaque to the service, which only
    hands it to storage functions."""


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

    def wait_closed(self, timeout: float) -> bool:
        """True once `close()` was called; waits at most `timeout` seconds for it."""
        ...

    def connection(self) -> UnitOfWork:
        """This thread's connection, for reads outside a transaction."""
        ...

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """A write transaction, committed on leaving the block, rolled back on an exception."""
        ...

    async def write(self, work: Callable[[UnitOfWork], T]) -> T:
        """`work(unit)`'s result once the group transaction that ran it is durable."""
        ...

    def leadership(self) -> Leadership:
        """This process's stake in the leadership of the workers on this database (one
        object per Database)."""
        ...

    def ping(self) -> None:
        """A round trip to the database; raises StoreError if it does not answer."""
        ...

    def close(self) -> None: ...
