"""What a device sends where it has no serial: one list of placeholders, for a printer's
prtGeneralSerialNumber and a cartridge's CRUM serial alike. Pure."""

from __future__ import annotations

from functools import lru_cache

# Seen in real walks (`SNunknown`, Samsung's bare `S/N:CRUM-`) and in firmware that fills
# an empty field with a word; compared lowercased and stripped.
PLACEHOLDERS = frozenset({"", "unknown", "none", "n/a", "na", "null", "-", "crum-"})


def is_placeholder(text: str) -> bool:
    """True for a blank, a placeholder word, or all zeros: nothing to tell two devices apart."""
    s = text.strip()
    return not s.strip("0") or s.lower() in PLACEHOLDERS


def usable(serial: str | None) -> str | None:
    """`serial` stripped, or None when it is a placeholder."""
    if serial is None:
        return None
    return _usable(serial)


@lru_cache(maxsize=4096)
def _usable(serial: str) -> str | None:
    # cached: a supply repeats its serial at every poll, and the store checks each one
    return None if is_placeholder(serial) else serial.strip()
