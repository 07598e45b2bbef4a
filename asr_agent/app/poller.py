"""Reads one printer in as few SNMP round trips as the protocol allows, then hands the raw
varbinds to the pure Printer-MIB parser.

v2c/v3: one GETBULK carries the identity and status scalars as non-repeaters and every
supply and colorant column as repeaters; another GETBULK follows only for the columns
an answer did not finish. Polls after the first read only the columns that change.
v1 has no GETBULK: one GETNEXT per table row, all columns at once.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from asr_agent.domain import oids
from asr_core.errors import NotAPrinter
from asr_agent.domain.printer_mib import has_supplies_table, parse_reading
from asr_core.records import Reading
from asr_agent.adapters.snmp import END_OF_MIB, SnmpClient, SnmpCredential, Value

# Asked with GETNEXT semantics (non-repeaters): the column or scalar name, so that the
# answer is its first instance whatever the hrDeviceIndex.
SCALARS = (
    oids.SYS_DESCR.removesuffix(".0"),
    oids.SYS_OBJECT_ID.removesuffix(".0"),
    oids.PRT_GENERAL_SERIAL_NUMBER,
    oids.HR_DEVICE_STATUS,
    oids.HR_PRINTER_STATUS,
    oids.HR_PRINTER_DETECTED_ERROR_STATE,
    oids.PRT_MARKER_LIFE_COUNT,
)
# A full read also asks where most vendors keep the model (see asr_agent.domain.vendors);
# one more non-repeater still leaves 8 rows of 7 columns under a 64-varbind answer cap.
# prtGeneralPrinterName is parsed when present but not asked: it would cost that row.
FULL_SCALARS = (*SCALARS, oids.HR_DEVICE_DESCR)
COLUMNS = (*oids.SUPPLY_COLUMNS, oids.PRT_MARKER_COLORANT_VALUE)
# What changes between two polls of a known printer: the level, and (on a cartridge swap)
# the description with its CRUM serial and the capacity. Type, class, unit and colour are
# carried over from the previous reading, so three columns fit ~21 rows in one answer
# even from agents that cap a GETBULK answer at 64 varbinds.
STEADY_COLUMNS = (
    oids.PRT_MARKER_SUPPLIES_DESCRIPTION,
    oids.PRT_MARKER_SUPPLIES_MAX_CAPACITY,
    oids.PRT_MARKER_SUPPLIES_LEVEL,
)

# Enough rows for almost every printer in one answer (a colour MFP has 10 to 22 supplies);
# an agent that cannot fit them all returns fewer and we continue where it stopped.
MAX_REPETITIONS = 24
# Guard against a broken agent that never ends a column.
MAX_REQUESTS = 64


async def poll_printer(client: SnmpClient, host: str, port: int, cred: SnmpCredential, *,
                       timeout: float | None = None, retries: int | None = None,
                       now: datetime | None = None, previous: Reading | None = None,
                       max_repetitions: int = MAX_REPETITIONS) -> Reading:
    """Read identity, counters, status and the supplies table of one printer.

    With `previous` (this printer's last reading) only the columns that change are read;
    if the set of supplies changed, the full table is read as well.
    Raises SnmpTimeout / SnmpAuthError / SnmpProtocolError from the client, and
    NotAPrinter when the device answers but has no Printer-MIB supplies table.
    """
    taken_at = now or datetime.now(UTC)
    if previous is not None and previous.supplies:
        raw = await _read(client, host, port, cred, timeout, retries, max_repetitions, STEADY_COLUMNS,
                          SCALARS)
        rows = _supply_indexes(raw)
        if rows and {index for _, index in rows} == {s.index for s in previous.supplies}:
            _carry_static_columns(raw, rows, previous)
            reading = parse_reading(raw, host=host, port=port, taken_at=taken_at)
            if reading.device.model is None and previous.device.model is not None:
                # the model came from hrDeviceDescr, read on the full read only
                reading = replace(reading, device=replace(reading.device, model=previous.device.model))
            return reading
    raw = await _read(client, host, port, cred, timeout, retries, max_repetitions, COLUMNS, FULL_SCALARS)
    if not has_supplies_table(raw):
        descr = raw.get(oids.SYS_DESCR)
        what = descr.decode("utf-8", "replace")[:60] if isinstance(descr, bytes) else "no sysDescr"
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        raise NotAPrinter(
            f"{where} answers SNMP ({what!r}) but has no Printer-MIB supplies table "
            f"(prtMarkerSuppliesTable {oids.PRT_MARKER_SUPPLIES_ENTRY}); ASR cannot read its supplies",
            host=host, oid=oids.PRT_MARKER_SUPPLIES_ENTRY)
    return parse_reading(raw, host=host, port=port, taken_at=taken_at)


async def _read(client: SnmpClient, host: str, port: int, cred: SnmpCredential,
                timeout: float | None, retries: int | None, max_repetitions: int,
                columns: tuple[str, ...], scalars: tuple[str, ...]) -> dict[str, Value]:
    if cred.version == "1":
        return await _read_v1(client, host, port, cred, timeout, retries, columns, scalars)
    return await _read_bulk(client, host, port, cred, timeout, retries, max_repetitions, columns,
                            scalars)


def _supply_indexes(raw: dict[str, Value]) -> set[tuple[int, int]]:
    prefix = oids.PRT_MARKER_SUPPLIES_ENTRY + "."
    found = set()
    for oid in raw:
        if oid.startswith(prefix):
            parts = oid[len(prefix):].split(".")
            if len(parts) == 3:
                found.add((int(parts[1]), int(parts[2])))
    return found


def _carry_static_columns(raw: dict[str, Value], rows: set[tuple[int, int]], previous: Reading) -> None:
    """Write the previous reading's type, class, unit and colour back as raw columns, so the
    parser treats a steady-state read exactly like a full one."""
    by_index = {s.index: s for s in previous.supplies}
    for device_index, index in rows:
        supply = by_index[index]
        suffix = f"{device_index}.{index}"
        raw[f"{oids.PRT_MARKER_SUPPLIES_TYPE}.{suffix}"] = int(supply.type)
        if not supply.class_inferred:
            raw[f"{oids.PRT_MARKER_SUPPLIES_CLASS}.{suffix}"] = int(supply.supply_class)
        if supply.unit is not None:
            raw[f"{oids.PRT_MARKER_SUPPLIES_SUPPLY_UNIT}.{suffix}"] = int(supply.unit)
        if supply.color is not None:
            # A private colorant row per supply: the join then yields the colour read before.
            raw[f"{oids.PRT_MARKER_SUPPLIES_COLORANT_INDEX}.{suffix}"] = index
            raw[f"{oids.PRT_MARKER_COLORANT_VALUE}.{suffix}"] = supply.color.encode()


def _inside(prefix: str, oid: str, value: Value) -> bool:
    return value is not END_OF_MIB and oid.startswith(prefix + ".")


async def _read_bulk(client: SnmpClient, host: str, port: int, cred: SnmpCredential,
                     timeout: float | None, retries: int | None, max_repetitions: int,
                     columns: tuple[str, ...], scalars: tuple[str, ...]) -> dict[str, Value]:
    raw: dict[str, Value] = {}
    answer = await client.bulk(host, port, cred, scalars, columns, max_repetitions,
                               timeout=timeout, retries=retries)
    for prefix, (oid, value) in zip(scalars, answer[:len(scalars)], strict=False):
        if _inside(prefix, oid, value):
            raw[oid] = value
    pending = _collect_rows(raw, list(columns), answer[len(scalars):], {c: c for c in columns})
    requests = 1
    while pending and requests < MAX_REQUESTS:
        columns = tuple(pending)
        answer = await client.bulk(host, port, cred, [], [pending[c] for c in columns],
                                   max_repetitions, timeout=timeout, retries=retries)
        pending = _collect_rows(raw, list(columns), answer, pending)
        requests += 1
    return raw


def _collect_rows(raw: dict[str, Value], columns: list[str], varbinds: list[tuple[str, Value]],
                  cursors: dict[str, str]) -> dict[str, str]:
    """Store the in-column varbinds of a GETBULK answer; return the columns still open,
    each with the last OID seen (where the next request continues)."""
    done: set[str] = set()
    last = {c: cursors[c] for c in columns}
    for position, (oid, value) in enumerate(varbinds):
        column = columns[position % len(columns)]
        if column in done:
            continue
        if not _inside(column, oid, value) or _key(oid) <= _key(last[column]):
            done.add(column)
            continue
        raw[oid] = value
        last[column] = oid
    if not varbinds:
        return {}
    return {c: last[c] for c in columns if c not in done}


async def _read_v1(client: SnmpClient, host: str, port: int, cred: SnmpCredential,
                   timeout: float | None, retries: int | None,
                   columns: tuple[str, ...], scalars: tuple[str, ...]) -> dict[str, Value]:
    raw: dict[str, Value] = {}
    first = await client.next(host, port, cred, [*scalars, *columns], timeout=timeout, retries=retries)
    for prefix, (oid, value) in zip(scalars, first[:len(scalars)], strict=True):
        if _inside(prefix, oid, value):
            raw[oid] = value
    pending: dict[str, str] = {}
    for column, (oid, value) in zip(columns, first[len(scalars):], strict=True):
        if _inside(column, oid, value):
            raw[oid] = value
            pending[column] = oid
    requests = 1
    while pending and requests < MAX_REQUESTS:
        columns = tuple(pending)
        answer = await client.next(host, port, cred, [pending[c] for c in columns],
                                   timeout=timeout, retries=retries)
        requests += 1
        previous, pending = pending, {}
        for column, (oid, value) in zip(columns, answer, strict=True):
            if _inside(column, oid, value) and _key(oid) > _key(previous[column]):
                raw[oid] = value
                pending[column] = oid
    return raw


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))
