"""POST /v1/summaries served ahead of FastAPI's routing: the byte limit on a body, the same
verdicts when the request is routed instead (an app mounted under a prefix), numbers JSON
parsers disagree on, the after-ingest policy run's interval and end, the group commit
waiting for another writer, and every supply of a summary stored by one statement."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from asr_agent.adapters import keys as signing
from asr_core import wire
from asr_central.service.api import ingest
from asr_central.cli import build_parser
from asr_central.commands.serve import build_app
from asr_central.storage import open_database
from asr_central.service.replenish import AFTER_INGEST_INTERVAL_S
from support_central import T0, CentralServer, central, make_summary  # noqa: F401

JSON = {"Content-Type": "application/json"}


def batch(key: signing.AgentKey, agent_id: str, *sequences: int) -> bytes:
    envelopes = [signing.seal(make_summary(agent_id, seq, serial=f"XRX-{seq:04d}"),
                              key).to_dict() for seq in sequences]
    return json.dumps({"envelopes": envelopes}).encode()


def test_a_body_over_the_byte_limit_is_refused_413_and_nothing_is_stored(
        central: CentralServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = signing.load_or_create(tmp_path / "key")
    agent_id = central.enroll_key(key)
    body = batch(key, agent_id, 1, 2, 3)
    monkeypatch.setattr(ingest, "MAX_BODY", len(body) - 1)
    url = f"{central.url}/v1/summaries"
    declared = httpx.post(url, content=body, headers=JSON, trust_env=False)
    assert declared.status_code == 413 and "Content Too Large" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: the bytes read are counted
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]
    streamed = httpx.post(url, content=chunks(), headers=JSON, trust_env=False)
    assert streamed.status_code == 413
    assert central.summaries(agent_id) == []

    monkeypatch.setattr(ingest, "MAX_BODY", len(body))
    r = httpx.post(url, content=body, headers=JSON, trust_env=False)
    assert [x["code"] for x in r.json()["results"]] == [201, 201, 201]


def test_a_key_revoked_after_use_is_refused_at_once(central: CentralServer,
                                                   tmp_path: Path) -> None:
    """The public key is cached after its first use; revocation and retirement are still
    checked in the transaction that would store the summary, whoever wrote them."""
    url = f"{central.url}/v1/summaries"

    def post(key: signing.AgentKey, agent_id: str, seq: int) -> dict[str, object]:
        r = httpx.post(url, content=batch(key, agent_id, seq), headers=JSON, trust_env=False)
        return dict(r.json()["results"][0])

    keys = [signing.load_or_create(tmp_path / f"key{n}") for n in range(3)]
    agents = [central.enroll_key(k) for k in keys]
    assert [post(k, a, 1)["code"] for k, a in zip(keys, agents)] == [201, 201, 201]
    # Written by another connection, as an admin tool on the same database would.
    central.query("UPDATE agent_keys SET revoked_at = '2027-01-05T00:00:00Z' "
                  "WHERE key_id = ?", (keys[0].key_id,))
    central.query("UPDATE agent_keys SET retired_at = '2027-01-05T00:00:00Z' "
                  "WHERE key_id = ?", (keys[1].key_id,))
    assert central.admin("POST", f"/v1/admin/agents/{agents[2]}/revoke").status_code == 200
    verdicts = [post(k, a, 2) for k, a in zip(keys, agents)]
    assert [(v["code"], str(v["reason"]).split(":")[0]) for v in verdicts] == [
        (403, "key_revoked"), (403, "key_retired"), (403, "agent_revoked")]
    assert [len(central.summaries(a)) for a in agents] == [1, 1, 1]


def test_a_routed_request_gets_the_verdicts_of_a_direct_one(central_db_url: str,
        tmp_path: Path) -> None:
    # Under a prefix the request goes through FastAPI's router to the documented route.
    # The wrapper runs central's lifespan (a mounted app's would not run): its leader loop
    # stops and its database closes with the server, as when served alone.
    server = CentralServer(central_db_url, wrap=lambda app: Starlette(
        routes=[Mount("/central", app=app), Mount("/", app=app)],
        lifespan=lambda _: app.router.lifespan_context(app))).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)

        def post(prefix: str, body: bytes, headers: dict[str, str] = JSON) -> httpx.Response:
            return httpx.post(f"{server.url}{prefix}/v1/summaries", content=body,
                              headers=headers, trust_env=False)

        direct = post("", batch(key, agent_id, 1))
        routed = post("/central", batch(key, agent_id, 1))
        assert [x["status"] for x in direct.json()["results"]] == ["accepted"]
        assert [x["status"] for x in routed.json()["results"]] == ["duplicate"]
        assert post("/central", batch(key, agent_id, 2)).json()["results"][0]["code"] == 201
        for body, headers in [(b'{"envelopes": [', JSON), (b"{}", JSON),
                              (b'{"envelopes": []}', {"Content-Type": "text/plain"})]:
            a, b = post("", body, headers), post("/central", body, headers)
            assert a.status_code == b.status_code == 422 and a.json() == b.json()
        tampered = json.loads(batch(key, agent_id, 3))
        signature = tampered["envelopes"][0]["signature"]
        tampered["envelopes"][0]["signature"] = ("B" if signature[0] == "A" else "A") + signature[1:]
        answers = [post(p, json.dumps(tampered).encode()).json() for p in ("", "/central")]
        assert answers[0] == answers[1] and answers[0]["results"][0]["code"] == 422
        assert [row["sequence"] for row in server.summaries(agent_id)] == [1, 2]
    finally:
        server.stop()


@pytest.mark.parametrize("field", ["sequence", "level"])
def test_an_integer_past_64_bits_in_a_signed_summary_is_refused_400(
        central: CentralServer, tmp_path: Path, field: str) -> None:
    key = signing.load_or_create(tmp_path / "key")
    agent_id = central.enroll_key(key)
    data = make_summary(agent_id, 1).to_dict()
    (data if field == "sequence" else data["supplies"][0])[field] = "@value@"
    payload = wire.canonical_bytes(data).replace(b'"@value@"', str(2 ** 64).encode())
    envelope = signing.sign_payload(key, agent_id, payload).to_dict()
    r = httpx.post(f"{central.url}/v1/summaries", json={"envelopes": [envelope]},
                   trust_env=False)
    [verdict] = r.json()["results"]
    assert (verdict["code"], verdict["status"]) == (400, "rejected")
    assert field in verdict["reason"] and "integer" in verdict["reason"]
    assert central.summaries(agent_id) == []


def test_serve_sets_the_policy_interval_and_refuses_a_negative_one(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'central.db'}"  # parsing the options: one engine will do
    default = build_app(build_parser().parse_args(["serve", "--db", db]))
    assert default.state.policy_min_interval == AFTER_INGEST_INTERVAL_S == 30
    app = build_app(build_parser().parse_args(["serve", "--db", db, "--policy-interval", "5"]))
    assert app.state.policy_min_interval == 5
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--db", db, "--policy-interval", "-1"])


def test_a_deferred_policy_run_waits_its_interval_and_ends_with_the_app(central_db_url: str,
        tmp_path: Path) -> None:
    server = CentralServer(central_db_url, policy_interval_s=600).start()

    def planned_through() -> int | None:  # the newest summary the last policy run planned
        rows = server.query("SELECT mark FROM job_runs WHERE job = 'policy'")
        return rows[0]["mark"] if rows else None

    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)
        for seq in (1, 2):  # the first is planned at once, the second waits its turn
            r = httpx.post(f"{server.url}/v1/summaries", content=batch(key, agent_id, seq),
                           headers=JSON, trust_env=False)
            assert r.json()["results"][0]["code"] == 201
            deadline = time.monotonic() + 5
            while planned_through() is None and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.5)
        assert planned_through() == 1
        duties = server.app.state.duties
        assert duties.running and server.app.state.is_leader
    finally:
        server.stop()
    assert not duties.running
    assert not server.app.state.is_leader  # given up at shutdown, for another worker


def test_ingest_waits_for_another_writer_then_commits(central_db_url: str,
        tmp_path: Path) -> None:
    server = CentralServer(central_db_url).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)
        db = server.app.state.db
        held = threading.Event()

        def writer() -> None:  # another writer of this process (a policy run, an admin call)
            with db.transaction():
                held.set()
                time.sleep(0.5)

        thread = threading.Thread(target=writer)
        thread.start()
        assert held.wait(5)
        began = time.monotonic()
        r = httpx.post(f"{server.url}/v1/summaries", content=batch(key, agent_id, 1),
                       headers=JSON, trust_env=False)
        assert r.json()["results"][0]["code"] == 201
        assert time.monotonic() - began > 0.3  # it waited for the lock, off the event loop
        thread.join()
        assert len(server.summaries(agent_id)) == 1
        # and the lock is free again for the next writer
        with db.transaction() as conn:
            conn.execute("SELECT 1")
    finally:
        server.stop()


def test_a_nested_transaction_fails_at_once(central_db_url: str,
        tmp_path: Path) -> None:
    db = open_database(central_db_url)
    try:
        with db.transaction():
            # SQLite's own error, or the PostgreSQL engine's StoreError: the same words
            with pytest.raises(Exception, match="within a transaction"):
                with db.transaction():
                    pass
        with db.transaction() as conn:  # the outer one ended cleanly
            assert conn.execute("SELECT count(*) FROM summaries").fetchone()[0] == 0
    finally:
        db.close()


def test_every_supply_is_stored_and_a_late_older_summary_overwrites_none(
        central: CentralServer, tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path / "key")
    agent_id = central.enroll_key(key)
    newer = make_summary(agent_id, 2, period_start=T0 + timedelta(hours=4), level=40)
    colors = ("black", "cyan", "magenta", "yellow")
    newer = dataclasses.replace(newer, supplies=tuple(
        dataclasses.replace(newer.supplies[0], index=i, color=color, level=40 + i)
        for i, color in enumerate(colors, start=1)))
    older = make_summary(agent_id, 1, level=90)  # the period before, delivered late
    for summary in (newer, older):
        body = json.dumps({"envelopes": [signing.seal(summary, key).to_dict()]})
        r = httpx.post(f"{central.url}/v1/summaries", content=body, headers=JSON,
                       trust_env=False)
        assert r.json()["results"][0]["code"] == 201
    rows = central.query("SELECT supply_index, color, level, as_of FROM supply_latest "
                         "ORDER BY supply_index")
    assert [(r["supply_index"], r["color"], r["level"]) for r in rows] == [
        (1, "black", 41), (2, "cyan", 42), (3, "magenta", 43), (4, "yellow", 44)]
    assert {r["as_of"] for r in rows} == {wire.format_time(newer.period_end)}
