"""Hostile input through a real central on loopback: every out-of-range field, lone surrogate
and control character gets its own named 4xx verdict while the rest of its batch is stored,
no input gets a 500, and Counter64 page counters survive to 2^64-1 exactly."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from asr_agent.adapters import keys as signing
from asr_core import wire
from support_central import ADMIN_TOKEN, CentralServer, make_summary

INT32_MAX, INT64_MAX, COUNTER64_MAX = 2 ** 31 - 1, 2 ** 63 - 1, 2 ** 64 - 1

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

Path_ = tuple[str | int, ...]

_numbers = itertools.count(1)  # sequences and serials unique across examples


@pytest.fixture(scope="module")
def server(module_central_db_url: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[CentralServer, signing.AgentKey, str]]:
    tmp = tmp_path_factory.mktemp("hostile")
    central = CentralServer(module_central_db_url).start()
    key = signing.load_or_create(tmp / "key")
    agent_id = central.enroll_key(key)
    yield central, key, agent_id
    central.stop()


def _signed(key: signing.AgentKey, agent_id: str, n: int, at: Path_ | None = None,
            raw: bytes | None = None, level: int = 60, pages: int = 1000) -> dict[str, Any]:
    """A realistic summary (serial SER-n), with the JSON text `raw` put at path `at` and
    the page counter `pages`, signed as the agent would sign its payload."""
    data = make_summary(agent_id, n, serial=f"SER-{n}", level=level).to_dict()
    data["supplies"][0]["remaining_percent"] = 50.0  # make_summary derives it from the level
    data["page_counters"]["end"] = "@pages@"
    if at is not None:
        target = data
        for step in at[:-1]:
            target = target[step]
        target[at[-1]] = "@value@"
    payload = wire.canonical_bytes(data).replace(b'"@pages@"', str(pages).encode())
    if raw is not None:
        payload = payload.replace(b'"@value@"', raw)
    return signing.sign_payload(key, agent_id, payload).to_dict()


def _json_text(value: str) -> bytes:
    return json.dumps(value).encode()  # ASCII escapes: a lone surrogate as \udXXX


_BAD_CHARS = st.one_of(st.just("\x00"),  # NUL: PostgreSQL's text type refuses it
                       st.characters(min_codepoint=0, max_codepoint=0x1F),
                       st.characters(min_codepoint=0x7F, max_codepoint=0x9F),
                       st.sampled_from("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"),
                       st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF,
                                     categories=["Cs"]))


@st.composite
def _bad_text(draw: st.DrawFn) -> bytes:
    head = draw(st.text(max_size=10, alphabet=st.characters(categories=["L", "N"])))
    return _json_text(head + draw(_BAD_CHARS) + "x")


_HUGE = st.integers(min_value=4400, max_value=5000).map(lambda n: b"9" * n)


def _ints(low: int, high: int) -> st.SearchStrategy[bytes]:
    """Integers outside low..high over the whole 64-bit span and past it, as JSON text."""
    below = st.integers(min_value=-(2 ** 64), max_value=low - 1)
    above = st.integers(min_value=high + 1, max_value=2 ** 70)
    edges = st.sampled_from([low - 1, high + 1, 2 ** 63, 2 ** 64 - 1, -(2 ** 63) - 1])
    picked = st.one_of(below, above, edges).filter(lambda v: not low <= v <= high)
    return st.one_of(picked.map(lambda v: str(v).encode()), _HUGE)


_HOSTILE: list[tuple[Path_, st.SearchStrategy[bytes]]] = [
    (("supplies", 0, "level"), _ints(-3, INT32_MAX)),
    (("supplies", 0, "index"), _ints(0, INT32_MAX)),
    (("page_counters", "start"), _ints(0, COUNTER64_MAX)),
    (("sequence",), _ints(1, INT64_MAX)),
    (("supplies", 0, "remaining_percent"),
     st.sampled_from([b"-1e308", b"-1", b"100.5", b"1e300"])),
    (("supplies", 0, "days_to_empty"), st.sampled_from([b"-0.5", b"-1e308"])),
    (("device", "serial"), _bad_text()),
    (("contact",), _bad_text()),
    (("supplies", 0, "part_number"), _bad_text()),
    (("device", "serial"), st.sampled_from([b'"   "', _json_text("S" * 256)])),
]


@st.composite
def _item(draw: st.DrawFn) -> tuple[str, Path_ | None, bytes | None, int, int]:
    level = draw(st.integers(min_value=-3, max_value=INT32_MAX))
    pages = draw(st.integers(min_value=0, max_value=COUNTER64_MAX))
    if draw(st.booleans()):
        return "valid", None, None, level, pages
    at, values = draw(st.sampled_from(_HOSTILE))
    return "hostile", at, draw(values), level, pages


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(_item(), min_size=1, max_size=6))
def test_each_hostile_summary_gets_its_own_named_4xx_and_the_rest_are_stored(
        server: tuple[CentralServer, signing.AgentKey, str],
        items: list[tuple[str, Path_ | None, bytes | None, int, int]]) -> None:
    central, key, agent_id = server
    numbers = [next(_numbers) for _ in items]
    envelopes = [_signed(key, agent_id, n, at, raw, level, pages)
                 for n, (_, at, raw, level, pages) in zip(numbers, items, strict=True)]
    r = httpx.post(f"{central.url}/v1/summaries", json={"envelopes": envelopes},
                   trust_env=False, timeout=30)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    stored = {row["device_serial"] for row in central.query(
        "SELECT device_serial FROM summaries WHERE device_serial IN (%s)"
        % ",".join("?" * len(numbers)), tuple(f"SER-{n}" for n in numbers))}
    for n, (kind, at, _, _, _), verdict in zip(numbers, items, results, strict=True):
        if kind == "valid":
            assert verdict["code"] == 201, verdict
            assert f"SER-{n}" in stored
        else:
            assert at is not None
            assert verdict["code"] == 400 and verdict["status"] == "rejected", verdict
            assert str(at[-1]) in verdict["reason"] or "not UTF-8 JSON" in verdict["reason"]
            assert f"SER-{n}" not in stored


@pytest.mark.parametrize("pages", [0, 2 ** 53 + 1, INT64_MAX, 2 ** 63, COUNTER64_MAX])
def test_a_page_counter_up_to_2_64_minus_1_is_stored_and_read_back_exactly(
        server: tuple[CentralServer, signing.AgentKey, str], pages: int) -> None:
    central, key, agent_id = server
    n = next(_numbers)
    r = httpx.post(f"{central.url}/v1/summaries",
                   json={"envelopes": [_signed(key, agent_id, n, pages=pages)]}, trust_env=False)
    assert [v["code"] for v in r.json()["results"]] == [201]
    device = central.admin("GET", f"/v1/devices/SER-{n}")
    assert device.status_code == 200
    assert json.loads(device.text)["page_count"] == pages


@pytest.mark.parametrize("body", [
    b'{"envelopes": [' + b"9" * 5000 + b"]}",
    b'{"envelopes": ' + b"1" * 5000 + b"}",
    b'{"envelopes": [{"agent_id": "\\ud800", "key_id": "k", "alg": "ed25519", '
    b'"payload": "", "signature": ""}]}',
    b'{"envelopes": [{"agent_id": "a\\u0000b", "key_id": "\\udfff", "alg": "ed25519", '
    b'"payload": "", "signature": ""}]}',
], ids=["digits-in-list", "digits-as-list", "surrogate-agent", "nul-agent"])
def test_an_unauthenticated_hostile_body_gets_a_4xx_never_a_500(
        server: tuple[CentralServer, signing.AgentKey, str], body: bytes) -> None:
    central, _, _ = server
    r = httpx.post(f"{central.url}/v1/summaries", content=body,
                   headers={"Content-Type": "application/json"}, trust_env=False)
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert all(400 <= v["code"] < 500 for v in r.json()["results"])
    assert ADMIN_TOKEN not in r.text


def test_duplicate_supply_indexes_and_too_many_supplies_are_refused_by_name(
        server: tuple[CentralServer, signing.AgentKey, str]) -> None:
    central, key, agent_id = server
    one = make_summary(agent_id, next(_numbers)).to_dict()
    one["supplies"] = one["supplies"] * 2
    many = make_summary(agent_id, next(_numbers)).to_dict()
    many["supplies"] = [dict(many["supplies"][0], index=i) for i in range(65)]
    late = make_summary(agent_id, next(_numbers)).to_dict()
    late["period_end"] = "9999-01-01T00:00:00Z"
    envs = [signing.sign_payload(key, agent_id, wire.canonical_bytes(d)).to_dict()
            for d in (one, many, late)]
    r = httpx.post(f"{central.url}/v1/summaries", json={"envelopes": envs}, trust_env=False)
    reasons = [(v["code"], v["reason"]) for v in r.json()["results"]]
    assert reasons[0][0] == 400 and "supplies[1].index" in reasons[0][1]
    assert reasons[1][0] == 400 and "summary.supplies: 65 items" in reasons[1][1]
    assert reasons[2][0] == 400 and "period_end: year 9999" in reasons[2][1]


_ENDPOINTS = [  # (method, path, body template: each %s gets a hostile JSON value)
    ("POST", "/v1/enroll", '{"token":%s,"public_key":%s,"site_id":%s,"agent_name":%s}'),
    ("POST", "/v1/admin/enrollment-tokens", '{"site_id":%s,"ttl_hours":%s,"note":%s}'),
    ("POST", "/v1/keys", '{"agent_id":%s,"key_id":%s,"payload":%s,"signature":%s}'),
    ("POST", "/v1/agent/order-status", '{"agent_id":%s,"key_id":%s,"payload":%s,'
                                       '"signature":%s}'),
    ("PUT", "/v1/registry/contacts/c", '{"name":%s,"email":%s,"shipping_address":%s}'),
    ("PUT", "/v1/registry/sites/s", '{"name":%s,"contact":%s}'),
    ("PUT", "/v1/registry/devices/d", '{"site":%s,"contact":%s}'),
    ("PUT", "/v1/registry/catalog/p", '{"kind":"consumable","description":%s,"color":%s,'
                                      '"capacity_g":%s}'),
    ("POST", "/v1/orders/1/ship", '{"serials":{"1":[%s]},"tracking":%s}'),
    ("POST", "/v1/admin/run-policy", '{"today":%s,"lead_days":%s}'),
    ("POST", "/v1/admin/agents/a/revoke", '{"reason":%s}'),
    ("PUT", "/v1/registry/contacts/c", '{"name":"n","email":"e@x","phone":%s,"language":%s}'),
    ("PUT", "/v1/registry/devices/d", '{"site":"s","model":%s,"note":%s,"location":%s}'),
    ("POST", "/v1/admin/devices/d/move", '{"site_id":%s}'),
]

_ANY_VALUE = st.one_of(
    _bad_text(), _HUGE, st.integers(min_value=-(2 ** 70), max_value=2 ** 70).map(
        lambda v: str(v).encode()),
    st.sampled_from([b"1e999", b"-1e999", b"null", b"true", b"[]", b"{}", b'""', b"0.1",
                     b'"' + b"x" * 70_000 + b'"']),
    st.text(max_size=30).map(_json_text),
    st.tuples(st.text(max_size=10), st.text(max_size=10)).map(  # NUL among any text
        lambda parts: _json_text("\x00".join(parts))))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=st.sampled_from(_ENDPOINTS), values=st.lists(_ANY_VALUE, min_size=4,
                                                              max_size=4))
def test_no_json_endpoint_answers_any_body_with_a_500(
        server: tuple[CentralServer, signing.AgentKey, str],
        endpoint: tuple[str, str, str], values: list[bytes]) -> None:
    central, _, _ = server
    method, path, template = endpoint
    body = template.encode() % tuple(values[:template.count("%s")])
    r = httpx.request(method, f"{central.url}{path}", content=body, trust_env=False,
                      timeout=30, headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                                           "Content-Type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text[:200])


def test_docs_list_every_range_at_the_wire() -> None:
    from asr_core import wire_ranges as ranges

    doc = (Path(__file__).parent.parent / "docs" / "security.md").read_text(encoding="utf-8")
    for name, table in [("summary", ranges.SUMMARY), ("summary.device", ranges.DEVICE),
                        ("summary.supplies[]", ranges.SUPPLY),
                        ("summary.cartridge_events[]", ranges.EVENT),
                        ("summary.page_counters", ranges.COUNTERS),
                        ("summary.alerts[]", ranges.ALERT), ("envelope", ranges.ENVELOPE)]:
        for key, spec in table.items():
            row = next((line for line in doc.splitlines()
                        if line.startswith(f"| `{name}.{key}` |")), None)
            assert row is not None, f"{name}.{key} missing from docs/security.md"
            bound = (spec.max_len if isinstance(spec, ranges.Text) else
                     spec.most if isinstance(spec, ranges.Count) else spec.low)
            assert str(bound) in row, row
