"""Mail to site contacts: the events waiting to be told (collected once per key) and the
durable outbox of messages (queued → sent, or failed), with attempts and the next try.

A message is a row here before it is handed to the mail server, and marked sent only
after the server took it: nothing is lost while the server is down, and a crash between
the two sends it again under the same Message-ID.
"""

from __future__ import annotations

import json

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asr_central.storage.base import Connection, Row
from asr_central.storage import times

__all__ = [
    "OUTBOX_STATES", "MailEvent", "OutboxRow", "add_event", "compose", "due_messages",
    "events_of", "get_message", "last_seen", "shipped_for", "list_outbox", "mark_dropped", "mark_failed", "mark_retry",
    "mark_sent", "pending_events", "replacement", "runout", "uncollected_alerts",
    "uncollected_shipments", "untold_lines",
]

OUTBOX_STATES = ("queued", "sent", "failed", "dropped")


@dataclass(frozen=True, slots=True)
class MailEvent:
    event_key: str
    contact_id: str
    kind: str
    facts: dict[str, Any]
    day: str
    message_id: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class OutboxRow:
    message_id: str
    contact_id: str
    kind: str
    day: str
    state: str
    attempts: int
    next_try_at: str
    last_error: str | None
    created_at: str
    sent_at: str | None


def _event(r: Row) -> MailEvent:
    return MailEvent(r["event_key"], r["contact_id"], r["kind"], json.loads(r["facts"]),
                     r["day"], r["message_id"], r["created_at"])


def _outbox(r: Row) -> OutboxRow:
    return OutboxRow(r["message_id"], r["contact_id"], r["kind"], r["day"], r["state"],
                     r["attempts"], r["next_try_at"], r["last_error"], r["created_at"],
                     r["sent_at"])


# ------------------------------------------------------------------------------ events

def add_event(conn: Connection, event_key: str, contact_id: str, kind: str,
              facts: dict[str, Any], now: datetime, day: date, *, order_id: int | None = None,
              line_mark: int | None = None, alert_key: str | None = None) -> bool:
    """Record an event to tell `contact_id`, of `day` (theirs); False (and nothing
    written) if its key is already there."""
    row = conn.execute(
        "INSERT INTO mail_events (event_key, contact_id, kind, facts, order_id, line_mark, "
        "alert_key, day, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (event_key) DO NOTHING RETURNING event_key",
        (event_key, contact_id, kind, json.dumps(facts, sort_keys=True, ensure_ascii=False),
         order_id, line_mark, alert_key, day.isoformat(), times.stamp(now))).fetchone()
    return row is not None


def uncollected_shipments(conn: Connection, since: datetime) -> list[int]:
    """Ids of orders shipped at or after `since` that no order_shipped event was collected
    for yet."""
    return [int(r["order_id"]) for r in conn.execute(
        "SELECT o.order_id FROM orders o WHERE o.shipped_at IS NOT NULL AND o.shipped_at >= ? "
        "AND o.status <> 'cancelled' AND NOT EXISTS (SELECT 1 FROM mail_events e "
        "WHERE e.order_id = o.order_id AND e.kind = 'order_shipped') ORDER BY o.order_id",
        (times.stamp(since),))]


def untold_lines(conn: Connection, since: datetime) -> list[tuple[int, int, int]]:
    """(order id, last line told, last line) of orders with lines no order_placed event
    told yet: orders placed at or after `since`, and unshipped orders that lines joined
    after their event (an amendment; 0 when nothing was told)."""
    out = []
    for r in conn.execute(
            "SELECT o.order_id, o.created_at, o.status, "
            "(SELECT MAX(l.line_id) FROM order_lines l WHERE l.order_id = o.order_id) AS mark, "
            "(SELECT MAX(e.line_mark) FROM mail_events e WHERE e.order_id = o.order_id "
            "AND e.kind = 'order_placed') AS told "
            "FROM orders o WHERE o.status <> 'cancelled' AND (o.created_at >= ? OR "
            "o.status = 'created') ORDER BY o.order_id", (times.stamp(since),)):
        order_id, created_at, status = r["order_id"], r["created_at"], r["status"]
        mark, told = r["mark"], r["told"]
        if mark is None:
            continue
        if told is None and created_at >= times.stamp(since):
            out.append((int(order_id), 0, int(mark)))
        elif told is not None and status == "created" and mark > told:
            out.append((int(order_id), int(told), int(mark)))
    return out


def uncollected_alerts(conn: Connection, kinds: Iterable[str],
                       since: datetime) -> list[Row]:
    """Open alerts of `kinds` first seen at or after `since` whose current occurrence no
    event was collected for (a condition that resolved and came back is a new one)."""
    kinds = sorted(kinds)
    if not kinds:
        return []
    marks = ",".join("?" * len(kinds))
    return conn.execute(
        f"SELECT a.alert_key, a.kind, a.severity, a.device_serial, a.supply_key, "
        f"a.first_seen FROM central_alerts a WHERE a.kind IN ({marks}) "
        f"AND a.resolved_at IS NULL AND a.first_seen >= ? AND NOT EXISTS (SELECT 1 FROM "
        f"mail_events e WHERE e.alert_key = a.alert_key AND e.created_at >= a.first_seen) "
        f"ORDER BY a.first_seen, a.alert_key",
        (*kinds, times.stamp(since)[:10])).fetchall()


def replacement(conn: Connection, serial: str, supply_index: int,
                replaced_at: str) -> Row | None:
    """The cartridge change an event alert is about (grams wasted, level when removed)."""
    return conn.execute(
        "SELECT grams_wasted, removed_percent, cartridge_serial, part_number FROM "
        "cartridge_events WHERE device_serial = ? AND supply_index = ? AND replaced_at = ?",
        (serial, supply_index, replaced_at)).fetchone()


def runout(conn: Connection, serial: str, supply_index: int) -> Row | None:
    """The newest forecast of a supply: days to empty as of when."""
    return conn.execute(
        "SELECT days_to_empty, as_of, color, type, supply_class FROM supply_latest WHERE device_serial = ? "
        "AND supply_index = ?", (serial, supply_index)).fetchone()


def last_seen(conn: Connection, serial: str) -> str | None:
    row = conn.execute("SELECT last_seen FROM device_status WHERE serial = ?",
                       (serial,)).fetchone()
    return None if row is None else str(row["last_seen"])


def shipped_for(conn: Connection, cartridge_serial: str) -> str | None:
    """The printer a cartridge serial was shipped for, if we shipped it."""
    row = conn.execute(
        "SELECT l.device_serial FROM shipped_cartridges c JOIN order_lines l "
        "ON l.line_id = c.line_id WHERE c.cartridge_serial = ?", (cartridge_serial,)).fetchone()
    return None if row is None else str(row["device_serial"])


def pending_events(conn: Connection) -> list[MailEvent]:
    """Events no message carries yet, oldest first."""
    return [_event(r) for r in conn.execute(
        "SELECT * FROM mail_events WHERE message_id IS NULL ORDER BY created_at, event_key")]


def events_of(conn: Connection, message_id: str) -> list[MailEvent]:
    return [_event(r) for r in conn.execute(
        "SELECT * FROM mail_events WHERE message_id = ? ORDER BY created_at, event_key",
        (message_id,))]


# ------------------------------------------------------------------------------ outbox

def compose(conn: Connection, message_id: str, contact_id: str, kind: str, day: date,
            event_keys: Sequence[str], now: datetime) -> bool:
    """Queue a message carrying `event_keys`; False if that message was queued before (the
    events it carries stay with it)."""
    row = conn.execute(
        "INSERT INTO mail_outbox (message_id, contact_id, kind, day, state, attempts, "
        "next_try_at, created_at) VALUES (?, ?, ?, ?, 'queued', 0, ?, ?) "
        "ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        (message_id, contact_id, kind, day.isoformat(), times.stamp(now),
         times.stamp(now))).fetchone()
    conn.executemany("UPDATE mail_events SET message_id = ? WHERE event_key = ? "
                     "AND message_id IS NULL", [(message_id, k) for k in event_keys])
    return row is not None


def due_messages(conn: Connection, now: datetime, limit: int = 100) -> list[OutboxRow]:
    return [_outbox(r) for r in conn.execute(
        "SELECT * FROM mail_outbox WHERE state = 'queued' AND next_try_at <= ? "
        "ORDER BY next_try_at, message_id LIMIT ?", (times.stamp(now), limit))]


def get_message(conn: Connection, message_id: str) -> OutboxRow | None:
    row = conn.execute("SELECT * FROM mail_outbox WHERE message_id = ?",
                       (message_id,)).fetchone()
    return _outbox(row) if row else None


def list_outbox(conn: Connection, state: str | None = None,
                limit: int = 1000) -> list[OutboxRow]:
    if state is None:
        rows = conn.execute("SELECT * FROM mail_outbox ORDER BY created_at, message_id "
                            "LIMIT ?", (limit,))
    else:
        rows = conn.execute("SELECT * FROM mail_outbox WHERE state = ? ORDER BY created_at, "
                            "message_id LIMIT ?", (state, limit))
    return [_outbox(r) for r in rows]


def mark_sent(conn: Connection, message_id: str, now: datetime) -> None:
    conn.execute("UPDATE mail_outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?, "
                 "last_error = NULL WHERE message_id = ?", (times.stamp(now), message_id))


def mark_retry(conn: Connection, message_id: str, next_try: datetime,
               error: str) -> None:
    conn.execute("UPDATE mail_outbox SET attempts = attempts + 1, next_try_at = ?, "
                 "last_error = ? WHERE message_id = ?",
                 (times.stamp(next_try), error[:500], message_id))


def mark_failed(conn: Connection, message_id: str, error: str) -> None:
    conn.execute("UPDATE mail_outbox SET state = 'failed', attempts = attempts + 1, "
                 "last_error = ? WHERE message_id = ?", (error[:500], message_id))


def mark_dropped(conn: Connection, message_id: str, why: str) -> None:
    """Not sent, on purpose (the contact opted out or is gone)."""
    conn.execute("UPDATE mail_outbox SET state = 'dropped', last_error = ? "
                 "WHERE message_id = ?", (why[:500], message_id))
