"""Range limits at the wire: the values each field of a summary may hold, beyond its type.

Central checks every payload against these after wire.py's type checks, so a summary that
SQLite could not store (an integer past 64 bits, a lone surrogate), that no printer could
report (a level below -3, a percentage of -1e308) or that would bloat every request (10,000
supplies, a 1 MB serial) is refused with a message naming the field, on its own: the rest
of its batch is stored. The tables here are the single source of the bounds; docs/security.md
lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["Number", "Text", "Count", "SUMMARY", "DEVICE", "SUPPLY", "EVENT", "COUNTERS",
           "ALERT", "ENVELOPE", "YEARS", "SUPPLY_INDEX_MAX", "INT32_MAX", "INT64_MAX", "COUNTER64_MAX",
           "summary_problem", "text_problem"]

INT32_MAX = 2 ** 31 - 1        # Integer32 (RFC 2578)
INT64_MAX = 2 ** 63 - 1        # SQLite's INTEGER, and the widest signed integer anywhere
COUNTER64_MAX = 2 ** 64 - 1    # Counter64 (RFC 2578): page counters

# Periods and replacements happen in this span: a year 9999 freezes a device's state, a
# year 1900 is a printer clock never set.
YEARS = (2000, 2100)

# What no text field may hold: C0 and C1 controls and DEL (a NUL ends C strings, CR/LF
# forge log lines), bidi embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069:
# they make "abc" display as "cba" in a report), and surrogates (only a JSON escape can
# carry a lone one; SQLite and UTF-8 cannot).
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Number:
    """An integer or number field (null always allowed where the type allows it)."""

    low: int | float
    high: int | float
    why: str


@dataclass(frozen=True, slots=True)
class Text:
    """A text field: at most `max_len` characters; `required`: not empty."""

    max_len: int
    why: str
    required: bool = False


@dataclass(frozen=True, slots=True)
class Count:
    """A list field: at most `most` items."""

    most: int
    why: str


_LEVEL = Number(-3, INT32_MAX, "RFC 3805 prtMarkerSuppliesLevel: -1 other, -2 unknown, "
                               "-3 some remaining")
SUPPLY_INDEX_MAX = 65_535     # RFC 3805 prtMarkerSuppliesIndex: Integer32 (1..65535)
_INDEX = Number(1, SUPPLY_INDEX_MAX, "RFC 3805 prtMarkerSuppliesIndex: Integer32 (1..65535)")
_PERCENT = Number(0, 100, "a percentage")
_DAYS = Number(0, 36_500, "days: never negative; a century is far past any forecast")
_GRAMS = Number(0, 10_000_000, "grams: never negative; 10 t is far past any period")
_NAME = Text(255, "SnmpAdminString / OCTET STRING (SIZE (0..255)) in the Printer-MIB")
_PART = Text(64, "a part number or cartridge serial (real ones: under 30)")

SUMMARY: dict[str, Number | Text | Count] = {
    "agent_id": Text(128, "an id central issued", required=True),
    "site_id": Text(128, "a registry site id", required=True),
    "contact": Text(256, "a contact name or address"),
    "sequence": Number(1, INT64_MAX, "per-agent sequence, stored as SQLite INTEGER"),
    "idempotency_key": Text(128, "a SHA-256 in hex (64)", required=True),
    "supplies": Count(64, "rows of the Printer-MIB prtMarkerSuppliesTable: the largest "
                          "production printers report under 40"),
    "cartridge_events": Count(64, "a replacement per supply and period at most"),
    "alerts": Count(64, "one or two per supply and period"),
}
DEVICE: dict[str, Number | Text | Count] = {
    "serial": Text(255, "prtGeneralSerialNumber, OCTET STRING (SIZE (0..255))", required=True),
    "vendor": _NAME, "model": _NAME,
    "address": Text(255, "an IP address or host name"),
}
SUPPLY: dict[str, Number | Text | Count] = {
    "index": _INDEX, "color": _NAME, "level": _LEVEL, "remaining_percent": _PERCENT,
    "grams_used": _GRAMS, "daily_grams": _GRAMS,
    "daily_percent": Number(0, 10_000, "use per day: never negative; 100 cartridges a day "
                                       "is far past any printer"),
    "days_to_empty": _DAYS, "days_to_empty_low": _DAYS, "days_to_empty_high": _DAYS,
    "forecast_status": Text(64, "the forecast's status word", required=True),
    "part_number": _PART, "cartridge_serial": _PART,
}
EVENT: dict[str, Number | Text | Count] = {
    "supply_index": _INDEX, "grams_wasted": _GRAMS, "removed_percent": _PERCENT,
    "cartridge_serial": _PART, "previous_serial": _PART, "part_number": _PART,
}
COUNTERS: dict[str, Number | Text | Count] = {
    "start": Number(0, COUNTER64_MAX, "Counter64 page counter, kept without loss"),
    "end": Number(0, COUNTER64_MAX, "Counter64 page counter, kept without loss"),
}
ALERT: dict[str, Number | Text | Count] = {
    "code": Text(64, "a stable alert code", required=True),
    "message": Text(256, "one line for a person", required=True),
    "supply_index": _INDEX,
}
ENVELOPE: dict[str, Number | Text | Count] = {
    "agent_id": Text(128, "an id central issued", required=True),
    "key_id": Text(128, "a key id derived from the public key", required=True),
}


def text_problem(value: str, spec: Text, where: str) -> str | None:
    """What is wrong with a text field's value, or None."""
    if len(value) > spec.max_len:
        return f"{where}: {len(value)} characters, at most {spec.max_len} ({spec.why})"
    bad = _BAD_CHARS.search(value)
    if bad is not None:
        return (f"{where}: holds the control, bidi or surrogate character "
                f"U+{ord(bad.group()):04X} at {bad.start()}; send plain text")
    if not value:
        return f"{where}: empty" if spec.required else None
    if value.isspace():
        return f"{where}: only white space"
    return None


def _problem(data: dict[str, Any], specs: dict[str, Number | Text | Count],
             where: str) -> str | None:
    """The first field of `data` (type-checked already) outside its bounds, or None."""
    for key, spec in specs.items():
        value = data[key]
        if value is None:
            continue
        path = f"{where}.{key}"
        if type(spec) is Text:
            problem = text_problem(value, spec, path)
            if problem is not None:
                return problem
        elif type(spec) is Number:
            if not spec.low <= value <= spec.high:
                shown = f"{value!r:.40}" if type(value) is float else _digits(value)
                return f"{path}: {shown} is out of range {spec.low}..{spec.high} ({spec.why})"
        elif isinstance(spec, Count) and len(value) > spec.most:
            return f"{path}: {len(value)} items, at most {spec.most} ({spec.why})"
    return None


def _digits(value: int) -> str:
    text = str(value) if value.bit_length() < 200 else None
    return text if text is not None else f"an integer of {value.bit_length()} bits"


def _when(value: datetime, where: str) -> str | None:
    if not YEARS[0] <= value.year <= YEARS[1]:
        return f"{where}: year {value.year} is out of range {YEARS[0]}..{YEARS[1]}"
    return None


def _interval(data: dict[str, Any], where: str) -> str | None:
    low, high = data["days_to_empty_low"], data["days_to_empty_high"]
    if low is not None and high is not None and low > high:
        return f"{where}.days_to_empty_low: {low!r} is above days_to_empty_high {high!r}"
    return None


def summary_problem(data: dict[str, Any], start: datetime, end: datetime,
                    replaced: list[datetime], counters: dict[str, int | None]) -> str | None:
    """The first out-of-range field of a summary whose types wire.check_summary has checked
    (`start`, `end` and `replaced` are its parsed times, `counters` its page counters as
    ints), or None."""
    problem = (_problem(data, SUMMARY, "summary")
               or _when(start, "summary.period_start") or _when(end, "summary.period_end")
               or _problem(data["device"], DEVICE, "summary.device")
               or _problem(counters, COUNTERS, "summary.page_counters"))
    if problem:
        return problem
    seen: set[int] = set()
    for i, supply in enumerate(data["supplies"]):
        where = f"summary.supplies[{i}]"
        problem = _problem(supply, SUPPLY, where) or _interval(supply, where)
        if problem:
            return problem
        if supply["index"] in seen:
            return f"{where}.index: {supply['index']} appears twice; one entry per supply"
        seen.add(supply["index"])
    for i, (event, when) in enumerate(zip(data["cartridge_events"], replaced, strict=True)):
        where = f"summary.cartridge_events[{i}]"
        problem = _problem(event, EVENT, where) or _when(when, f"{where}.replaced_at")
        if problem:
            return problem
    for i, alert in enumerate(data["alerts"]):
        problem = _problem(alert, ALERT, f"summary.alerts[{i}]")
        if problem:
            return problem
    return None
