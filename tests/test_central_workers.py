"""Several central workers on one database, as real `asr-central serve` processes on
loopback, on each engine: a control nonce used through one worker is refused by another;
`--workers 2` under uvicorn's supervisor — kill -9 of the leader, and another worker runs
the next policy within its interval; kill -9 of a worker during batched ingest, ten times,
and no acknowledged summary is lost."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support_central import CentralServer, make_summary
from support_central_process import CentralProcess

from asr_agent.adapters import keys as signing
from asr_core.wire import order_status_request
from asr_central.service.api.admin_guard import FAILED_ATTEMPTS
from asr_central.storage import open_database

POLICY_INTERVAL_S = 2.0


def _rows(url: str, sql: str) -> list[Any]:
    """Read the database the workers share, from a connection of its own."""
    db = open_database(url)
    try:
        return list(db.connection().execute(sql).fetchall())  # type: ignore[attr-defined]
    finally:
        db.close()


def _enroll(server: CentralProcess, key: signing.AgentKey, site: str = "site-1") -> str:
    with httpx.Client(base_url=server.url, trust_env=False, timeout=10) as c:
        token = c.post("/v1/admin/enrollment-tokens", json={"site_id": site},
                       headers={"Authorization": f"Bearer {server.admin_token}"}
                       ).json()["token"]
        r = c.post("/v1/enroll", json={"token": token, "public_key": key.public_b64,
                                       "site_id": site, "agent_name": "a"})
        r.raise_for_status()
        return str(r.json()["agent_id"])


def _post(url: str, envelopes: list[dict[str, Any]], attempts: int = 50) -> list[int]:
    """POST a batch, again while a worker is being replaced (the connection refused or
    cut); the verdicts' codes."""
    for _ in range(attempts):
        try:
            r = httpx.post(f"{url}/v1/summaries", json={"envelopes": envelopes},
                           trust_env=False, timeout=10)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        return [v["code"] for v in r.json()["results"]]
    raise AssertionError(f"{url} did not answer in {attempts} attempts")


def _policy_run(url: str) -> tuple[str, int] | None:
    """(the worker that ran the policy last, the newest summary it planned)."""
    rows = _rows(url, "SELECT runner, mark FROM job_runs WHERE job = 'policy'")
    return (str(rows[0][0]), int(rows[0][1])) if rows else None


def _pid(runner: str) -> int:
    return int(runner.rsplit(":", 1)[1])


def test_a_nonce_used_through_one_worker_is_refused_by_the_other(
        central_db_url: str, tmp_path: Path) -> None:
    one = CentralProcess(central_db_url, tmp_path / "one").start()
    two = CentralProcess(central_db_url, tmp_path / "two")
    try:
        two.start()
        key = signing.load_or_create(tmp_path / "key")
        agent_id = _enroll(one, key)
        request = signing.seal_data(
            order_status_request(agent_id, datetime.now(UTC), "n-0123456789abcdef"), key,
            agent_id).to_dict()
        first = httpx.post(f"{one.url}/v1/agent/order-status", json=request, trust_env=False)
        assert first.status_code == 200, first.text
        again = httpx.post(f"{two.url}/v1/agent/order-status", json=request, trust_env=False)
        assert again.status_code == 409, again.text
        assert "replay" in again.json()["detail"]
        # and through the first one too, of course
        assert httpx.post(f"{one.url}/v1/agent/order-status", json=request,
                          trust_env=False).status_code == 409
    finally:
        two.stop()
        one.stop()


def test_admin_token_guesses_through_one_worker_are_throttled_by_the_other(
        central_db_url: str, tmp_path: Path) -> None:
    """A guesser spreading its attempts over the workers gets no more of them."""
    one = CentralProcess(central_db_url, tmp_path / "one").start()
    two = CentralProcess(central_db_url, tmp_path / "two")
    try:
        two.start()
        guesses = [httpx.get(f"{one.url}/v1/admin/agents", trust_env=False,
                             headers={"Authorization": f"Bearer guess-{i}"}).status_code
                   for i in range(int(FAILED_ATTEMPTS.split("/")[0]))]
        assert set(guesses) == {401}
        throttled = httpx.get(f"{two.url}/v1/admin/agents", trust_env=False,
                              headers={"Authorization": "Bearer guess-on-the-other"})
        assert throttled.status_code == 429, throttled.text
        assert 1 <= int(throttled.headers["Retry-After"]) <= 60
    finally:
        two.stop()
        one.stop()


def test_a_follower_leaves_the_policy_to_the_leader_and_leads_once_it_stops(
        central_db_url: str, tmp_path: Path) -> None:
    """Two apps on one database: the first leads; a summary the follower stores is planned
    by the leader's next run; at the leader's shutdown the follower takes over."""
    first = CentralServer(central_db_url).start()
    second = CentralServer(central_db_url)
    try:
        _wait(lambda: first.app.state.is_leader)
        second.start()
        key = signing.load_or_create(tmp_path / "key")
        agent_id = second.enroll_key(key)
        time.sleep(0.3)  # the follower's loop has tried, and failed, a few times
        assert first.app.state.is_leader and not second.app.state.is_leader
        assert _post(second.url, [signing.seal(make_summary(agent_id, 1), key).to_dict()]) \
            == [201]
        _wait(lambda: (run := _policy_run(central_db_url)) and run[1] >= 1)
        first.stop()
        assert not first.app.state.is_leader
        _wait(lambda: second.app.state.is_leader, timeout=5)
        later = make_summary(agent_id, 2, serial="XRX-0002")
        assert _post(second.url, [signing.seal(later, key).to_dict()]) == [201]
        _wait(lambda: (run := _policy_run(central_db_url)) and run[1] >= 2, timeout=5)
    finally:
        second.stop()
        first.stop()


@pytest.mark.slow
def test_kill_9_of_the_leader_and_another_worker_runs_the_next_policy_within_its_interval(
        central_db_url: str, tmp_path: Path) -> None:
    server = CentralProcess(central_db_url, tmp_path / "central", workers=2,
                            extra_args=("--policy-interval", str(POLICY_INTERVAL_S))).start()
    try:
        key = signing.load_or_create(tmp_path / "key")
        agent_id = _enroll(server, key)
        workers = _wait_for_workers(server, 2)
        assert _post(server.url, [signing.seal(make_summary(agent_id, 1), key).to_dict()]) \
            == [201]
        first = _wait(lambda: (run := _policy_run(central_db_url)) and run[1] >= 1 and run)
        leader = _pid(first[0])
        assert leader in workers  # one of the two workers leads; the other follows
        server_pids_before = set(workers)

        killed_at = time.monotonic()
        os.kill(leader, signal.SIGKILL)
        later = make_summary(agent_id, 2, serial="XRX-0002")
        assert _post(server.url, [signing.seal(later, key).to_dict()]) == [201]
        second = _wait(lambda: (run := _policy_run(central_db_url)) and run[1] >= 2 and run,
                       timeout=POLICY_INTERVAL_S + 10)
        took = time.monotonic() - killed_at
        assert _pid(second[0]) != leader
        # the other worker tries the leadership every interval; a few seconds of slack for
        # a loaded machine (the supervisor is starting a new worker at the same time)
        assert took <= POLICY_INTERVAL_S + 3, f"the next policy run came {took:.1f} s after"
        assert _pid(second[0]) in server_pids_before | set(server.worker_pids())
    finally:
        server.stop()


@pytest.mark.slow
def test_kill_9_of_a_worker_during_batched_ingest_loses_no_acknowledged_summary(
        central_db_url: str, tmp_path: Path) -> None:
    rounds, batch = 10, 20
    rng = random.Random(16)
    server = CentralProcess(central_db_url, tmp_path / "central", workers=2).start()
    key = signing.load_or_create(tmp_path / "key")
    acknowledged: dict[str, int] = {}  # idempotency key -> verdict code
    lock = threading.Lock()  # the sender adds to it while the test reads it
    stop = threading.Event()
    failures: list[BaseException] = []
    try:
        agent_id = _enroll(server, key)
        _wait_for_workers(server, 2)

        def send() -> None:
            sequence = 0
            try:
                while not stop.is_set():
                    envelopes = []
                    for _ in range(batch):
                        sequence += 1
                        summary = make_summary(agent_id, sequence, serial=f"W9-{sequence:06d}")
                        envelopes.append(signing.seal(summary, key).to_dict())
                    while not stop.is_set():  # a batch cut off by a kill is sent again
                        try:
                            r = httpx.post(f"{server.url}/v1/summaries", trust_env=False,
                                           json={"envelopes": envelopes}, timeout=10)
                        except httpx.TransportError:
                            time.sleep(0.05)
                            continue
                        verdicts = r.json()["results"]
                        assert all(v["code"] in (201, 409) for v in verdicts), verdicts
                        with lock:
                            acknowledged.update((v["idempotency_key"], v["code"])
                                                for v in verdicts)
                        break
            except BaseException as exc:  # noqa: BLE001 - raised in the test below
                failures.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        killed = 0
        for _ in range(rounds):
            _wait_for_workers(server, 2)
            with lock:
                before = len(acknowledged)
            # a batch answered since the last kill, then the next kill in mid-flow
            _wait(lambda: failures or len(acknowledged) > before, timeout=60)  # noqa: B023
            time.sleep(rng.uniform(0.1, 0.4))
            _kill_one(server, rng)
            killed += 1
            with lock:
                answered = set(acknowledged)
            stored = {row[0] for row in _rows(central_db_url,
                                              "SELECT idempotency_key FROM summaries")}
            missing = answered - stored
            assert not missing, f"{len(missing)} acknowledged summaries lost by a kill -9"
            assert not failures, repr(failures[0])
        stop.set()
        sender.join(30)
        assert not sender.is_alive() and not failures, failures
        stored = {row[0] for row in _rows(central_db_url, "SELECT idempotency_key FROM summaries")}
        assert killed == rounds
        assert len(acknowledged) >= rounds * batch  # a batch answered between the kills
        assert set(acknowledged) <= stored
        assert 201 in acknowledged.values()
    finally:
        stop.set()
        server.stop()


def _kill_one(server: CentralProcess, rng: random.Random) -> None:
    """SIGKILL one worker chosen at random among those alive now (the supervisor may have
    replaced one meanwhile: one that answered its health check too slowly on a busy
    machine)."""
    for _ in range(50):
        workers = _wait_for_workers(server, 1)
        try:
            os.kill(rng.choice(workers), signal.SIGKILL)
            return
        except ProcessLookupError:
            time.sleep(0.05)  # gone between the listing and the kill: choose again
    raise AssertionError("no worker could be killed")


def _wait_for_workers(server: CentralProcess, count: int, timeout: float = 30) -> list[int]:
    """The supervisor's workers, once `count` of them serve (it starts one again after a
    kill)."""
    return _wait(lambda: len(pids := server.worker_pids()) >= count and pids, timeout=timeout)


def _wait(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting after {timeout} s")
        time.sleep(0.05)
