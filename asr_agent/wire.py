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
import hashlib
import math
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import rfc8785

from asr_agent.records import LevelState, SupplyClass, SupplyType

SCHEMA_VERSION = 1
SIGNATURE_ALG = "ed25519"

__all__ = [
    "SCHEMA_VERSION", "SIGNATURE_ALG", "WireError", "DeviceState", "ItemStatus",
    "DeviceIdentity", "SupplySummary", "CartridgeEvent", "PageCounters", "Alert", "Summary",
    "Envelope", "ItemResult", "canonical_bytes", "encode_summary", "decode_summary",
    "idempotency_key", "format_time", "parse_time", "OrderStatus", "order_status_request",
    "ORDER_STATUS_ACTION", "CONTROL_MAX_AGE_S", "OPEN_ORDER_STATUSES",
]


class WireError(ValueError):
    """A payload does not follow this wire format; the message names the field."""


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


def parse_time(value: Any, name: str) -> datetime:
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


def _obj(value: Any, where: str) -> dict[str, Any]:
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
    allowed = {f.name for f in fields(cls)}
    extra = sorted(set(data) - allowed)
    if extra:
        raise WireError(f"{where}: unknown field(s) {', '.join(extra)}")


def _enum(enum_cls: type[enum.Enum], value: Any, where: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in enum_cls)  # type: ignore[attr-defined]
        raise WireError(f"{where}: {value!r} is not one of {allowed}") from None


def _wire_enum(enum_cls: type[enum.IntEnum], value: Any, where: str) -> Any:
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
    def from_dict(cls, data: Any, where: str = "device") -> DeviceIdentity:
        d = _obj(data, where)
        _only(d, cls, where)
        serial = _str(d, "serial", where)
        assert serial is not None
        if not serial:
            raise WireError(f"{where}.serial: empty")
        return cls(serial=serial, vendor=_str(d, "vendor", where, optional=True),
                   model=_str(d, "model", where, optional=True),
                   asr_compatible=_bool(d, "asr_compatible", where),
                   address=_str(d, "address", where, optional=True))


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
    def from_dict(cls, data: Any, where: str = "supply") -> SupplySummary:
        d = _obj(data, where)
        _only(d, cls, where)
        index = _int(d, "index", where)
        assert index is not None
        status = _str(d, "forecast_status", where)
        assert status is not None
        return cls(
            index=index, type=_wire_enum(SupplyType, _req(d, "type", where), f"{where}.type"),
            supply_class=_wire_enum(SupplyClass, _req(d, "supply_class", where),
                                    f"{where}.supply_class"),
            color=_str(d, "color", where, optional=True),
            level=_int(d, "level", where, optional=True),
            level_state=_enum(LevelState, _req(d, "level_state", where), f"{where}.level_state"),
            remaining_percent=_num(d, "remaining_percent", where),
            grams_used=_num(d, "grams_used", where), daily_grams=_num(d, "daily_grams", where),
            daily_percent=_num(d, "daily_percent", where),
            days_to_empty=_num(d, "days_to_empty", where),
            days_to_empty_low=_num(d, "days_to_empty_low", where),
            days_to_empty_high=_num(d, "days_to_empty_high", where),
            forecast_status=status,
            part_number=_str(d, "part_number", where, optional=True),
            cartridge_serial=_str(d, "cartridge_serial", where, optional=True),
            spike=_bool(d, "spike", where), grams_estimated=_bool(d, "grams_estimated", where),
        )


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
    def from_dict(cls, data: Any, where: str = "cartridge_event") -> CartridgeEvent:
        d = _obj(data, where)
        _only(d, cls, where)
        idx = _int(d, "supply_index", where)
        assert idx is not None
        return cls(supply_index=idx,
                   replaced_at=parse_time(_req(d, "replaced_at", where), f"{where}.replaced_at"),
                   premature=_bool(d, "premature", where),
                   grams_wasted=_num(d, "grams_wasted", where),
                   removed_percent=_num(d, "removed_percent", where),
                   cartridge_serial=_str(d, "cartridge_serial", where, optional=True),
                   previous_serial=_str(d, "previous_serial", where, optional=True),
                   part_number=_str(d, "part_number", where, optional=True))


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
        return {"start": self.start, "end": self.end}

    @classmethod
    def from_dict(cls, data: Any, where: str = "page_counters") -> PageCounters:
        d = _obj(data, where)
        _only(d, cls, where)
        return cls(start=_int(d, "start", where, optional=True),
                   end=_int(d, "end", where, optional=True))


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the agent noticed that a person should hear about (code is stable)."""

    code: str                       # e.g. spike, premature_replacement, level_rising, counter_reset
    message: str
    supply_index: int | None = None
    severity: str = "warning"       # info | warning | error

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "supply_index": self.supply_index,
                "severity": self.severity}

    @classmethod
    def from_dict(cls, data: Any, where: str = "alert") -> Alert:
        d = _obj(data, where)
        _only(d, cls, where)
        severity = _str(d, "severity", where)
        if severity not in {"info", "warning", "error"}:
            raise WireError(f"{where}.severity: {severity!r} is not info, warning or error")
        code = _str(d, "code", where)
        message = _str(d, "message", where)
        assert code is not None and message is not None
        return cls(code=code, message=message,
                   supply_index=_int(d, "supply_index", where, optional=True), severity=severity)


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
    def from_dict(cls, data: Any) -> Summary:
        where = "summary"
        d = _obj(data, where)
        version = _int(d, "schema_version", where)
        if version != SCHEMA_VERSION:
            raise WireError(f"summary.schema_version: {version} is not supported "
                            f"(this side speaks {SCHEMA_VERSION}); upgrade the older side")
        _only(d, cls, where)
        agent_id = _str(d, "agent_id", where)
        site_id = _str(d, "site_id", where)
        key = _str(d, "idempotency_key", where)
        sequence = _int(d, "sequence", where)
        assert agent_id is not None and site_id is not None and key is not None
        assert sequence is not None
        if sequence < 1:
            raise WireError(f"summary.sequence: {sequence} must be 1 or more")
        if not key:
            raise WireError("summary.idempotency_key: empty")
        start = parse_time(_req(d, "period_start", where), "summary.period_start")
        end = parse_time(_req(d, "period_end", where), "summary.period_end")
        if end < start:
            raise WireError("summary.period_end: before period_start")
        return cls(
            agent_id=agent_id, site_id=site_id, contact=_str(d, "contact", where, optional=True),
            sequence=sequence, idempotency_key=key, period_start=start, period_end=end,
            device=DeviceIdentity.from_dict(_req(d, "device", where), "summary.device"),
            device_state=_enum(DeviceState, _req(d, "device_state", where), "summary.device_state"),
            supplies=tuple(SupplySummary.from_dict(s, f"summary.supplies[{i}]")
                           for i, s in enumerate(_list(d, "supplies", where))),
            page_counters=PageCounters.from_dict(_req(d, "page_counters", where),
                                                 "summary.page_counters"),
            cartridge_events=tuple(CartridgeEvent.from_dict(e, f"summary.cartridge_events[{i}]")
                                   for i, e in enumerate(_list(d, "cartridge_events", where))),
            alerts=tuple(Alert.from_dict(a, f"summary.alerts[{i}]")
                         for i, a in enumerate(_list(d, "alerts", where))),
            schema_version=version,
        )


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
    import json

    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError(f"summary payload is not UTF-8 JSON: {exc}") from exc
    return Summary.from_dict(data)


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
    def from_dict(cls, data: Any, where: str = "envelope") -> Envelope:
        d = _obj(data, where)
        _only(d, cls, where)
        alg = _str(d, "alg", where)
        if alg != SIGNATURE_ALG:
            raise WireError(f"{where}.alg: {alg!r} is not supported (only {SIGNATURE_ALG})")
        agent_id = _str(d, "agent_id", where)
        key_id = _str(d, "key_id", where)
        assert agent_id is not None and key_id is not None
        return cls(agent_id=agent_id, key_id=key_id,
                   payload=_b64(_str(d, "payload", where), f"{where}.payload"),
                   signature=_b64(_str(d, "signature", where), f"{where}.signature"), alg=alg)


def _b64(value: str | None, where: str) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
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
    def from_dict(cls, data: Any, where: str = "result") -> ItemResult:
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
    def from_dict(cls, data: Any, where: str = "order_status") -> OrderStatus:
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
