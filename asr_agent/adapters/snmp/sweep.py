"""The discovery sweep engine: one identity GET to every address of a range, at a set rate.

Owns pre-encoded v1/v2c requests, a bounded pool of non-blocking UDP sockets, the
in-flight table and the answers it streams; v3 targets (few and named) go through the client.

How it stays fast and small:

    addresses (lazy iterator) ─► token bucket ─► patch request id into a pre-encoded
    message ─► sendto() on one of N sockets ─► in-flight {request id: entry} + deadline queue
    answers ─► add_reader callback ─► match (source address, request id) ─► decode ─► queue
    deadline passed ─► next community (same address) or "silent"

Requests are BER-encoded once per (credential, OID list); per address only the four
request-id bytes change. Memory holds only in-flight entries (at most `max_in_flight`,
plus the deadlines of those answered within one timeout), never one record per address.
The window adapts to the rate: a request leaves the table by its answer or its deadline,
so rate x timeout requests in flight keep the rate going, and more would only hold memory.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import ipaddress
import math
import random
import socket
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pyasn1.error import PyAsn1Error

from asr_agent.domain import oids, serials
from asr_agent.adapters.snmp.client import SnmpCredential
from asr_agent.adapters.snmp.community import decode_response, encode_request
from asr_agent.adapters.snmp.values import Value, plain, present

# A safe default for customer networks: 200 packets/s is ~50 kbit/s of SNMP, well under
# what any switch, firewall or IDS flags as a scan, and still sweeps a /24 in ~1.3 s.
DEFAULT_RATE = 200.0
# Loopback packets never leave the host: no switch, firewall or IDS sees them, so the rate
# above protects nothing there. This one sends a /16 with two communities and a retry
# (262,136 packets) in about 7 s and uses a third of one core (2 cores, 2026).
LOOPBACK_RATE = 40_000.0
DEFAULT_TIMEOUT = 1.0
DEFAULT_SOCKETS = 4
# With no rate limit (rate 0) the window alone bounds the in-flight table; with a rate the
# window is rate x timeout, capped so that a long timeout cannot grow memory without end
# (65,536 entries are ~20 MiB).
UNLIMITED_WINDOW = 16384
MAX_WINDOW = 65536


def in_flight_window(rate: float, timeout: float) -> int:
    """Requests in flight that keep `rate` packets/s going when each may wait `timeout` s.

    rate x timeout, plus the token bucket's burst and 10 % for timer slack; rate 0 (no
    limit) gets a fixed window instead.
    """
    if rate <= 0:
        return UNLIMITED_WINDOW
    burst = max(1.0, rate / 20.0)
    return min(MAX_WINDOW, max(16, math.ceil(rate * timeout * 11 / 10 + burst)))

SYS_DESCR = oids.SYS_DESCR
SYS_OBJECT_ID = oids.SYS_OBJECT_ID
# The printer is hrDevice 1 on every printer we have seen; instance 1 is what we ask.
PRT_GENERAL_SERIAL_NUMBER = oids.PRT_GENERAL_SERIAL_NUMBER + ".1"
HR_DEVICE_TYPE = oids.HR_DEVICE_TYPE + ".1"
HR_DEVICE_DESCR = oids.HR_DEVICE_DESCR + ".1"
PRT_MARKER_SUPPLIES_DESCRIPTION = oids.PRT_MARKER_SUPPLIES_DESCRIPTION
IDENTITY_OIDS = (SYS_OBJECT_ID, SYS_DESCR, PRT_GENERAL_SERIAL_NUMBER, HR_DEVICE_TYPE,
                 HR_DEVICE_DESCR)

# Request ids in [2**24, 2**31) always BER-encode to exactly four content bytes, so a
# template's id can be overwritten in place without re-encoding the lengths around it.
_ID_LOW = 1 << 24
_ID_SPAN = (1 << 31) - _ID_LOW
_TEMPLATE_ID = 0x7ABBCCDD
_TEMPLATE_ID_BYTES = b"\x02\x04" + _TEMPLATE_ID.to_bytes(4, "big")
_RCVBUF = 4 << 20

_STAGE_IDENTITY = 0
_STAGE_PRINTER_MIB = 1


@dataclass(frozen=True, slots=True)
class SweepAnswer:
    """What one address said to the identity GET; None wherever it did not say.

    `printer_mib` is True when prtMarkerSuppliesTable has a first row, False when the
    device answered the check without one, None when the check itself got no answer.
    """

    host: str
    port: int
    credential: int  # index into the sweep's communities
    sys_object_id: str | None
    sys_descr: str | None
    serial: str | None
    hr_device_type: str | None
    hr_device_descr: str | None
    printer_mib: bool | None


@dataclass
class SweepStats:
    """Running counters, readable while the sweep runs (progress bars)."""

    addresses: int = 0        # addresses taken from the iterator so far
    done: int = 0             # addresses finished: answered, silent or unsendable
    answered: int = 0
    silent: int = 0
    unsendable: int = 0       # sendto() refused (e.g. broadcast address): counted, not retried
    packets_sent: int = 0
    stray: int = 0            # datagrams that matched nothing in flight (late, spoofed, garbled)
    peak_in_flight: int = 0


class _Entry:
    """One in-flight address. Slots, not a dataclass: there can be thousands at once."""

    __slots__ = ("host", "port", "family", "cred", "attempt", "stage", "oids", "request_id",
                 "answer")

    def __init__(self, host: str, port: int, family: int) -> None:
        self.host = host
        self.port = port
        self.family = family
        self.cred = 0
        self.attempt = 0
        self.stage = _STAGE_IDENTITY
        self.oids: tuple[str, ...] = IDENTITY_OIDS
        self.request_id = 0
        self.answer: dict[str, object] | None = None


@dataclass
class _Template:
    prefix: bytes
    suffix: bytes

    def message(self, request_id: int) -> bytes:
        return self.prefix + request_id.to_bytes(4, "big") + self.suffix


def _encode(community: SnmpCredential, pdu_kind: Literal["get", "getnext"],
            oids: Sequence[str]) -> _Template:
    assert community.community is not None
    encoded = encode_request("get" if pdu_kind == "get" else "next", community.version,
                             community.community.reveal(), oids, _TEMPLATE_ID)
    at = encoded.find(_TEMPLATE_ID_BYTES)
    if at < 0:  # cannot happen with pysnmp's encoder; guards a silent wrong patch
        raise RuntimeError("request id not found in the encoded SNMP request template")
    return _Template(encoded[:at + 2], encoded[at + 6:])


def _text(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.rstrip("\x00").strip()


@dataclass(frozen=True, slots=True)
class _Reply:
    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[tuple[str, Value], ...]


def _decode(data: bytes) -> _Reply | None:
    response = decode_response(data)
    if response is None:
        return None
    proto, pdu = response
    try:
        return _Reply(
            int(proto.apiPDU.get_request_id(pdu)),
            int(proto.apiPDU.get_error_status(pdu)),
            int(proto.apiPDU.get_error_index(pdu)),
            tuple((str(oid), plain(val)) for oid, val in proto.apiPDU.get_varbinds(pdu)),
        )
    except (PyAsn1Error, KeyError, ValueError, TypeError):
        return None


class _TokenBucket:
    """Packets per second with a 50 ms burst; rate 0 means no limit."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.burst = max(1.0, rate / 20.0)
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def wait_time(self) -> float:
        """0 if a packet may go now (and takes its token), else seconds to wait."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def charge(self) -> None:
        """Follow-up packets are sent at once (from a callback) but still paid for."""
        if self.rate > 0:
            self.tokens -= 1.0


class Sweep:
    """One sweep of v1/v2c addresses; iterate `answers()` to run it.

    Each address gets the identity GET with the first community; a silent address is
    asked again `retries` times, then with the next community, and so on; an address that
    answers gets one GETNEXT into prtMarkerSuppliesTable with the community it answered to.
    """

    def __init__(self, addresses: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address],
                 *, port: int = 161, communities: Sequence[SnmpCredential] = (),
                 rate: float = DEFAULT_RATE, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = 0, sockets: int = DEFAULT_SOCKETS,
                 max_in_flight: int | None = None,
                 printer_mib_check: bool = True) -> None:
        if not communities:
            raise ValueError("a sweep needs at least one v1/v2c community")
        if any(c.version not in ("1", "2c") for c in communities):
            raise ValueError("the sweep speaks v1/v2c only; probe v3 targets through SnmpClient")
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout}")
        if rate < 0:
            raise ValueError(f"rate must be 0 (unlimited) or positive, not {rate}")
        self._addresses = iter(addresses)
        self.port = port
        self.communities = tuple(communities)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self._n_sockets = max(1, int(sockets))
        self.max_in_flight = (in_flight_window(rate, self.timeout) if max_in_flight is None
                              else max(1, int(max_in_flight)))
        self.printer_mib_check = printer_mib_check
        self.stats = SweepStats()
        self._bucket = _TokenBucket(rate)
        self._templates: dict[tuple[int, int, tuple[str, ...]], _Template] = {}
        self._in_flight: dict[int, _Entry] = {}
        self._deadlines: collections.deque[tuple[float, int]] = collections.deque()
        self._again: collections.deque[_Entry] = collections.deque()
        self._sockets: dict[int, list[socket.socket]] = {}
        self._turn = 0
        self._next_id = random.randrange(_ID_SPAN)
        self._results: asyncio.Queue[SweepAnswer | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # ---- public -------------------------------------------------------------------------

    async def answers(self) -> AsyncIterator[SweepAnswer]:
        """Run the sweep, yielding each answering address as soon as it is identified."""
        self._loop = asyncio.get_running_loop()
        runner = asyncio.create_task(self._run())
        try:
            while True:
                item = await self._results.get()
                if item is None:
                    break
                yield item
            await runner  # re-raise whatever stopped the sender
        finally:
            runner.cancel()
            try:
                await runner
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reported above
                pass
            self._close()

    # ---- sending ------------------------------------------------------------------------

    def _template(self, entry: _Entry) -> _Template:
        key = (entry.cred, entry.stage, entry.oids)
        template = self._templates.get(key)
        if template is None:
            kind: Literal["get", "getnext"] = "get" if entry.stage == _STAGE_IDENTITY else "getnext"
            template = _encode(self.communities[entry.cred], kind, entry.oids)
            self._templates[key] = template
        return template

    def _socket_for(self, family: int) -> socket.socket:
        pool = self._sockets.get(family)
        if pool is None:
            pool = []
            for _ in range(self._n_sockets):
                sock = socket.socket(family, socket.SOCK_DGRAM)
                sock.setblocking(False)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                except OSError:
                    pass  # the kernel caps it at net.core.rmem_max; a smaller buffer still works
                sock.bind(("::", 0) if family == socket.AF_INET6 else ("0.0.0.0", 0))
                assert self._loop is not None
                self._loop.add_reader(sock.fileno(), self._on_readable, sock)
                pool.append(sock)
            self._sockets[family] = pool
        self._turn = (self._turn + 1) % len(pool)
        return pool[self._turn]

    def _new_id(self) -> int:
        self._next_id = (self._next_id + 1) % _ID_SPAN
        return _ID_LOW + self._next_id

    def _send(self, entry: _Entry) -> bool:
        """Send entry's current request; False if the kernel's buffer is full (try later)."""
        request_id = self._new_id()
        data = self._template(entry).message(request_id)
        try:
            self._socket_for(entry.family).sendto(data, (entry.host, entry.port))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError as exc:
            if exc.errno == errno.ENOBUFS:
                return False
            # EACCES (broadcast), ENETUNREACH, EADDRNOTAVAIL: this address cannot be asked.
            self.stats.unsendable += 1
            self.stats.done += 1
            return True
        entry.request_id = request_id
        self._in_flight[request_id] = entry
        self._deadlines.append((time.monotonic() + self.timeout, request_id))
        self.stats.packets_sent += 1
        if len(self._in_flight) > self.stats.peak_in_flight:
            self.stats.peak_in_flight = len(self._in_flight)
        return True

    def _next_entry(self) -> _Entry | None:
        if self._again:
            return self._again.popleft()
        try:
            address = next(self._addresses)
        except StopIteration:
            return None
        ip = ipaddress.ip_address(address)
        self.stats.addresses += 1
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        return _Entry(str(ip), self.port, family)

    async def _run(self) -> None:
        try:
            pending: _Entry | None = None
            exhausted = False
            since_yield = 0
            while True:
                self._expire()
                if pending is None and not exhausted:
                    pending = self._next_entry()
                    exhausted = pending is None
                if pending is None and self._again:
                    pending = self._again.popleft()
                if pending is None and not self._in_flight:
                    return
                delay = None
                if pending is not None and len(self._in_flight) < self.max_in_flight:
                    delay = self._bucket.wait_time()
                    if delay == 0.0:
                        if self._send(pending):
                            pending = None
                            since_yield += 1
                            # Let the reader callbacks drain answers before socket buffers fill.
                            if since_yield >= 256:
                                since_yield = 0
                                await asyncio.sleep(0)
                            continue
                        delay = 0.001
                # Blocked on rate, in-flight cap, or waiting for answers/timeouts.
                wait = self._deadlines[0][0] - time.monotonic() if self._deadlines else self.timeout
                if delay is not None:
                    wait = min(wait, delay)
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=max(0.0005, wait))
                except TimeoutError:
                    pass
        finally:
            self._results.put_nowait(None)

    def _expire(self) -> None:
        now = time.monotonic()
        deadlines = self._deadlines
        while deadlines and deadlines[0][0] <= now:
            _, request_id = deadlines.popleft()
            entry = self._in_flight.pop(request_id, None)
            if entry is None:
                continue  # answered in time
            if entry.stage == _STAGE_PRINTER_MIB:
                self._finish(entry, printer_mib=None)
            elif entry.attempt < self.retries:
                entry.attempt += 1
                self._again.append(entry)
            elif entry.answer is None and entry.cred + 1 < len(self.communities):
                entry.cred += 1
                entry.attempt = 0
                entry.oids = IDENTITY_OIDS
                self._again.append(entry)
            else:
                self.stats.silent += 1
                self.stats.done += 1

    # ---- receiving ----------------------------------------------------------------------

    def _on_readable(self, sock: socket.socket) -> None:
        while True:
            try:
                data, source = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # e.g. an ICMP error queued on the socket: the deadline handles it
            self._handle(data, source[0])

    def _handle(self, data: bytes, source: str) -> None:
        reply = _decode(data)
        entry = self._in_flight.get(reply.request_id) if reply is not None else None
        if reply is None or entry is None or ipaddress.ip_address(source) != ipaddress.ip_address(entry.host):
            self.stats.stray += 1
            return
        del self._in_flight[reply.request_id]
        self._wake.set()
        if entry.stage == _STAGE_PRINTER_MIB:
            found = reply.error_status == 0 and any(
                oid.startswith(PRT_MARKER_SUPPLIES_DESCRIPTION + ".") and present(value)
                for oid, value in reply.varbinds)
            self._finish(entry, printer_mib=found)
            return
        if reply.error_status != 0:
            # v1 (and some v2c agents) fail the whole PDU for one unknown OID: drop the
            # OID the agent pointed at and ask again for the rest.
            if 0 < reply.error_index <= len(entry.oids):
                entry.oids = entry.oids[:reply.error_index - 1] + entry.oids[reply.error_index:]
                if entry.oids:
                    self._bucket.charge()
                    self._resend(entry)
                    return
            entry.answer = {}
        else:
            entry.answer = {oid: value for oid, value in reply.varbinds if present(value)}
        if self.printer_mib_check:
            entry.stage = _STAGE_PRINTER_MIB
            entry.oids = (PRT_MARKER_SUPPLIES_DESCRIPTION,)
            self._bucket.charge()
            self._resend(entry)
        else:
            self._finish(entry, printer_mib=None)

    def _resend(self, entry: _Entry) -> None:
        if not self._send(entry):
            self._again.appendleft(entry)  # buffer full: the sender retries it first

    def _finish(self, entry: _Entry, printer_mib: bool | None) -> None:
        values = entry.answer or {}

        def text(oid: str) -> str | None:
            value = values.get(oid)
            if isinstance(value, bytes):
                return _text(value) or None
            return str(value) if value is not None else None

        object_id = values.get(SYS_OBJECT_ID)
        device_type = values.get(HR_DEVICE_TYPE)
        self.stats.answered += 1
        self.stats.done += 1
        self._results.put_nowait(SweepAnswer(
            host=entry.host, port=entry.port, credential=entry.cred,
            sys_object_id=object_id if isinstance(object_id, str) else None,
            sys_descr=text(SYS_DESCR), serial=serials.usable(text(PRT_GENERAL_SERIAL_NUMBER)),
            hr_device_type=device_type if isinstance(device_type, str) else None,
            hr_device_descr=text(HR_DEVICE_DESCR), printer_mib=printer_mib,
        ))

    def _close(self) -> None:
        for pool in self._sockets.values():
            for sock in pool:
                if self._loop is not None and not self._loop.is_closed():
                    self._loop.remove_reader(sock.fileno())
                sock.close()
        self._sockets.clear()


def sweep(addresses: Iterable[str | ipaddress.IPv4Address | ipaddress.IPv6Address],
          **options: object) -> AsyncIterator[SweepAnswer]:
    """Shorthand: `async for answer in sweep(addrs, communities=[...], rate=0): ...`."""
    return Sweep(addresses, **options).answers()  # type: ignore[arg-type]


__all__ = [
    "DEFAULT_RATE", "DEFAULT_SOCKETS", "DEFAULT_TIMEOUT", "HR_DEVICE_DESCR", "HR_DEVICE_TYPE",
    "IDENTITY_OIDS", "LOOPBACK_RATE", "MAX_WINDOW", "PRT_GENERAL_SERIAL_NUMBER",
    "PRT_MARKER_SUPPLIES_DESCRIPTION", "SYS_DESCR", "SYS_OBJECT_ID", "UNLIMITED_WINDOW", "Sweep",
    "SweepAnswer", "SweepStats", "in_flight_window", "sweep",
]
