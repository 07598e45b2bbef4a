"""POST /v1/summaries as served (a plain route, body read once): the answers for bodies that
are not a batch, the OpenAPI entry, and the decoder's checks on what a signature covers."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from asr_agent.adapters import keys as signing
from asr_core import wire
from support_central import T0, CentralServer, central, make_summary  # noqa: F401 - fixture

JSON = {"Content-Type": "application/json"}


def _post(server: CentralServer, body: bytes, headers: dict[str, str] | None = None
          ) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/summaries", content=body, trust_env=False,
                      headers=JSON if headers is None else headers)


@pytest.mark.parametrize(("body", "headers", "kind", "loc"), [
    (b'{"envelopes": []}', {}, "model_attributes_type", ["body"]),
    (b'{"envelopes": []}', {"Content-Type": "text/plain"}, "model_attributes_type", ["body"]),
    (b'{"envelopes": [', None, "json_invalid", ["body", 15]),
    (b"", None, "missing", ["body"]),
    (b"[]", None, "model_attributes_type", ["body"]),
    (b"{}", None, "missing", ["body", "envelopes"]),
    (b'{"envelopes": null}', None, "list_type", ["body", "envelopes"]),
    (b'{"envelopes": [{}, 1]}', None, "dict_type", ["body", "envelopes", 1]),
    (json.dumps({"envelopes": [{}] * 501}).encode(), None, "too_long", ["body", "envelopes"]),
])
def test_a_body_that_is_not_a_batch_is_answered_422_naming_where(
        central: CentralServer, body: bytes, headers: dict[str, str] | None, kind: str,
        loc: list[object]) -> None:
    r = _post(central, body, headers)
    assert r.status_code == 422, r.text
    [detail] = r.json()["detail"]
    assert (detail["type"], detail["loc"]) == (kind, loc)


def test_a_body_that_is_not_utf8_is_answered_400(central: CentralServer) -> None:
    r = _post(central, b'{"envelopes": ["\xff"]}')
    assert r.status_code == 400 and "parsing the body" in r.json()["detail"]


def test_a_json_media_type_with_parameters_or_a_suffix_is_a_batch(central: CentralServer) -> None:
    for media in ("application/json; charset=utf-8", "application/vnd.asr+json"):
        r = _post(central, b'{"envelopes": []}', {"Content-Type": media})
        assert (r.status_code, r.json()) == (200, {"results": []})


def test_openapi_documents_the_batch_body_and_both_answers(central: CentralServer) -> None:
    op = httpx.get(f"{central.url}/openapi.json", trust_env=False).json()[
        "paths"]["/v1/summaries"]["post"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["envelopes"] and body["properties"]["envelopes"]["maxItems"] == 500
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/BatchResponse")
    assert "422" in op["responses"]


def test_a_signed_summary_with_a_huge_or_non_finite_number_is_refused_400(
        central: CentralServer, tmp_path) -> None:
    key = signing.load_or_create(tmp_path / "key")
    agent_id = central.enroll_key(key)
    results = []
    for seq, (field, text) in enumerate([("daily_grams", "1e999"), ("daily_grams", "NaN"),
                                         ("level", "60.0")], start=1):
        data = make_summary(agent_id, seq, period_start=T0 + timedelta(hours=4 * seq)).to_dict()
        # Canonical JSON has no such numbers: put them in by hand, then sign.
        data["supplies"][0][field] = "@value@"
        payload = wire.canonical_bytes(data).replace(b'"@value@"', text.encode())
        results.append(signing.sign_payload(key, agent_id, payload).to_dict())
    r = httpx.post(f"{central.url}/v1/summaries", json={"envelopes": results}, trust_env=False)
    assert r.status_code == 200, r.text
    verdicts = [(x["code"], x["reason"]) for x in r.json()["results"]]
    assert [code for code, _ in verdicts] == [400, 400, 400]
    assert "daily_grams" in verdicts[0][1] and "daily_grams" in verdicts[1][1]
    assert "level" in verdicts[2][1] and "integer" in verdicts[2][1]
    assert central.summaries(agent_id) == []
