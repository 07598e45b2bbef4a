"""Hypothesis strategies for hostile printers: Printer-MIB walks as snmprec records whose
values span each SNMP type's whole range, and go beyond what the MIB allows.

A walk is a tuple of (OID, snmprec tag, value text) records, the format snmpsim serves.
The tags are the sum of the type's ASN.1 tag (snmpsim's grammar): 2 Integer32,
4 OCTET STRING, 5 NULL, 6 OBJECT IDENTIFIER, 64 IpAddress, 65 Counter32, 66 Gauge32,
67 TimeTicks, 70 Counter64; a trailing `x` means the value is hex, which carries any
bytes (NUL, control characters, invalid UTF-8) through the text format unchanged.

What a walk may hold: every object the agent reads (sysObjectID, sysDescr,
prtGeneralSerialNumber, hrDeviceDescr and status, prtMarkerLifeCount, the supplies
table's columns 2-9, the colorant table), each either a value of its own type over that
type's full range, a value of another type (an OCTET STRING where an INTEGER belongs),
or missing; supply rows at arbitrary, gapped indexes, under any hrDeviceIndex.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

Record = tuple[str, str, str]  # (OID, snmprec tag, value text)

INT32 = (-(2**31), 2**31 - 1)
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
HR_DEVICE_TYPE = "1.3.6.1.2.1.25.3.2.1.2"
HR_DEVICE_DESCR = "1.3.6.1.2.1.25.3.2.1.3"
HR_DEVICE_STATUS = "1.3.6.1.2.1.25.3.2.1.5"
HR_PRINTER_STATUS = "1.3.6.1.2.1.25.3.5.1.1"
HR_PRINTER_ERROR_STATE = "1.3.6.1.2.1.25.3.5.1.2"
SERIAL = "1.3.6.1.2.1.43.5.1.1.17"
LIFE_COUNT = "1.3.6.1.2.1.43.10.2.1.4"
SUPPLIES = "1.3.6.1.2.1.43.11.1.1"
COLORANT_VALUE = "1.3.6.1.2.1.43.12.1.1.4"
DESCRIPTION_COLUMN = 6

# Values at and around each boundary the agent or central might trip on: the MIB's
# sentinels (-1 other, -2 unknown, -3 some remaining), 8/16/32/63/64-bit limits.
_INT_EDGES = [-(2**31), -(2**31) + 1, -4, -3, -2, -1, 0, 1, 100, 101, 2**15, 2**31 - 1]
_UNSIGNED_EDGES = [0, 1, 100, 2**31 - 1, 2**31, UINT32_MAX]
_U64_EDGES = [0, 1, UINT32_MAX, 2**32, 2**53 + 1, 2**63 - 1, 2**63, UINT64_MAX]


def _ranged(low: int, high: int, edges: list[int]) -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from([e for e in edges if low <= e <= high]), st.integers(low, high))


def integer32() -> st.SearchStrategy[Record]:
    return _ranged(*INT32, _INT_EDGES).map(lambda v: ("", "2", str(v)))


def counter32() -> st.SearchStrategy[Record]:
    return _ranged(0, UINT32_MAX, _UNSIGNED_EDGES).map(lambda v: ("", "65", str(v)))


def gauge32() -> st.SearchStrategy[Record]:
    return _ranged(0, UINT32_MAX, _UNSIGNED_EDGES).map(lambda v: ("", "66", str(v)))


def timeticks() -> st.SearchStrategy[Record]:
    return _ranged(0, UINT32_MAX, _UNSIGNED_EDGES).map(lambda v: ("", "67", str(v)))


def counter64() -> st.SearchStrategy[Record]:
    return _ranged(0, UINT64_MAX, _U64_EDGES).map(lambda v: ("", "70", str(v)))


# Byte strings a printer's firmware could send: invalid UTF-8 (a lone continuation byte,
# an overlong NUL, an encoded surrogate), NUL, C0/C1 controls, bidi overrides, a BOM,
# spreadsheet formula starts, numbers written as text (64-bit and beyond), and sizes up
# to what still fits one SNMP answer.
_NASTY_BYTES = [
    b"", b"\x00", b"\xff\xfe", b"\x80", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\x1b[2J", b"\r\n", b"\t", b"\x7f", "\u202e".encode(), "\u2066".encode(), "\ufeff".encode(),
    "\u0085".encode(), b"=HYPERLINK(\"http://x\")", b"@SUM(1+1)", b" ", b"9" * 400,
    str(2**63).encode(), str(UINT64_MAX).encode(), str(2**64).encode(), b"-1e308", b"NaN",
]


def _octet_bytes(max_size: int) -> st.SearchStrategy[bytes]:
    piece = st.one_of(st.sampled_from(_NASTY_BYTES), st.binary(max_size=24),
                      st.text(max_size=12).map(lambda t: t.encode("utf-8", "surrogatepass")))
    joined = st.lists(piece, max_size=6).map(b"".join).map(lambda b: b[:max_size])
    if max_size < 256:
        return joined
    # Rarely huge: a few long values fit one SNMP answer, many would not (tooBig).
    huge = st.tuples(st.sampled_from([b"A", b"\x00", b"\xff", "\u202e".encode()]),
                     st.integers(256, max_size)).map(lambda t: (t[0] * t[1])[:max_size])
    return st.one_of(joined, joined, joined, huge)


def octets(max_size: int = 1200) -> st.SearchStrategy[Record]:
    return _octet_bytes(max_size).map(lambda b: ("", "4x", b.hex()))


def object_identifier() -> st.SearchStrategy[Record]:
    arcs = st.lists(st.integers(0, UINT32_MAX), min_size=0, max_size=12)
    xerox = st.sampled_from(["1.3.6.1.4.1.253.8.62.1.20.2.3.1", "1.3.6.1.4.1.297.1.11.93.1.1.1",
                             "1.3.6.1.4.1.11.2.3.9.1", "0.0"])
    return st.one_of(xerox, st.tuples(st.integers(0, 2), st.integers(0, 39), arcs).map(
        lambda t: ".".join(str(a) for a in [t[0], t[1], *t[2]]))).map(lambda v: ("", "6", v))


def odd_types() -> st.SearchStrategy[Record]:
    """Types no Printer-MIB column has: NULL, IpAddress, TimeTicks."""
    return st.one_of(st.just(("", "5", "")), st.binary(min_size=4, max_size=4).map(
        lambda b: ("", "64x", b.hex())), timeticks())


def any_value() -> st.SearchStrategy[Record]:
    return st.one_of(integer32(), counter32(), gauge32(), counter64(), octets(200),
                     object_identifier(), odd_types())


def _mostly(own: st.SearchStrategy[Record]) -> st.SearchStrategy[Record | None]:
    """A column's own type most of the time; now and then another type, or no value."""
    return st.one_of(own, own, own, any_value(), st.none())


def integer_column() -> st.SearchStrategy[Record | None]:
    return _mostly(integer32())


def counter_column() -> st.SearchStrategy[Record | None]:
    """prtMarkerLifeCount is a Counter32; firmware sends Counter64, Gauge32 and text too."""
    return _mostly(st.one_of(counter32(), counter64(), gauge32(), integer32(), octets(60)))


def text_column(max_size: int = 1200) -> st.SearchStrategy[Record | None]:
    return _mostly(octets(max_size))


# Indexes: small ones (as printers use), gaps, 0 and the Integer32 limits (the MIB says
# 1..65535 or 1..2147483647, hostile firmware says what it likes; OIDs carry unsigned arcs).
_INDEX = st.one_of(st.integers(1, 12), st.sampled_from([0, 65535, 65536, 2**31 - 1, UINT32_MAX]))


@dataclass(frozen=True)
class HostileWalk:
    """One hostile printer: its records, in no particular order (snmpsim sorts by OID)."""

    records: tuple[Record, ...]


@st.composite
def hostile_walk(draw: st.DrawFn) -> HostileWalk:
    out: dict[str, tuple[str, str]] = {}

    def put(oid: str, value: Record | None) -> None:
        if value is not None:
            out[oid] = (value[1], value[2])

    put(SYS_OBJECT_ID, draw(_mostly(object_identifier())))
    put(SYS_DESCR, draw(text_column(400)))
    device = draw(st.one_of(st.just(1), _INDEX))
    put(f"{HR_DEVICE_TYPE}.{device}", draw(_mostly(object_identifier())))
    put(f"{HR_DEVICE_DESCR}.{device}", draw(text_column(400)))
    put(f"{HR_DEVICE_STATUS}.{device}", draw(integer_column()))
    put(f"{HR_PRINTER_STATUS}.{device}", draw(integer_column()))
    put(f"{HR_PRINTER_ERROR_STATE}.{device}", draw(text_column(8)))
    put(f"{SERIAL}.{device}", draw(text_column(300)))
    for marker in draw(st.lists(st.one_of(st.just(1), _INDEX), max_size=2, unique=True)):
        put(f"{LIFE_COUNT}.{device}.{marker}", draw(counter_column()))
    supply_device = draw(st.one_of(st.just(device), _INDEX))
    indexes = draw(st.lists(_INDEX, max_size=10, unique=True))
    for index in indexes:
        for column in range(2, 10):
            value = draw(text_column() if column == DESCRIPTION_COLUMN else integer_column())
            put(f"{SUPPLIES}.{column}.{supply_device}.{index}", value)
    for index in draw(st.lists(_INDEX, max_size=6, unique=True)):
        put(f"{COLORANT_VALUE}.{supply_device}.{index}", draw(text_column(200)))
    return HostileWalk(tuple((oid, tag, value) for oid, (tag, value) in sorted(out.items())))
