"""The supply catalog: part number → type, colour, nominal grams, page yield and, for a waste
bottle, its nominal waste ratio.

Shipped as `asr_agent/data/supply_catalog.yaml`; a user file (config key
`consumption.supply_catalog`) overrides it entry by entry, field by field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import yaml

from asr_core.errors import ConfigError
from asr_core.yaml_source import compose, construct
from asr_core.records import SupplyType

__all__ = ["CatalogEntry", "SupplyCatalog", "load_catalog", "parse_catalog"]

_FIELDS = {"description", "type", "color", "nominal_grams", "yield_pages", "waste_ratio"}
_TYPES = {t.wire_name: t for t in SupplyType}


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """Nominal figures for one part; None where the catalog does not know."""

    part_number: str
    type: SupplyType | None = None
    color: str | None = None
    nominal_grams: float | None = None
    yield_pages: int | None = None
    description: str | None = None
    # a waste bottle: grams of waste per gram of toner its printers put in it (its capacity
    # in grams is `nominal_grams`); the prior of the waste forecast (asr_agent.domain.waste)
    waste_ratio: float | None = None


class SupplyCatalog(Mapping[str, CatalogEntry]):
    """Read-only lookup by part number (case and surrounding blanks ignored)."""

    def __init__(self, entries: Mapping[str, CatalogEntry] | None = None) -> None:
        self._entries = {_key(k): v for k, v in (entries or {}).items()}

    def __getitem__(self, part_number: str) -> CatalogEntry:
        return self._entries[_key(part_number)]

    def get(self, part_number: str | None, default: CatalogEntry | None = None) -> CatalogEntry | None:  # type: ignore[override]
        if part_number is None:
            return default
        return self._entries.get(_key(part_number), default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def merged(self, override: SupplyCatalog) -> SupplyCatalog:
        """This catalog with `override`'s entries laid over it, field by field."""
        out = dict(self._entries)
        for key, entry in override._entries.items():
            base = out.get(key)
            if base is None:
                out[key] = entry
                continue
            changes = {f: getattr(entry, f) for f in ("type", "color", "nominal_grams",
                                                      "yield_pages", "description", "waste_ratio")
                       if getattr(entry, f) is not None}
            out[key] = replace(base, **changes)
        return SupplyCatalog(out)


def _key(part_number: str) -> str:
    return str(part_number).strip().upper()


def parse_catalog(text: str, *, source: str) -> SupplyCatalog:
    """Parse catalog YAML; errors name `source`, the line and the key."""
    root = compose(text, source)
    if root is None:
        return SupplyCatalog()
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping with a 'parts' key", path=source, line=root.start_mark.line + 1)
    parts_node = None
    for k, v in root.value:
        if k.value == "parts":
            parts_node = v
        elif k.value != "version":
            raise ConfigError("unknown key (expected 'version' or 'parts')", path=source,
                              line=k.start_mark.line + 1, key=k.value)
    if parts_node is None or (isinstance(parts_node, yaml.ScalarNode) and parts_node.value in ("", "null", "~")):
        return SupplyCatalog()
    if not isinstance(parts_node, yaml.MappingNode):
        raise ConfigError("'parts' must map part numbers to their figures", path=source,
                          line=parts_node.start_mark.line + 1, key="parts")
    entries: dict[str, CatalogEntry] = {}
    for pk, pv in parts_node.value:
        part = str(pk.value).strip()
        where = f"parts.{part}"
        if not isinstance(pv, yaml.MappingNode):
            raise ConfigError("expected a mapping of fields", path=source, line=pv.start_mark.line + 1, key=where)
        fields: dict[str, object] = {}
        for fk, fv in pv.value:
            line = fk.start_mark.line + 1
            name = fk.value
            if name not in _FIELDS:
                raise ConfigError(f"unknown field (expected one of {', '.join(sorted(_FIELDS))})",
                                  path=source, line=line, key=f"{where}.{name}")
            value = construct(fv)
            fields[name] = _field(name, value, source, line, f"{where}.{name}")
        entries[part] = CatalogEntry(part_number=part, **fields)  # type: ignore[arg-type]
    return SupplyCatalog(entries)


# Above any cartridge's grams or pages, and within SQLite's integers.
_MAX_FIGURE = 100_000_000


def _field(name: str, value: object, source: str, line: int, key: str) -> object:
    if value is None:
        return None
    if name == "type":
        if not isinstance(value, str) or value not in _TYPES:
            raise ConfigError(f"unknown supply type {value!r} (use a Printer-MIB type name such as "
                              "toner, waste_toner, opc)", path=source, line=line, key=key)
        return _TYPES[value]
    if name in ("nominal_grams", "yield_pages"):
        # .nan fails every comparison, so the range is checked as what it must be
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= _MAX_FIGURE:
            raise ConfigError(f"must be a positive number up to {_MAX_FIGURE:,}, got {value!r} "
                              "(leave it out when unknown)", path=source, line=line, key=key)
        return int(value) if name == "yield_pages" else float(value)
    if name == "waste_ratio":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"must be a number above 0 and at most 1 (grams of waste per gram "
                              f"of toner), got {value!r} (leave it out when unknown)",
                              path=source, line=line, key=key)
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"must be text, got {value!r}", path=source, line=line, key=key)
    return value


def builtin_catalog() -> SupplyCatalog:
    text = resources.files("asr_agent").joinpath("data/supply_catalog.yaml").read_text(encoding="utf-8")
    return parse_catalog(text, source="supply_catalog.yaml (built in)")


def load_catalog(user_file: str | Path | None = None) -> SupplyCatalog:
    """The built-in catalog, overridden by `user_file` when given."""
    catalog = builtin_catalog()
    if user_file is None:
        return catalog
    path = Path(user_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the supply catalog: {exc.strerror}; fix the path in "
                          "consumption.supply_catalog", path=str(path)) from None
    return catalog.merged(parse_catalog(text, source=str(path)))
