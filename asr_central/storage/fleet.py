"""What the console shows about printers: the registry's word (site, contact, model, where
it stands) beside the printer's own (reported model, address, state, last seen)."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["PrinterInfo", "printer_info"]


@dataclass(frozen=True, slots=True)
class PrinterInfo:
    serial: str
    site_id: str | None
    model: str | None
    location: str | None  # the registry's note: where the printer stands
    address: str | None
    state: str | None  # ok | asleep | unreachable; None: never reported
    last_seen: str | None


def _marks(values: Collection[str]) -> str:
    return ",".join("?" * len(values))


def printer_info(conn: sqlite3.Connection, serials: Collection[str]) -> dict[str, PrinterInfo]:
    """Serial → what is known of it; serials neither registered nor reporting are absent."""
    wanted = sorted(set(serials))
    if not wanted:
        return {}
    registered = {r[0]: r for r in conn.execute(
        f"SELECT serial, site_id, model, note FROM registry_devices "
        f"WHERE serial IN ({_marks(wanted)})", wanted)}
    reported = {r[0]: r for r in conn.execute(
        f"SELECT serial, site_id, model, address, state, last_seen FROM device_status "
        f"WHERE serial IN ({_marks(wanted)})", wanted)}
    out = {}
    for serial in wanted:
        reg, rep = registered.get(serial), reported.get(serial)
        if reg is None and rep is None:
            continue
        out[serial] = PrinterInfo(
            serial, (reg[1] if reg is not None else None) or (rep[1] if rep else None),
            (reg[2] if reg is not None else None) or (rep[2] if rep else None),
            reg[3] if reg is not None else None, rep[3] if rep else None,
            rep[4] if rep else None, rep[5] if rep else None)
    return out
