"""kill -9 of a real `asr-central serve` during batched ingest, ten rounds, on each engine:
every summary central acknowledged (201 accepted, 409 duplicate) before the kill is in its
database after, and a batch cut off unanswered is delivered (or recognised) after the
restart."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest
from support_central import make_summary
from support_central_process import CentralProcess
from support_db import query

from asr_agent.adapters import keys as signing

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

ROUNDS = 10
BATCH = 20


def _stored_keys(url: str) -> set[str]:
    # a connection opened after the kill: on SQLite it recovers the WAL as central would
    return {row[0] for row in query(url, "SELECT idempotency_key FROM summaries")}


@pytest.mark.slow
def test_every_acknowledged_summary_survives_a_kill_9(central_db_url: str,
                                                      tmp_path: Path) -> None:
    rng = random.Random(9)
    server = CentralProcess(central_db_url, tmp_path).start()
    key = signing.load_or_create(tmp_path / "key")
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as c:
        token = c.post("/v1/admin/enrollment-tokens", json={"site_id": "site-1"},
                       headers={"Authorization": f"Bearer {server.admin_token}"}).json()["token"]
        agent_id = c.post("/v1/enroll", json={"token": token, "public_key": key.public_b64,
                                              "site_id": "site-1", "agent_name": "a"}
                          ).json()["agent_id"]
    acknowledged: dict[str, int] = {}   # idempotency key -> verdict code
    unanswered: list[dict[str, object]] = []  # a batch cut off by the kill: sent again
    sequence = 0
    try:
        for _ in range(ROUNDS):
            if server.process is None:
                server.start()
            stop = threading.Event()

            def send() -> None:
                nonlocal sequence, unanswered
                with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as c:
                    # this round's event: the thread is joined before the loop goes on
                    while not stop.is_set():  # noqa: B023
                        if unanswered:
                            envelopes = unanswered
                        else:
                            envelopes = []
                            for _ in range(BATCH):
                                sequence += 1
                                summary = make_summary(agent_id, sequence,
                                                       serial=f"K9-{sequence:06d}")
                                envelopes.append(signing.seal(summary, key).to_dict())
                        unanswered = envelopes
                        try:
                            r = c.post("/v1/summaries", json={"envelopes": envelopes})
                        except httpx.TransportError:
                            return  # killed: this batch was not acknowledged
                        for verdict in r.json()["results"]:
                            assert verdict["code"] in (201, 409), verdict
                            acknowledged[verdict["idempotency_key"]] = verdict["code"]
                        unanswered = []

            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(rng.uniform(0.2, 0.6))
            server.kill()
            stop.set()
            sender.join(15)
            assert not sender.is_alive()
            missing = set(acknowledged) - _stored_keys(server.db_url)
            assert not missing, f"{len(missing)} acknowledged summaries lost by a kill -9"
        server.start()
        stored = _stored_keys(server.db_url)
        assert len(acknowledged) >= ROUNDS * BATCH  # every round acknowledged something
        assert set(acknowledged) <= stored
        assert 201 in acknowledged.values()
    finally:
        server.stop()
