"""What operators ask of central over HTTP: /healthz (alive), /readyz (database answers,
schema current) and /metrics (Prometheus text, behind its own token), against a real
server on loopback and a real database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from asr_agent.adapters.keys import seal
from asr_core import migrations
from asr_central.service.app import create_app
from asr_central.storage import open_database
from support_central import ADMIN_TOKEN, CentralServer, enrolled_agent, make_summary

METRICS_TOKEN = "metrics-token-0123456789abcdef"
REPO = Path(__file__).resolve().parent.parent
REGISTRY = """\
contacts:
  - {id: claire, name: Claire Martin, email: facilities@site.example, shipping_address: Lyon}
sites:
  - {id: site-1, name: Site one, contact: claire}
"""


class UrlServer(CentralServer):
    """CentralServer's helpers around a central on any database URL (`database`), with a
    metrics token."""

    def __init__(self, database: str, tmp_path: Path) -> None:
        super().__init__(tmp_path / "unused.db")
        self.database = database

    def start(self) -> UrlServer:
        self.app = app = create_app(self.database, admin_token=ADMIN_TOKEN, clock=self.clock)
        app.state.metrics_token = METRICS_TOKEN
        app.state.policy_min_interval = self.policy_interval_s
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
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


@pytest.fixture
def served(central_db_url: str, tmp_path: Path) -> Iterator[UrlServer]:
    server = UrlServer(central_db_url, tmp_path).start()
    yield server
    server.stop()


def get(server: CentralServer, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{server.url}{path}", headers=headers, trust_env=False, timeout=10)


def _ledger(db_url: str, sql: str, params: tuple[Any, ...]) -> None:
    """Change the schema ledger behind the server's back, as another version would."""
    db = open_database(db_url)
    try:
        with db.transaction() as conn:
            conn.execute(sql, params)  # type: ignore[attr-defined]
    finally:
        db.close()


# --- /healthz and /readyz -------------------------------------------------------------------

def test_a_current_database_is_ready(served: UrlServer) -> None:
    r = get(served, "/readyz")
    assert r.status_code == 200, r.text
    newest = max(m.number for m in migrations.load(resources.files("asr_central.storage.migrations")))
    assert r.json() == {"status": "ready", "schema_version": newest}


def test_a_schema_newer_than_central_is_not_ready_but_the_process_is_alive(
        served: UrlServer) -> None:
    _ledger(served.database, "INSERT INTO schema_migrations (number, name, applied_at) "
                           "VALUES (?, ?, ?)", (999, "999_from_the_future.sql", "2030-01-01T00:00:00Z"))
    r = get(served, "/readyz")
    assert r.status_code == 503
    assert r.json()["reason"].startswith("the database has schema version 999, newer than "
                                         "this central knows")
    assert get(served, "/healthz").status_code == 200


def test_a_pending_migration_is_not_ready_and_says_which(served: UrlServer) -> None:
    known = max(int(r[0]) for r in _numbers(served.database))
    _ledger(served.database, "DELETE FROM schema_migrations WHERE number = ?", (known,))
    r = get(served, "/readyz")
    assert r.status_code == 503
    assert f"1 migration(s) not applied ({known:03d}_" in r.json()["reason"]


def _numbers(db_url: str) -> list[Any]:
    db = open_database(db_url)
    try:
        return list(db.connection().execute("SELECT number FROM schema_migrations"))  # type: ignore[attr-defined]
    finally:
        db.close()


# --- /metrics -------------------------------------------------------------------------------

def test_metrics_are_off_without_a_token(tmp_path: Path) -> None:
    server = CentralServer(tmp_path / "c.db").start()
    try:
        r = get(server, "/metrics", METRICS_TOKEN)
        assert r.status_code == 503 and "metrics.token" in r.json()["detail"]
    finally:
        server.stop()


def test_metrics_want_their_own_token_not_the_admin_one(served: UrlServer) -> None:
    assert get(served, "/metrics").status_code == 401
    assert get(served, "/metrics", ADMIN_TOKEN).status_code == 401
    assert get(served, "/metrics", "x" + METRICS_TOKEN).status_code == 401
    assert get(served, "/metrics", METRICS_TOKEN).status_code == 200


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_count_verdicts_time_policy_runs_and_read_the_packing_queue(
        served: UrlServer, tmp_path: Path) -> None:
    r = httpx.post(f"{served.url}/v1/registry/import", trust_env=False, content=REGISTRY,
                   headers={"Authorization": f"Bearer {ADMIN_TOKEN}",
                            "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    key, ident = enrolled_agent(served, tmp_path / "keys")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    good = seal(make_summary(ident.agent_id, 1, period_start=start), key).to_dict()
    other_site = seal(make_summary(ident.agent_id, 2, period_start=start, site_id="site-2"),
                      key).to_dict()
    r = httpx.post(f"{served.url}/v1/summaries", trust_env=False, timeout=10,
                   json={"envelopes": [good, good, other_site]})
    assert [x["code"] for x in r.json()["results"]] == [201, 409, 403], r.text
    # 21 to 30 days from empty: ordered by this run, or by the run after ingest before it
    assert served.admin("POST", "/v1/admin/run-policy", json={"lead_days": 30}).status_code == 200
    [order] = served.admin("GET", "/v1/orders").json()
    assert order["status"] == "created"

    r = get(served, "/metrics", METRICS_TOKEN)
    assert r.headers["content-type"].startswith("text/plain; version=")
    samples = _samples(r.text)
    verdicts = {labels[0][1]: value for (name, labels), value in samples.items()
                if name == "asr_central_summaries_total"}
    assert verdicts == {"stored": 1.0, "duplicate": 1.0, "site_mismatch": 1.0}
    assert samples["asr_central_policy_run_seconds_count", ()] >= 1
    assert samples["asr_central_orders_waiting_to_ship", ()] == 1.0
    assert samples["asr_central_leader", ()] == 1.0

    r = served.admin("POST", f"/v1/orders/{order['order_id']}/ship", json={"tracking": "T-1"})
    assert r.status_code == 200, r.text
    assert _samples(get(served, "/metrics", METRICS_TOKEN).text)[
        "asr_central_orders_waiting_to_ship", ()] == 0.0


_WORKER = """
import sys
from asr_central.service.metrics import CentralMetrics
m = CentralMetrics()
assert m.multiprocess_dir is not None
m.count([{"status": "accepted"}] * int(sys.argv[1]) + [{"status": "rejected", "code": 422,
         "reason": "bad_signature: no"}])
m.policy_run.observe(0.2)
"""


def test_several_worker_processes_are_summed_by_whichever_answers_the_scrape(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from asr_central.service.metrics import MULTIPROC_ENV, CentralMetrics
    from prometheus_client.core import GaugeMetricFamily

    shared = tmp_path / "prometheus"
    shared.mkdir()
    for stored in (3, 4):
        done = subprocess.run([sys.executable, "-c", _WORKER, str(stored)], cwd=REPO,
                              env={"PYTHONPATH": str(REPO), MULTIPROC_ENV: str(shared)},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
    monkeypatch.setenv(MULTIPROC_ENV, str(shared))
    text = CentralMetrics().render(lambda: iter([GaugeMetricFamily("g", "g", value=1)]),
                                   is_leader=False).decode()
    samples = _samples(text)
    assert samples["asr_central_summaries_total", (("verdict", "stored"),)] == 7.0
    assert samples["asr_central_summaries_total", (("verdict", "bad_signature"),)] == 2.0
    assert samples["asr_central_policy_run_seconds_count", ()] == 2.0


_LIVE_WORKER = """
import sys
from asr_central.service.metrics import CentralMetrics
CentralMetrics().leader.set(1 if sys.argv[1] == "leader" else 0)  # as its scrapes do
print("ready", flush=True)
sys.stdin.readline()  # lives until told
"""


def test_a_killed_leader_worker_stops_counting_as_a_leader(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor restarts a killed worker; the dead one's leader gauge must not be
    summed with its successor's (a scrape would read 2: an election gone wrong)."""
    from asr_central.service.metrics import MULTIPROC_ENV, CentralMetrics
    from prometheus_client.core import GaugeMetricFamily

    shared = tmp_path / "prometheus"
    shared.mkdir()
    workers = [subprocess.Popen([sys.executable, "-c", _LIVE_WORKER, role], cwd=REPO,
                                text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env={"PYTHONPATH": str(REPO), MULTIPROC_ENV: str(shared)})
               for role in ("leader", "follower")]
    monkeypatch.setenv(MULTIPROC_ENV, str(shared))
    metrics = CentralMetrics()

    def leaders() -> float:
        text = metrics.render(lambda: iter([GaugeMetricFamily("g", "g", value=1)]),
                              is_leader=False).decode()
        return _samples(text)["asr_central_leader", ()]

    leader, follower = workers
    try:
        for w in workers:
            assert w.stdout is not None and w.stderr is not None
            assert w.stdout.readline().strip() == "ready", w.stderr.read()
        assert leaders() == 1.0
        leader.kill()  # as the OOM killer would: no chance to say goodbye
        leader.communicate(timeout=30)
        assert leaders() == 0.0  # the live follower's 0 alone; the dead leader is forgotten
        assert not list(shared.glob(f"gauge_live*_{leader.pid}.db"))
        assert list(shared.glob(f"gauge_live*_{follower.pid}.db"))
    finally:
        for w in workers:
            w.kill()
            w.communicate(timeout=30)
