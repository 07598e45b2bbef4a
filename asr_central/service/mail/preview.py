"""A message of any kind as a contact would receive it: their language and name, one of
their own printers, example facts (samples.py). Shown to the dealer by the API and the
console before anything really happens."""

from __future__ import annotations

from datetime import date

from asr_central.service.mail.render import Rendered, render_message
from asr_central.service.mail.samples import sample_items
from asr_central.storage import registry
from asr_central.storage.base import Connection

__all__ = ["a_printer_of", "preview_message"]


def a_printer_of(conn: Connection, contact_id: str) -> tuple[str, str | None]:
    """One of the contact's own printers for the example (serial, location), or a made-up
    one."""
    mine = sorted(s for s, a in registry.assignments(conn).items() if a.contact_id == contact_id)
    if not mine:
        return "XRX-EXAMPLE-1", None
    device = registry.get_device(conn, mine[0])
    return mine[0], device.location if device is not None else None


def preview_message(conn: Connection, contact: registry.Contact, kind: str,
                    today: date) -> Rendered:
    """The message of `kind` (samples.PREVIEW_KINDS) `contact` would receive today."""
    serial, location = a_printer_of(conn, contact.contact_id)
    return render_message(contact.language, contact.name, kind,
                          sample_items(kind, serial, location, today), today)
