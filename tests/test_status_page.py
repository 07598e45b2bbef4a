"""The local status page over real HTTP on loopback: content, machine endpoints, and the
defences (Host check, CSRF, no CORS, no framing, loopback-only binding)."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from asr_agent.app.status.security import host_name, is_loopback_host
from asr_agent.app.status.server import BindRefused, check_binds
from tests.status_fixtures import StaticSource, running_status_server, sample_snapshot


@pytest.fixture
def served():
    source = StaticSource(sample_snapshot())
    with running_status_server(source) as server:
        yield source, server.urls[0].rstrip("/")


def test_overview_lists_devices_supplies_and_uplink(served) -> None:
    _, base = served
    page = httpx.get(base + "/").text
    assert "XRX-0001" in page and "AltaLink C8045" in page and "CNB1234" in page
    assert 'data-supply="10"' in page and "width: 20.0%" in page
    assert "outbox depth</th><td>3" in page
    assert "/etc/asr-agent/config.yaml" in page


def test_printer_strings_are_escaped(served) -> None:
    _, base = served
    page = httpx.get(base + "/").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_device_page_draws_level_chart(served) -> None:
    _, base = served
    page = httpx.get(base + "/devices/XRX-0001").text
    assert "<svg" in page and 'class="forecast"' in page
    assert httpx.get(base + "/devices/NOPE").status_code == 404


def test_status_json_has_devices_with_supplies(served) -> None:
    _, base = served
    body = httpx.get(base + "/api/status.json").json()
    assert [d["serial"] for d in body["devices"]] == ["XRX-0001", "CNB1234"]
    assert body["devices"][0]["supplies"][0]["days_to_empty"] == 12.5
    assert body["uplink"]["outbox_depth"] == 3 and body["jobs"][0]["id"] == "poll"


def test_metrics_parse_as_prometheus_text(served) -> None:
    _, base = served
    text = httpx.get(base + "/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    levels = {(s.labels["serial"], s.labels["supply"]): s.value
              for s in families["asr_supply_remaining_percent"].samples}
    assert levels[("XRX-0001", "1")] == 20.0
    assert families["asr_outbox_depth"].samples[0].value == 3
    assert "asr_poll_duration_seconds" in families


def test_healthz_is_503_when_unhealthy() -> None:
    with running_status_server(StaticSource(sample_snapshot(healthy=False))) as server:
        answer = httpx.get(server.urls[0] + "healthz")
    assert answer.status_code == 503
    assert answer.json()["problems"] == ["central unreachable for 2 days"]


def test_foreign_host_header_is_refused(served) -> None:
    _, base = served
    answer = httpx.get(base + "/api/status.json", headers={"Host": "evil.example"})
    assert answer.status_code == 421
    assert "XRX-0001" not in answer.text


def test_responses_deny_framing_and_send_no_cors(served) -> None:
    _, base = served
    answer = httpx.get(base + "/", headers={"Origin": "http://evil.example"})
    assert answer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert not [h for h in answer.headers if h.lower().startswith("access-control-")]


def test_action_without_csrf_token_is_refused(served) -> None:
    source, base = served
    answer = httpx.post(base + "/actions/poll-now", data={})
    assert answer.status_code == 403
    assert source.poll_requests == []


def test_action_with_token_from_page_runs(served) -> None:
    source, base = served
    with httpx.Client(base_url=base) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").text).group(1)
        answer = client.post("/actions/poll-now", data={"csrf_token": token})
    assert answer.status_code == 303
    assert source.poll_requests == [1]


def test_cross_origin_action_is_refused_even_with_token(served) -> None:
    source, base = served
    token = re.search(r'name="csrf_token" value="([^"]+)"', httpx.get(base + "/").text).group(1)
    answer = httpx.post(base + "/actions/poll-now", data={"csrf_token": token},
                        headers={"Origin": "http://evil.example"})
    assert answer.status_code == 403 and source.poll_requests == []


def test_get_on_action_is_not_allowed(served) -> None:
    _, base = served
    assert httpx.get(base + "/actions/poll-now").status_code == 405


def test_serves_ipv6_loopback_too() -> None:
    with running_status_server(StaticSource(sample_snapshot()), binds=("127.0.0.1", "::1")) as server:
        urls = server.urls
        assert any("[::1]" in u for u in urls), urls
        v6 = next(u for u in urls if "[::1]" in u)
        assert httpx.get(v6 + "api/status.json").status_code == 200


@pytest.mark.parametrize("header, expected", [
    ("localhost:8765", True), ("127.0.0.1:8765", True), ("[::1]:8765", True), ("127.1.2.3", True),
    ("evil.example", False), ("localhost.evil.example", False), ("192.0.2.1:8765", False), ("", False),
])
def test_loopback_host_rule(header: str, expected: bool) -> None:
    assert is_loopback_host(header) is expected


def test_host_name_strips_port_and_brackets() -> None:
    assert host_name("[::1]:80") == "::1" and host_name("LOCALHOST:1") == "localhost"


def test_non_loopback_bind_needs_remote_tls_and_password() -> None:
    check_binds(["127.0.0.1", "::1"], allow_remote=False, tls=False, password=False)
    with pytest.raises(BindRefused, match="0.0.0.0"):
        check_binds(["0.0.0.0"], allow_remote=True, tls=False, password=True)
    check_binds(["0.0.0.0"], allow_remote=True, tls=True, password=True)
