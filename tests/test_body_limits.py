"""Body limits: sized from the agent's largest legal batch (measured here), enforced on every
endpoint before parsing — a declared Content-Length over the limit is answered before a byte
of the body is read, a streamed body is cut off at the limit — so big bodies cost central no
memory."""

from __future__ import annotations

import json
import select
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support_central import CentralServer, central  # noqa: F401  (fixture)
from support_central_process import CentralProcess

from asr_agent.adapters import keys as signing
from asr_core import wire, wire_ranges as limits
from asr_core.records import LevelState, SupplyClass, SupplyType
from asr_central.service.api import ingest
from asr_central.service.api.body_limit import JSON_BODY

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

AGENT_BATCH = 50  # the agent's default batch size (asr_agent.adapters.uplink)
MiB = 1024 * 1024


def _longest(spec: Any) -> str:
    return "W" * spec.max_len


def largest_summary(agent_id: str, site_id: str, serial: str, sequence: int) -> wire.Summary:
    """A summary at every wire_ranges limit: the most supplies, events and alerts, every text
    at its longest, every number at its widest (a page counter of 2^64-1 travels as its
    20 digits)."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    end = start + timedelta(hours=4)
    big = limits.COUNTER64_MAX
    s, e, a = (limits.SUMMARY[k].most for k in  # type: ignore[union-attr]
               ("supplies", "cartridge_events", "alerts"))
    supplies = tuple(wire.SupplySummary(
        limits.SUPPLY_INDEX_MAX - i, SupplyType.TONER, SupplyClass.CONSUMED,
        _longest(limits.SUPPLY["color"]), limits.INT32_MAX, LevelState.OK, 99.12345678901234,
        1234567.123456789, 1234567.123456789, 1234.567890123456, 36499.12345678901,
        36499.12345678901, 36499.12345678901, _longest(limits.SUPPLY["forecast_status"]),
        _longest(limits.SUPPLY["part_number"]), _longest(limits.SUPPLY["cartridge_serial"]),
        True, True) for i in range(s))
    events = tuple(wire.CartridgeEvent(
        limits.SUPPLY_INDEX_MAX - i, start + timedelta(seconds=1.123456), True, 1234567.123456789,
        99.12345678901234, *(_longest(limits.EVENT[k]) for k in
                             ("cartridge_serial", "previous_serial", "part_number")))
        for i in range(e))
    alerts = tuple(wire.Alert(_longest(limits.ALERT["code"]), _longest(limits.ALERT["message"]),
                              limits.SUPPLY_INDEX_MAX - i, "warning") for i in range(a))
    return wire.Summary(
        agent_id, site_id, _longest(limits.SUMMARY["contact"]), sequence,
        wire.idempotency_key(agent_id, serial, start, end), start, end,
        wire.DeviceIdentity(serial, _longest(limits.DEVICE["vendor"]),
                            _longest(limits.DEVICE["model"]), True,
                            _longest(limits.DEVICE["address"])),
        wire.DeviceState.OK, supplies, wire.PageCounters(big, big), events, alerts)


def test_the_largest_legal_batch_fits_under_the_limit(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    key = signing.load_or_create(tmp_path / "key")
    longest_id = _longest(limits.SUMMARY["agent_id"])
    envelopes = [signing.seal(largest_summary(longest_id, _longest(limits.SUMMARY["site_id"]),
                                              f"{i:0255d}", 2 ** 53 - 1 - i), key).to_dict()
                 for i in range(AGENT_BATCH)]
    wire.check_summary(json.loads(signing.seal(largest_summary(
        longest_id, "s", "S", 1), key).payload))  # legal: every field within its range
    size = len(json.dumps({"envelopes": envelopes}).encode())
    with capsys.disabled():
        print(f"\nlargest legal batch of {AGENT_BATCH}: {size} bytes ({size / MiB:.2f} MiB); "
              f"limit {ingest.MAX_BODY} ({ingest.MAX_BODY / size - 1:.0%} over)")
    assert size <= ingest.MAX_BODY
    assert size >= ingest.MAX_BODY * 0.8, "the limit is far looser than the largest batch"


def test_the_largest_legal_summary_is_stored(central: CentralServer,  # noqa: F811
                                             tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path / "key")
    agent_id = central.enroll_key(key)
    summary = largest_summary(agent_id, "site-1", "W" * 255, 1)
    r = httpx.post(f"{central.url}/v1/summaries", trust_env=False, timeout=30,
                   json={"envelopes": [signing.seal(summary, key).to_dict()]})
    assert [v["code"] for v in r.json()["results"]] == [201], r.text


def _status(sock: socket.socket) -> int | None:
    sock.settimeout(20)
    try:
        head = sock.recv(65536)
    except OSError:
        return None
    return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else None


def _declared(port: int, path: str, length: int) -> int | None:
    """A POST declaring `length` bytes whose body never comes: answered only if refused
    before reading."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     f"application/json\r\nContent-Length: {length}\r\n\r\n".encode())
        return _status(sock)


def _streamed(port: int, path: str, most: int, chunk: int = 16 * 1024) -> tuple[int | None, int]:
    """A chunked POST of up to `most` bytes, sent until central answers: (status, sent)."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     f"application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        piece = b"%x\r\n" % chunk + b" " * chunk + b"\r\n"
        while sent < most and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(piece)
            except OSError:
                break
            sent += chunk
        if sent >= most:
            sock.sendall(b"0\r\n\r\n")
        return _status(sock), sent


def test_over_limit_bodies_cost_central_no_memory(central_db_url: str, tmp_path: Path) -> None:
    """Six bodies of 32 MiB at once (the old limit) on the ingest and a JSON endpoint,
    declared and streamed: each refused 413, and central's peak RSS grows by a few MB."""
    server = CentralProcess(central_db_url, tmp_path).start()
    try:
        before = server.memory_kib("VmHWM")
        results: list[tuple[str, int | None]] = []

        def run(kind: str, path: str) -> None:
            if kind == "declared":
                results.append((f"{kind} {path}", _declared(server.port, path, 32 * MiB)))
            else:
                results.append((f"{kind} {path}", _streamed(server.port, path, 32 * MiB)[0]))

        threads = [threading.Thread(target=run, args=(kind, path))
                   for kind in ("declared", "streamed") for path in ("/v1/enroll",) * 3
                   + (("/v1/summaries",) * 3 if kind == "declared" else ())]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(results) == sorted((name, 413) for name, _ in results)
        assert len(results) == 9
        grown = server.memory_kib("VmHWM") - before
        assert grown < 8 * 1024, f"peak RSS grew by {grown} KiB"
        assert httpx.get(f"{server.url}/healthz", trust_env=False).status_code == 200
    finally:
        server.stop()


class _Counted:
    """Wraps the app to count the request body bytes it reads (the largest per request)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        seen = 0

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            self.most = max(self.most, seen)
            return message

        await self.app(scope, counted, send)


@pytest.fixture
def counted(central_db_url: str) -> Iterator[tuple[CentralServer, _Counted]]:
    wrappers: list[_Counted] = []

    def wrap(app: Any) -> _Counted:
        wrappers.append(_Counted(app))
        return wrappers[-1]

    server = CentralServer(central_db_url, wrap=wrap).start()
    yield server, wrappers[-1]
    server.stop()


@pytest.mark.parametrize("path", ["/v1/summaries", "/v1/enroll", "/v1/keys",
                                  "/v1/admin/enrollment-tokens", "/v1/registry/import"])
def test_a_streamed_body_is_read_no_further_than_its_limit(
        counted: tuple[CentralServer, _Counted], path: str) -> None:
    server, app = counted
    status, sent = _streamed(server.port, path, 3 * ingest.MAX_BODY)
    assert status == 413
    limit = {"/v1/summaries": ingest.MAX_BODY,
             "/v1/registry/import": 4 * MiB}.get(path, JSON_BODY)
    assert limit < app.most <= limit + 256 * 1024  # the server reads the socket in pieces
    assert sent < 3 * ingest.MAX_BODY


def test_a_content_length_that_lies_low_gets_no_more_than_it_declared(
        counted: tuple[CentralServer, _Counted]) -> None:
    server, app = counted
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"POST /v1/enroll HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                     b"application/json\r\nContent-Length: 100\r\n\r\n" + b"{" * (2 * MiB))
        status = _status(sock)
        assert status is not None and 400 <= status < 500
    # The server's HTTP parser frames the body by the declared length (the bytes after it
    # are a malformed next request, refused 400 and the connection closed, possibly before
    # the app reads the first body): never more than declared reaches the app.
    assert app.most <= 100


@pytest.mark.parametrize("path", ["/v1/summaries", "/v1/enroll", "/v1/orders/1/ship"])
def test_a_declared_length_over_the_limit_is_refused_before_reading(
        counted: tuple[CentralServer, _Counted], path: str) -> None:
    server, app = counted
    assert _declared(server.port, path, ingest.MAX_BODY + 1) == 413
    assert app.most == 0
