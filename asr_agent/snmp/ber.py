"""SNMPv1/v2c messages to and from BER bytes: the requests the agent sends (GET, GETNEXT,
GETBULK) and the response it reads back, with values as plain Python.

A general ASN.1 codec (pyasn1) builds a typed object per tag and spent ~6 ms decoding one
supplies-table answer of 60 variable bindings, most of the agent's CPU per printer; this
module knows the one message shape SNMP uses and reads it in one pass. The input is
untrusted: every length is checked against what encloses it, only definite lengths and
single-byte tags are accepted (as SNMP requires), and anything else raises `BerError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


class _EndOfMib:
    """The agent has nothing after this OID (endOfMibView, or v1 noSuchName on GETNEXT)."""

    _instance: _EndOfMib | None = None

    def __new__(cls) -> _EndOfMib:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "END_OF_MIB"

    def __bool__(self) -> bool:
        return False


END_OF_MIB: Final = _EndOfMib()

# int for INTEGER/Counter/Gauge/TimeTicks, bytes for OCTET STRING (and Opaque), str for
# OIDs and IpAddress, None for NULL/noSuchObject/noSuchInstance, END_OF_MIB past the end.
Value = int | bytes | str | None | _EndOfMib
VarBind = tuple[str, Value]

# RFC 3416 error-status names (what pysnmp's prettyPrint said, so messages stay the same).
ERROR_STATUS: Final = (
    "noError", "tooBig", "noSuchName", "badValue", "readOnly", "genErr", "noAccess", "wrongType",
    "wrongLength", "wrongEncoding", "wrongValue", "noCreation", "inconsistentValue",
    "resourceUnavailable", "commitFailed", "undoFailed", "authorizationError", "notWritable",
    "inconsistentName",
)

_SEQUENCE, _INTEGER, _OCTETS, _NULL, _OID = 0x30, 0x02, 0x04, 0x05, 0x06
_IP_ADDRESS, _OPAQUE = 0x40, 0x44
_UNSIGNED = frozenset({0x41, 0x42, 0x43, 0x46})  # Counter32, Gauge32, TimeTicks, Counter64
_NO_SUCH_OBJECT, _NO_SUCH_INSTANCE, _END_OF_MIB_VIEW = 0x80, 0x81, 0x82
_RESPONSE = 0xA2
_REQUEST_TAGS: Final = {"get": 0xA0, "next": 0xA1, "bulk": 0xA5}


class BerError(ValueError):
    """The bytes are not an SNMPv1/v2c response this module can read."""


@dataclass(frozen=True, slots=True)
class Response:
    version: int  # 0 for v1, 1 for v2c
    community: bytes
    request_id: int
    error_status: int
    error_index: int
    varbinds: list[VarBind]

    @property
    def status_name(self) -> str | None:
        """The error status by name, None for noError."""
        if not self.error_status:
            return None
        if 0 < self.error_status < len(ERROR_STATUS):
            return ERROR_STATUS[self.error_status]
        return f"error-status {self.error_status}"


# --- encoding -------------------------------------------------------------------------

def _tlv(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def _int(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def _oid(dotted: str) -> bytes:
    try:
        arcs = [int(a) for a in dotted.strip(".").split(".")]
    except ValueError:
        raise BerError(f"not a dotted OID: {dotted!r}") from None
    if len(arcs) < 2 or arcs[0] > 2 or (arcs[0] < 2 and arcs[1] > 39) or min(arcs) < 0:
        raise BerError(f"not a valid OID: {dotted!r}")
    out = bytearray()
    for arc in [arcs[0] * 40 + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return _tlv(_OID, bytes(out))


def _community_bytes(community: str) -> bytes:
    # Latin-1 as pysnmp wrote a str community; anything beyond it as UTF-8.
    try:
        return community.encode("latin-1")
    except UnicodeEncodeError:
        return community.encode("utf-8")


def encode_request(kind: str, version: str, community: str, oids: list[str] | tuple[str, ...],
                   request_id: int, *, non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A GET, GETNEXT or GETBULK ("get", "next", "bulk") message for SNMP version "1" or "2c"."""
    if kind == "bulk" and version == "1":
        raise BerError("GETBULK does not exist in SNMPv1")
    varbinds = b"".join(_tlv(_SEQUENCE, _oid(oid) + b"\x05\x00") for oid in oids)
    second, third = (non_repeaters, max_repetitions) if kind == "bulk" else (0, 0)
    pdu = _tlv(_REQUEST_TAGS[kind], _int(request_id) + _int(second) + _int(third) + _tlv(_SEQUENCE, varbinds))
    return _tlv(_SEQUENCE, _int(0 if version == "1" else 1) + _tlv(_OCTETS, _community_bytes(community)) + pdu)


# --- decoding -------------------------------------------------------------------------

def _header(data: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `at`, within data[:end]."""
    if at + 2 > end:
        raise BerError("truncated element")
    tag = data[at]
    if tag & 0x1F == 0x1F:
        raise BerError("multi-byte tags do not occur in SNMP")
    first = data[at + 1]
    at += 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if size == 0:
            raise BerError("indefinite length is not allowed in SNMP")
        if size > 4 or at + size > end:
            raise BerError("bad length")
        length = int.from_bytes(data[at:at + size], "big")
        at += size
    if at + length > end:
        raise BerError("element longer than what contains it")
    return tag, at, at + length


def _expect(data: bytes, at: int, end: int, tag: int) -> tuple[int, int]:
    got, start, stop = _header(data, at, end)
    if got != tag:
        raise BerError(f"expected tag 0x{tag:02x}, found 0x{got:02x}")
    return start, stop


def _integer(data: bytes, at: int, end: int) -> tuple[int, int]:
    start, stop = _expect(data, at, end, _INTEGER)
    if start == stop:
        raise BerError("empty INTEGER")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


def _oid_text(content: bytes) -> str:
    if not content or content[-1] & 0x80:
        raise BerError("truncated OID")
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _value(tag: int, content: bytes) -> Value:
    if tag == _INTEGER:
        if not content:
            raise BerError("empty INTEGER")
        return int.from_bytes(content, "big", signed=True)
    if tag == _OCTETS or tag == _OPAQUE:
        return content
    if tag in _UNSIGNED:
        if not content:
            raise BerError("empty counter")
        return int.from_bytes(content, "big")
    if tag == _OID:
        return _oid_text(content)
    if tag == _IP_ADDRESS:
        if len(content) != 4:
            raise BerError("an IpAddress has four octets")
        return ".".join(map(str, content))
    if tag in (_NULL, _NO_SUCH_OBJECT, _NO_SUCH_INSTANCE):
        return None
    if tag == _END_OF_MIB_VIEW:
        return END_OF_MIB
    raise BerError(f"unknown value type 0x{tag:02x}")


def decode_response(data: bytes) -> Response:
    """The response in one SNMPv1/v2c message; BerError for anything else."""
    data = bytes(data)
    start, end = _expect(data, 0, len(data), _SEQUENCE)
    version, at = _integer(data, start, end)
    if version not in (0, 1):
        raise BerError(f"not SNMPv1/v2c (version field {version})")
    c_start, at = _expect(data, at, end, _OCTETS)
    community = data[c_start:at]
    at, pdu_end = _expect(data, at, end, _RESPONSE)
    request_id, at = _integer(data, at, pdu_end)
    error_status, at = _integer(data, at, pdu_end)
    error_index, at = _integer(data, at, pdu_end)
    at, list_end = _expect(data, at, pdu_end, _SEQUENCE)
    varbinds: list[VarBind] = []
    while at < list_end:
        at, vb_end = _expect(data, at, list_end, _SEQUENCE)
        o_start, at = _expect(data, at, vb_end, _OID)
        tag, v_start, v_end = _header(data, at, vb_end)
        if v_end != vb_end:
            raise BerError("a variable binding has more than a name and a value")
        varbinds.append((_oid_text(data[o_start:at]), _value(tag, data[v_start:v_end])))
        at = vb_end
    return Response(version, community, request_id, error_status, error_index, varbinds)
