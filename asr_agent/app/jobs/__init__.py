"""The daemon's jobs, one a module: each does one kind of work when the scheduler
(asr_agent.app.daemon) says so, with its collaborators handed to it.

    discover ─► targets      poll ─► readings ─► store      summarize ─► outbox
    deliver ─► outbox drained to central (and order status back)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol, TypeVar

T = TypeVar("T")

Clock = Callable[[], datetime]


class InStoreThread(Protocol):
    """Runs `func(*args)` on the thread that owns the store's connection."""

    def __call__(self, func: Callable[..., T], *args: object) -> Awaitable[T]: ...


__all__ = ["Clock", "InStoreThread"]
