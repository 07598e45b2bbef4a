"""A batch is stored by one statement per table, yet answered and stored exactly as its
summaries sent one request each: duplicates and replays inside the batch, a device
reported twice, a late older period, cartridge events, and the hooks that see each new
summary."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from asr_agent.adapters import keys as signing
from asr_core import wire
from asr_central.storage.base import Connection
from support_central import T0, CentralServer, make_summary

JSON = {"Content-Type": "application/json"}


def post(server: CentralServer, envelopes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = httpx.post(f"{server.url}/v1/summaries", content=json.dumps({"envelopes": envelopes}),
                   headers=JSON, trust_env=False, timeout=30)
    assert r.status_code == 200, r.text
    return list(r.json()["results"])


def tricky_batch(key: signing.AgentKey, agent_id: str) -> list[dict[str, Any]]:
    """Envelopes whose verdicts depend on the ones before them in the same batch."""
    def sealed(seq: int, serial: str, start: datetime = T0, **kw: Any) -> dict[str, Any]:
        return signing.seal(make_summary(agent_id, seq, serial=serial, period_start=start,
                                         **kw), key).to_dict()

    first = sealed(1, "XRX-A")
    tampered = dict(sealed(9, "XRX-D"), signature=sealed(10, "XRX-D")["signature"])
    return [
        first,
        first,                                             # the same again: duplicate
        sealed(1, "XRX-B"),                                # sequence 1 is taken: replay
        sealed(5, "XRX-C"),                                # 5 was stored before: replay
        sealed(6, "XRX-C"),                                # same key, free sequence: new
        sealed(7, "XRX-A", T0 + timedelta(hours=4), level=40),   # A's newer period
        sealed(8, "XRX-A", T0 - timedelta(hours=4), level=90,    # A's older one, late
               with_event=True),
        tampered,                                          # bad signature
        sealed(11, "XRX-E", with_event=True),
    ]


def stored_rows(server: CentralServer) -> dict[str, list[tuple[Any, ...]]]:
    """What ingest wrote, without what depends on the agent id the server gave."""
    queries = {
        "summaries": "SELECT id, sequence, device_serial, period_start, period_end "
                     "FROM summaries ORDER BY id",
        "device_status": "SELECT serial, site_id, contact, vendor, model, asr_compatible, "
                         "address, state, page_count, last_seen, last_summary_id "
                         "FROM device_status ORDER BY serial",
        "supply_latest": "SELECT * FROM supply_latest ORDER BY device_serial, supply_index",
        "cartridge_events": "SELECT * FROM cartridge_events ORDER BY id",
    }
    return {name: [tuple(row) for row in server.query(sql)] for name, sql in queries.items()}


def test_a_batch_is_answered_and_stored_as_its_summaries_one_request_each(
        central_db_url: str, second_central_db_url: str, tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path / "key")
    outcomes = []
    for mode, db in (("one by one", central_db_url), ("batched", second_central_db_url)):
        server = CentralServer(db).start()
        try:
            agent_id = server.enroll_key(key)
            earlier = signing.seal(make_summary(agent_id, 5, serial="XRX-Z"), key).to_dict()
            assert [r["code"] for r in post(server, [earlier])] == [201]
            envelopes = tricky_batch(key, agent_id)
            if mode == "batched":
                results = post(server, envelopes)
            else:
                results = [post(server, [env])[0] for env in envelopes]
            # Without what depends on the agent id the server gave.
            answers = [{k: (v.replace(agent_id, "AGENT") if k == "reason" and v else v)
                        for k, v in r.items() if k != "idempotency_key"} for r in results]
            outcomes.append((answers, stored_rows(server)))
        finally:
            server.stop()
    (one_by_one, rows_one), (batched, rows_batched) = outcomes
    assert [r["code"] for r in batched] == [201, 409, 409, 409, 201, 201, 201, 422, 201]
    assert batched[1]["status"] == "duplicate"
    assert batched[1]["reason"] == "duplicate: already stored as #2"
    assert batched[2]["reason"].startswith("replay: sequence 1 already used") \
        and batched[2]["reason"].endswith("(#2)")
    assert batched[3]["reason"].startswith("replay: sequence 5 already used") \
        and batched[3]["reason"].endswith("(#1)")
    assert batched == one_by_one
    assert rows_batched == rows_one
    devices = {row[0]: row for row in rows_batched["device_status"]}
    assert devices["XRX-A"][9] == wire.format_time(T0 + timedelta(hours=8))  # newer kept
    assert len(rows_batched["cartridge_events"]) == 2


def test_the_hooks_see_each_new_summary_of_a_batch_in_order_with_its_row(central_db_url: str,
        tmp_path: Path) -> None:
    seen: list[tuple[wire.Summary, int]] = []

    def hook(conn: Connection, summary: wire.Summary, summary_id: int,
             now: datetime) -> None:
        seen.append((summary, summary_id))

    server = CentralServer(central_db_url, summary_hooks=[hook]).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)
        sent = [make_summary(agent_id, 1, serial="XRX-A", with_event=True),
                make_summary(agent_id, 2, serial="XRX-B")]
        # A float sent as an integer (JSON has one number type) comes back a float.
        sent[1] = dataclasses.replace(sent[1], supplies=(dataclasses.replace(
            sent[1].supplies[0], remaining_percent=50.0, days_to_empty=None),))
        envelopes = [signing.seal(s, key).to_dict() for s in sent]
        results = post(server, [envelopes[0], envelopes[0], envelopes[1]])
        assert [r["code"] for r in results] == [201, 409, 201]
        rows = server.summaries(agent_id)
        assert seen == [(sent[0], rows[0]["id"]), (sent[1], rows[1]["id"])]
        assert isinstance(seen[1][0].supplies[0].remaining_percent, float)
        stored = server.query("SELECT remaining_percent, days_to_empty FROM supply_latest "
                              "WHERE device_serial = 'XRX-B'")
        assert [tuple(r) for r in stored] == [(50.0, None)]
    finally:
        server.stop()


def test_a_batch_larger_than_one_statement_stores_every_summary(central_db_url: str, tmp_path: Path) -> None:
    server = CentralServer(central_db_url).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)
        envelopes = [signing.seal(make_summary(agent_id, seq, serial=f"XRX-{seq % 7}",
                                               period_start=T0 + timedelta(hours=4 * seq)),
                                  key).to_dict() for seq in range(1, 72)]
        assert [r["code"] for r in post(server, envelopes)] == [201] * 71
        assert [r["sequence"] for r in server.summaries(agent_id)] == list(range(1, 72))
        last = {f"XRX-{seq % 7}": seq for seq in range(1, 72)}  # each device's newest
        rows = server.query("SELECT s.device_serial, s.sequence FROM device_status d "
                            "JOIN summaries s ON s.id = d.last_summary_id")
        assert {r[0]: r[1] for r in rows} == last
        assert len(server.query("SELECT * FROM supply_latest")) == 7
    finally:
        server.stop()


@pytest.mark.parametrize("depth", [990, 5000])
def test_a_signed_field_nested_too_deeply_is_malformed_not_a_server_error(central_db_url: str,
        tmp_path: Path, depth: int) -> None:
    server = CentralServer(central_db_url).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = server.enroll_key(key)
        good = signing.seal(make_summary(agent_id, 1), key)
        # a supply level as a number in lists: 990 deep parses, and the field check must not
        # recurse into it; 5,000 deep no parser takes
        payload = good.payload.replace(b'"level":60', b'"level":' + b"[" * depth + b"1"
                                       + b"]" * depth)
        assert payload != good.payload
        deep = signing.sign_payload(key, agent_id, payload).to_dict()
        second = signing.seal(make_summary(agent_id, 2, serial="XRX-B"), key).to_dict()
        first, after = post(server, [deep, second])
        assert (first["code"], first["status"]) == (400, "rejected"), first
        assert after["code"] == 201  # the batch went on
        assert [r["sequence"] for r in server.summaries(agent_id)] == [2]
    finally:
        server.stop()
