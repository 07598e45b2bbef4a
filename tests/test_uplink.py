"""The uplink against a real central server on loopback and a real agent store file:
outages, crashes between send and ack, rejections, proxies, TLS trust, secret hygiene."""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from asr_agent.adapters import keys as signing
from asr_core.errors import PermanentUplinkError, TransientUplinkError
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import (
    KIND_SUMMARY_WITH_EVENTS, Uplink, UplinkSettings, bound_outbox, queue_summary,
)
from asr_core.wire import Envelope
from tests.agent_harness import asr_log
from support_central import (  # noqa: F401  (`central` is a fixture)
    ADMIN_TOKEN, T0, CentralServer, central, enrolled_agent, make_summary,
)

REPO = Path(__file__).resolve().parent.parent
FAST = dict(max_attempts=2, backoff_initial_s=0.01, backoff_max_s=0.02, timeout_s=5.0)


def settings(url: str, **kw: object) -> UplinkSettings:
    merged = {**FAST, "trust_env": False, **kw}
    return UplinkSettings(central_url=url, **merged)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.in_dir(tmp_path / "agent-data")
    yield s
    s.close()


def queue_period(store: Store, key: signing.AgentKey, agent_id: str, start: dt.datetime,
                 serials: list[str], **kw: object) -> list[str]:
    """One summary per device for the 4-hour period starting at `start`; their keys."""
    keys = []
    for serial in serials:
        s = make_summary(agent_id, store.next_sequence(), serial=serial, period_start=start,
                         **kw)  # type: ignore[arg-type]
        queue_summary(store, s, key)
        keys.append(s.idempotency_key)
    return keys


def test_seven_days_of_outage_arrive_once_and_in_order(central: CentralServer, store: Store,
                                                      tmp_path: Path) -> None:
    key, ident = enrolled_agent(central, tmp_path / "keys")
    central.stop()
    serials = ["XRX-A", "XRX-B", "XRX-C"]
    queued: list[str] = []
    with Uplink(settings(central.url, batch_size=50), store) as up:
        for period in range(7 * 6):  # every 4 h for 7 days while central is down
            queued += queue_period(store, key, ident.agent_id,
                                   T0 + dt.timedelta(hours=4 * period), serials)
            if period % 6 == 5:  # the daily attempt fails and keeps everything
                with pytest.raises(TransientUplinkError, match="cannot reach central"):
                    up.drain()
        assert store.outbox_depth() == len(queued) == 126
        central.start()
        report = up.drain()
    assert (report.accepted, report.duplicates, report.rejected) == (126, 0, 0)
    assert store.outbox_depth() == 0
    rows = central.summaries(ident.agent_id)
    assert [r["idempotency_key"] for r in rows] == queued  # each once, in queue order
    seqs = [r["sequence"] for r in rows]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len(central.query("SELECT * FROM device_status")) == 3


AGENT_SCRIPT = textwrap.dedent("""
    import sys
    from asr_agent.adapters.store import Store
    from asr_agent.adapters.uplink import Uplink, UplinkSettings
    store = Store.in_dir(sys.argv[2])
    up = Uplink(UplinkSettings(central_url=sys.argv[1], batch_size=4, trust_env=False,
                               max_attempts=2, backoff_initial_s=0.01), store)
    print("draining", flush=True)
    report = up.drain()
    print("done", report.accepted, report.duplicates, flush=True)
""")


def test_agent_killed_between_send_and_ack_delivers_each_exactly_once(tmp_path: Path) -> None:
    victims: dict[str, int] = {}
    kill_after = {7, 15, 22}  # central has stored these many when it kills the agent
    stored = [0]

    def kill_agent(conn, summary, summary_id, now) -> None:  # runs inside central's ingest
        stored[0] += 1
        if stored[0] in kill_after and "pid" in victims:
            # The batch is stored (commits after this hook) but the agent never sees the 2xx.
            os.kill(victims.pop("pid"), signal.SIGKILL)

    server = CentralServer(tmp_path / "central.db", summary_hooks=[kill_agent]).start()
    try:
        key, ident = enrolled_agent(server, tmp_path / "keys")
        data_dir = tmp_path / "agent-data"
        with Store.in_dir(data_dir) as st:
            queued = []
            for period in range(10):
                queued += queue_period(st, key, ident.agent_id,
                                       T0 + dt.timedelta(hours=4 * period), ["XRX-A", "XRX-B", "XRX-C"])
        script = tmp_path / "agent.py"
        script.write_text(AGENT_SCRIPT)
        kills = 0
        for _attempt in range(8):
            proc = subprocess.Popen([sys.executable, str(script), server.url, str(data_dir)],
                                    cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            victims["pid"] = proc.pid
            out, err = proc.communicate(timeout=60)
            victims.pop("pid", None)
            if proc.returncode == -signal.SIGKILL:
                kills += 1
                continue
            assert proc.returncode == 0, err
            assert "done" in out
            break
        assert kills == 3
        rows = server.summaries(ident.agent_id)
        assert [r["idempotency_key"] for r in rows] == queued
        with Store.in_dir(data_dir) as st:
            assert st.outbox_depth() == 0
            assert st.refused() == []
    finally:
        server.stop()


def test_tampered_foreign_key_and_replayed_summaries_are_rejected_once(
        central: CentralServer, store: Store, tmp_path: Path) -> None:
    key, ident = enrolled_agent(central, tmp_path / "keys")
    good = make_summary(ident.agent_id, store.next_sequence())
    queue_summary(store, good, key)

    # altered by one byte after signing
    s2 = make_summary(ident.agent_id, store.next_sequence(), period_start=T0 + dt.timedelta(hours=4))
    env = signing.seal(s2, key)
    payload = bytearray(env.payload)
    payload[payload.index(b'"level":60') + 9] = ord("1")  # 60 -> 61
    tampered = Envelope(env.agent_id, env.key_id, bytes(payload), env.signature)
    store.enqueue(json.dumps(tampered.to_dict()).encode(), "summary", s2.idempotency_key,
                  seq=s2.sequence)

    # signed by another key that claims the enrolled key's id
    other = signing.load_or_create(tmp_path / "other-keys")
    s3 = make_summary(ident.agent_id, store.next_sequence(), period_start=T0 + dt.timedelta(hours=8))
    forged = signing.seal(s3, other)
    forged = Envelope(forged.agent_id, key.key_id, forged.payload, forged.signature)
    store.enqueue(json.dumps(forged.to_dict()).encode(), "summary", s3.idempotency_key,
                  seq=s3.sequence)

    # replay: the good summary's sequence again, with different content
    s4 = make_summary(ident.agent_id, good.sequence, period_start=T0 + dt.timedelta(hours=12))
    replay = signing.seal(s4, key)
    store.enqueue(json.dumps(replay.to_dict()).encode(), "summary", s4.idempotency_key,
                  seq=store.next_sequence())

    with asr_log() as log, Uplink(settings(central.url), store) as up:
        report = up.drain()
        assert (report.accepted, report.rejected) == (1, 3)
        again = up.drain()
    assert again.sent == 0  # permanent rejections are not retried
    reasons = sorted(item.last_error or "" for item in store.refused())
    assert [r.split(":")[0] for r in reasons] == ["409 replay", "422 bad_signature",
                                                  "422 bad_signature"]
    rejected_lines = [line for line in log.lines(logging.ERROR) if "permanently rejected" in line]
    assert len(rejected_lines) == 3  # logged once each, clearly
    assert len(central.summaries()) == 1

    # the same envelope again is a duplicate: acked, not stored twice
    store.enqueue(json.dumps(signing.seal(good, key).to_dict()).encode(), "summary",
                  good.idempotency_key + "-resend", seq=store.next_sequence())
    with Uplink(settings(central.url), store) as up:
        assert up.drain().duplicates == 1
    assert len(central.summaries()) == 1


def test_unknown_agent_is_a_permanent_rejection(central: CentralServer, store: Store,
                                                tmp_path: Path) -> None:
    stranger = signing.load_or_create(tmp_path / "stranger")
    queue_summary(store, make_summary("agt_never_enrolled", store.next_sequence()), stranger)
    with Uplink(settings(central.url), store) as up:
        assert up.drain().rejected == 1
    assert store.refused()[0].last_error.startswith("401 unknown_agent")  # type: ignore[union-attr]
    assert store.outbox_depth() == 0


class _RetryAfterHandler(http.server.BaseHTTPRequestHandler):
    calls: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 (stdlib naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(self.path)
        if len(type(self).calls) == 1:
            self.send_response(429)
            self.send_header("Retry-After", "7")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        out = json.dumps({"results": [{"status": "accepted", "code": 201}
                                      for _ in body["envelopes"]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


def test_retry_after_is_honoured(store: Store, tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RetryAfterHandler)
    _RetryAfterHandler.calls = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        key = signing.load_or_create(tmp_path / "keys")
        queue_summary(store, make_summary("agt_x", store.next_sequence()), key)
        slept: list[float] = []
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with Uplink(settings(url, max_attempts=3), store, sleep=slept.append) as up:
            assert up.drain().accepted == 1
        assert slept == [7.0]
        assert len(_RetryAfterHandler.calls) == 2
    finally:
        server.shutdown()
        server.server_close()


class _ForwardProxy(http.server.BaseHTTPRequestHandler):
    """An HTTP forward proxy for http:// URLs (absolute-form request targets)."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        type(self).seen.append(f"{self.command} {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        req = urllib.request.Request(self.path, data=body, method=self.command, headers={
            k: v for k, v in self.headers.items()
            if k.lower() not in {"host", "proxy-connection", "connection", "content-length"}})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=10) as resp:
                status, data, ctype = resp.status, resp.read(), resp.headers.get("Content-Type")
        except urllib.error.HTTPError as exc:
            status, data, ctype = exc.code, exc.read(), exc.headers.get("Content-Type")
        self.send_response(status)
        self.send_header("Content-Type", ctype or "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def proxy() -> Iterator[str]:
    _ForwardProxy.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ForwardProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_configured_proxy_is_used(central: CentralServer, store: Store, tmp_path: Path,
                                  proxy: str) -> None:
    key, ident = enrolled_agent(central, tmp_path / "keys")
    queue_summary(store, make_summary(ident.agent_id, store.next_sequence()), key)
    with Uplink(settings(central.url, proxy=proxy), store) as up:
        assert up.drain().accepted == 1
    assert _ForwardProxy.seen == [f"POST {central.url}/v1/summaries"]
    assert len(central.summaries()) == 1


def test_proxy_from_environment_is_used(central: CentralServer, store: Store, tmp_path: Path,
                                        proxy: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy)
    key, ident = enrolled_agent(central, tmp_path / "keys")
    queue_summary(store, make_summary(ident.agent_id, store.next_sequence()), key)
    with Uplink(settings(central.url, trust_env=True), store) as up:
        assert up.drain().accepted == 1
    assert _ForwardProxy.seen == [f"POST {central.url}/v1/summaries"]


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "asr-central-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_untrusted_certificate_is_refused_and_a_configured_ca_is_trusted(
        store: Store, tmp_path: Path) -> None:
    cert, tls_key = _self_signed(tmp_path)
    server = CentralServer(tmp_path / "central.db", ssl_certfile=cert, ssl_keyfile=tls_key).start()
    try:
        key, ident = enrolled_agent(server, tmp_path / "keys")
        queue_summary(store, make_summary(ident.agent_id, store.next_sequence()), key)
        with Uplink(settings(server.url), store) as up:
            with pytest.raises(TransientUplinkError, match="certificate not trusted"):
                up.drain()
        assert store.outbox_depth() == 1
        assert server.summaries() == []
        with Uplink(settings(server.url, ca_bundle=cert), store) as up:
            assert up.drain().accepted == 1
        assert len(server.summaries()) == 1
    finally:
        server.stop()


def test_whole_request_refusal_keeps_the_queue(central: CentralServer, store: Store,
                                               tmp_path: Path) -> None:
    key, ident = enrolled_agent(central, tmp_path / "keys")
    queue_summary(store, make_summary(ident.agent_id, store.next_sequence()), key)
    with Uplink(settings(central.url + "/wrong-prefix"), store) as up:
        with pytest.raises(PermanentUplinkError, match="404"):
            up.drain()
    assert store.outbox_depth() == 1


def test_outbox_bound_drops_old_summaries_but_never_cartridge_events(tmp_path: Path) -> None:
    now = [T0]
    with Store.in_dir(tmp_path / "d", clock=lambda: now[0]) as st:
        key = signing.load_or_create(tmp_path / "keys")
        old_plain = make_summary("agt_x", st.next_sequence(), period_start=T0)
        old_event = make_summary("agt_x", st.next_sequence(), period_start=T0 + dt.timedelta(hours=4),
                                 with_event=True)
        queue_summary(st, old_plain, key)
        queue_summary(st, old_event, key)
        now[0] = T0 + dt.timedelta(days=70)
        fresh = make_summary("agt_x", st.next_sequence(), period_start=now[0])
        queue_summary(st, fresh, key)
        assert bound_outbox(st, now[0], max_age_days=60) == 1
        left = st.pending(10)
        assert [i.idempotency_key for i in left] == [old_event.idempotency_key,
                                                     fresh.idempotency_key]
        assert left[0].kind == KIND_SUMMARY_WITH_EVENTS


def test_secrets_never_reach_logs(central: CentralServer, tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture) -> None:
    community = "s3cr3t-community-string"
    config = tmp_path / "config.yaml"
    config.write_text(textwrap.dedent(f"""
        site:
          id: site-1
        snmp:
          credentials:
            office: {{version: 2c, community: {community}}}
        store:
          data_dir: {tmp_path / 'data'}
        """))
    token = central.create_token("site-1")
    with caplog.at_level(logging.DEBUG):
        out = subprocess.run(
            [sys.executable, "-m", "asr_agent.cli", "enroll", "--central", central.url,
             "--token", token, "--config", str(config)],
            cwd=REPO, capture_output=True, text=True, timeout=60,
            env={**os.environ, "ASR_DATA_DIR": str(tmp_path / "data")})
        assert out.returncode == 0, out.stderr
        key_dir = tmp_path / "data" / "keys"
        key = signing.load(key_dir)
        from asr_agent.adapters.uplink import AgentIdentity

        ident = AgentIdentity.load(key_dir)
        assert ident is not None
        with Store.in_dir(tmp_path / "data") as st:
            queue_summary(st, make_summary(ident.agent_id, st.next_sequence()), key)
            with Uplink(settings(central.url), st) as up:
                up.drain()
            sent = central.summaries()[0]["payload"]
    pem = (key_dir / signing.KEY_FILE).read_bytes()
    raw_private = serialization.load_pem_private_key(pem, None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
        serialization.NoEncryption())
    logs = caplog.text + out.stdout + out.stderr
    for secret in (community, token, ADMIN_TOKEN, pem.decode().splitlines()[1],
                   base64.b64encode(raw_private).decode(), raw_private.hex()):
        assert secret not in logs
    assert community.encode() not in bytes(sent)
    assert ident.agent_id in out.stdout  # the logs did see something: the scan means something
