"""The alert webhook: central started with `asr-central serve`'s own flags posts its new
alerts, signed with HMAC-SHA256, to a stdlib HTTP receiver on a loopback port — once each,
retried while the receiver is down, and never holding up ingest or the policy."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from support_central import ADMIN_TOKEN, CentralServer, enrolled_agent, make_summary

from asr_core.errors import ConfigError
from asr_agent.adapters.keys import AgentKey, seal
from asr_agent.adapters.uplink import AgentIdentity
from asr_central.service.app import create_app
from asr_central.cli import build_parser
from asr_central.commands.serve import build_app
from asr_central.service.notify import (
    DELIVERY_HEADER, SECRET_ENV, SIGNATURE_HEADER, WebhookNotifier,
    WebhookSettings, attach, read_secret,
)
from asr_central.domain.policy import PolicySettings

SECRET = "webhook-secret-0123456789abcdef"
REGISTRY = """\
contacts:
  - {id: claire, name: Claire Martin, email: facilities@site.example, shipping_address: Lyon}
sites:
  - {id: site-1, name: Site one, contact: claire}
"""


# --- a webhook receiver and a central serving a given app ---------------------------------------

class Receiver:
    """A stdlib HTTP server on 127.0.0.1 that records each POST and answers from `statuses`
    (then 200), the first one after `first_delay` seconds."""

    def __init__(self, port: int = 0, statuses: tuple[int, ...] = (), first_delay: float = 0.0
                 ) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses = list(statuses)
        self.delays = [first_delay]
        self.arrived = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrived.set()
                time.sleep(outer.delays.pop() if outer.delays else 0.0)
                status = outer.statuses.pop(0) if outer.statuses else 200
                outer.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/asr"

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class AppServer(CentralServer):
    """CentralServer's helpers around an app built by the caller."""

    def __init__(self, app: Any, db: Path | str) -> None:
        super().__init__(db)
        self.app = app

    def start(self) -> AppServer:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="none", lifespan="on", server_header=False)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "central did not start"
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self


def wait_for(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)
    return value


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def report(server: CentralServer, key: AgentKey, ident: AgentIdentity, seq: int,
           serial: str = "XRX-0001", with_event: bool = False) -> None:
    """A summary that raises alerts: its site is in no registry (and a premature, unshipped
    replacement when `with_event`)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=4, seconds=seq)
    summary = make_summary(ident.agent_id, seq, serial=serial, period_start=start,
                           with_event=with_event)
    r = httpx.post(f"{server.url}/v1/summaries", trust_env=False, timeout=10,
                   json={"envelopes": [seal(summary, key).to_dict()]})
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "accepted", r.text


def open_alerts(server: CentralServer) -> dict[str, Any]:
    return {r["alert_key"]: r["notified_at"] for r in server.query(
        "SELECT alert_key, notified_at FROM central_alerts WHERE resolved_at IS NULL")}


def all_notified(server: CentralServer) -> bool:
    alerts = open_alerts(server)
    return bool(alerts) and all(alerts.values())


def valid_signature(headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers[SIGNATURE_HEADER.lower()], expected)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The served notifier reads proxies from the environment: keep loopback direct."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                 "all_proxy"):
        monkeypatch.delenv(name, raising=False)


def fast_notifier(app: Any, url: str, **kw: Any) -> WebhookNotifier:
    settings = WebhookSettings(url=url, secret=SECRET.encode(), timeout_s=5.0,
                               backoff_initial_s=0.01, backoff_max_s=0.05, trust_env=False,
                               **kw)
    notifier = WebhookNotifier(settings, app.state.db)
    attach(app, notifier)
    return notifier


@pytest.fixture
def plain_central(central_db_url: str
                  ) -> Iterator[Callable[..., tuple[AppServer, WebhookNotifier]]]:
    started: list[AppServer] = []

    def start(url: str, **kw: Any) -> tuple[AppServer, WebhookNotifier]:
        db = central_db_url
        app = create_app(db, admin_token=ADMIN_TOKEN)
        notifier = fast_notifier(app, url, **kw)
        started.append(server := AppServer(app, db).start())
        return server, notifier

    yield start
    for server in started:
        server.stop()


# --- the tests ----------------------------------------------------------------------------------

def test_serve_flags_deliver_each_new_alert_once_with_a_valid_signature(
        central_db_url: str, tmp_path: Path, receiver: Receiver, no_proxy: None) -> None:
    (tmp_path / "admin").write_text(ADMIN_TOKEN)
    (tmp_path / "secret").write_text(SECRET + "\n")
    db = central_db_url
    args = build_parser().parse_args([
        "serve", "--db", db, "--admin-token-file", str(tmp_path / "admin"),
        "--alert-webhook", receiver.url, "--alert-webhook-secret-file", str(tmp_path / "secret"),
        "--lead-days", "28", "--supply-days", "45", "--pull-forward-days", "3"])
    app = build_app(args)
    assert app.state.policy_settings == PolicySettings(lead_days=28, supply_days=45,
                                                       pull_forward_days=3)
    server = AppServer(app, db).start()
    try:
        key, ident = enrolled_agent(server, tmp_path / "keys")
        report(server, key, ident, 1, with_event=True)
        wait_for(lambda: receiver.requests)
        headers, body = receiver.requests[0]
        assert valid_signature(headers, body)
        assert headers["content-type"] == "application/json"
        doc = json.loads(body)
        assert doc["delivery_id"] == headers[DELIVERY_HEADER.lower()]
        assert doc["source"] == "asr-central"
        kinds = {a["kind"] for a in doc["alerts"]}
        assert {"registry_missing", "premature_replacement"} <= kinds
        assert all(a["device_serial"] == "XRX-0001" for a in doc["alerts"])
        # every open alert went out, and is marked so
        wait_for(lambda: all_notified(server))
        assert set(open_alerts(server)) == {a["alert_key"] for a in doc["alerts"]}

        # a later policy run with nothing new sends nothing again
        assert server.admin("POST", "/v1/admin/run-policy", json={}).status_code == 200
        assert app.state.alert_notifier.flush() == 0
        assert len(receiver.requests) == 1

        # a new alert (another unregistered printer) goes out alone
        report(server, key, ident, 2, serial="XRX-0002")
        # (an after-ingest run comes at most every --policy-interval, 30 s by default:
        # run the policy now instead)
        assert server.admin("POST", "/v1/admin/run-policy", json={}).status_code == 200
        wait_for(lambda: len(receiver.requests) == 2)
        headers, body = receiver.requests[1]
        assert valid_signature(headers, body)
        second = json.loads(body)["alerts"]
        assert {a["device_serial"] for a in second} == {"XRX-0002"}
        assert not {a["alert_key"] for a in second} & {a["alert_key"] for a in doc["alerts"]}
    finally:
        server.stop()
    # the app's shutdown stopped the notifier's worker
    assert not app.state.alert_notifier.running


def test_receiver_down_keeps_alerts_pending_and_they_go_out_later(
        tmp_path: Path, plain_central: Callable[..., tuple[AppServer, WebhookNotifier]]) -> None:
    port = free_tcp_port()  # nothing listens here yet
    url = f"http://127.0.0.1:{port}/hooks/asr"
    server, notifier = plain_central(url, attempts=2, retry_interval_s=0.3)
    key, ident = enrolled_agent(server, tmp_path / "keys")
    report(server, key, ident, 1, with_event=True)
    wait_for(lambda: notifier.last_error)
    assert "cannot reach" in str(notifier.last_error)
    pending = open_alerts(server)
    assert pending and all(v is None for v in pending.values())

    receiver = Receiver(port=port)
    try:
        wait_for(lambda: receiver.requests)  # the worker's own retry, no new ingest needed
        wait_for(lambda: all_notified(server))
        assert len(receiver.requests) == 1
        headers, body = receiver.requests[0]
        assert valid_signature(headers, body)
        assert {a["alert_key"] for a in json.loads(body)["alerts"]} == set(pending)
        assert notifier.last_error is None
    finally:
        receiver.close()


def test_a_5xx_is_retried_within_one_delivery_with_the_same_body(
        tmp_path: Path, plain_central: Callable[..., tuple[AppServer, WebhookNotifier]]) -> None:
    receiver = Receiver(statuses=(503, 502))
    try:
        server, _ = plain_central(receiver.url, attempts=3)
        key, ident = enrolled_agent(server, tmp_path / "keys")
        report(server, key, ident, 1)
        wait_for(lambda: all_notified(server))
        assert len(receiver.requests) == 3
        bodies = {body for _, body in receiver.requests}
        assert len(bodies) == 1  # one delivery id, retried as is
    finally:
        receiver.close()


def test_a_refusal_is_not_retried_at_once_and_leaves_the_alerts_pending(
        tmp_path: Path, plain_central: Callable[..., tuple[AppServer, WebhookNotifier]]) -> None:
    receiver = Receiver(statuses=(401,))
    try:
        server, notifier = plain_central(receiver.url, attempts=3, retry_interval_s=60)
        key, ident = enrolled_agent(server, tmp_path / "keys")
        report(server, key, ident, 1)
        wait_for(lambda: notifier.last_error)
        assert "refused the alerts (401" in str(notifier.last_error)
        assert len(receiver.requests) == 1
        assert all(v is None for v in open_alerts(server).values())
        # an explicit flush (the receiver fixed) sends them
        assert notifier.flush() == len(open_alerts(server)) >= 1
        assert all_notified(server)
    finally:
        receiver.close()


def test_a_slow_webhook_holds_up_neither_ingest_nor_the_policy(
        tmp_path: Path, plain_central: Callable[..., tuple[AppServer, WebhookNotifier]]) -> None:
    receiver = Receiver(first_delay=3.0)
    try:
        server, _ = plain_central(receiver.url)
        key, ident = enrolled_agent(server, tmp_path / "keys")
        report(server, key, ident, 1)
        assert receiver.arrived.wait(10)  # the webhook is now hanging on its answer
        began = time.monotonic()
        report(server, key, ident, 2, serial="XRX-0002")
        r = server.admin("POST", "/v1/admin/run-policy", json={})
        assert r.status_code == 200 and r.json()["new_alerts"], r.text
        assert time.monotonic() - began < 2.0
        wait_for(lambda: len(receiver.requests) == 2)
        # The notifier marks the alerts a few milliseconds after the receiver saw them.
        wait_for(lambda: all_notified(server))
    finally:
        receiver.close()


def test_webhook_configuration_errors_name_the_setting(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match="needs a secret"):
        read_secret(None)
    (tmp_path / "short").write_text("abc")
    with pytest.raises(ConfigError, match=r"short:.*shorter than 16"):
        read_secret(tmp_path / "short")
    with pytest.raises(ConfigError, match="--alert-webhook-secret-file.*cannot read"):
        read_secret(tmp_path / "missing")
    monkeypatch.setenv(SECRET_ENV, SECRET)
    assert read_secret(None) == SECRET.encode()
    with pytest.raises(ConfigError, match="not an http"):
        WebhookSettings(url="ftp://127.0.0.1/x", secret=b"x" * 16)
    with pytest.raises(ConfigError, match="user or password"):
        WebhookSettings(url="http://u:p@127.0.0.1/x", secret=b"x" * 16)
    assert SECRET not in repr(WebhookSettings(url="http://127.0.0.1/x", secret=SECRET.encode()))
    args = build_parser().parse_args(["serve", "--db", f"sqlite:///{tmp_path / 'c.db'}",
                                      "--alert-webhook-secret-file", str(tmp_path / "short")])
    with pytest.raises(ConfigError, match="without --alert-webhook"):
        build_app(args)


def test_policy_flags_refuse_negative_days_and_inverted_silence_limits(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--lead-days", "-1"])
    args = build_parser().parse_args(["serve", "--db", f"sqlite:///{tmp_path / 'c.db'}",
                                      "--silent-warning-days", "12"])
    with pytest.raises(ConfigError, match="silent_error_days=10.0 is below"):
        build_app(args)


def test_served_policy_settings_drive_the_runs_and_an_admin_run_may_override_them(
        central_db_url: str, tmp_path: Path) -> None:
    (tmp_path / "admin").write_text(ADMIN_TOKEN)
    args = build_parser().parse_args([
        "serve", "--db", central_db_url, "--admin-token-file",
        str(tmp_path / "admin"), "--lead-days", "0", "--pull-forward-days", "0"])
    server = AppServer(build_app(args), central_db_url).start()
    try:
        r = httpx.post(f"{server.url}/v1/registry/import", trust_env=False, content=REGISTRY,
                       headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                "Content-Type": "application/yaml"})
        assert r.status_code == 200, r.text
        key, ident = enrolled_agent(server, tmp_path / "keys")
        report(server, key, ident, 1)  # 21 to 30 days from empty: due only with a lead time
        r = server.admin("POST", "/v1/admin/run-policy", json={})
        assert r.status_code == 200 and r.json()["lines"] == 0, r.text
        assert not server.query("SELECT * FROM order_lines")
        r = server.admin("POST", "/v1/admin/run-policy", json={"lead_days": 30})
        assert r.status_code == 200 and r.json()["lines"] == 1, r.text
    finally:
        server.stop()
