"""What a policy run reads besides the registry and orders: the cartridge events reported
since the previous run (behind a cursor), the devices that reported, their latest supplies;
and what the service order point learns changes of use level from: the usage spikes begun
(written by the run that raised them) and the supply-days reported, over a time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from asr_central.storage import times
from asr_central.storage.base import Connection, Row

__all__ = ["new_cartridge_events", "claim_events", "events_seen_through",
           "reporting_devices", "device_health", "latest_supplies", "record_usage_changes",
           "usage_changes_since", "supply_days_since", "prune_usage_changes"]

_EVENT_MARK = "cartridge_events.last_id"
# the supply-days watched, counted once a day: "<since day> <count>"
_WATCHED = "supply_days_watched"


def events_seen_through(conn: Connection) -> int:
    """The cursor: the id of the last cartridge event a run processed (0 for none)."""
    mark = conn.execute("SELECT value FROM replenish_state WHERE name = ?",
                        (_EVENT_MARK,)).fetchone()
    return int(mark[0]) if mark else 0


def new_cartridge_events(conn: Connection,
                         after: int | None = None) -> list[Row]:
    """Cartridge events after `after` (default: the cursor), in arrival order."""
    last_id = events_seen_through(conn) if after is None else after
    return conn.execute("SELECT * FROM cartridge_events WHERE id > ? ORDER BY id",
                        (last_id,)).fetchall()


def claim_events(conn: Connection, after: int, through: int) -> bool:
    """Move the cursor from `after` to `through`, if it still is at `after`: True if this
    run is the one to process those events. Of two runs that read the same cursor at once
    (two workers), one moves it and the other processes none of them: an installation is
    counted once. On PostgreSQL the second waits on the row the first changed and finds it
    moved; on SQLite writers are one at a time anyway."""
    if after == 0 and conn.execute("SELECT 1 FROM replenish_state WHERE name = ?",
                                   (_EVENT_MARK,)).fetchone() is None:
        return conn.execute(
            "INSERT INTO replenish_state (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO NOTHING RETURNING name",
            (_EVENT_MARK, str(through))).fetchone() is not None
    return conn.execute(
        "UPDATE replenish_state SET value = ? WHERE name = ? AND value = ? RETURNING name",
        (str(through), _EVENT_MARK, str(after))).fetchone() is not None


def reporting_devices(conn: Connection) -> list[Row]:
    """(serial, site_id, contact) of every device that ever reported."""
    return conn.execute("SELECT serial, site_id, contact FROM device_status").fetchall()


def device_health(conn: Connection) -> list[Row]:
    """(serial, last_seen, asr_compatible) of every device that ever reported."""
    return conn.execute("SELECT serial, last_seen, asr_compatible FROM device_status").fetchall()


def latest_supplies(conn: Connection) -> list[Row]:
    return conn.execute("SELECT * FROM supply_latest ORDER BY device_serial, supply_index"
                        ).fetchall()


def record_usage_changes(conn: Connection,
                         changes: Iterable[tuple[str, str, datetime, float | None]]) -> None:
    """(device serial, supply key, began at, ratio to the usual use or None) of each usage
    spike raised; one already recorded (a run beside this one) is kept as it was."""
    conn.executemany(
        "INSERT INTO usage_changes (device_serial, supply_key, started_at, ratio) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (device_serial, supply_key, started_at) DO NOTHING",
        [(serial, key, times.stamp(at), None if ratio is None else float(ratio))
         for serial, key, at, ratio in changes])


def prune_usage_changes(conn: Connection, before: datetime) -> int:
    """Usage spikes begun before `before` deleted (the retention job, with the daily
    points they were measured on); how many."""
    return conn.execute("DELETE FROM usage_changes WHERE started_at < ?",
                        (times.stamp(before),)).rowcount


def usage_changes_since(conn: Connection, since: datetime) -> list[float | None]:
    """The ratio (None: not measured) of every usage spike begun at or after `since`."""
    return [None if r[0] is None else float(r[0]) for r in conn.execute(
        "SELECT ratio FROM usage_changes WHERE started_at >= ?", (times.stamp(since),))]


def supply_days_since(conn: Connection, since: datetime) -> int:
    """Supply-days watched from `since`'s day on: for each supply, the days from its first
    daily point to its last, both counted (a day it was left out of every summary between
    them was still watched; a printer retired stops counting at its last point).

    It reads every daily point of the period (36 million for 100,000 supplies over a year),
    so it is counted once per `since` day and kept in replenish_state: a policy run every
    30 s reads the count, and a day's new points wait for the next day's count."""
    day = since.date().isoformat()
    kept = conn.execute("SELECT value FROM replenish_state WHERE name = ?",
                        (_WATCHED,)).fetchone()
    if kept is not None:
        kept_day, _, count = str(kept[0]).partition(" ")
        if kept_day == day and count.isdigit():
            return int(count)
    total = 0
    for first, last in conn.execute(
            "SELECT MIN(day), MAX(day) FROM supply_history WHERE day >= ? "
            "GROUP BY device_serial, supply_index", (day,)).fetchall():
        total += (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    conn.execute("INSERT INTO replenish_state (name, value) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET value = excluded.value", (_WATCHED, f"{day} {total}"))
    return total
