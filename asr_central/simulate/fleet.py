"""The simulated-fleet file: its schema, strict validation, and errors that name line and key.

A fleet file is YAML; every mistake is reported as `file:line: key: what is wrong`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from asr_core.errors import ConfigError
from asr_core.yaml_source import compose

DEFAULT_WEEKLY = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0)
REPORT_MODES = ("percent", "tenths_of_grams", "coarse", "some_remaining")
CONSUMABLE_TYPES = ("toner", "ink")
WASTE_TYPES = ("waste_toner", "waste_ink")


class _Strict(BaseModel):
    # strict: a quoted "6" is not a number; frozen: a fleet is a value once loaded.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SupplySpec(_Strict):
    id: str = Field(min_length=1)
    type: Literal["toner", "ink", "waste_toner", "waste_ink"]
    color: str | None = None
    part_number: str | None = None
    capacity_g: float = Field(gt=0)
    level_pct: float = Field(default=100.0, ge=0, le=100)

    @property
    def is_waste(self) -> bool:
        return self.type in WASTE_TYPES


class Usage(_Strict):
    grams_per_day: dict[str, Annotated[float, Field(ge=0)]]
    weekly: tuple[Annotated[float, Field(ge=0)], ...] = DEFAULT_WEEKLY
    noise: float = Field(default=0.3, ge=0, le=3)
    waste_ratio: float = Field(default=0.1, ge=0, le=1)


class SpikeEvent(_Strict):
    type: Literal["spike"]
    start: dt.date
    days: int = Field(gt=0)
    factor: float = Field(ge=0)


class OfflineEvent(_Strict):
    type: Literal["offline"]
    start: dt.date
    days: int = Field(gt=0)


class ClosedEvent(_Strict):
    type: Literal["closed"]
    start: dt.date
    days: int = Field(gt=0)


class TrendEvent(_Strict):
    type: Literal["trend"]
    start: dt.date
    factor: float = Field(ge=0)


Event = Annotated[
    SpikeEvent | OfflineEvent | ClosedEvent | TrendEvent, Field(discriminator="type")
]


class DeviceSpec(_Strict):
    serial: str = Field(min_length=1)
    model: str = "Xerox VersaLink C405"
    report_every_hours: int = Field(default=4, ge=1, le=24)
    report: Literal["percent", "tenths_of_grams", "coarse", "some_remaining"] = "percent"
    replace_at_pct: float = Field(default=0.0, ge=0, lt=100)
    supplies: tuple[SupplySpec, ...] = Field(min_length=1)
    usage: Usage
    events: tuple[Event, ...] = ()


class SiteSpec(_Strict):
    id: str = Field(min_length=1)
    contact: str | None = None
    devices: tuple[DeviceSpec, ...] = Field(min_length=1)


class Fleet(_Strict):
    start: dt.date
    days: int = Field(gt=0, le=3660)
    seed: int = 0
    shipping_days: tuple[int, int] = (2, 5)
    lead_days: int | None = Field(default=None, ge=0)
    supply_days: int | None = Field(default=None, gt=0)
    pull_forward_days: float | None = Field(default=None, ge=0)
    order_point: Literal["fixed", "service"] | None = None
    service_level: float | None = Field(default=None, ge=0.5, le=0.9999)
    sites: tuple[SiteSpec, ...] = Field(min_length=1)

    def devices(self) -> list[tuple[SiteSpec, DeviceSpec]]:
        return [(site, device) for site in self.sites for device in site.devices]


# --- YAML with positions -----------------------------------------------------------------

Path_ = tuple[Any, ...]


def _construct(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    """Build plain Python data from a YAML node tree, remembering each path's line."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.SafeLoader.construct_scalar(_LOADER, key_node) if isinstance(
                key_node, yaml.ScalarNode) else None
            if key is None:
                raise ConfigError("mapping keys must be plain strings",
                                  line=key_node.start_mark.line + 1)
            if key in out:
                raise ConfigError("duplicate key", line=key_node.start_mark.line + 1,
                                  key=_dotted(path + (key,)))
            lines[path + (key,)] = key_node.start_mark.line + 1
            out[key] = _construct(value_node, path + (key,), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        # tuples: the strict schema treats every sequence as an immutable tuple
        return tuple(_construct(item, path + (i,), lines) for i, item in enumerate(node.value))
    return _LOADER.construct_object(node, deep=True)


_LOADER = yaml.SafeLoader("")


def _dotted(path: Path_) -> str:
    out = ""
    for seg in path:
        if isinstance(seg, int):
            out += f"[{seg}]"
        else:
            out += f".{seg}" if out else str(seg)
    return out or "(top level)"


def _locate(loc: Path_, lines: dict[Path_, int]) -> tuple[Path_, int | None]:
    """Map a validation location to the deepest path present in the file, and its line.

    Segments the file does not have (a union's tag name) are skipped.
    """
    path: Path_ = ()
    for seg in loc:
        if path + (seg,) in lines:
            path = path + (seg,)
    return path, lines.get(path)


def _error_from_pydantic(err: Mapping[str, Any], lines: dict[Path_, int],
                         source: str) -> ConfigError:
    loc = tuple(err["loc"])
    path, line = _locate(loc, lines)
    kind = err["type"]
    if kind == "extra_forbidden":
        message = "unknown key; check its spelling against docs/fleet-format.md"
        path = loc if loc in lines else path
        line = lines.get(path, line)
    elif kind == "missing":
        message = "is required"
        path = loc
    else:
        message = err["msg"]
        if "input" in err and not isinstance(err["input"], (dict, list)):
            message += f" (got {err['input']!r})"
    return ConfigError(message, path=source, line=line, key=_dotted(path))


def load_fleet(path: str | Path) -> Fleet:
    """Read and validate a fleet file; raise ConfigError naming file, line and key."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read fleet file: {exc.strerror}", path=str(p)) from exc
    return parse_fleet(text, source=str(p))


def parse_fleet(text: str, source: str = "<fleet>") -> Fleet:
    node = compose(text, source)  # the strict reader: no aliases, bounded depth, plain tags
    if node is None:
        raise ConfigError("the fleet file is empty", path=source)
    lines: dict[Path_, int] = {}
    try:
        data = _construct(node, (), lines)
    except ConfigError as exc:
        raise ConfigError(str(exc).split(": ", 1)[-1] if exc.key else str(exc), path=source,
                          line=exc.line, key=exc.key) from None
    if not isinstance(data, dict):
        raise ConfigError("the fleet file must be a mapping (start, days, sites, …)",
                          path=source, line=1)
    try:
        fleet = Fleet.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        # a bad item also fails its container's length check; report the item only
        locs = [tuple(e["loc"]) for e in errors]
        errors = [e for e in errors if not any(
            len(other) > len(e["loc"]) and other[:len(e["loc"])] == tuple(e["loc"])
            for other in locs)]
        first = _error_from_pydantic(errors[0], lines, source)
        if len(errors) > 1:
            first.args = (f"{first.args[0]} (and {len(errors) - 1} more problem(s))",)
        raise first from None
    _check_semantics(fleet, lines, source)
    return fleet


def _fail(message: str, path: Path_, lines: dict[Path_, int], source: str) -> ConfigError:
    return ConfigError(message, path=source, line=_locate(path, lines)[1], key=_dotted(path))


def _check_semantics(fleet: Fleet, lines: dict[Path_, int], source: str) -> None:
    """Rules across fields that a schema cannot say."""
    lo, hi = fleet.shipping_days
    if lo < 0 or hi < lo:
        raise _fail(f"must be [min, max] days with 0 <= min <= max (got [{lo}, {hi}])",
                    ("shipping_days",), lines, source)
    seen_sites: set[str] = set()
    seen_serials: set[str] = set()
    parts: dict[str, tuple[SupplySpec, Path_]] = {}
    for si, site in enumerate(fleet.sites):
        if site.id in seen_sites:
            raise _fail(f"site id {site.id!r} is used twice", ("sites", si, "id"), lines, source)
        seen_sites.add(site.id)
        for di, dev in enumerate(site.devices):
            base: Path_ = ("sites", si, "devices", di)
            if dev.serial in seen_serials:
                raise _fail(f"serial {dev.serial!r} is used twice", base + ("serial",),
                            lines, source)
            seen_serials.add(dev.serial)
            ids: dict[str, SupplySpec] = {}
            for ki, sup in enumerate(dev.supplies):
                if sup.id in ids:
                    raise _fail(f"supply id {sup.id!r} is used twice on {dev.serial}",
                                base + ("supplies", ki, "id"), lines, source)
                ids[sup.id] = sup
                if sup.part_number is not None:
                    here = base + ("supplies", ki, "capacity_g")
                    first = parts.setdefault(sup.part_number, (sup, here))
                    if (first[0].capacity_g, first[0].type) != (sup.capacity_g, sup.type):
                        raise _fail(f"part number {sup.part_number} was given "
                                    f"{first[0].capacity_g:g} g of {first[0].type} at "
                                    f"{_dotted(first[1])}; one part has one capacity and type",
                                    here, lines, source)
            if 24 % dev.report_every_hours:
                raise _fail("must divide 24 (1, 2, 3, 4, 6, 8, 12 or 24)",
                            base + ("report_every_hours",), lines, source)
            if len(dev.usage.weekly) != 7:
                raise _fail(f"needs 7 multipliers, Monday..Sunday (got {len(dev.usage.weekly)})",
                            base + ("usage", "weekly"), lines, source)
            for sid in dev.usage.grams_per_day:
                key = base + ("usage", "grams_per_day", sid)
                if sid not in ids:
                    raise _fail(f"unknown supply id {sid!r}; this device's supplies are "
                                f"{', '.join(sorted(ids))}", key, lines, source)
                if ids[sid].is_waste:
                    raise _fail(f"{sid!r} is a waste supply: it fills from usage.waste_ratio, "
                                "give grams_per_day for toner or ink only", key, lines, source)
            _check_events(dev, base, lines, source)


def _check_events(dev: DeviceSpec, base: Path_, lines: dict[Path_, int], source: str) -> None:
    last_end: dict[str, tuple[dt.date, int]] = {}
    order = sorted(range(len(dev.events)), key=lambda i: dev.events[i].start)
    for i in order:
        ev = dev.events[i]
        if isinstance(ev, TrendEvent):
            continue  # trends compound: several are allowed
        end = ev.start + dt.timedelta(days=ev.days)
        prev = last_end.get(ev.type)
        if prev is not None and ev.start < prev[0]:
            raise _fail(f"{ev.type} event overlaps the {ev.type} event at events[{prev[1]}] "
                        f"(which runs until {prev[0] - dt.timedelta(days=1)}); events of one "
                        "type must not overlap", base + ("events", i, "start"), lines, source)
        last_end[ev.type] = (end, i)
