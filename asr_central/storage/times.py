"""The one way central's tables hold a moment: UTC, ISO 8601 with a `Z`, as on the wire
(`asr_core.wire.format_time`). Text in one format compares in time order, which the
queries rely on (`last_seen >= …`, `expires_at < …`); every store module writes through
`stamp`. Migration 060 converted the `+00:00` rows older versions wrote."""

from __future__ import annotations

from datetime import datetime

from asr_core.wire import format_time

__all__ = ["stamp"]


def stamp(when: datetime) -> str:
    """`when` as stored; a naive datetime is refused (WireError) rather than guessed."""
    return format_time(when)
