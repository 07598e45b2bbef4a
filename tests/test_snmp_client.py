"""The SNMP client against a real responder: versions, GETBULK, GETNEXT fallback and
every failure mapped to the agent's own error types."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asr_agent.domain import oids
from asr_core.errors import ConfigError, NotAPrinter, SnmpAuthError, SnmpTimeout
from asr_agent.app.poller import poll_printer
from asr_agent.adapters.snmp import END_OF_MIB, SnmpClient, SnmpCredential
from asr_dev.snmpsim_process import SnmpSim, SnmpSimUnavailable, V3User
from conftest import free_port, require

RECORDINGS = Path(__file__).parent / "recordings"
USER = V3User(user="asr", auth_key="auth-key-123", priv_key="priv-key-456")


def start(data: Path, **options) -> tuple[SnmpSim, tuple[str, int]]:
    endpoint = ("127.0.0.1", free_port())
    sim = SnmpSim(data, [endpoint], **options)
    try:
        sim.start()
    except SnmpSimUnavailable as exc:
        require(False, str(exc))
    return sim, endpoint


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("printer")
    shutil.copy(RECORDINGS / "xerox_colour_mfp.snmprec", data / "public.snmprec")
    shutil.copy(RECORDINGS / "not_a_printer.snmprec", data / "server.snmprec")
    sim, endpoint = start(data)
    yield endpoint
    sim.stop()


@pytest.fixture(scope="module")
def v3_printer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("v3")
    shutil.copy(RECORDINGS / "v3only.snmprec", data / "fujiv3.snmprec")
    sim, endpoint = start(data, v3_user=USER, v3_only=True)
    yield endpoint
    sim.stop()


def run(coro_factory, **client_options):
    async def main():
        async with SnmpClient(**client_options) as client:
            return await coro_factory(client), client.requests
    return asyncio.run(main())


def v3(**overrides: str) -> SnmpCredential:
    options = dict(user=USER.user, auth_key=USER.auth_key, priv_key=USER.priv_key, context_name="fujiv3")
    options.update(overrides)
    return SnmpCredential.v3(**options)


def test_v2c_get_returns_plain_values(printer) -> None:
    host, port = printer
    answer, _ = run(lambda c: c.get(host, port, SnmpCredential.v2c("public"),
                                    [oids.SYS_OBJECT_ID, oids.SYS_DESCR, "1.3.6.1.2.1.1.99.0"]))
    assert answer[0] == (oids.SYS_OBJECT_ID, "1.3.6.1.4.1.253.8.62.1.35.3.4.1.1")
    assert isinstance(answer[1][1], bytes) and answer[1][1].startswith(b"Xerox AltaLink")
    assert answer[2] == ("1.3.6.1.2.1.1.99.0", None)


def test_v1_get_of_missing_object_gives_none(printer) -> None:
    host, port = printer
    answer, requests = run(lambda c: c.get(host, port, SnmpCredential.v1("public"),
                                           ["1.3.6.1.2.1.1.99.0", oids.SYS_NAME]))
    assert answer == [("1.3.6.1.2.1.1.99.0", None), (oids.SYS_NAME, b"test-mfp")]
    assert requests == 2  # v1 fails the whole PDU on a missing object; the rest is asked again


def test_bulk_walk_and_v1_getnext_walk_agree(printer) -> None:
    host, port = printer
    column = oids.PRT_MARKER_SUPPLIES_LEVEL
    bulk, bulk_requests = run(lambda c: c.walk(host, port, SnmpCredential.v2c("public"), column))
    nxt, next_requests = run(lambda c: c.walk(host, port, SnmpCredential.v1("public"), column))
    assert bulk == nxt and len(bulk) == 12
    assert bulk[0] == (f"{column}.1.1", 1060)
    assert bulk_requests == 1 and next_requests == 13


def test_getnext_past_the_end_of_the_mib_is_end_of_mib(printer) -> None:
    host, port = printer
    for cred in (SnmpCredential.v1("public"), SnmpCredential.v2c("public")):
        answer, _ = run(lambda c, cred=cred: c.next(host, port, cred, ["1.3.6.1.9"]))
        assert answer[0][1] is END_OF_MIB


def test_wrong_community_is_a_timeout_naming_the_host(printer) -> None:
    host, port = printer
    with pytest.raises(SnmpTimeout, match=f"{host}:{port}.*community"):
        run(lambda c: c.get(host, port, SnmpCredential.v2c("wrong"), [oids.SYS_DESCR]), timeout=0.3, retries=0)


def test_v3_authpriv_with_context_reads_the_printer(v3_printer) -> None:
    host, port = v3_printer
    reading, requests = run(lambda c: poll_printer(c, host, port, v3()))
    assert reading.device.serial == "TC101699990042" and len(reading.supplies) == 7
    assert requests == 1


def test_v3_only_device_ignores_v2c(v3_printer) -> None:
    host, port = v3_printer
    with pytest.raises(SnmpTimeout):
        run(lambda c: c.get(host, port, SnmpCredential.v2c("fujiv3"), [oids.SYS_DESCR]), timeout=0.3, retries=0)


@pytest.mark.parametrize("wrong", [dict(auth_key="not-the-auth-key"), dict(priv_key="not-the-priv-key"),
                                   dict(user="nobody")])
def test_wrong_v3_credentials_are_an_auth_error(v3_printer, wrong) -> None:
    host, port = v3_printer
    with pytest.raises(SnmpAuthError, match="refused SNMPv3 user") as caught:
        run(lambda c: c.get(host, port, v3(**wrong), [oids.SYS_DESCR]), timeout=0.5, retries=0)
    assert "auth-key-123" not in str(caught.value) and "not-the" not in str(caught.value)


def test_poll_is_one_request_for_a_colour_mfp_and_v1_falls_back_to_getnext(printer) -> None:
    host, port = printer
    v2, v2_requests = run(lambda c: poll_printer(c, host, port, SnmpCredential.v2c("public")))
    v1, v1_requests = run(lambda c: poll_printer(c, host, port, SnmpCredential.v1("public")))
    assert v1.supplies == v2.supplies and v1.device == v2.device
    # 12 supplies x 8 columns exceed the responder's 64-varbind answers: two GETBULKs.
    assert v2_requests == 2 and v1_requests == 13


def test_repeat_poll_reads_only_changing_columns_in_one_request(printer) -> None:
    host, port = printer

    async def twice(client):
        first = await poll_printer(client, host, port, SnmpCredential.v2c("public"))
        before = client.requests
        second = await poll_printer(client, host, port, SnmpCredential.v2c("public"), previous=first)
        return first, second, client.requests - before

    (first, second, requests), _ = run(twice)
    assert second.supplies == first.supplies and requests == 1


def test_device_without_printer_mib_is_not_a_printer(printer) -> None:
    host, port = printer
    with pytest.raises(NotAPrinter, match="no Printer-MIB supplies table"):
        run(lambda c: poll_printer(c, host, port, SnmpCredential.v2c("server")))


def test_credential_is_validated_and_never_shows_secrets() -> None:
    with pytest.raises(ConfigError, match="auth protocol"):
        SnmpCredential.v3("u", "a", "p", auth_protocol="SHA1000")
    with pytest.raises(ConfigError, match="community"):
        SnmpCredential(version="2c")
    cred = SnmpCredential.v3("u", "very-secret", "also-secret")
    assert "secret" not in cred.describe() and "very-secret" not in repr(cred)


def test_community_requests_never_build_the_v3_engine(printer) -> None:
    # The v3 engine keeps per-address state forever; a v1/v2c-only agent must not load it.
    host, port = printer
    script = (
        "import asyncio, sys\n"
        "from asr_agent.adapters.snmp import SnmpClient, SnmpCredential\n"
        "async def main():\n"
        "    async with SnmpClient() as c:\n"
        f"        await c.walk({host!r}, {port}, SnmpCredential.v2c('public'), '1.3.6.1.2.1.1')\n"
        f"        await c.get({host!r}, {port}, SnmpCredential.v1('public'), ['1.3.6.1.2.1.1.5.0'])\n"
        "        return c.requests\n"
        "requests = asyncio.run(main())\n"
        "heavy = ('pysnmp.hlapi.v3arch.asyncio', 'pysnmp.entity.engine', 'cryptography')\n"
        "print(requests, [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parent.parent, timeout=60)
    requests, loaded = out.stdout.split(maxsplit=1)
    assert int(requests) >= 2 and loaded.strip() == "[]"


class Relay(asyncio.DatagramProtocol):
    """A loopback UDP hop in front of the responder: it can drop the first requests, and it
    can send the answers back from another address than the one the client asked."""

    def __init__(self, printer: tuple[str, int], *, drop: int = 0, answer_from: str | None = None) -> None:
        self.printer, self.drop, self.answer_from = printer, drop, answer_from
        self.requests = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None
        self.reply: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None

    async def start(self) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        relay = self

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                out = relay.reply if relay.reply is not None else relay.transport
                assert out is not None and relay.client is not None
                out.sendto(data, relay.client)

        self.transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.upstream, _ = await loop.create_datagram_endpoint(Upstream, local_addr=("127.0.0.1", 0))
        if self.answer_from is not None:
            self.reply, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                                local_addr=(self.answer_from, 0))
        return self.transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.requests += 1
        self.client = addr
        if self.requests > self.drop:
            assert self.upstream is not None
            self.upstream.sendto(data, self.printer)

    def close(self) -> None:
        for t in (self.transport, self.upstream, self.reply):
            if t is not None:
                t.close()


def through_relay(printer, relay_options, request):
    async def main():
        relay = Relay(printer, **relay_options)
        host, port = await relay.start()
        try:
            async with SnmpClient(timeout=0.3, retries=1) as client:
                try:
                    return await request(client, host, port), client.requests, relay.requests
                except SnmpTimeout as exc:
                    return exc, client.requests, relay.requests
        finally:
            relay.close()
    return asyncio.run(main())


def test_a_lost_request_is_sent_again_and_counted_once(printer) -> None:
    answer, requests, sent = through_relay(printer, {"drop": 1}, lambda c, h, p: c.get(
        h, p, SnmpCredential.v2c("public"), [oids.SYS_DESCR]))
    assert not isinstance(answer, SnmpTimeout) and isinstance(answer[0][1], bytes)
    assert (requests, sent) == (1, 2)  # one request, its one retransmission


def test_an_answer_from_another_address_is_ignored(printer) -> None:
    answer, requests, sent = through_relay(printer, {"answer_from": "127.0.0.2"}, lambda c, h, p: c.get(
        h, p, SnmpCredential.v2c("public"), [oids.SYS_DESCR]))
    assert isinstance(answer, SnmpTimeout)
    assert (requests, sent) == (1, 2)
