"""What a policy run reads besides the registry and orders: the cartridge events reported
since the previous run (behind a cursor), the devices that reported, their latest supplies."""

from __future__ import annotations

from asr_central.storage.base import Connection, Row

__all__ = ["new_cartridge_events", "mark_events_seen", "reporting_devices", "device_health",
           "latest_supplies"]

_EVENT_MARK = "cartridge_events.last_id"


def new_cartridge_events(conn: Connection) -> list[Row]:
    """Cartridge events after the cursor `mark_events_seen` last set, in arrival order."""
    mark = conn.execute("SELECT value FROM replenish_state WHERE name = ?",
                        (_EVENT_MARK,)).fetchone()
    last_id = int(mark[0]) if mark else 0
    return conn.execute("SELECT * FROM cartridge_events WHERE id > ? ORDER BY id",
                        (last_id,)).fetchall()


def mark_events_seen(conn: Connection, through_id: int) -> None:
    conn.execute("INSERT INTO replenish_state (name, value) VALUES (?, ?) ON CONFLICT (name) "
                 "DO UPDATE SET value = excluded.value", (_EVENT_MARK, str(through_id)))


def reporting_devices(conn: Connection) -> list[Row]:
    """(serial, site_id, contact) of every device that ever reported."""
    return conn.execute("SELECT serial, site_id, contact FROM device_status").fetchall()


def device_health(conn: Connection) -> list[Row]:
    """(serial, last_seen, asr_compatible) of every device that ever reported."""
    return conn.execute("SELECT serial, last_seen, asr_compatible FROM device_status").fetchall()


def latest_supplies(conn: Connection) -> list[Row]:
    return conn.execute("SELECT * FROM supply_latest ORDER BY device_serial, supply_index"
                        ).fetchall()
