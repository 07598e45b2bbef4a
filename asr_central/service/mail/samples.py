"""Example facts of each kind of message, on one of the contact's own printers: what the
dealer's preview shows (and the reviewed snapshots hold) before anything really happens."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from asr_central.domain.mail import DIGEST, MailKind
from asr_central.service.mail.render import Item

__all__ = ["PREVIEW_KINDS", "sample_items"]

PREVIEW_KINDS = tuple(k.value for k in MailKind) + (DIGEST, "test")


def _line(serial: str, location: str | None, day: date) -> dict[str, Any]:
    return {"serial": serial, "location": location, "color": "black",
            "supply_kind": "consumable", "part_number": "106R03528", "quantity": 2,
            "runout_day": (day + timedelta(days=19)).isoformat(),
            "cartridge_serials": ["CRT-0001", "CRT-0002"]}


def _facts(kind: str, serial: str, location: str | None, day: date) -> dict[str, Any]:
    printer = {"serial": serial, "location": location, "color": "black",
               "supply_kind": "consumable"}
    if kind == MailKind.ORDER_PLACED.value:
        return {"order_id": 1001, "tracking": None, "lines": [_line(serial, location, day)]}
    if kind == MailKind.ORDER_SHIPPED.value:
        return {"order_id": 1001, "tracking": "TRK-0001",
                "lines": [_line(serial, location, day)]}
    if kind == MailKind.DEVICE_SILENT.value:
        return printer | {"last_seen": (day - timedelta(days=3)).isoformat()}
    if kind == MailKind.USAGE_SPIKE.value:
        return printer
    if kind == MailKind.PREMATURE_REPLACEMENT.value:
        return printer | {"replaced_on": day.isoformat(), "grams_left": 87.5,
                          "percent_left": 35.0}
    if kind == MailKind.CARTRIDGE_MISROUTED.value:
        return printer | {"replaced_on": day.isoformat(), "cartridge_serial": "CRT-0003",
                          "shipped_to": "XRX-OTHER-1", "shipped_to_location": "Hall B"}
    return {}


def sample_items(kind: str, serial: str, location: str | None, day: date) -> list[Item]:
    """The items a message of `kind` would carry ('digest': one of each kind)."""
    if kind == DIGEST:
        return [Item(k.value, _facts(k.value, serial, location, day)) for k in MailKind]
    if kind == "test":
        return [Item("test", {})]
    if kind not in PREVIEW_KINDS:
        raise ValueError(f"{kind!r} is not a kind of message; expected one of "
                         f"{', '.join(PREVIEW_KINDS)}")
    return [Item(kind, _facts(kind, serial, location, day))]
