"""The console's audit log: one row per action (who, when, what, on what, from where, and
whether it was done), written in the action's own transaction where there is one."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import datetime

from asr_central.storage.times import stamp
from asr_central.storage.base import Connection

__all__ = ["AuditEntry", "record", "entries", "count"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: str
    username: str | None
    action: str
    target: str | None
    outcome: str  # ok | refused | failed
    detail: str | None
    address: str | None


def record(conn: Connection, now: datetime, username: str | None, action: str, *,
           target: str | None = None, outcome: str = "ok", detail: str | None = None,
           address: str | None = None) -> None:
    # Ordered by the local clock's nanoseconds, then a random tail so two writers never clash.
    audit_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
    conn.execute("INSERT INTO console_audit (audit_id, at, username, action, target, outcome, "
                 "detail, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                 (audit_id, stamp(now), username, action, target, outcome, detail, address))


def entries(conn: Connection, *, limit: int = 100, offset: int = 0) -> list[AuditEntry]:
    """Newest first."""
    return [AuditEntry(*r) for r in conn.execute(
        "SELECT at, username, action, target, outcome, detail, address FROM console_audit "
        "ORDER BY at DESC, audit_id DESC LIMIT ? OFFSET ?", (limit, offset))]


def count(conn: Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM console_audit").fetchone()[0])
