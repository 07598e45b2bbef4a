"""The one rule for what the agent keys a printer by, everywhere (store, device state,
analysis, summaries, status page).

A printer's key is its serial number. A printer without one (RFC 1759-era, or a serial
the parser refused) is keyed by "h:" + the first 20 hex digits of SHA-256 over what it
says it is (sysObjectID, sysDescr, hrDeviceDescr), unless discovery or an earlier answer
already named it: an address is never a key, because DHCP moves printers.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

from asr_core.records import Device, Reading

__all__ = ["IDENTITY_PREFIX", "device_key", "hashed_identity", "identified"]

IDENTITY_PREFIX = "h:"  # a hashed identity, told apart from a serial number by it


def hashed_identity(sys_object_id: str | None, sys_descr: str | None,
                    hr_device_descr: str | None) -> str:
    """The identity of a printer without a serial: "h:" + a hash of what it says it is."""
    parts = (sys_object_id or "", sys_descr or "", hr_device_descr or "")
    return IDENTITY_PREFIX + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:20]


def device_key(device: Device, identity: str | None = None) -> str:
    """`device`'s key: its serial (stripped); without one, `identity` (what discovery or an
    earlier answer named it); without that, the hash of what the device says it is.

    A poll does not read hrDeviceDescr, so a hash made here matches discovery's only for a
    printer that has none; pass discovery's identity whenever there is one.
    """
    serial = (device.serial or "").strip()
    if serial:
        return serial
    return identity or hashed_identity(device.sys_object_id, device.sys_descr, None)


def identified(reading: Reading, identity: str | None = None) -> Reading:
    """`reading` with its device's serial set to its key (see device_key)."""
    key = device_key(reading.device, identity)
    if key == reading.device.serial:
        return reading
    return replace(reading, device=replace(reading.device, serial=key))
