"""Readers for recorded walks: snmpsim `.snmprec` and net-snmp `snmpwalk -On` text.

Both give {numeric OID: plain value} as the SNMP client would return it, and the
net-snmp reader can write an equivalent `.snmprec` for snmpsim to serve.
"""

from __future__ import annotations

import re
from pathlib import Path

Value = int | bytes | str

# snmprec tags: 2 INTEGER, 4 OCTET STRING, 5 NULL, 6 OID, 64 IpAddress, 65 Counter32,
# 66 Gauge32, 67 TimeTicks, 70 Counter64; a trailing "x" means the value is hex.
_INT_TAGS = {"2", "65", "66", "67", "70"}


def read_snmprec(path: Path) -> dict[str, Value]:
    data: dict[str, Value] = {}
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        oid, tag, value = line.split("|", 2)
        hexed = tag.endswith("x")
        tag = tag.rstrip("x")
        if tag in _INT_TAGS:
            # Some recordings carry garbled numbers; keep them as text, as a device would.
            data[oid] = int(value) if re.fullmatch(r"-?\d+", value) else value
        elif tag == "6":
            data[oid] = value
        elif tag == "64":
            data[oid] = ".".join(str(b) for b in bytes.fromhex(value)) if hexed else value
        elif tag == "4":
            data[oid] = bytes.fromhex(value) if hexed else value.encode("utf-8", "surrogateescape")
    return data


_WALK_LINE = re.compile(r"^\.?(?:iso)?(?P<oid>[0-9.]+)\s*=\s*(?:(?P<type>[A-Za-z0-9-]+):\s*)?(?P<value>.*)$")


def read_snmpwalk(path: Path) -> list[tuple[str, str, Value]]:
    """net-snmp text (`-On` or `-Of` with the `iso` prefix) as (oid, snmprec tag, value)."""
    records: list[tuple[str, str, Value]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = _WALK_LINE.match(line.strip())
        if not match:
            raise ValueError(f"{path.name}: cannot read line {line!r}")
        oid = match["oid"].lstrip(".")
        if line.strip().startswith(".iso") or line.strip().startswith("iso"):
            oid = "1." + oid.lstrip(".")
        kind, value = (match["type"] or "STRING").upper(), match["value"].strip()
        if kind in {"INTEGER", "COUNTER32", "GAUGE32", "TIMETICKS", "COUNTER64"}:
            number = re.search(r"-?\d+", value)
            tag = {"INTEGER": "2", "COUNTER32": "65", "GAUGE32": "66", "TIMETICKS": "67",
                   "COUNTER64": "70"}[kind]
            records.append((oid, tag, int(number.group()) if number else 0))
        elif kind == "HEX-STRING":
            records.append((oid, "4", bytes.fromhex(value.replace(" ", ""))))
        elif kind == "OID":
            records.append((oid, "6", value.lstrip(".")))
        else:
            records.append((oid, "4", value.strip('"').encode("utf-8")))
    return records


def snmpwalk_to_snmprec(path: Path, target: Path) -> None:
    def key(oid: str) -> tuple[int, ...]:
        return tuple(int(p) for p in oid.split("."))

    lines = []
    for oid, tag, value in sorted(read_snmpwalk(path), key=lambda r: key(r[0])):
        if isinstance(value, bytes):
            lines.append(f"{oid}|4x|{value.hex()}")
        else:
            lines.append(f"{oid}|{tag}|{value}")
    target.write_text("\n".join(lines) + "\n")


def snmpwalk_values(path: Path) -> dict[str, Value]:
    return {oid: value for oid, _, value in read_snmpwalk(path)}
