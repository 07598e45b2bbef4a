"""The wire format between agent and central, defined once: summaries, envelopes, answers.

Both sides import this module; `data/summary.schema.json` describes the same shape for others.

Canonical encoding rule: a payload is the RFC 8785 (JSON Canonicalization Scheme) encoding
of `Summary.to_dict()` — object keys sorted by UTF-16 code units, no insignificant white
space, numbers in their shortest ECMAScript form, UTF-8. The signature covers exactly
those bytes, and the envelope carries them base64-encoded so that no JSON re-encoding on
the way (a proxy, a logger, a framework) can change what was signed.

Only what is listed here leaves the customer network: no SNMP community strings, no v3
keys, and the device address only when the agent is not told to mask it.
"""

from __future__ import annotations

import base64
import binascii
import enum
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import rfc8785

from asr_core import wire_ranges
from asr_core.errors import WireError
from asr_core.records import LevelState, SupplyClass, SupplyType

SCHEMA_VERSION = 1
SIGNATURE_ALG = "ed25519"

__all__ = [
    "SCHEMA_VERSION", "SIGNATURE_ALG", "WireError", "DeviceState", "ItemStatus",
    "DeviceIdentity", "SupplySummary", "CartridgeEvent", "PageCounters", "Alert", "Summary",
    "Envelope", "ItemResult", "canonical_bytes", "encode_summary", "decode_summary",
    "CheckedSummary", "CheckedSupply", "check_summary", "load_payload", "WIRE_SAFE_INT",
    "counter_to_wire", "counter_from_wire",
    "idempotency_key", "format_time", "parse_time", "OrderStatus", "order_status_request",
    "ORDER_STATUS_ACTION", "CONTROL_MAX_AGE_S", "OPEN_ORDER_STATUSES",
]


class DeviceState(enum.Enum):
    OK = "ok"
    ASLEEP = "asleep"
    UNREACHABLE = "unreachable"


class ItemStatus(enum.Enum):
    """Central's verdict on one envelope of a batch."""

    ACCEPTED = "accepted"      # stored now
    DUPLICATE = "duplicate"    # idempotency key already stored: delivered before, ack it
    REJECTED = "rejected"      # refused for good (reason says why); retrying will not help


# --- time -----------------------------------------------------------------------------------

def format_time(value: datetime) -> str:
    """UTC, ISO 8601 with a `Z`; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None:
        raise WireError(f"naive datetime {value!r}: wire times must carry a timezone")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise WireError(f"{name}: expected an ISO 8601 time string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise WireError(f"{name}: {value!r} is not an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        raise WireError(f"{name}: {value!r} has no timezone")
    return parsed.astimezone(UTC)


# --- field readers (strict: the central side parses untrusted input with these) ------------

def _req(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise WireError(f"{where}.{key}: missing")
    return data[key]


def _str(data: dict[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = _req(data, key, where)
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise WireError(f"{where}.{key}: expected a string, got {type(value).__name__}")
    return value


def _int(data: dict[str, Any], key: str, where: str, *, optional: bool = False) -> int | None:
    value = _req(data, key, where)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireError(f"{where}.{key}: expected an integer, got {type(value).__name__}")
    return value


def _num(data: dict[str, Any], key: str, where: str) -> float | None:
    value = _req(data, key, where)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise WireError(f"{where}.{key}: expected a finite number or null, got {value!r}")
    return float(value)


def _bool(data: dict[str, Any], key: str, where: str) -> bool:
    value = _req(data, key, where)
    if not isinstance(value, bool):
        raise WireError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _obj(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise WireError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(data: dict[str, Any], key: str, where: str) -> list[Any]:
    value = _req(data, key, where)
    if not isinstance(value, list):
        raise WireError(f"{where}.{key}: expected a list, got {type(value).__name__}")
    return value


def _only(data: dict[str, Any], cls: type, where: str) -> None:
    """Unknown keys are refused: a field we do not know is a field we would drop silently."""
    extra = sorted(data.keys() - _field_names(cls))
    if extra:
        raise WireError(f"{where}: unknown field(s) {', '.join(extra)}")


@functools.cache
def _field_names(cls: type) -> frozenset[str]:
    return frozenset(f.name for f in fields(cls))


# JSON types each kind of field may hold; `type(v) in kind` is exact, so a bool is no int.
_STR: tuple[type, ...] = (str,)
_STR_OR_NULL: tuple[type, ...] = (str, type(None))
_INT: tuple[type, ...] = (int,)
_INT_OR_NULL: tuple[type, ...] = (int, type(None))
_NUMBER_OR_NULL: tuple[type, ...] = (int, float, type(None))
_BOOL: tuple[type, ...] = (bool,)
_LIST: tuple[type, ...] = (list,)
_ANY: tuple[type, ...] = ()  # checked where the value is converted (enums, times, objects)
_OBJECT: tuple[type, ...] = (dict,)  # an _ANY field holding an object (quick check only)


@dataclass(frozen=True, slots=True)
class _Fields:
    """A record's fields as sent: `kinds` for the field-by-field check, `quick` for the
    quick check (the JSON type each field holds when it is valid, `_ANY` fields included),
    `numbers` for the fields that hold a number or null."""

    cls: type
    kinds: dict[str, tuple[type, ...]]
    quick: tuple[tuple[str, tuple[type, ...]], ...]
    numbers: tuple[str, ...]


def _fields(cls: type, kinds: dict[str, tuple[type, ...]],
            converted: dict[str, tuple[type, ...]] | None = None) -> _Fields:
    """`converted` names the JSON type of the `_ANY` fields (a name, a time: `_STR`)."""
    quick = tuple((key, kind or (converted or {})[key]) for key, kind in kinds.items())
    numbers = tuple(key for key, kind in kinds.items() if kind is _NUMBER_OR_NULL)
    return _Fields(cls, kinds, quick, numbers)


def _checked(data: object, spec: _Fields, where: str) -> dict[str, Any]:
    """`data` as an object with exactly `spec`'s fields (every field is always sent, null
    when unknown), each holding a JSON value of its kind; WireError naming the field if not.

    Central runs this for every summary it ingests. The quick check (exact types, every
    field present and no other, finite numbers) passes valid data in one cheap loop; what
    it does not pass goes through the field-by-field check, which names the problem.
    """
    if type(data) is dict and len(data) == len(spec.quick):
        try:
            for key, kind in spec.quick:
                if type(data[key]) not in kind:
                    break
            else:
                for key in spec.numbers:
                    value = data[key]
                    # isfinite() raises OverflowError for an int with no float.
                    if value is not None and not math.isfinite(value):
                        break
                else:
                    return data
        except (KeyError, OverflowError):
            pass
    return _checked_slowly(data, spec, where)


def _checked_slowly(data: object, spec: _Fields, where: str) -> dict[str, Any]:
    d = _obj(data, where)
    kinds = spec.kinds
    if d.keys() != kinds.keys():
        _only(d, spec.cls, where)
        for key in kinds:
            _req(d, key, where)
    for key, kind in kinds.items():
        value = d[key]
        if kind and type(value) not in kind:
            _check_subclass(value, kind, f"{where}.{key}")
        if type(value) is float:
            if not math.isfinite(value):
                raise WireError(_kind_error(_NUMBER_OR_NULL, value, f"{where}.{key}"))
        elif kind is _NUMBER_OR_NULL and type(value) is int and not _has_float(value):
            raise WireError(_kind_error(_NUMBER_OR_NULL, value, f"{where}.{key}"))
    return d


def _has_float(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _check_subclass(value: object, kind: tuple[type, ...], where: str) -> None:
    """Data built in code (not parsed JSON) may hold subclasses, which the readers took."""
    if kind is _BOOL:
        ok = isinstance(value, bool)
    else:
        ok = isinstance(value, kind) and not isinstance(value, bool)
    if not ok or (isinstance(value, float) and not math.isfinite(value)):
        raise WireError(_kind_error(kind, value, where))


def _kind_error(kind: tuple[type, ...], value: object, where: str) -> str:
    """The message the single-field readers above give for the same mistake."""
    if kind is _NUMBER_OR_NULL:
        return f"{where}: expected a finite number or null, got {value!r:.40}"
    if kind is _BOOL:
        return f"{where}: expected true or false, got {value!r}"
    if kind is _LIST:
        return f"{where}: expected a list, got {type(value).__name__}"
    expected = "a string" if str in kind else "an integer"
    return f"{where}: expected {expected}, got {type(value).__name__}"


def _float(value: int | float | None) -> float | None:
    return None if value is None else float(value)


def _enum(enum_cls: type[enum.Enum], value: object, where: str) -> Any:
    try:  # what enum_cls(value) looks up first, without the call's overhead
        return enum_cls._value2member_map_[value]
    except (KeyError, TypeError):
        pass
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)
        raise WireError(f"{where}: {value!r} is not one of {allowed}") from None


@functools.cache
def _wire_names(enum_cls: type[enum.IntEnum]) -> dict[str, Any]:
    """The members by wire name, as agents send them: the lower-case member name."""
    return {name.lower(): member for name, member in enum_cls.__members__.items()
            if name.lower().upper() == name}


def _wire_enum(enum_cls: type[enum.IntEnum], value: Any, where: str) -> Any:
    try:  # the wire name as sent (a dict lookup); any other case or type below
        return _wire_names(enum_cls)[value]
    except (KeyError, TypeError):
        pass
    if not isinstance(value, str):
        raise WireError(f"{where}: expected a name, got {value!r}")
    try:
        return enum_cls[value.upper()]
    except KeyError:
        raise WireError(f"{where}: unknown value {value!r}") from None


def _finite(value: float | None, where: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise WireError(f"{where}: {value!r} cannot be sent; use null for unknown")
    return value


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    serial: str
    vendor: str | None
    model: str | None
    asr_compatible: bool
    address: str | None = None  # None when the agent masks addresses

    def to_dict(self) -> dict[str, Any]:
        return {"serial": self.serial, "vendor": self.vendor, "model": self.model,
                "asr_compatible": self.asr_compatible, "address": self.address}

    @classmethod
    def from_dict(cls, data: object, where: str = "device") -> DeviceIdentity:
        d = _checked(data, _DEVICE, where)
        if not d["serial"]:
            raise WireError(f"{where}.serial: empty")
        return cls(d["serial"], d["vendor"], d["model"], d["asr_compatible"], d["address"])


_DEVICE = _fields(DeviceIdentity, {
    "serial": _STR, "vendor": _STR_OR_NULL, "model": _STR_OR_NULL, "asr_compatible": _BOOL,
    "address": _STR_OR_NULL})


@dataclass(frozen=True, slots=True)
class SupplySummary:
    """One supply's state and forecast at the end of the period.

    For a receptacle (waste bottle) `remaining_percent` is the free space left and
    `days_to_empty` is the days until it is full: 0 always means "replace now".
    """

    index: int
    type: SupplyType
    supply_class: SupplyClass
    color: str | None
    level: int | None
    level_state: LevelState
    remaining_percent: float | None
    grams_used: float | None          # during the period
    daily_grams: float | None
    daily_percent: float | None
    days_to_empty: float | None
    days_to_empty_low: float | None
    days_to_empty_high: float | None
    forecast_status: str              # the forecast's own status word (e.g. ok, warming_up)
    part_number: str | None = None
    cartridge_serial: str | None = None
    spike: bool = False
    grams_estimated: bool = False     # grams derived from a catalog, not read in tenths of grams

    def to_dict(self) -> dict[str, Any]:
        where = f"supplies[{self.index}]"
        return {
            "index": self.index, "type": self.type.wire_name,
            "supply_class": self.supply_class.wire_name, "color": self.color,
            "level": self.level, "level_state": self.level_state.value,
            "remaining_percent": _finite(self.remaining_percent, f"{where}.remaining_percent"),
            "grams_used": _finite(self.grams_used, f"{where}.grams_used"),
            "daily_grams": _finite(self.daily_grams, f"{where}.daily_grams"),
            "daily_percent": _finite(self.daily_percent, f"{where}.daily_percent"),
            "days_to_empty": _finite(self.days_to_empty, f"{where}.days_to_empty"),
            "days_to_empty_low": _finite(self.days_to_empty_low, f"{where}.days_to_empty_low"),
            "days_to_empty_high": _finite(self.days_to_empty_high, f"{where}.days_to_empty_high"),
            "forecast_status": self.forecast_status, "part_number": self.part_number,
            "cartridge_serial": self.cartridge_serial, "spike": self.spike,
            "grams_estimated": self.grams_estimated,
        }

    @classmethod
    def from_dict(cls, data: object, where: str = "supply") -> SupplySummary:
        return _built_supply(_checked_supply(data, where))


CheckedSupply = tuple[dict[str, Any], SupplyType, SupplyClass, LevelState]
"""A supply as sent, checked, with its names looked up: (data, type, class, level state)."""


def _checked_supply(data: object, where: str) -> CheckedSupply:
    """Every check `SupplySummary.from_dict` makes, without building the record."""
    d = _checked(data, _SUPPLY, where)
    try:  # the names as agents send them, by table; anything else named below
        return d, _SUPPLY_TYPES[d["type"]], _SUPPLY_CLASSES[d["supply_class"]], \
            _LEVEL_STATES[d["level_state"]]
    except (KeyError, TypeError):
        return (d, _wire_enum(SupplyType, d["type"], f"{where}.type"),
                _wire_enum(SupplyClass, d["supply_class"], f"{where}.supply_class"),
                _enum(LevelState, d["level_state"], f"{where}.level_state"))


def _built_supply(checked: CheckedSupply) -> SupplySummary:
    d, kind, supply_class, level_state = checked
    # Positional, in field order: keywords cost more than the rest of a supply's checks.
    return SupplySummary(
        d["index"], kind, supply_class, d["color"], d["level"], level_state,
        _float(d["remaining_percent"]), _float(d["grams_used"]), _float(d["daily_grams"]),
        _float(d["daily_percent"]), _float(d["days_to_empty"]),
        _float(d["days_to_empty_low"]), _float(d["days_to_empty_high"]),
        d["forecast_status"], d["part_number"], d["cartridge_serial"], d["spike"],
        d["grams_estimated"],
    )


_SUPPLY_TYPES = _wire_names(SupplyType)
_SUPPLY_CLASSES = _wire_names(SupplyClass)
_LEVEL_STATES: dict[Any, LevelState] = LevelState._value2member_map_  # type: ignore[assignment]
_SUPPLY = _fields(SupplySummary, {
    "index": _INT, "type": _ANY, "supply_class": _ANY, "color": _STR_OR_NULL,
    "level": _INT_OR_NULL, "level_state": _ANY, "remaining_percent": _NUMBER_OR_NULL,
    "grams_used": _NUMBER_OR_NULL, "daily_grams": _NUMBER_OR_NULL,
    "daily_percent": _NUMBER_OR_NULL, "days_to_empty": _NUMBER_OR_NULL,
    "days_to_empty_low": _NUMBER_OR_NULL, "days_to_empty_high": _NUMBER_OR_NULL,
    "forecast_status": _STR, "part_number": _STR_OR_NULL, "cartridge_serial": _STR_OR_NULL,
    "spike": _BOOL, "grams_estimated": _BOOL,
}, {"type": _STR, "supply_class": _STR, "level_state": _STR})


@dataclass(frozen=True, slots=True)
class CartridgeEvent:
    """A cartridge (or waste bottle) replaced during the period."""

    supply_index: int
    replaced_at: datetime
    premature: bool
    grams_wasted: float | None = None         # left in the removed unit when premature
    removed_percent: float | None = None      # its level when removed
    cartridge_serial: str | None = None       # the unit now installed
    previous_serial: str | None = None        # the unit removed
    part_number: str | None = None

    def to_dict(self) -> dict[str, Any]:
        where = f"cartridge_events[{self.supply_index}]"
        return {"supply_index": self.supply_index, "replaced_at": format_time(self.replaced_at),
                "premature": self.premature,
                "grams_wasted": _finite(self.grams_wasted, f"{where}.grams_wasted"),
                "removed_percent": _finite(self.removed_percent, f"{where}.removed_percent"),
                "cartridge_serial": self.cartridge_serial,
                "previous_serial": self.previous_serial, "part_number": self.part_number}

    @classmethod
    def from_dict(cls, data: object, where: str = "cartridge_event") -> CartridgeEvent:
        d = _checked(data, _EVENT, where)
        return cls(supply_index=d["supply_index"],
                   replaced_at=parse_time(d["replaced_at"], f"{where}.replaced_at"),
                   premature=d["premature"], grams_wasted=_float(d["grams_wasted"]),
                   removed_percent=_float(d["removed_percent"]),
                   cartridge_serial=d["cartridge_serial"], previous_serial=d["previous_serial"],
                   part_number=d["part_number"])


_EVENT = _fields(CartridgeEvent, {
    "supply_index": _INT, "replaced_at": _ANY, "premature": _BOOL,
    "grams_wasted": _NUMBER_OR_NULL, "removed_percent": _NUMBER_OR_NULL,
    "cartridge_serial": _STR_OR_NULL, "previous_serial": _STR_OR_NULL,
    "part_number": _STR_OR_NULL,
}, {"replaced_at": _STR})


@dataclass(frozen=True, slots=True)
class PageCounters:
    """Life page counter at the start and end of the period (None: not reported)."""

    start: int | None
    end: int | None

    @property
    def pages(self) -> int | None:
        if self.start is None or self.end is None or self.end < self.start:
            return None  # a counter reset is not negative printing
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {"start": counter_to_wire(self.start), "end": counter_to_wire(self.end)}

    @classmethod
    def from_dict(cls, data: object, where: str = "page_counters") -> PageCounters:
        d = _checked(data, _COUNTERS, where)
        return cls(counter_from_wire(d["start"], f"{where}.start"),
                   counter_from_wire(d["end"], f"{where}.end"))


# A page counter is a Counter64 (up to 2^64-1), but the signed encoding (RFC 8785) and
# I-JSON (RFC 7493 2.2) carry exact integers only up to 2^53-1. Above that a counter
# travels as a string of decimal digits, as I-JSON advises; at or below it, always as a
# number, so that each value has one encoding.
WIRE_SAFE_INT = 2**53 - 1
_COUNTER_DIGITS = re.compile(r"[1-9][0-9]{15,19}")


def counter_to_wire(value: int | None) -> int | str | None:
    return str(value) if value is not None and value > WIRE_SAFE_INT else value


def counter_from_wire(value: int | str | None, where: str) -> int | None:
    """A page counter as sent (a number, or digits above 2^53-1) as an int."""
    if not isinstance(value, str):
        return value
    if _COUNTER_DIGITS.fullmatch(value) is None or int(value) <= WIRE_SAFE_INT:
        raise WireError(f"{where}: {value[:40]!r} is not a counter: a string holds only the "
                        f"decimal digits of a counter above 2^53-1 ({WIRE_SAFE_INT})")
    return int(value)


_COUNTER: tuple[type, ...] = (int, str, type(None))
_COUNTERS = _fields(PageCounters, {"start": _COUNTER, "end": _COUNTER})


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the agent noticed that a person should hear about (code is stable)."""

    # An asr_core.codes.Code value, or an older agent's spelling (codes.LEGACY_WIRE_CODES).
    # Kept for agents that still send alerts; current agents send none and central reads none.
    code: str
    message: str
    supply_index: int | None = None
    severity: str = "warning"       # info | warning | error

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "supply_index": self.supply_index,
                "severity": self.severity}

    @classmethod
    def from_dict(cls, data: object, where: str = "alert") -> Alert:
        d = _checked(data, _ALERT, where)
        severity = d["severity"]
        if severity not in {"info", "warning", "error"}:
            raise WireError(f"{where}.severity: {severity!r} is not info, warning or error")
        return cls(code=d["code"], message=d["message"], supply_index=d["supply_index"],
                   severity=severity)


_ALERT = _fields(Alert, {"code": _STR, "message": _STR, "supply_index": _INT_OR_NULL,
                         "severity": _STR})


@dataclass(frozen=True, slots=True)
class Summary:
    """One device over one period, as the agent reports it to central."""

    agent_id: str
    site_id: str
    contact: str | None
    sequence: int                   # monotonic per agent; central refuses one it has seen
    idempotency_key: str            # same device + period => same key, whatever the sequence
    period_start: datetime
    period_end: datetime
    device: DeviceIdentity
    device_state: DeviceState
    supplies: tuple[SupplySummary, ...]
    page_counters: PageCounters
    cartridge_events: tuple[CartridgeEvent, ...] = ()
    alerts: tuple[Alert, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version, "agent_id": self.agent_id,
            "site_id": self.site_id, "contact": self.contact, "sequence": self.sequence,
            "idempotency_key": self.idempotency_key,
            "period_start": format_time(self.period_start),
            "period_end": format_time(self.period_end),
            "device": self.device.to_dict(), "device_state": self.device_state.value,
            "supplies": [s.to_dict() for s in self.supplies],
            "page_counters": self.page_counters.to_dict(),
            "cartridge_events": [e.to_dict() for e in self.cartridge_events],
            "alerts": [a.to_dict() for a in self.alerts],
        }

    @classmethod
    def from_dict(cls, data: object) -> Summary:
        return check_summary(data).summary()


@dataclass(slots=True)
class CheckedSummary:
    """A summary as sent, with every check `Summary.from_dict` makes passed, its supplies
    not yet built: central stores what it needs from the checked data, and building four
    supply records cost more than storing them. `summary()` builds the Summary."""

    agent_id: str
    site_id: str
    contact: str | None
    sequence: int
    idempotency_key: str
    period_start: datetime
    period_end: datetime
    device: DeviceIdentity
    device_state: DeviceState
    supplies: tuple[CheckedSupply, ...]
    page_counters: PageCounters
    cartridge_events: tuple[CartridgeEvent, ...]
    alerts: tuple[Alert, ...]
    schema_version: int

    def summary(self) -> Summary:
        return Summary(self.agent_id, self.site_id, self.contact, self.sequence,
                       self.idempotency_key, self.period_start, self.period_end, self.device,
                       self.device_state, tuple([_built_supply(c) for c in self.supplies]),
                       self.page_counters, self.cartridge_events, self.alerts,
                       self.schema_version)


def check_summary(data: object) -> CheckedSummary:
    """Parsed payload data checked as a summary; WireError naming the field if it is not."""
    where = "summary"
    d = _obj(data, where)
    # The version first: a newer agent's summary is refused for its version, not for
    # the fields this side does not know yet.
    version = _int(d, "schema_version", where)
    if version != SCHEMA_VERSION:
        raise WireError(f"summary.schema_version: {version} is not supported "
                        f"(this side speaks {SCHEMA_VERSION}); upgrade the older side")
    _checked(d, _SUMMARY, where)
    sequence, key = d["sequence"], d["idempotency_key"]
    if sequence < 1:
        raise WireError(f"summary.sequence: {sequence} must be 1 or more")
    if not key:
        raise WireError("summary.idempotency_key: empty")
    start = parse_time(d["period_start"], "summary.period_start")
    end = parse_time(d["period_end"], "summary.period_end")
    if end < start:
        raise WireError("summary.period_end: before period_start")
    event, alert = CartridgeEvent.from_dict, Alert.from_dict
    checked = CheckedSummary(
        d["agent_id"], d["site_id"], d["contact"], sequence, key, start, end,
        DeviceIdentity.from_dict(d["device"], "summary.device"),
        _enum(DeviceState, d["device_state"], "summary.device_state"),
        tuple([_checked_supply(s, f"summary.supplies[{i}]")
               for i, s in enumerate(d["supplies"])]),
        PageCounters.from_dict(d["page_counters"], "summary.page_counters"),
        tuple([event(e, f"summary.cartridge_events[{i}]")
               for i, e in enumerate(d["cartridge_events"])]),
        tuple([alert(a, f"summary.alerts[{i}]") for i, a in enumerate(d["alerts"])]),
        version,
    )
    counters = checked.page_counters
    problem = wire_ranges.summary_problem(
        d, start, end, [e.replaced_at for e in checked.cartridge_events],
        {"start": counters.start, "end": counters.end})
    if problem is not None:
        raise WireError(problem)
    return checked


_SUMMARY = _fields(Summary, {
    "schema_version": _INT, "agent_id": _STR, "site_id": _STR, "contact": _STR_OR_NULL,
    "sequence": _INT, "idempotency_key": _STR, "period_start": _ANY, "period_end": _ANY,
    "device": _ANY, "device_state": _ANY, "supplies": _LIST, "page_counters": _ANY,
    "cartridge_events": _LIST, "alerts": _LIST,
}, {"period_start": _STR, "period_end": _STR, "device": _OBJECT, "device_state": _STR,
    "page_counters": _OBJECT})


def idempotency_key(agent_id: str, serial: str, period_start: datetime,
                    period_end: datetime) -> str:
    """Derived from what the summary is about, so a summary rebuilt after a crash (with a
    new sequence number) is still recognised by central as the same one."""
    text = "\x1f".join([agent_id, serial, format_time(period_start), format_time(period_end)])
    return hashlib.sha256(text.encode()).hexdigest()


# --- encoding -------------------------------------------------------------------------------

def canonical_bytes(data: Any) -> bytes:
    """RFC 8785 canonical JSON of plain data (dicts, lists, str, int, finite float, None)."""
    try:
        return rfc8785.dumps(data)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise WireError(f"cannot encode canonically: {exc}") from exc


def encode_summary(summary: Summary) -> bytes:
    return canonical_bytes(summary.to_dict())


def decode_summary(payload: bytes) -> Summary:
    """The summary in verified payload bytes: parsed once, checked field by field, not
    re-encoded (the signature already covers these exact bytes)."""
    return Summary.from_dict(load_payload(payload))


def load_payload(payload: bytes) -> Any:
    """Payload bytes parsed as JSON (the standard library's verdict), or WireError."""
    try:
        return json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"summary payload is not UTF-8 JSON: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Envelope:
    """Signed payload as it travels: the payload bytes are exactly what was signed."""

    agent_id: str
    key_id: str
    payload: bytes
    signature: bytes
    alg: str = SIGNATURE_ALG

    def to_dict(self) -> dict[str, Any]:
        return {"agent_id": self.agent_id, "key_id": self.key_id, "alg": self.alg,
                "payload": base64.b64encode(self.payload).decode("ascii"),
                "signature": base64.b64encode(self.signature).decode("ascii")}

    @classmethod
    def from_dict(cls, data: object, where: str = "envelope") -> Envelope:
        d = _checked(data, _ENVELOPE, where)
        for key, spec in wire_ranges.ENVELOPE.items():  # looked up in the database next
            problem = wire_ranges.text_problem(d[key], spec, f"{where}.{key}")  # type: ignore[arg-type]
            if problem is not None:
                raise WireError(problem)
        alg = d["alg"]
        if alg != SIGNATURE_ALG:
            raise WireError(f"{where}.alg: {alg!r} is not supported (only {SIGNATURE_ALG})")
        return cls(agent_id=d["agent_id"], key_id=d["key_id"],
                   payload=_b64(d["payload"], f"{where}.payload"),
                   signature=_b64(d["signature"], f"{where}.signature"), alg=alg)


_ENVELOPE = _fields(Envelope, {"agent_id": _STR, "key_id": _STR, "payload": _STR,
                               "signature": _STR, "alg": _STR})


def _b64(value: str, where: str) -> bytes:
    try:  # base64.b64decode(value, validate=True) without its wrapper: one per envelope
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise WireError(f"{where}: not valid base64 ({exc})") from exc


@dataclass(frozen=True, slots=True)
class ItemResult:
    """Central's answer for one envelope of a batch, in the order they were sent.

    `code` is the HTTP status the envelope would have had on its own: 201 accepted,
    409 duplicate or replay, 401 unknown agent or key, 403 revoked or wrong site,
    422 bad signature, 400 malformed.
    """

    status: ItemStatus
    code: int
    reason: str | None = None
    idempotency_key: str | None = None
    sequence: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "code": self.code, "reason": self.reason,
                "idempotency_key": self.idempotency_key, "sequence": self.sequence}

    @classmethod
    def from_dict(cls, data: object, where: str = "result") -> ItemResult:
        d = _obj(data, where)
        code = _int(d, "code", where)
        assert code is not None
        # Only status and code are required: the rest is for people reading logs.
        opt = {"reason": None, "idempotency_key": None, "sequence": None, **d}
        return cls(status=_enum(ItemStatus, _req(d, "status", where), f"{where}.status"),
                   code=code, reason=_str(opt, "reason", where, optional=True),
                   idempotency_key=_str(opt, "idempotency_key", where, optional=True),
                   sequence=_int(opt, "sequence", where, optional=True))



# --- order status (central → agent) ---------------------------------------------------------

ORDER_STATUS_ACTION = "order_status"
# A signed control request older (or further in the future) than this is refused, and its
# nonce is remembered for as long, so a captured request cannot be replayed.
CONTROL_MAX_AGE_S = 300.0
OPEN_ORDER_STATUSES = ("created", "shipped", "delivered")


def order_status_request(agent_id: str, issued_at: datetime, nonce: str) -> dict[str, Any]:
    """The signed payload by which an agent asks for its devices' open order lines."""
    return {"action": ORDER_STATUS_ACTION, "agent_id": agent_id,
            "issued_at": format_time(issued_at), "nonce": nonce}


def _opt_time(data: dict[str, Any], key: str, where: str) -> datetime | None:
    value = data.get(key)
    return None if value is None else parse_time(value, f"{where}.{key}")


@dataclass(frozen=True, slots=True)
class OrderStatus:
    """Central's newest open order line for one supply of one of the agent's devices.

    `status` is the order's: created (ordered, not yet shipped), shipped, or delivered
    (on hand, not yet all installed). `installed` counts units of the line already fitted.
    """

    device_serial: str
    supply_index: int
    status: str
    quantity: int
    order_id: int
    installed: int = 0
    created_at: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cartridge_serials: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for a person, e.g. "shipped 2026-12-01 (1 unit)"."""
        when = {"created": self.created_at, "shipped": self.shipped_at,
                "delivered": self.delivered_at}.get(self.status)
        word = "ordered" if self.status == "created" else self.status
        units = f"{self.quantity} unit" + ("" if self.quantity == 1 else "s")
        if self.installed:
            units += f", {self.installed} installed"
        return f"{word} {when.date().isoformat()} ({units})" if when else f"{word} ({units})"

    def to_dict(self) -> dict[str, Any]:
        def t(value: datetime | None) -> str | None:
            return None if value is None else format_time(value)

        return {"device_serial": self.device_serial, "supply_index": self.supply_index,
                "status": self.status, "quantity": self.quantity, "order_id": self.order_id,
                "installed": self.installed, "created_at": t(self.created_at),
                "shipped_at": t(self.shipped_at), "delivered_at": t(self.delivered_at),
                "cartridge_serials": list(self.cartridge_serials)}

    @classmethod
    def from_dict(cls, data: object, where: str = "order_status") -> OrderStatus:
        # Unknown keys are tolerated here: a newer central may say more than we show.
        d = _obj(data, where)
        serial = _str(d, "device_serial", where)
        index = _int(d, "supply_index", where)
        status = _str(d, "status", where)
        quantity = _int(d, "quantity", where)
        order_id = _int(d, "order_id", where)
        assert serial is not None and index is not None and status is not None
        assert quantity is not None and order_id is not None
        if status not in OPEN_ORDER_STATUSES:
            raise WireError(f"{where}.status: {status!r} is not one of "
                            f"{', '.join(OPEN_ORDER_STATUSES)}")
        installed = d.get("installed", 0)
        if isinstance(installed, bool) or not isinstance(installed, int):
            raise WireError(f"{where}.installed: expected an integer, got {installed!r}")
        serials = d.get("cartridge_serials") or []
        if not isinstance(serials, list) or not all(isinstance(s, str) for s in serials):
            raise WireError(f"{where}.cartridge_serials: expected a list of strings")
        return cls(device_serial=serial, supply_index=index, status=status, quantity=quantity,
                   order_id=order_id, installed=installed,
                   created_at=_opt_time(d, "created_at", where),
                   shipped_at=_opt_time(d, "shipped_at", where),
                   delivered_at=_opt_time(d, "delivered_at", where),
                   cartridge_serials=tuple(serials))
