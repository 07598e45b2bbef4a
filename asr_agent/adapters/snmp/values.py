"""pyasn1 values as the plain Python the rest of the agent reads: the one converter, used
by the client (GET, GETNEXT, GETBULK, walks) and the discovery sweep alike, so a device
reads the same whichever of them asked it.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Final


class _EndOfMib:
    """The agent has nothing after this OID (endOfMibView, or v1 noSuchName on GETNEXT)."""

    _instance: _EndOfMib | None = None

    def __new__(cls) -> _EndOfMib:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "END_OF_MIB"

    def __bool__(self) -> bool:
        return False


END_OF_MIB: Final = _EndOfMib()

# int for INTEGER/Counter/Gauge/TimeTicks, bytes for OCTET STRING, str for OIDs and
# IpAddress (dotted), None for noSuchObject/noSuchInstance/NULL, END_OF_MIB past the end.
Value = int | bytes | str | None | _EndOfMib


@cache
def _types() -> Any:
    # Imported on first use: loading the configuration (which names credentials) stays
    # free of pysnmp; only a program that talks SNMP pays for it.
    from pyasn1.type import univ
    from pysnmp.proto import rfc1155, rfc1902, rfc1905
    return univ, rfc1905, (rfc1902.IpAddress, rfc1155.IpAddress)


def plain(value: object) -> Value:
    """One varbind value as plain Python; anything unreadable is None."""
    univ, rfc1905, ip_addresses = _types()
    # EndOfMibView and the two noSuch* are Null subclasses: test them first.
    if isinstance(value, rfc1905.EndOfMibView):
        return END_OF_MIB
    if isinstance(value, (rfc1905.NoSuchObject, rfc1905.NoSuchInstance, univ.Null)):
        return None
    if isinstance(value, ip_addresses):  # v1 and v2c each have their own class
        octets = bytes(value.asOctets())
        return ".".join(str(b) for b in octets) if len(octets) == 4 else octets
    if isinstance(value, univ.OctetString):
        return bytes(value.asOctets())
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Integer):
        return int(value)
    return None


def present(value: Value) -> bool:
    """A value the device really holds (not a noSuch*, NULL or the end of its MIB)."""
    return value is not None and value is not END_OF_MIB
