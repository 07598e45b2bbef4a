"""What a policy run reads besides the registry and orders: the cartridge events reported
since the previous run (behind a cursor), the devices that reported, their latest supplies."""

from __future__ import annotations

from asr_central.storage.base import Connection, Row

__all__ = ["new_cartridge_events", "claim_events", "events_seen_through",
           "reporting_devices", "device_health", "latest_supplies"]

_EVENT_MARK = "cartridge_events.last_id"


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
