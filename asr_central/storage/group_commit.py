"""The group commit both engines share: the writes queued while one commit is in progress
run as the next group, in one transaction and one commit.

A commit costs an fsync (SQLite) or a round trip and a WAL flush (PostgreSQL), so ingest
does not commit per request. Each job of a group runs under its own savepoint, so one that
raises rolls back alone and its exception reaches its own request; a job alone in its group
is its own transaction (two statements less). The statements run on the event loop's thread
(the work functions are the service's, written for it), and so does BEGIN when the write
lock is free at once; waiting for the lock, and the commit, run in one helper thread, so the
loop keeps serving requests. No request is answered before its own commit is durable.

An engine says how to begin (at once or waiting), how to end, what a job is handed and how
to name the database in a log line; the rest is here, once.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["MAX_GROUP", "GroupCommit"]

# Bounds one group's transaction (and the wait of the requests queued behind it).
MAX_GROUP = 256

T = TypeVar("T")
U = TypeVar("U")  # what a job is handed: the connection, or a wrapper of it

log = logging.getLogger("asr_central.db")


class _Executes(Protocol):
    def execute(self, sql: str, /) -> Any: ...


C = TypeVar("C", bound=_Executes)


class GroupCommit(abc.ABC, Generic[C, U]):
    """The group commit of one database on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        # One thread: commits run one after another, in order.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="asr-central-commit")
        self.pending: list[tuple[Callable[[U], Any], asyncio.Future[Any]]] = []
        self.running = False

    # --- what each engine says ------------------------------------------------------------

    @abc.abstractmethod
    def begin_at_once(self) -> C | None:
        """BEGIN and the write lock on the event loop if both are free, else None."""

    @abc.abstractmethod
    def begin_waiting(self) -> C:
        """BEGIN and the write lock in the commit thread, waiting for both."""

    @abc.abstractmethod
    def end(self, conn: C, commit: bool) -> None:
        """COMMIT or ROLLBACK, leave no transaction open, release the write lock."""

    @abc.abstractmethod
    def unit(self, conn: C) -> U:
        """What a job is handed to run its statements on."""

    @abc.abstractmethod
    def describe(self, exc: BaseException) -> str:
        """The database and a failure, for a log line (no secrets)."""

    # --- the loop -------------------------------------------------------------------------

    async def run(self, work: Callable[[U], T]) -> T:
        future: asyncio.Future[T] = self.loop.create_future()
        self.pending.append((work, future))
        if not self.running:
            self.running = True
            self.loop.create_task(self._cycle())
        return await future

    async def _cycle(self) -> None:
        try:
            while self.pending:
                await self._one_group()
        finally:
            self.running = False

    async def _one_group(self) -> None:
        try:
            conn = self.begin_at_once()
            if conn is None:
                conn = await self.loop.run_in_executor(self.executor, self.begin_waiting)
        except BaseException as exc:  # noqa: BLE001 - handed to every waiting request
            group, self.pending = self.pending, []
            _fail(group, exc)
            return
        # Taken after BEGIN: requests that arrived while waiting for the lock join in.
        group, self.pending = self.pending[:MAX_GROUP], self.pending[MAX_GROUP:]
        unit = self.unit(conn)
        if len(group) == 1:
            await self._alone(conn, unit, *group[0])
            return
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        try:
            for work, future in group:
                if future.cancelled():
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    result = work(unit)
                except Exception as exc:  # noqa: BLE001 - raised in the job's request
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append((future, exc, None))
                else:
                    conn.execute("RELEASE SAVEPOINT job")
                    outcomes.append((future, None, result))
        except BaseException as exc:  # noqa: BLE001 - the transaction itself broke
            await self._roll_back(conn)
            _fail(group, exc)
            return
        if await self._commit(conn, group):
            for future, error, result in outcomes:
                _settle(future, error, result)

    async def _alone(self, conn: C, unit: U, work: Callable[[U], Any],
                     future: asyncio.Future[Any]) -> None:
        """A group of one job: committed if it succeeds, rolled back if it raises."""
        try:
            result = None if future.cancelled() else work(unit)
        except BaseException as exc:  # noqa: BLE001 - raised in the job's request
            await self._roll_back(conn)
            _settle(future, exc, None)
            return
        if await self._commit(conn, [(work, future)]):
            _settle(future, None, result)

    async def _roll_back(self, conn: C) -> None:
        with contextlib.suppress(Exception):  # a broken connection cannot roll back
            await self.loop.run_in_executor(self.executor, self.end, conn, False)

    async def _commit(self, conn: C,
                      group: list[tuple[Callable[[U], Any], asyncio.Future[Any]]]) -> bool:
        """COMMIT in the helper thread; on failure every job of the group is told (nothing
        of it was kept) and False is returned."""
        try:
            await self.loop.run_in_executor(self.executor, self.end, conn, True)
        except BaseException as exc:  # noqa: BLE001 - the commit failed: nothing was kept
            log.error("group commit of %d job(s) failed on %s", len(group), self.describe(exc))
            _fail(group, exc)
            return False
        return True


def _settle(future: asyncio.Future[Any], error: BaseException | None, result: Any) -> None:
    if future.done():  # cancelled while its group ran
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _fail(group: list[tuple[Any, asyncio.Future[Any]]], exc: BaseException) -> None:
    for _, future in group:
        if not future.done():
            future.set_exception(exc)
