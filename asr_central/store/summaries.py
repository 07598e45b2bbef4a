"""Idempotent storage of verified summaries and what they update: device state and last
seen, cartridge events, each supply's latest forecast.

Call inside one write transaction per batch; the UNIQUE constraints back the checks up.
"""

from __future__ import annotations

import functools
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from asr_agent.records import LevelState, SupplyClass, SupplyType
from asr_agent.wire import DeviceState, Envelope, Summary, format_time

__all__ = ["Stored", "store_summary", "summary_count", "summaries_for_agent", "device_status",
           "supply_latest", "cartridge_events"]


# Enum members as stored (wire name or value), looked up rather than computed: ingest
# stores several per summary. One table per enum: IntEnum members of equal value are equal.
_TYPE = {m: m.wire_name for m in SupplyType}
_CLASS = {m: m.wire_name for m in SupplyClass}
_LEVEL_STATE = {m: m.value for m in LevelState}
_DEVICE_STATE = {m: m.value for m in DeviceState}


@dataclass(frozen=True, slots=True)
class Stored:
    """Outcome of one ingest: `summary_id` is None unless the summary was new."""

    outcome: str            # "accepted" | "duplicate" | "replay"
    summary_id: int | None
    detail: str | None = None


def store_summary(conn: sqlite3.Connection, summary: Summary, envelope: Envelope,
                  received_at: datetime) -> Stored:
    # The common case is a new summary: try the insert first and look at what it clashed
    # with only when it stored nothing (the UNIQUE constraints are the checks).
    period_end = format_time(summary.period_end)
    cur = conn.execute(
        "INSERT INTO summaries (agent_id, sequence, idempotency_key, key_id, site_id, "
        "device_serial, period_start, period_end, received_at, payload, signature) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (summary.agent_id, summary.sequence, summary.idempotency_key, envelope.key_id,
         summary.site_id, summary.device.serial, format_time(summary.period_start),
         period_end, format_time(received_at), envelope.payload,
         envelope.signature))
    if cur.rowcount == 0:
        seen = conn.execute("SELECT id FROM summaries WHERE idempotency_key = ?",
                            (summary.idempotency_key,)).fetchone()
        if seen is not None:
            return Stored("duplicate", None, f"already stored as #{seen['id']}")
        clash = conn.execute("SELECT id FROM summaries WHERE agent_id = ? AND sequence = ?",
                             (summary.agent_id, summary.sequence)).fetchone()
        return Stored("replay", None, f"sequence {summary.sequence} already used by another "
                                      f"summary of this agent (#{clash['id'] if clash else '?'})")
    summary_id = int(cur.lastrowid or 0)
    _update_device(conn, summary, summary_id, period_end)
    _record_events(conn, summary, summary_id)
    _update_supplies(conn, summary, summary_id, period_end)
    return Stored("accepted", summary_id)


def _update_device(conn: sqlite3.Connection, s: Summary, summary_id: int,
                   period_end: str) -> None:
    d = s.device
    # Only a newer period moves last_seen/state: late deliveries after an outage arrive
    # oldest first, and an older summary must never overwrite a newer state.
    conn.execute(
        "INSERT INTO device_status (serial, site_id, agent_id, contact, vendor, model, "
        "asr_compatible, address, state, page_count, last_seen, last_summary_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET site_id = excluded.site_id, "
        "agent_id = excluded.agent_id, contact = excluded.contact, vendor = excluded.vendor, "
        "model = excluded.model, asr_compatible = excluded.asr_compatible, "
        "address = excluded.address, state = excluded.state, page_count = excluded.page_count, "
        "last_seen = excluded.last_seen, last_summary_id = excluded.last_summary_id "
        "WHERE excluded.last_seen >= device_status.last_seen",
        (d.serial, s.site_id, s.agent_id, s.contact, d.vendor, d.model, int(d.asr_compatible),
         d.address, _DEVICE_STATE[s.device_state], s.page_counters.end, period_end, summary_id))


def _record_events(conn: sqlite3.Connection, s: Summary, summary_id: int) -> None:
    if not s.cartridge_events:
        return
    conn.executemany(
        "INSERT OR IGNORE INTO cartridge_events (summary_id, device_serial, supply_index, "
        "replaced_at, premature, grams_wasted, removed_percent, cartridge_serial, "
        "previous_serial, part_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(summary_id, s.device.serial, e.supply_index, format_time(e.replaced_at),
          int(e.premature), e.grams_wasted, e.removed_percent, e.cartridge_serial,
          e.previous_serial, e.part_number) for e in s.cartridge_events])


_SUPPLY_INSERT = (
    "INSERT INTO supply_latest (device_serial, supply_index, type, supply_class, color, "
    "level, level_state, remaining_percent, daily_grams, daily_percent, days_to_empty, "
    "days_to_empty_low, days_to_empty_high, forecast_status, spike, part_number, "
    "cartridge_serial, as_of, summary_id) VALUES ")
_SUPPLY_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_SUPPLY_UPSERT = (
    " ON CONFLICT (device_serial, supply_index) DO UPDATE SET type = excluded.type, "
    "supply_class = excluded.supply_class, color = excluded.color, "
    "level = excluded.level, level_state = excluded.level_state, "
    "remaining_percent = excluded.remaining_percent, daily_grams = excluded.daily_grams, "
    "daily_percent = excluded.daily_percent, days_to_empty = excluded.days_to_empty, "
    "days_to_empty_low = excluded.days_to_empty_low, "
    "days_to_empty_high = excluded.days_to_empty_high, "
    "forecast_status = excluded.forecast_status, spike = excluded.spike, "
    "part_number = excluded.part_number, cartridge_serial = excluded.cartridge_serial, "
    "as_of = excluded.as_of, summary_id = excluded.summary_id "
    "WHERE excluded.as_of >= supply_latest.as_of")
_SUPPLY_ROWS_AT_ONCE = 32  # 19 parameters a row: far below SQLite's limit on parameters


@functools.cache
def _supply_sql(rows: int) -> str:
    """The upsert of `rows` supplies in one statement."""
    return _SUPPLY_INSERT + ", ".join([_SUPPLY_ROW] * rows) + _SUPPLY_UPSERT


def _update_supplies(conn: sqlite3.Connection, s: Summary, summary_id: int,
                     as_of: str) -> None:
    # One statement for all of a summary's supplies (each VALUES row upserted in turn, as
    # executemany would): one bind and step where executemany took one per supply.
    serial = s.device.serial
    params: list[object] = []
    for p in s.supplies:
        params += (serial, p.index, _TYPE[p.type], _CLASS[p.supply_class], p.color,
                   p.level, _LEVEL_STATE[p.level_state], p.remaining_percent, p.daily_grams,
                   p.daily_percent, p.days_to_empty, p.days_to_empty_low, p.days_to_empty_high,
                   p.forecast_status, int(p.spike), p.part_number, p.cartridge_serial, as_of,
                   summary_id)
    width = 19 * _SUPPLY_ROWS_AT_ONCE
    for at in range(0, len(params), width):
        chunk = params[at:at + width]
        conn.execute(_supply_sql(len(chunk) // 19), chunk)


# --- reads ----------------------------------------------------------------------------------

def summary_count(conn: sqlite3.Connection, agent_id: str | None = None) -> int:
    if agent_id is None:
        return int(conn.execute("SELECT count(*) FROM summaries").fetchone()[0])
    return int(conn.execute("SELECT count(*) FROM summaries WHERE agent_id = ?",
                            (agent_id,)).fetchone()[0])


def summaries_for_agent(conn: sqlite3.Connection, agent_id: str) -> list[sqlite3.Row]:
    """Rows in arrival order (id, sequence, idempotency_key, device_serial, period_end, …)."""
    return conn.execute("SELECT id, sequence, idempotency_key, key_id, device_serial, "
                        "period_start, period_end, received_at FROM summaries "
                        "WHERE agent_id = ? ORDER BY id", (agent_id,)).fetchall()


def device_status(conn: sqlite3.Connection, serial: str | None = None) -> list[sqlite3.Row]:
    if serial is None:
        return conn.execute("SELECT * FROM device_status ORDER BY serial").fetchall()
    return conn.execute("SELECT * FROM device_status WHERE serial = ?", (serial,)).fetchall()


def supply_latest(conn: sqlite3.Connection, serial: str | None = None) -> list[sqlite3.Row]:
    if serial is None:
        return conn.execute("SELECT * FROM supply_latest ORDER BY device_serial, supply_index"
                            ).fetchall()
    return conn.execute("SELECT * FROM supply_latest WHERE device_serial = ? "
                        "ORDER BY supply_index", (serial,)).fetchall()


def cartridge_events(conn: sqlite3.Connection, serial: str | None = None) -> list[sqlite3.Row]:
    if serial is None:
        return conn.execute("SELECT * FROM cartridge_events ORDER BY id").fetchall()
    return conn.execute("SELECT * FROM cartridge_events WHERE device_serial = ? ORDER BY id",
                        (serial,)).fetchall()
