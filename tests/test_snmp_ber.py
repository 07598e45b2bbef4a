"""The SNMPv1/v2c message codec against pysnmp's (the reference): requests byte for byte,
responses value for value, and hostile bytes never raising anything but BerError."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api, rfc1902, rfc1905

from asr_agent.snmp.ber import END_OF_MIB, BerError, decode_response, encode_request

V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]

arcs = st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=12)
oids = st.builds(lambda first, second, rest: ".".join(map(str, [first, second, *rest])),
                 st.integers(0, 2), st.integers(0, 39), arcs)
communities = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
request_ids = st.integers(0, 2**31 - 1)


def reference_request(kind: str, version: str, community: str, names: list[str], request_id: int,
                      non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    proto = V1 if version == "1" else V2C
    pdu = {"get": proto.GetRequestPDU, "next": proto.GetNextRequestPDU,
           "bulk": getattr(proto, "GetBulkRequestPDU", None)}[kind]()
    if kind == "bulk":
        proto.apiBulkPDU.set_defaults(pdu)
        proto.apiBulkPDU.set_non_repeaters(pdu, non_repeaters)
        proto.apiBulkPDU.set_max_repetitions(pdu, max_repetitions)
    else:
        proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, request_id)
    proto.apiPDU.set_varbinds(pdu, [(rfc1902.ObjectName(n), rfc1902.Null("")) for n in names])
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    proto.apiMessage.set_community(message, community)
    proto.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@given(kind=st.sampled_from(["get", "next", "bulk"]), version=st.sampled_from(["1", "2c"]),
       community=communities, names=st.lists(oids, min_size=1, max_size=8), request_id=request_ids,
       non_repeaters=st.integers(0, 10), max_repetitions=st.integers(0, 100))
@settings(max_examples=300, deadline=None)
def test_requests_are_byte_for_byte_pysnmps(kind, version, community, names, request_id,
                                            non_repeaters, max_repetitions) -> None:
    if kind == "bulk" and version == "1":
        with pytest.raises(BerError):
            encode_request(kind, version, community, names, request_id)
        return
    ours = encode_request(kind, version, community, names, request_id,
                          non_repeaters=non_repeaters, max_repetitions=max_repetitions)
    assert ours == reference_request(kind, version, community, names, request_id,
                                     non_repeaters, max_repetitions)


# (pysnmp value, the plain value the agent expects)
values = st.one_of(
    st.integers(-2**31, 2**31 - 1).map(lambda v: (rfc1902.Integer32(v), v)),
    st.binary(max_size=300).map(lambda v: (rfc1902.OctetString(v), v)),
    oids.map(lambda v: (rfc1902.ObjectIdentifier(v), v)),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: (rfc1902.IpAddress(bytes(t)), ".".join(map(str, t)))),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.Counter32(v), v)),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.Gauge32(v), v)),
    st.integers(0, 2**32 - 1).map(lambda v: (rfc1902.TimeTicks(v), v)),
    st.integers(0, 2**64 - 1).map(lambda v: (rfc1902.Counter64(v), v)),
    st.binary(max_size=20).map(lambda v: (rfc1902.Opaque(v), v)),
    st.just((rfc1902.Null(""), None)),
    st.just((rfc1905.noSuchObject, None)),
    st.just((rfc1905.noSuchInstance, None)),
    st.just((rfc1905.endOfMibView, END_OF_MIB)),
)


def reference_response(community: bytes, request_id: int, status: int, index: int,
                       varbinds: list[tuple[str, object]]) -> bytes:
    pdu = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_error_status(pdu, status)
    V2C.apiPDU.set_error_index(pdu, index)
    V2C.apiPDU.set_varbinds(pdu, [(rfc1902.ObjectName(n), v) for n, v in varbinds])
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, community)
    V2C.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@given(community=st.binary(max_size=40), request_id=request_ids, status=st.integers(0, 18),
       index=st.integers(0, 60), bindings=st.lists(st.tuples(oids, values), max_size=70))
@settings(max_examples=300, deadline=None)
def test_responses_decode_to_the_plain_values(community, request_id, status, index, bindings) -> None:
    wire = reference_response(community, request_id, status, index, [(n, v[0]) for n, v in bindings])
    got = decode_response(wire)
    assert (got.version, got.community, got.request_id, got.error_status, got.error_index) == (
        1, community, request_id, status, index)
    assert got.varbinds == [(n, v[1]) for n, v in bindings]
    reference, _ = decoder.decode(wire, asn1Spec=V2C.Message())
    named = V2C.apiPDU.get_error_status(V2C.apiMessage.get_pdu(reference))
    assert got.status_name == (named.prettyPrint() if status else None)


def test_a_v1_answer_and_its_error_status_by_name() -> None:
    pdu = V1.GetResponsePDU()
    V1.apiPDU.set_defaults(pdu)
    V1.apiPDU.set_request_id(pdu, 77)
    V1.apiPDU.set_error_status(pdu, 2)
    V1.apiPDU.set_error_index(pdu, 1)
    V1.apiPDU.set_varbinds(pdu, [(rfc1902.ObjectName("1.3.6.1.2.1.1.5.0"), rfc1902.Null(""))])
    message = V1.Message()
    V1.apiMessage.set_defaults(message)
    V1.apiMessage.set_community(message, "public")
    V1.apiMessage.set_pdu(message, pdu)
    got = decode_response(bytes(encoder.encode(message)))
    assert (got.version, got.community, got.request_id, got.status_name, got.error_index) == (
        0, b"public", 77, "noSuchName", 1)
    assert got.varbinds == [("1.3.6.1.2.1.1.5.0", None)]


GOOD = reference_response(b"public", 1234, 0, 0, [("1.3.6.1.2.1.43.11.1.1.9.1.1", rfc1902.Integer32(42)),
                                                  ("1.3.6.1.2.1.1.1.0", rfc1902.OctetString(b"Printer"))])


@given(cut=st.integers(0, len(GOOD) - 1))
def test_every_truncation_is_refused(cut: int) -> None:
    with pytest.raises(BerError):
        decode_response(GOOD[:cut])


@given(data=st.binary(max_size=200) | st.builds(
    lambda at, byte: GOOD[:at] + bytes([byte]) + GOOD[at + 1:], st.integers(0, len(GOOD) - 1), st.integers(0, 255)))
@settings(max_examples=1000)
def test_hostile_bytes_raise_only_ber_error(data: bytes) -> None:
    try:
        decode_response(data)
    except BerError:
        pass


@pytest.mark.parametrize(("wire", "why"), [
    (b"\x30\x80" + GOOD[2:], "indefinite"),
    (b"\x30\x85\x00\x00\x00\x00\x10", "bad length"),
    (GOOD.replace(b"\xa2", b"\xa0", 1), "expected tag"),  # a request, not a response
    (b"\x30\x03\x02\x01\x03", "version"),  # SNMPv3 is the engine's business
])
def test_what_snmp_does_not_allow_is_named(wire: bytes, why: str) -> None:
    with pytest.raises(BerError, match=why):
        decode_response(wire)
