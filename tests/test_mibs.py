"""Every numeric OID in asr_agent/domain/oids.py matches its named object in mibs/, and the
record enums match the IANA printer textual conventions.

A small OBJECT IDENTIFIER resolver suffices for these MIB subsets; pysmi is not needed
(and must never be an agent dependency)."""

from __future__ import annotations

import re

from asr_agent.domain import oids
from asr_core.records import SupplyClass, SupplyType, SupplyUnit
from conftest import REPO

MIBS = REPO / "mibs"
# Roots from SNMPv2-SMI (RFC 2578), which the subsets import.
ROOTS = {"iso": (1,), "mib-2": (1, 3, 6, 1, 2, 1)}
ASSIGNMENT = re.compile(
    r"^([a-z][\w-]*)[ \t]+(?:OBJECT IDENTIFIER|OBJECT-TYPE|MODULE-IDENTITY)\b.*?::=\s*\{\s*([\w-]+)\s+(\d+)\s*\}",
    re.DOTALL | re.MULTILINE)

# Constant in oids.py -> (MIB object, instance suffix).
NAMES = {
    "SYS_DESCR": ("sysDescr", ".0"), "SYS_OBJECT_ID": ("sysObjectID", ".0"), "SYS_NAME": ("sysName", ".0"),
    "HR_DEVICE_TYPE": ("hrDeviceType", ""), "HR_DEVICE_DESCR": ("hrDeviceDescr", ""),
    "HR_DEVICE_STATUS": ("hrDeviceStatus", ""), "HR_PRINTER_STATUS": ("hrPrinterStatus", ""),
    "HR_PRINTER_DETECTED_ERROR_STATE": ("hrPrinterDetectedErrorState", ""),
    "HR_DEVICE_PRINTER": ("hrDevicePrinter", ""),
    "PRT_GENERAL_PRINTER_NAME": ("prtGeneralPrinterName", ""),
    "PRT_GENERAL_SERIAL_NUMBER": ("prtGeneralSerialNumber", ""),
    "PRT_MARKER_COUNTER_UNIT": ("prtMarkerCounterUnit", ""),
    "PRT_MARKER_LIFE_COUNT": ("prtMarkerLifeCount", ""),
    "PRT_MARKER_SUPPLIES_ENTRY": ("prtMarkerSuppliesEntry", ""),
    "PRT_MARKER_SUPPLIES_MARKER_INDEX": ("prtMarkerSuppliesMarkerIndex", ""),
    "PRT_MARKER_SUPPLIES_COLORANT_INDEX": ("prtMarkerSuppliesColorantIndex", ""),
    "PRT_MARKER_SUPPLIES_CLASS": ("prtMarkerSuppliesClass", ""),
    "PRT_MARKER_SUPPLIES_TYPE": ("prtMarkerSuppliesType", ""),
    "PRT_MARKER_SUPPLIES_DESCRIPTION": ("prtMarkerSuppliesDescription", ""),
    "PRT_MARKER_SUPPLIES_SUPPLY_UNIT": ("prtMarkerSuppliesSupplyUnit", ""),
    "PRT_MARKER_SUPPLIES_MAX_CAPACITY": ("prtMarkerSuppliesMaxCapacity", ""),
    "PRT_MARKER_SUPPLIES_LEVEL": ("prtMarkerSuppliesLevel", ""),
    "PRT_MARKER_COLORANT_ENTRY": ("prtMarkerColorantEntry", ""),
    "PRT_MARKER_COLORANT_VALUE": ("prtMarkerColorantValue", ""),
}


def mib_text() -> str:
    return "\n".join(p.read_text() for p in sorted(MIBS.iterdir()) if p.suffix != ".md")


def resolve() -> dict[str, str]:
    parents = {name: (parent, int(arc)) for name, parent, arc in ASSIGNMENT.findall(mib_text())}
    resolved = {name: oid for name, oid in ROOTS.items()}

    def oid_of(name: str) -> tuple[int, ...]:
        if name not in resolved:
            parent, arc = parents[name]
            resolved[name] = (*oid_of(parent), arc)
        return resolved[name]

    return {name: ".".join(map(str, oid_of(name))) for name in parents}


def tc_values(name: str) -> dict[str, int]:
    body = re.search(name + r"\s*::=\s*TEXTUAL-CONVENTION.*?SYNTAX\s+INTEGER\s*\{(.*?)\}", mib_text(), re.DOTALL)
    assert body, f"{name} not found in mibs/"
    return {label: int(n) for label, n in re.findall(r"(\w+)\((\d+)\)", body.group(1))}


def test_every_oid_constant_matches_its_mib_object() -> None:
    named = resolve()
    constants = {k: v for k, v in vars(oids).items() if k.isupper() and isinstance(v, str)}
    assert set(constants) == set(NAMES), "every OID constant needs its MIB object named here"
    for constant, (mib_name, suffix) in NAMES.items():
        assert constants[constant] == named[mib_name] + suffix, f"{constant} is not {mib_name}{suffix}"


def test_known_anchor_oids() -> None:
    named = resolve()
    assert named["prtMarkerSuppliesLevel"] == "1.3.6.1.2.1.43.11.1.1.9"
    assert named["hrPrinterDetectedErrorState"] == "1.3.6.1.2.1.25.3.5.1.2"


def test_record_enums_match_iana_textual_conventions() -> None:
    assert {m.value for m in SupplyType} == set(tc_values("PrtMarkerSuppliesTypeTC").values())
    assert {m.value for m in SupplyUnit} == set(tc_values("PrtMarkerSuppliesSupplyUnitTC").values())
    assert {m.value for m in SupplyClass} == set(tc_values("PrtMarkerSuppliesClassTC").values())
    assert tc_values("PrtMarkerSuppliesSupplyUnitTC")["tenthsOfGrams"] == SupplyUnit.TENTHS_OF_GRAMS
