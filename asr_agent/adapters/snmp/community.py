"""SNMPv1/v2c requests over one UDP socket per address family, without pysnmp's engine.

pysnmp's high-level v1arch API imports its whole v3 stack (USM, the MIB compiler and, for
the privacy ciphers, `cryptography`): ~12 MiB resident for an agent that speaks
community SNMP only. Here only pysnmp's message definitions (`pysnmp.proto.api`) and
pyasn1's BER codec are used; what remains is a request table: an answer is taken only
from the address asked and with the request-id sent, and the same message is sent again
after each timeout, `retries` times.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type.univ import Null
from pysnmp.proto import api
from pysnmp.proto.error import ProtocolError
from pysnmp.proto.rfc1902 import ObjectName

_PDUS = {"get": "GetRequestPDU", "next": "GetNextRequestPDU", "bulk": "GetBulkRequestPDU"}


@dataclass(frozen=True, slots=True)
class Answer:
    """A response PDU's error status (pysnmp's named Integer, falsy when 0), its error
    index and its variable bindings as (ObjectName, value) pairs."""

    error_status: Any
    error_index: int
    varbinds: list[Any]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: CommunityTransport) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.owner._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP port-unreachable for one printer is not a failure of the socket: the
        # request that caused it simply times out, like any unanswered one.
        pass


class CommunityTransport:
    """Sends v1/v2c requests and matches their answers; one per SnmpClient."""

    def __init__(self) -> None:
        self._sockets: dict[int, asyncio.DatagramTransport] = {}
        self._opening: dict[int, asyncio.Future[asyncio.DatagramTransport]] = {}
        # request-id -> (peer (ip, port), future of the response PDU)
        self._pending: dict[int, tuple[tuple[str, int], asyncio.Future[Any]]] = {}
        self._ids = itertools.count(random.randrange(1, 1 << 30))

    def close(self) -> None:
        for transport in self._sockets.values():
            transport.close()
        self._sockets.clear()
        for _, future in self._pending.values():
            if not future.done():
                future.cancel()
        self._pending.clear()

    async def request(self, kind: str, version: str, community: str, address: tuple[str, int],
                      oids: list[str], *, timeout: float, retries: int,
                      non_repeaters: int = 0, max_repetitions: int = 0) -> Answer | None:
        """One request to an IP address; the answer, or None when none came in time."""
        request_id = self._next_id()
        wire = encode_request(kind, version, community, oids, request_id,
                              non_repeaters=non_repeaters, max_repetitions=max_repetitions)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = await self._socket(family)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (address, future)
        try:
            for _ in range(retries + 1):
                sock.sendto(wire, address)
                try:
                    response = await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
                proto, pdu = response
                return Answer(proto.apiPDU.get_error_status(pdu), int(proto.apiPDU.get_error_index(pdu)),
                              list(proto.apiPDU.get_varbinds(pdu)))
            return None
        finally:
            self._pending.pop(request_id, None)
            if not future.done():
                future.cancel()

    def _next_id(self) -> int:
        while True:
            request_id = next(self._ids) & 0x7FFFFFFF
            if request_id and request_id not in self._pending:
                return request_id

    async def _socket(self, family: int) -> asyncio.DatagramTransport:
        if family in self._sockets:
            return self._sockets[family]
        if family not in self._opening:  # concurrent first requests share one socket
            loop = asyncio.get_running_loop()
            self._opening[family] = opening = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(lambda: _Endpoint(self), family=family)
            except BaseException as exc:
                opening.set_exception(exc)
                del self._opening[family]
                raise
            self._sockets[family] = transport
            opening.set_result(transport)
            del self._opening[family]
            return transport
        return await asyncio.shield(self._opening[family])

    def _received(self, data: bytes, addr: Any) -> None:
        response = decode_response(data)
        if response is None:
            return  # not an SNMP response we can read: dropped, the request times out
        proto, pdu = response
        pending = self._pending.get(int(proto.apiPDU.get_request_id(pdu)))
        if pending is None or tuple(addr[:2]) != pending[0]:
            return  # late, duplicate, or not from the address asked
        if not pending[1].done():
            pending[1].set_result(response)


def encode_request(kind: str, version: str, community: str, oids: Sequence[str], request_id: int, *,
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A BER-encoded v1/v2c GET, GETNEXT or GETBULK message."""
    proto = api.PROTOCOL_MODULES[api.SNMP_VERSION_1 if version == "1" else api.SNMP_VERSION_2C]
    pdu = getattr(proto, _PDUS[kind])()
    if kind == "bulk":
        proto.apiBulkPDU.set_defaults(pdu)
        proto.apiBulkPDU.set_non_repeaters(pdu, non_repeaters)
        proto.apiBulkPDU.set_max_repetitions(pdu, max_repetitions)
    else:
        proto.apiPDU.set_defaults(pdu)
    proto.apiPDU.set_request_id(pdu, request_id)
    proto.apiPDU.set_varbinds(pdu, [(ObjectName(oid.strip(".")), Null("")) for oid in oids])
    message = proto.Message()
    proto.apiMessage.set_defaults(message)
    proto.apiMessage.set_community(message, community)
    proto.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


def decode_response(data: bytes) -> tuple[Any, Any] | None:
    """(pysnmp's protocol module, the response PDU) of a v1/v2c response; None for
    anything else (garbage, another PDU type, a version we do not speak)."""
    try:
        proto = api.PROTOCOL_MODULES[int(api.decodeMessageVersion(data))]
        message, _ = decoder.decode(data, asn1Spec=proto.Message())
        pdu = proto.apiMessage.get_pdu(message)
        if not pdu.isSameTypeWith(proto.GetResponsePDU()):
            return None
        proto.apiPDU.get_request_id(pdu)  # present and readable, or the message is garbage
    except (PyAsn1Error, ProtocolError, KeyError, ValueError, TypeError):
        return None
    return proto, pdu
