"""Old signed payloads are emptied after the retention period; each summary's record stays, so
a resent summary is still a duplicate. A real central service on loopback with a SQLite file;
its clock is moved by the test."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx

from asr_agent.adapters import keys as signing
from asr_core.signing import verify
from asr_core.wire import Envelope
from asr_central.service.retention import DEFAULT_KEEP_PAYLOAD_DAYS, drop_old_payloads
from support_central import T0, CentralServer, Clock, enrolled_agent, make_summary


def _post(server: CentralServer, key: signing.AgentKey, *summaries) -> list[int]:
    r = httpx.post(f"{server.url}/v1/summaries", trust_env=False, timeout=30,
                   json={"envelopes": [signing.seal(s, key).to_dict() for s in summaries]})
    assert r.status_code == 200, r.text
    return [x["code"] for x in r.json()["results"]]


def _emptied(server: CentralServer) -> list[int]:
    return [r["sequence"] for r in server.query(
        "SELECT sequence FROM summaries WHERE length(payload) = 0 AND length(signature) = 0 "
        "ORDER BY id")]


def test_payloads_past_retention_are_emptied_and_a_resent_summary_is_still_a_duplicate(central_db_url: str,
        tmp_path: Path) -> None:
    clock = Clock(T0 + timedelta(hours=16))  # after the periods reported: no future
    server = CentralServer(central_db_url, clock=clock).start()
    try:
        key, identity = enrolled_agent(server, tmp_path / "agent")
        agent = identity.agent_id
        old = [make_summary(agent, n, period_start=T0 + timedelta(hours=4 * n)) for n in (1, 2, 3)]
        assert _post(server, key, *old) == [201, 201, 201]
        assert _emptied(server) == []  # nothing is old yet (the hook ran after that batch)

        # a year and more later the agent reports again: the after-ingest hook drops what aged
        clock.now = T0 + timedelta(days=DEFAULT_KEEP_PAYLOAD_DAYS + 1)
        young = make_summary(agent, 4, period_start=clock.now - timedelta(hours=4))
        assert _post(server, key, young) == [201]
        for _ in range(100):
            if _emptied(server):
                break
            time.sleep(0.1)
        assert _emptied(server) == [1, 2, 3]
        [kept] = server.query("SELECT payload, signature FROM summaries WHERE sequence = 4")
        # the young summary's evidence is whole: its stored signature still verifies
        stored = Envelope(agent, key.key_id, bytes(kept["payload"]), bytes(kept["signature"]))
        assert verify(stored, key.public_raw) == signing.seal(young, key).payload

        # the records stay: a resent old summary is a duplicate, a reused sequence a replay
        assert _post(server, key, old[0]) == [409]
        reuse = make_summary(agent, 2, period_start=clock.now - timedelta(hours=8))
        assert _post(server, key, reuse) == [409]
        assert [r["serial"] for r in server.query("SELECT serial FROM device_status")] == ["XRX-0001"]
        assert len(server.summaries(agent)) == 4
    finally:
        server.stop()


def test_zero_days_keeps_every_payload_and_a_backlog_goes_in_bounded_steps(
        central_db_url: str, tmp_path: Path) -> None:
    clock = Clock(T0 + timedelta(hours=16))  # after the periods reported: no future
    server = CentralServer(central_db_url, clock=clock).start()
    try:
        key, identity = enrolled_agent(server, tmp_path / "agent")
        assert _post(server, key, *[make_summary(identity.agent_id, n, period_start=T0 + timedelta(
            hours=4 * n)) for n in (1, 2, 3)]) == [201, 201, 201]
        from asr_central.storage import open_database

        db = open_database(server.db_url)
        try:
            assert drop_old_payloads(db, T0 + timedelta(days=10_000), 0) == (0, False)
            assert drop_old_payloads(db, T0 + timedelta(days=1), 2) == (0, False)  # too young
            # a backlog is worked off a bounded number of chunks at a time, from where it stopped
            assert drop_old_payloads(db, T0 + timedelta(days=3), 2, chunk=2, max_chunks=1) == (2, True)
            assert _emptied(server) == [1, 2]
            assert drop_old_payloads(db, T0 + timedelta(days=3), 2, chunk=2, max_chunks=1) == (1, False)
        finally:
            db.close()
        assert _emptied(server) == [1, 2, 3]
    finally:
        server.stop()
