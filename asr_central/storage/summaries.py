"""Idempotent storage of verified summaries and what they update: device state and last
seen, cartridge events, each supply's latest forecast.

Call inside one write transaction per batch; the UNIQUE constraints back the checks up.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asr_core.records import LevelState, SupplyClass, SupplyType
from asr_core.wire import CheckedSummary, DeviceState, Envelope
from asr_central.storage import batches, supply_history
from asr_central.storage.times import stamp
from asr_central.storage.base import Connection, Row

__all__ = ["Stored", "store_summaries", "summary_count", "summaries_for_agent",
           "device_status", "supply_latest", "cartridge_events", "page_count", "stored_before",
           "empty_old_payloads"]


# Enum members as stored (wire name or value), looked up rather than computed: ingest
# stores several per summary. One table per enum: IntEnum members of equal value are equal.
_TYPE = {m: m.wire_name for m in SupplyType}
_CLASS = {m: m.wire_name for m in SupplyClass}
_LEVEL_STATE = {m: m.value for m in LevelState}
_DEVICE_STATE = {m: m.value for m in DeviceState}

# Rows one statement writes at most: a power of two (storage/batches.py), and far below SQLite's
# least limit on parameters (999) for the widest row (19 parameters).
_MOST_ROWS = 32
_INT64_MAX = 2 ** 63 - 1  # SQLite's INTEGER


@dataclass(frozen=True, slots=True)
class Stored:
    """Outcome of one ingest: `summary_id` is None unless the summary was new."""

    outcome: str            # "accepted" | "duplicate" | "replay"
    summary_id: int | None
    detail: str | None = None


_ACCEPTED = "accepted"


def store_summaries(conn: Connection, batch: Sequence[tuple[CheckedSummary, Envelope]],
                    received_at: datetime) -> list[Stored]:
    """Store a batch's summaries as if one after another, in order: each new one with its
    device state, cartridge events and supplies; one already stored (same idempotency key)
    is a duplicate, one whose sequence another summary of its agent used is a replay.

    One multi-row statement per table for the whole batch: a statement per summary and
    table cost more than SQLite's work on the rows. The tables do not depend on one
    another, so writing each table's rows in the batch's order gives what summary by
    summary would."""
    ids = _insert_summaries(conn, batch, stamp(received_at))
    out: list[Stored] = []
    new: list[tuple[CheckedSummary, int]] = []
    for i, (s, _) in enumerate(batch):
        summary_id = ids[i]
        if summary_id is None:
            out.append(_clash(conn, s, i, ids))
        else:
            out.append(Stored(_ACCEPTED, summary_id))
            new.append((s, summary_id))
    if new:
        _update_devices(conn, new)
        _record_events(conn, new)
        _update_supplies(conn, new)
    return out


_SUMMARY_HEAD = (
    "INSERT INTO summaries (agent_id, sequence, idempotency_key, key_id, site_id, "
    "device_serial, period_start, period_end, received_at, payload, signature)")
# What conflicts with a row already stored (or written earlier in the same statement) is
# not written and not returned; the rows returned say which summaries were stored.
_SUMMARY_TAIL = " ON CONFLICT DO NOTHING RETURNING id, idempotency_key, agent_id, sequence"


def _insert_summaries(conn: Connection,
                      batch: Sequence[tuple[CheckedSummary, Envelope]],
                      received_at: str) -> list[int | None]:
    """The new row id of each summary of the batch, None where it clashed."""
    params: list[Any] = []
    for s, env in batch:
        params += (s.agent_id, s.sequence, s.idempotency_key, env.key_id, s.site_id,
                   s.device.serial, _time(s.period_start), _time(s.period_end), received_at,
                   env.payload, env.signature)
    # RETURNING gives the rows in no set order: matched by idempotency key (unique), and the
    # agent and sequence (the earliest summary sent twice in one batch is the one stored).
    written: dict[str, tuple[int, str, int]] = {}
    for start, count in batches.pieces(len(batch), _MOST_ROWS):
        cur = conn.execute(batches.rows_sql(_SUMMARY_HEAD, 11, _SUMMARY_TAIL, count),
                           params[start * 11:(start + count) * 11])
        for row in cur:
            written[row[1]] = (row[0], row[2], row[3])
    ids: list[int | None] = []
    for s, _ in batch:
        row = written.get(s.idempotency_key)
        if row is not None and row[1] == s.agent_id and row[2] == s.sequence:
            del written[s.idempotency_key]
            ids.append(row[0])
        else:
            ids.append(None)
    return ids


def _clash(conn: Connection, s: CheckedSummary, at: int,
           ids: list[int | None]) -> Stored:
    """Why the batch's summary number `at` was not stored, as it would have been told had
    the summaries before it alone been written: a row the batch wrote after it does not
    count."""
    seen = conn.execute("SELECT id FROM summaries WHERE idempotency_key = ?",
                        (s.idempotency_key,)).fetchone()
    if seen is not None and seen[0] not in ids[at + 1:]:
        return Stored("duplicate", None, f"already stored as #{seen[0]}")
    clash = conn.execute("SELECT id FROM summaries WHERE agent_id = ? AND sequence = ?",
                         (s.agent_id, s.sequence)).fetchone()
    return Stored("replay", None, f"sequence {s.sequence} already used by another "
                                  f"summary of this agent (#{clash[0] if clash else '?'})")


@functools.lru_cache(maxsize=1024)
def _time(value: datetime) -> str:
    """A period bound as stored: the summaries of one agent share a few periods."""
    return stamp(value)


_DEVICE_HEAD = (
    "INSERT INTO device_status (serial, site_id, agent_id, contact, vendor, model, "
    "asr_compatible, address, state, page_count, page_count_big, last_seen, last_summary_id)")
# Only a newer period moves last_seen/state: late deliveries after an outage arrive
# oldest first, and an older summary must never overwrite a newer state. Only the device's
# own site writes it: a summary never moves a device to another site (ingest refuses
# another site's before this, asr_central.domain.trust; a move is an admin's, store/homes.py).
_DEVICE_TAIL = (
    " ON CONFLICT (serial) DO UPDATE SET "
    "agent_id = excluded.agent_id, contact = excluded.contact, vendor = excluded.vendor, "
    "model = excluded.model, asr_compatible = excluded.asr_compatible, "
    "address = excluded.address, state = excluded.state, page_count = excluded.page_count, "
    "page_count_big = excluded.page_count_big, "
    "last_seen = excluded.last_seen, last_summary_id = excluded.last_summary_id "
    "WHERE excluded.last_seen >= device_status.last_seen "
    "AND excluded.site_id = device_status.site_id")


def _newest(new: list[tuple[CheckedSummary, int]], key: Callable[[CheckedSummary], Any]
            ) -> list[tuple[CheckedSummary, int]]:
    """Of the summaries with the same `key`, the one the upsert would keep had they been
    written one after another: the last of those with the newest period_end (a later one
    replaces an earlier one unless it is older). One statement may upsert a row once only
    on PostgreSQL ("cannot affect row a second time"); SQLite would take them in turn."""
    kept: dict[Any, tuple[CheckedSummary, int]] = {}
    for item in new:
        k = key(item[0])
        held = kept.get(k)
        if held is None or _time(item[0].period_end) >= _time(held[0].period_end):
            kept[k] = item
    if len(kept) == len(new):
        return new
    chosen = {id(item) for item in kept.values()}
    return [item for item in new if id(item) in chosen]


def _update_devices(conn: Connection, new: list[tuple[CheckedSummary, int]]) -> None:
    # A device reported twice in a batch ends with its newer period's state. The batch's
    # summaries are all of one site (ingest refuses another's), so the site check in the
    # upsert's WHERE is the same for each.
    params: list[Any] = []
    for s, summary_id in _newest(new, _device_key):
        d = s.device
        params += (d.serial, s.site_id, s.agent_id, s.contact, d.vendor, d.model,
                   int(d.asr_compatible), d.address, _DEVICE_STATE[s.device_state],
                   *_counter(s.page_counters.end), _time(s.period_end), summary_id)
    batches.write_rows(conn, _DEVICE_HEAD, 13, _DEVICE_TAIL, params, _MOST_ROWS)


def _device_key(s: CheckedSummary) -> str:
    return s.device.serial


def _counter(value: int | None) -> tuple[int | None, str | None]:
    """A Counter64 as (page_count, page_count_big): past SQLite's INTEGER, as decimal text."""
    if value is None or value <= _INT64_MAX:
        return value, None
    return None, str(value)


def page_count(row: Row) -> int | None:
    """A device_status row's page counter, exactly as the agent sent it."""
    big = row["page_count_big"]
    return int(big) if big is not None else row["page_count"]


def _record_events(conn: Connection, new: list[tuple[CheckedSummary, int]]) -> None:
    rows = [(summary_id, s.device.serial, e.supply_index, stamp(e.replaced_at),
             int(e.premature), e.grams_wasted, e.removed_percent, e.cartridge_serial,
             e.previous_serial, e.part_number)
            for s, summary_id in new for e in s.cartridge_events]
    if rows:
        conn.executemany(
            "INSERT INTO cartridge_events (summary_id, device_serial, supply_index, "
            "replaced_at, premature, grams_wasted, removed_percent, cartridge_serial, "
            "previous_serial, part_number) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING", rows)


_SUPPLY_HEAD = (
    "INSERT INTO supply_latest (device_serial, supply_index, type, supply_class, color, "
    "level, level_state, remaining_percent, daily_grams, daily_percent, days_to_empty, "
    "days_to_empty_low, days_to_empty_high, forecast_status, spike, part_number, "
    "cartridge_serial, as_of, summary_id)")
_SUPPLY_TAIL = (
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


def _update_supplies(conn: Connection, new: list[tuple[CheckedSummary, int]]) -> None:
    params: list[Any] = []
    # A supply reported twice (in two summaries, or twice in one) is written once: the
    # entry the upsert would keep, in turn, is the last of the newest period's.
    kept: dict[tuple[str, int], int] = {}
    for s, _ in new:
        for p, *_rest in s.supplies:
            kept[s.device.serial, p["index"]] = -1
    duplicated = len(kept) != sum(len(s.supplies) for s, _ in new)
    if duplicated:
        newest: dict[tuple[str, int], tuple[str, int]] = {}
        position = 0
        for s, _ in new:
            for p, *_rest in s.supplies:
                k = (s.device.serial, p["index"])
                held = newest.get(k)
                if held is None or _time(s.period_end) >= held[0]:
                    newest[k] = (_time(s.period_end), position)
                position += 1
        wanted = {position for _, position in newest.values()}
    position = -1
    # The day's point of each supply (supply_history.py). A supply reported twice may have
    # a point on each of several days: then each day's newest reading, one per row (an
    # upsert may not touch a row twice in one statement).
    points: list[Any] = []
    days: dict[tuple[str, int, str], tuple[Any, ...]] = {}
    for s, summary_id in new:
        serial, as_of = s.device.serial, _time(s.period_end)
        day = as_of[:10]
        for p, kind, supply_class, level_state in s.supplies:
            position += 1
            # Numbers as the records hold them, floats (JSON sends 50.0 as 50; the REAL
            # columns would take 50, not an integer past 64 bits): written out rather than a
            # call per number, six per supply.
            a = p["remaining_percent"]
            a = float(a) if type(a) is int else a
            if duplicated:
                on = (serial, p["index"], day)
                point = days.get(on)
                if point is None or as_of >= point[5]:
                    days[on] = (serial, p["index"], day, p["level"], a, as_of)
                if position not in wanted:
                    continue
            else:
                points += (serial, p["index"], day, p["level"], a, as_of)
            b, c = p["daily_grams"], p["daily_percent"]
            d, e, f = p["days_to_empty"], p["days_to_empty_low"], p["days_to_empty_high"]
            params += (serial, p["index"], _TYPE[kind], _CLASS[supply_class], p["color"],
                       p["level"], _LEVEL_STATE[level_state],
                       a, float(b) if type(b) is int else b,
                       float(c) if type(c) is int else c, float(d) if type(d) is int else d,
                       float(e) if type(e) is int else e, float(f) if type(f) is int else f,
                       p["forecast_status"], int(p["spike"]), p["part_number"],
                       p["cartridge_serial"], as_of, summary_id)
    batches.write_rows(conn, _SUPPLY_HEAD, 19, _SUPPLY_TAIL, params, _MOST_ROWS)
    if duplicated:
        points = [x for row in days.values() for x in row]
    batches.write_rows(conn, supply_history.HEAD, supply_history.WIDTH, supply_history.TAIL,
                       points, _MOST_ROWS)


# --- reads ----------------------------------------------------------------------------------

def summary_count(conn: Connection, agent_id: str | None = None) -> int:
    if agent_id is None:
        return int(conn.execute("SELECT count(*) FROM summaries").fetchone()[0])
    return int(conn.execute("SELECT count(*) FROM summaries WHERE agent_id = ?",
                            (agent_id,)).fetchone()[0])


def summaries_for_agent(conn: Connection, agent_id: str) -> list[Row]:
    """Rows in arrival order (id, sequence, idempotency_key, device_serial, period_end, …)."""
    return conn.execute("SELECT id, sequence, idempotency_key, key_id, device_serial, "
                        "period_start, period_end, received_at FROM summaries "
                        "WHERE agent_id = ? ORDER BY id", (agent_id,)).fetchall()


def device_status(conn: Connection, serial: str | None = None) -> list[Row]:
    if serial is None:
        return conn.execute("SELECT * FROM device_status ORDER BY serial").fetchall()
    return conn.execute("SELECT * FROM device_status WHERE serial = ?", (serial,)).fetchall()


def supply_latest(conn: Connection, serial: str | None = None) -> list[Row]:
    if serial is None:
        return conn.execute("SELECT * FROM supply_latest ORDER BY device_serial, supply_index"
                            ).fetchall()
    return conn.execute("SELECT * FROM supply_latest WHERE device_serial = ? "
                        "ORDER BY supply_index", (serial,)).fetchall()


def cartridge_events(conn: Connection, serial: str | None = None) -> list[Row]:
    if serial is None:
        return conn.execute("SELECT * FROM cartridge_events ORDER BY id").fetchall()
    return conn.execute("SELECT * FROM cartridge_events WHERE device_serial = ? ORDER BY id",
                        (serial,)).fetchall()


_PAYLOAD_MARK = "payloads_emptied_through_id"


def empty_old_payloads(conn: Connection, received_before: datetime, limit: int) -> int:
    """Empty payload and signature of up to `limit` summaries received before
    `received_before`, oldest first; returns how many. Ids grow with the time received, so
    the walk stops at the first summary young enough to keep; a cursor (the last id
    emptied) makes each call read only the rows that came of age since the previous one."""
    row = conn.execute("SELECT value FROM summary_retention WHERE name = ?",
                       (_PAYLOAD_MARK,)).fetchone()
    last = int(row[0]) if row else 0
    cutoff = stamp(received_before)
    ids = []
    for summary_id, received_at in conn.execute(
            "SELECT id, received_at FROM summaries WHERE id > ? ORDER BY id LIMIT ?",
            (last, limit)):
        if received_at >= cutoff:
            break
        ids.append(summary_id)
    if not ids:
        return 0
    conn.execute("UPDATE summaries SET payload = ?, signature = ? WHERE id BETWEEN ? AND ?",
                 (b"", b"", ids[0], ids[-1]))
    conn.execute("INSERT INTO summary_retention (name, value) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET value = excluded.value", (_PAYLOAD_MARK, str(ids[-1])))
    return len(ids)


def stored_before(conn: Connection, idempotency_key: str, agent_id: str) -> bool:
    """A summary of this key from this agent was accepted before."""
    return conn.execute("SELECT 1 FROM summaries WHERE idempotency_key = ? AND agent_id = ?",
                        (idempotency_key, agent_id)).fetchone() is not None
