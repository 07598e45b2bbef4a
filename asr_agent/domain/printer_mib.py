"""Printer-MIB and HOST-RESOURCES walk data (OID string -> value) into a typed `Reading`.

Pure: no I/O, no clock. What depends on the vendor (where the model is, part-number forms,
description words) is looked up in the vendor's table (`asr_agent.domain.vendors`); a
garbled value becomes a warning on the Reading, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from asr_agent.domain import oids, serials, vendors
from asr_agent.domain.vendors import VendorTable
from asr_core.records import Device, LevelState, Reading, Supply, SupplyClass, SupplyType, SupplyUnit

HR_PRINTER_STATUS_NAMES = {1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
HR_DEVICE_STATUS_NAMES = {1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}

# hrPrinterDetectedErrorState: (byte, mask, name); bit 0 is the most significant bit of byte 0.
# The MIB names bits 2 and 3 for toner; on an inkjet they mean its ink (see INKJET_NAMES).
ERROR_STATE_BITS = (
    (0, 0x80, "low_paper"), (0, 0x40, "no_paper"), (0, 0x20, "low_toner"), (0, 0x10, "no_toner"),
    (0, 0x08, "door_open"), (0, 0x04, "jammed"), (0, 0x02, "offline"),
    (0, 0x01, "service_requested"),
    (1, 0x80, "input_tray_missing"), (1, 0x40, "output_tray_missing"),
    (1, 0x20, "marker_supply_missing"), (1, 0x10, "output_near_full"), (1, 0x08, "output_full"),
    (1, 0x04, "input_tray_empty"), (1, 0x02, "overdue_prevent_maint"),
)
INKJET_NAMES = {"low_toner": "low_ink", "no_toner": "no_ink"}
_INK_TYPES = frozenset({SupplyType.INK, SupplyType.INK_CARTRIDGE, SupplyType.INK_RIBBON, SupplyType.WASTE_INK})

# Printer-MIB sentinels for prtMarkerSuppliesLevel (RFC 3805).
_LEVEL_STATES = {-1: LevelState.UNLIMITED, -2: LevelState.UNKNOWN, -3: LevelState.SOME_REMAINING}

# The ranges RFC 3805 gives these columns (Integer32 with sentinels), and a Counter32 or
# Counter64 page counter (up to 2^64-1). A value outside its range is a broken agent or a
# hostile one: it is named in a warning and left out, never stored or summed.
LEVEL_RANGE = (-3, 2**31 - 1)
CAPACITY_RANGE = (-2, 2**31 - 1)
COUNTER_RANGE = (0, 2**64 - 1)
SUPPLY_INDEX_RANGE = (1, 65_535)  # prtMarkerSuppliesIndex: Integer32 (1..65535)

_COLOR_WORDS = (
    "light cyan", "light magenta", "photo black", "matte black", "light black", "light gray",
    "light grey", "dark gray", "dark grey", "black", "cyan", "magenta", "yellow", "gray", "grey",
    "red", "green", "blue", "orange", "violet", "gold", "silver", "white", "clear",
)
_COLOR_RX = re.compile(r"\b(" + "|".join(re.escape(w).replace(r"\ ", r"[\s_-]?") for w in _COLOR_WORDS)
                       + r")\b", re.IGNORECASE)
_COLOR_CODE_RX = re.compile(r"[\[(]\s*([KCMY])\s*[\])]")
_COLOR_CODES = {"K": "black", "C": "cyan", "M": "magenta", "Y": "yellow"}

# `..., PN 006R01509;SN48178080E0000481` (Xerox) and `... S/N:CRUM-…` (Samsung engines).
_XEROX_PN_SN = re.compile(r"[,;]?\s*\bPN\s*[:#]?\s*(?P<pn>[^;,]*?)\s*(?:;\s*SN\s*[:#]?\s*(?P<sn>[^;,\s]*))?\s*$",
                          re.IGNORECASE)
_SAMSUNG_SN = re.compile(r"\s*\bS/N\s*:\s*(?P<sn>\S*)\s*$", re.IGNORECASE)
_HEX_LINE = re.compile(r"^(?:[0-9A-Fa-f]{2}\s)+(?:[0-9A-Fa-f]{2})?$|^00$")

# Description keywords for rows without a usable prtMarkerSuppliesType, checked in order.
_TYPE_WORDS: tuple[tuple[re.Pattern[str], SupplyType], ...] = tuple(
    (re.compile(rx, re.IGNORECASE), t) for rx, t in (
        (r"waste\s*ink|ink\s*(?:collector|absorber)|maintenance\s*box", SupplyType.WASTE_INK),
        (r"waste|used\s*toner|toner\s*collect|collection\s*(?:unit|container|bottle)", SupplyType.WASTE_TONER),
        (r"\bdrum|photo\s*conductor|\bopc\b|imaging\s*unit", SupplyType.OPC),
        (r"developer", SupplyType.DEVELOPER),
        (r"fuser|fusing", SupplyType.FUSER),
        (r"transfer|\bbtr\b|\bitb\b", SupplyType.TRANSFER_UNIT),
        (r"staple", SupplyType.STAPLES),
        (r"clean", SupplyType.CLEANER_UNIT),
        (r"\bink\b", SupplyType.INK),
        (r"toner\s*cartridge", SupplyType.TONER_CARTRIDGE),
        (r"toner", SupplyType.TONER),
        (r"cartridge", SupplyType.TONER_CARTRIDGE),
    )
)
_RECEPTACLE_WORDS = re.compile(r"waste|used\s*toner|collect|receptacle|absorber|maintenance\s*box",
                               re.IGNORECASE)

_E = TypeVar("_E", SupplyType, SupplyClass, SupplyUnit)


@dataclass(frozen=True, slots=True)
class _Row:
    device_index: int
    index: int
    columns: dict[int, object]


def parse_reading(raw: Mapping[str, object], *, host: str, port: int, taken_at: datetime) -> Reading:
    """One poll's raw varbinds (numeric OID without leading dot -> plain value) as a Reading."""
    warnings: list[str] = []
    data = {_norm_oid(k): v for k, v in raw.items()}
    table = vendors.table_for(vendors.identify(_text(data.get(oids.SYS_OBJECT_ID)) or "",
                                               _text(data.get(oids.SYS_DESCR)) or "").vendor)
    supplies = parse_supplies(data, warnings, table)
    device_index = _printer_device_index(data)
    device = parse_device(data, warnings, device_index)
    return Reading(
        host=host, port=port, taken_at=taken_at, device=device, supplies=supplies,
        page_count=_page_count(data, device_index, warnings),
        printer_status=_enum_name(data, oids.HR_PRINTER_STATUS, device_index,
                                  HR_PRINTER_STATUS_NAMES, warnings),
        device_status=_enum_name(data, oids.HR_DEVICE_STATUS, device_index,
                                 HR_DEVICE_STATUS_NAMES, warnings),
        error_state=_error_state(data, device_index, warnings, inkjet=_is_inkjet(supplies)),
        warnings=tuple(warnings),
    )


def parse_device(data: Mapping[str, object], warnings: list[str], device_index: int | None = None) -> Device:
    sys_object_id = _text(data.get(oids.SYS_OBJECT_ID)) or ""
    sys_descr = _text(data.get(oids.SYS_DESCR)) or ""
    if not sys_object_id:
        warnings.append(f"sysObjectID ({oids.SYS_OBJECT_ID}) missing: vendor from sysDescr only")
    serial_raw = _instance(data, oids.PRT_GENERAL_SERIAL_NUMBER, device_index)
    serial = _clean_serial(_text(serial_raw))
    info = vendors.identify(sys_object_id, sys_descr,
                            hr_device_descr=_text(_instance(data, oids.HR_DEVICE_DESCR, device_index)),
                            printer_name=_text(_instance(data, oids.PRT_GENERAL_PRINTER_NAME, device_index)))
    return Device(sys_object_id=sys_object_id.lstrip("."), sys_descr=sys_descr, serial=serial,
                  vendor=info.vendor, model=info.model, asr_compatible=info.asr_compatible)


def parse_supplies(data: Mapping[str, object], warnings: list[str],
                   table: VendorTable | None = None) -> tuple[Supply, ...]:
    """prtMarkerSuppliesTable rows (any indexes, any subset of columns) as Supply records,
    read with the vendor's table when the vendor is known."""
    rows = _supply_rows(data)
    colorants = _colorants(data)
    kept = []
    for row in rows:
        if SUPPLY_INDEX_RANGE[0] <= row.index <= SUPPLY_INDEX_RANGE[1]:
            kept.append(_supply(row, colorants, warnings, table))
        else:
            warnings.append(f"supply {row.index}: prtMarkerSuppliesIndex outside "
                            f"{SUPPLY_INDEX_RANGE[0]}..{SUPPLY_INDEX_RANGE[1]}; row left out")
    return tuple(kept)


def has_supplies_table(data: Mapping[str, object]) -> bool:
    return bool(_supply_rows({_norm_oid(k): v for k, v in data.items()}))


# -- supplies ---------------------------------------------------------------------------


def _supply_rows(data: Mapping[str, object]) -> list[_Row]:
    prefix = oids.PRT_MARKER_SUPPLIES_ENTRY + "."
    rows: dict[tuple[int, int], dict[int, object]] = {}
    for oid, value in data.items():
        if not oid.startswith(prefix):
            continue
        parts = oid[len(prefix):].split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            continue
        column, device_index, index = (int(p) for p in parts)
        if 2 <= column <= 9:
            rows.setdefault((device_index, index), {})[column] = value
    return [_Row(d, i, cols) for (d, i), cols in sorted(rows.items())]


def _colorants(data: Mapping[str, object]) -> dict[tuple[int, int], str]:
    prefix = oids.PRT_MARKER_COLORANT_VALUE + "."
    found: dict[tuple[int, int], str] = {}
    for oid, value in data.items():
        if oid.startswith(prefix):
            parts = oid[len(prefix):].split(".")
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                name = _normalise_color(_text(value))
                if name:
                    found[(int(parts[0]), int(parts[1]))] = name
    return found


def _supply(row: _Row, colorants: Mapping[tuple[int, int], str], warnings: list[str],
            table: VendorTable | None) -> Supply:
    cols = row.columns
    label = f"supply {row.index}"
    warn = warnings.append

    description, part_number, cartridge_serial = _split_description(
        _text(cols.get(6), hex_ok=True) or "")
    if part_number is None and table is not None:
        part_number = _vendor_part_number(description, table)
    if description:
        label = f"supply {row.index} ({description})"

    supply_type = _enum(cols.get(5), SupplyType, label, "prtMarkerSuppliesType", warn)
    if supply_type is None or supply_type in (SupplyType.UNKNOWN, SupplyType.OTHER):
        guessed = _type_from_description(description, table)
        if guessed is not None:
            supply_type = guessed
    if supply_type is None:
        supply_type = SupplyType.UNKNOWN

    supply_class = _enum(cols.get(4), SupplyClass, label, "prtMarkerSuppliesClass", warn)
    class_inferred = supply_class is None
    if supply_class is None:
        receptacle = supply_type.is_waste or bool(_RECEPTACLE_WORDS.search(description))
        supply_class = SupplyClass.RECEPTACLE if receptacle else SupplyClass.CONSUMED

    unit = _enum(cols.get(7), SupplyUnit, label, "prtMarkerSuppliesSupplyUnit", warn)

    color = None
    colorant_index = _int(cols.get(3), label, "prtMarkerSuppliesColorantIndex", warn)
    if colorant_index is not None and colorant_index > 0:
        color = colorants.get((row.device_index, colorant_index))
    if color is None:
        color = _color_from_description(description)
    if color is None and part_number is not None and table is not None and table.part_color is not None:
        code = table.part_color.pattern.search(part_number)
        color = table.part_color.codes.get(code.group("code").upper()) if code else None

    instance = f"{row.device_index}.{row.index}"
    raw_capacity = _in_range(_int(cols.get(8), label, "prtMarkerSuppliesMaxCapacity", warn), CAPACITY_RANGE,
                             label, f"prtMarkerSuppliesMaxCapacity {oids.PRT_MARKER_SUPPLIES_MAX_CAPACITY}.{instance}",
                             warn)
    raw_level = _in_range(_int(cols.get(9), label, "prtMarkerSuppliesLevel", warn), LEVEL_RANGE,
                          label, f"prtMarkerSuppliesLevel {oids.PRT_MARKER_SUPPLIES_LEVEL}.{instance}", warn)
    capacity = raw_capacity if raw_capacity is not None and raw_capacity > 0 else None
    if capacity is None and unit is SupplyUnit.PERCENT:
        capacity = 100  # a percent supply holds 100 by definition (as CUPS does)

    level: int | None = None
    if raw_level is None:
        state = LevelState.UNKNOWN
    elif raw_level >= 0:
        state = LevelState.OK
        level = raw_level
    else:
        state = _LEVEL_STATES[raw_level]  # -1..-3: anything lower was left out above

    clamped = False
    if level is not None and capacity is not None and level > capacity:
        warn(f"{label}: level {level} above capacity {capacity}; clamped to {capacity}")
        level, clamped = capacity, True

    remaining = None
    if level is not None and capacity is not None:
        # For a receptacle the Printer-MIB level is the space left, so one formula gives
        # "fill left" and "room left" alike, and 0 always means "replace now".
        remaining = round(min(100.0, max(0.0, 100.0 * level / capacity)), 2)

    return Supply(
        index=row.index, description=description, type=supply_type, supply_class=supply_class,
        color=color, unit=unit, max_capacity=capacity, level=level, remaining_percent=remaining,
        level_state=state, part_number=part_number, cartridge_serial=cartridge_serial,
        raw_level=raw_level, raw_capacity=raw_capacity, level_clamped=clamped,
        class_inferred=class_inferred,
    )


def _split_description(text: str) -> tuple[str, str | None, str | None]:
    """Description without its `PN …;SN…` / `S/N:…` suffix, plus part number and serial."""
    part_number = serial = None
    match = _XEROX_PN_SN.search(text)
    if match and match.start() > 0:
        part_number = _known(match.group("pn"))
        serial = _known(match.group("sn"))
        text = text[:match.start()]
    else:
        match = _SAMSUNG_SN.search(text)
        if match:
            serial = _known(match.group("sn"))
            text = text[:match.start()]
    return text.strip(" ,;"), part_number, serial


def _known(value: str | None) -> str | None:
    """A part number or serial, or None for a placeholder (`PN unknown;SNunknown`)."""
    return serials.usable(value)


def _vendor_part_number(description: str, table: VendorTable) -> str | None:
    """The first of the vendor's part-number forms found in the description."""
    for rx in table.part_numbers:
        match = rx.search(description)
        if match:
            return match.group("pn")
    return None


def _type_from_description(description: str, table: VendorTable | None = None) -> SupplyType | None:
    vendor_words = table.words if table is not None else ()
    for rx, supply_type in (*vendor_words, *_TYPE_WORDS):
        if rx.search(description):
            return supply_type
    return None


def _is_inkjet(supplies: tuple[Supply, ...]) -> bool:
    """A printer whose supplies are ink and never toner marks with ink."""
    types = {s.type for s in supplies}
    return bool(types & _INK_TYPES) and not types & {SupplyType.TONER, SupplyType.TONER_CARTRIDGE}


def _color_from_description(description: str) -> str | None:
    match = _COLOR_RX.search(description)
    if match:
        return _normalise_color(match.group(1))
    code = _COLOR_CODE_RX.search(description)
    return _COLOR_CODES[code.group(1)] if code else None


def _normalise_color(name: str | None) -> str | None:
    if not name:
        return None
    name = re.sub(r"[\s_-]+", " ", name).strip().lower()
    name = name.replace("grey", "gray")
    if name in {"", "unknown", "other", "none", "n/a"}:
        return None
    return name


# -- scalars ----------------------------------------------------------------------------


def _printer_device_index(data: Mapping[str, object]) -> int | None:
    """hrDeviceIndex of the printer: the one the supplies table uses, else the first printer row."""
    rows = _supply_rows(data)
    if rows:
        return rows[0].device_index
    prefix = oids.HR_PRINTER_STATUS + "."
    indexes = sorted(int(k[len(prefix):]) for k in data if k.startswith(prefix) and k[len(prefix):].isdigit())
    return indexes[0] if indexes else None


def _instance(data: Mapping[str, object], column: str, device_index: int | None) -> object:
    """The value of `column.<device_index>`, else of the column's first instance."""
    if device_index is not None and f"{column}.{device_index}" in data:
        return data[f"{column}.{device_index}"]
    prefix = column + "."
    candidates = sorted((_oid_key(k), v) for k, v in data.items() if k.startswith(prefix))
    return candidates[0][1] if candidates else None


def _page_count(data: Mapping[str, object], device_index: int | None, warnings: list[str]) -> int | None:
    # prtMarkerLifeCount.<hrDeviceIndex>.<marker>: the first marker (the print engine).
    value = _instance(data, oids.PRT_MARKER_LIFE_COUNT, None) if device_index is None else (
        _first_under(data, f"{oids.PRT_MARKER_LIFE_COUNT}.{device_index}")
        or _instance(data, oids.PRT_MARKER_LIFE_COUNT, None))
    count = _int(value, "page counter", "prtMarkerLifeCount", warnings.append)
    if count is not None and count > COUNTER_RANGE[1]:
        return _in_range(count, COUNTER_RANGE, "page counter",
                         f"prtMarkerLifeCount {oids.PRT_MARKER_LIFE_COUNT}", warnings.append)
    return count if count is not None and count >= 0 else None


def _first_under(data: Mapping[str, object], prefix: str) -> object:
    candidates = sorted((_oid_key(k), v) for k, v in data.items() if k.startswith(prefix + "."))
    return candidates[0][1] if candidates else None


def _enum_name(data: Mapping[str, object], column: str, device_index: int | None,
               names: Mapping[int, str], warnings: list[str]) -> str | None:
    value = _int(_instance(data, column, device_index), "printer", column, warnings.append)
    if value is None:
        return None
    if value not in names:
        warnings.append(f"{column}: value {value} is not defined by HOST-RESOURCES-MIB")
        return None
    return names[value]


def _error_state(data: Mapping[str, object], device_index: int | None, warnings: list[str], *,
                 inkjet: bool = False) -> frozenset[str]:
    value = _instance(data, oids.HR_PRINTER_DETECTED_ERROR_STATE, device_index)
    if value is None:
        return frozenset()
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    if not isinstance(value, bytes):
        warnings.append(f"hrPrinterDetectedErrorState: expected an OCTET STRING, got {value!r}")
        return frozenset()
    names = INKJET_NAMES if inkjet else {}
    return frozenset(names.get(name, name) for byte, mask, name in ERROR_STATE_BITS
                     if byte < len(value) and value[byte] & mask)


# -- value coercion ---------------------------------------------------------------------


def _norm_oid(oid: str) -> str:
    return oid.strip().lstrip(".")


def _oid_key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in oid.split("."))


def _int(value: object, label: str, column: str, warn: Callable[[str], None]) -> int | None:
    if value is None or value == b"" or value == "":
        return None
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, str)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        try:
            return int(text.strip().strip("\x00"))
        except ValueError:
            pass
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."  # a hostile agent's megabyte stays out of the log
    warn(f"{label}: {column} is not a number ({shown}); ignored")
    return None


def _in_range(value: int | None, bounds: tuple[int, int], label: str, where: str,
              warn: Callable[[str], None]) -> int | None:
    """`value` if inside `bounds`; else None and a warning naming the column, OID and value."""
    if value is None or bounds[0] <= value <= bounds[1]:
        return value
    warn(f"{label}: {where} value {value} is outside {bounds[0]}..{bounds[1]}; left out of the sample")
    return None


def _enum(value: object, enum_type: type[_E], label: str, column: str,
          warn: Callable[[str], None]) -> _E | None:
    number = _int(value, label, column, warn)
    if number is None:
        return None
    try:
        return enum_type(number)
    except ValueError:
        warn(f"{label}: {column} value {number} is not defined; ignored")
        return None


def _text(value: object, *, hex_ok: bool = False) -> str | None:
    """Printer text as a clean one-line str: NUL padding, control bytes and HP's
    "first line text, following lines hex" descriptions all handled."""
    if value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
    else:
        return str(value)
    lines = raw.replace(b"\r", b"\n").split(b"\n")
    decoded = [lines[0]]
    for line in lines[1:]:
        stripped = line.strip(b"\r\t")
        if stripped and _HEX_LINE.match(stripped.decode("latin-1")):
            try:
                decoded.append(bytes.fromhex(stripped.decode("ascii")))
                continue
            except ValueError:
                pass
        decoded.append(b" " + line)
    joined = b"".join(decoded)
    whole_hex = _decode_whole_hex(joined) if hex_ok else None
    if whole_hex is not None:
        joined = whole_hex
    try:
        text = joined.decode("utf-8")
    except UnicodeDecodeError:
        text = joined.decode("latin-1")
    text = "".join(ch if ch.isprintable() else " " for ch in text.replace("\x00", ""))
    return re.sub(r"\s+", " ", text).strip()


def _decode_whole_hex(raw: bytes) -> bytes | None:
    """A description sent as hex digits (e.g. `426C61636B20546F6E6572`) decoded, if it is
    long enough to be sure and decodes to printable text."""
    compact = raw.replace(b" ", b"").strip(b"\x00")
    if len(compact) < 12 or len(compact) % 2 or not re.fullmatch(rb"[0-9A-Fa-f]+", compact):
        return None
    decoded = bytes.fromhex(compact.decode("ascii")).rstrip(b"\x00")
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and text.isprintable() and re.search(r"[A-Za-z]{3}", text):
        return decoded
    return None


def _clean_serial(text: str | None) -> str | None:
    return serials.usable(text)
