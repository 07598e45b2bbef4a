"""SNMPv1/v2c requests over one UDP socket per address family, without pysnmp.

pysnmp's high-level v1arch API imports its whole v3 stack (USM, the MIB compiler and, for
the privacy ciphers, `cryptography`): ~12 MiB resident for an agent that speaks
community SNMP only, and its ASN.1 codec was most of the CPU of a poll. Messages are
encoded and decoded by `asr_agent.snmp.ber`; what remains here is a request table: an
answer is taken only from the address asked and with the request-id sent, and the same
message is sent again after each timeout, `retries` times.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
from typing import Any

from asr_agent.snmp.ber import BerError, Response, decode_response, encode_request


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
        self._pending: dict[int, tuple[tuple[str, int], asyncio.Future[Response]]] = {}
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
                      non_repeaters: int = 0, max_repetitions: int = 0) -> Response | None:
        """One request to an IP address; the response, or None when none came in time."""
        request_id = self._next_id()
        wire = encode_request(kind, version, community, oids, request_id,
                              non_repeaters=non_repeaters, max_repetitions=max_repetitions)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        sock = await self._socket(family)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = (address, future)
        try:
            for _ in range(retries + 1):
                sock.sendto(wire, address)
                try:
                    return await asyncio.wait_for(asyncio.shield(future), timeout)
                except TimeoutError:
                    continue
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
        try:
            response = decode_response(data)
        except BerError:
            return  # not an SNMP response we can read: dropped, the request times out
        pending = self._pending.get(response.request_id)
        if pending is None or tuple(addr[:2]) != pending[0]:
            return  # late, duplicate, or not from the address asked
        if not pending[1].done():
            pending[1].set_result(response)
