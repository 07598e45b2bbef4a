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

`ATTACKS` names single hostile values in an otherwise sane printer: the cases found so
far, kept as examples that say what they try.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
CAPACITY_COLUMN = 8
LEVEL_COLUMN = 9

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
    joined = st.lists(piece, max_size=4).map(b"".join).map(lambda b: b[:max_size])
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
    """One hostile printer: its records at the first poll, and the records that change or
    appear from the second poll on (levels, capacities, descriptions, the page counter)."""

    records: tuple[Record, ...]
    later: tuple[Record, ...] = ()

    def at_poll(self, n: int) -> list[Record]:
        """What the printer serves at its n-th poll (0 first)."""
        if n == 0 or not self.later:
            return list(self.records)
        merged = {oid: (tag, value) for oid, tag, value in self.records}
        merged.update((oid, (tag, value)) for oid, tag, value in self.later)
        return [(oid, tag, value) for oid, (tag, value) in sorted(merged.items())]


@st.composite
def hostile_walk(draw: st.DrawFn) -> HostileWalk:
    out: dict[str, tuple[str, str]] = {}

    def put(oid: str, value: Record | None) -> None:
        if value is not None:
            out[oid] = (value[1], value[2])

    later: dict[str, tuple[str, str]] = {}

    def put_later(oid: str, value: Record | None) -> None:
        if value is not None:
            later[oid] = (value[1], value[2])

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
        if draw(st.booleans()):  # pages printed, or a counter that jumps or runs backwards
            put_later(f"{LIFE_COUNT}.{device}.{marker}", draw(counter_column()))
    supply_device = draw(st.one_of(st.just(device), _INDEX))
    # A few rows are enough to mix good and bad ones; each costs hypothesis ~10 draws.
    indexes = draw(st.lists(_INDEX, max_size=5, unique=True))
    for index in indexes:
        for column in range(2, 10):
            value = draw(text_column() if column == DESCRIPTION_COLUMN else integer_column())
            put(f"{SUPPLIES}.{column}.{supply_device}.{index}", value)
        # Between polls a supply is used up, replaced (a new CRUM serial in the description,
        # the level back up), or its values jump anywhere in their types' ranges.
        for column in (DESCRIPTION_COLUMN, CAPACITY_COLUMN, LEVEL_COLUMN):
            if draw(st.booleans()):
                value = draw(text_column() if column == DESCRIPTION_COLUMN else integer_column())
                put_later(f"{SUPPLIES}.{column}.{supply_device}.{index}", value)
    for index in draw(st.lists(_INDEX, max_size=3, unique=True)):
        put(f"{COLORANT_VALUE}.{supply_device}.{index}", draw(text_column(200)))
    return HostileWalk(tuple((oid, tag, value) for oid, (tag, value) in sorted(out.items())),
                       tuple((oid, tag, value) for oid, (tag, value) in sorted(later.items())))


# --- named attacks: one hostile value in an otherwise sane printer ------------------------------

def _text(value: bytes) -> tuple[str, str]:
    return "4x", value.hex()


SANE_SERIAL = b"HOSTILE-0001"
SANE: dict[str, tuple[str, str]] = {
    SYS_DESCR: _text(b"Xerox VersaLink C405"),
    SYS_OBJECT_ID: ("6", "1.3.6.1.4.1.253.8.62.1.20.2.3.1"),
    f"{HR_DEVICE_TYPE}.1": ("6", "1.3.6.1.2.1.25.3.1.5"),
    f"{HR_DEVICE_DESCR}.1": _text(b"Xerox VersaLink C405"),
    f"{HR_PRINTER_STATUS}.1": ("2", "3"),
    f"{SERIAL}.1": _text(SANE_SERIAL),
    f"{LIFE_COUNT}.1.1": ("65", "1000"),
    f"{SUPPLIES}.3.1.1": ("2", "1"),
    f"{SUPPLIES}.4.1.1": ("2", "3"),
    f"{SUPPLIES}.5.1.1": ("2", "3"),
    f"{SUPPLIES}.6.1.1": _text(b"Black Toner Cartridge"),
    f"{SUPPLIES}.7.1.1": ("2", "19"),
    f"{SUPPLIES}.8.1.1": ("2", "100"),
    f"{SUPPLIES}.9.1.1": ("2", "50"),
    f"{COLORANT_VALUE}.1.1": _text(b"black"),
}


def _attack(**changes: tuple[str, str] | None) -> HostileWalk:
    """SANE with some objects replaced (None removes one); keys name them as below."""
    names = {"descr": SYS_DESCR, "object_id": SYS_OBJECT_ID, "serial": f"{SERIAL}.1",
             "pages": f"{LIFE_COUNT}.1.1", "error_state": f"{HR_PRINTER_ERROR_STATE}.1",
             "colorant": f"{COLORANT_VALUE}.1.1",
             **{f"col{c}": f"{SUPPLIES}.{c}.1.1" for c in range(2, 10)}}
    out = dict(SANE)
    for name, value in changes.items():
        if value is None:
            out.pop(names[name], None)
        else:
            out[names[name]] = value
    return HostileWalk(tuple((oid, tag, value) for oid, (tag, value) in sorted(out.items())))


def _rows(indexes: list[int], device: int = 1) -> HostileWalk:
    """The sane printer with its one supply at other indexes (gaps, limits)."""
    out = {oid: v for oid, v in SANE.items() if not oid.startswith(SUPPLIES)}
    for index in indexes:
        for column, value in ((3, ("2", "1")), (4, ("2", "3")), (5, ("2", "3")),
                              (6, _text(b"Black Toner")), (7, ("2", "19")), (8, ("2", "100")),
                              (9, ("2", "50"))):
            out[f"{SUPPLIES}.{column}.{device}.{index}"] = value
    return HostileWalk(tuple((oid, tag, value) for oid, (tag, value) in sorted(out.items())))


ATTACKS: dict[str, HostileWalk] = {
    "sane printer (control)": _attack(),
    "page counter Counter64 2^63": _attack(pages=("70", str(2**63))),
    "page counter Counter64 2^64-1": _attack(pages=("70", str(UINT64_MAX))),
    "page counter Counter64 2^63-1": _attack(pages=("70", str(2**63 - 1))),
    "page counter Counter32 2^32-1": _attack(pages=("65", str(UINT32_MAX))),
    "page counter as 400-digit text": _attack(pages=_text(b"9" * 400)),
    "page counter as text 2^64": _attack(pages=_text(str(2**64).encode())),
    "page counter Integer32 -2^31": _attack(pages=("2", str(-(2**31)))),
    "level Integer32 -2^31": _attack(col9=("2", str(-(2**31)))),
    "level Integer32 2^31-1": _attack(col9=("2", str(2**31 - 1))),
    "level Gauge32 2^32-1, capacity 0, no unit": _attack(col9=("66", str(UINT32_MAX)), col8=("2", "0"),
                                                         col7=None),
    "level Gauge32 2^32-1, no capacity, no unit": _attack(col9=("66", str(UINT32_MAX)), col8=None,
                                                          col7=None),
    "level Counter64 2^64-1": _attack(col9=("70", str(UINT64_MAX))),
    "level as text 2^63": _attack(col9=_text(str(2**63).encode())),
    "level as text 'abc'": _attack(col9=_text(b"abc")),
    "level missing": _attack(col9=None),
    "capacity Integer32 -2^31": _attack(col8=("2", str(-(2**31)))),
    "capacity Integer32 2^31-1": _attack(col8=("2", str(2**31 - 1))),
    "capacity Counter64 2^64-1": _attack(col8=("70", str(UINT64_MAX))),
    "class Integer32 -2^31": _attack(col4=("2", str(-(2**31)))),
    "type Counter64 2^64-1": _attack(col5=("70", str(UINT64_MAX))),
    "unit Integer32 2^31-1": _attack(col7=("2", str(2**31 - 1))),
    "colorant index -1": _attack(col3=("2", "-1")),
    "serial with NUL": _attack(serial=_text(b"HOSTILE\x00-2")),
    "serial with right-to-left override": _attack(serial=_text("HOSTILE\u202e-3".encode())),
    "serial not UTF-8": _attack(serial=_text(b"HOSTILE-\xff\xfe")),
    "serial with an encoded surrogate": _attack(serial=_text(b"HOSTILE-\xed\xa0\x80")),
    "serial with control characters": _attack(serial=_text(b"HOSTILE-\x1b[2J\r\n")),
    "serial only spaces": _attack(serial=_text(b"     ")),
    "serial 1200 bytes": _attack(serial=_text(b"S" * 1200)),
    "serial a spreadsheet formula": _attack(serial=_text(b"=HYPERLINK(\"http://x\")")),
    "serial an Integer32": _attack(serial=("2", "-1")),
    "description not UTF-8 with controls": _attack(col6=_text(b"Black \xff\x00\x1b Toner\xed\xa0\x80")),
    "description 1200 bytes": _attack(col6=_text(b"D" * 1200)),
    "description a Counter64": _attack(col6=("70", str(UINT64_MAX))),
    "sysDescr 1200 bytes of NUL": _attack(descr=_text(b"\x00" * 1200)),
    "sysObjectID an OCTET STRING": _attack(object_id=_text(b"1.3.6.1.4.1.253")),
    "error state an Integer32": _attack(error_state=("2", str(2**31 - 1))),
    "error state 8 bytes of 0xff": _attack(error_state=_text(b"\xff" * 8)),
    "colorant not UTF-8": _attack(colorant=_text(b"bl\xffack\xed\xa0\x80")),
    "supply index 0": _rows([0]),
    "supply index 2^31-1": _rows([2**31 - 1]),
    "supply index 2^32-1": _rows([UINT32_MAX]),
    "supplies at gapped indexes 1,5,9,65535": _rows([1, 5, 9, 65535]),
    "supplies under hrDeviceIndex 2^32-1": _rows([1], device=UINT32_MAX),
    "page counter runs back from 2^32-1 to 0": replace(
        _attack(pages=("65", str(UINT32_MAX))), later=((f"{LIFE_COUNT}.1.1", "65", "0"),)),
    "level 0 then 2^31-1, no capacity or unit (a replacement)": replace(
        _attack(col9=("2", "0"), col8=None, col7=None),
        later=((f"{SUPPLIES}.9.1.1", "2", str(2**31 - 1)),)),
    "level -2^31 then 100 of 100 (a replacement from nonsense)": replace(
        _attack(col9=("2", str(-(2**31)))), later=((f"{SUPPLIES}.9.1.1", "2", "100"),)),
}
