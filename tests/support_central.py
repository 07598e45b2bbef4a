"""A real central server on a free loopback port, for tests: uvicorn in a thread with a
real socket and a real SQLite file. Stop and start it again to simulate an outage.

    from support_central import CentralServer, central  # `central` is a fixture
    def test_x(central): central.url, central.create_token("site-1"), central.stop() ...

Also the helpers that replay a simulated fleet through it: its registry imported and an
agent enrolled per site (register_fleet), the captured summaries signed and posted
(post_summaries), policy runs at a settable clock (Clock, run_late), and both sides' orders
in one shape (sim_orders, central_orders).
"""

from __future__ import annotations

import dataclasses
import json
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime, time as time_of_day, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from asr_agent.adapters import keys as signing
from asr_core.records import LevelState, SupplyClass, SupplyType
from asr_agent.adapters.uplink import AgentIdentity
from asr_core.wire import (
    CartridgeEvent, DeviceIdentity, DeviceState, PageCounters, Summary, SupplySummary,
    idempotency_key,
)
from asr_central.service.app import SummaryHook, create_app
from asr_central.simulate.fleet import Fleet
from asr_central.simulate.loop import SimResult

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
POLICY_INTERVAL_S = 0.1


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CentralServer:
    """The central app served by uvicorn on 127.0.0.1:`port` (fixed across restarts)."""

    def __init__(self, db_path: Path, *, port: int | None = None,
                 admin_token: str = ADMIN_TOKEN, ssl_certfile: Path | None = None,
                 ssl_keyfile: Path | None = None,
                 summary_hooks: Sequence[SummaryHook] = (),
                 policy_interval_s: float = POLICY_INTERVAL_S,
                 wrap: Callable[[Any], Any] | None = None,
                 clock: Callable[[], datetime] | None = None,
                 date_header: bool = True, db_url: str | None = None) -> None:
        self.db_path = Path(db_path)
        self._db_url = db_url  # another database than the SQLite file at db_path
        self.clock = clock  # the service's clock (default: the wall clock)
        self.policy_interval_s = policy_interval_s
        self.wrap = wrap  # serves wrap(app) instead of the app (to mount it somewhere)
        self.date_header = date_header  # False: uvicorn sends none (a wrap may send its own)
        self.port = port or _free_tcp_port()
        self.admin_token = admin_token
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self.summary_hooks = tuple(summary_hooks)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app: Any = None  # the app being served (the last one, once stopped)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def db_url(self) -> str:
        return self._db_url or f"sqlite:///{self.db_path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> CentralServer:
        if self._server is not None:
            return self
        app = create_app(self.db_url, admin_token=self.admin_token,
                         summary_hooks=self.summary_hooks, clock=self.clock)
        # The after-ingest policy run waits 30 s between runs when served; tests poll for
        # what it writes, so let them wait a tenth of a second.
        app.state.policy_min_interval = self.policy_interval_s
        self.app = app
        config = uvicorn.Config(
            self.wrap(app) if self.wrap else app, host="127.0.0.1", port=self.port, log_level="warning", ws="none",
            lifespan="on", server_header=False, date_header=self.date_header,
            ssl_certfile=str(self.ssl_certfile) if self.ssl_certfile else None,
            ssl_keyfile=str(self.ssl_keyfile) if self.ssl_keyfile else None)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, name=f"central:{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"central did not start on port {self.port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        assert self._thread is not None
        self._thread.join(timeout=10)
        self._server = self._thread = None

    # --- admin helpers ------------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(base_url=self.url, trust_env=False, verify=False, timeout=10) as c:
            return c.request(method, path, headers={"Authorization": f"Bearer {self.admin_token}"},
                             **kwargs)

    def create_token(self, site_id: str, ttl_hours: float = 24) -> str:
        r = self.admin("POST", "/v1/admin/enrollment-tokens",
                       json={"site_id": site_id, "ttl_hours": ttl_hours})
        r.raise_for_status()
        return str(r.json()["token"])

    def enroll_key(self, key: signing.AgentKey, site_id: str = "site-1",
                   name: str = "test-agent") -> str:
        """Enroll `key` through the public API with a fresh token; returns the agent id."""
        token = self.create_token(site_id)
        with httpx.Client(base_url=self.url, trust_env=False, verify=False, timeout=10) as c:
            r = c.post("/v1/enroll", json={"token": token, "public_key": key.public_b64,
                                           "site_id": site_id, "agent_name": name})
        r.raise_for_status()
        return str(r.json()["agent_id"])

    def summaries(self, agent_id: str | None = None) -> list[sqlite3.Row]:
        if agent_id is None:
            return self.query("SELECT * FROM summaries ORDER BY id")
        return self.query("SELECT * FROM summaries WHERE agent_id = ? ORDER BY id", (agent_id,))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        """Read the server's database directly (a separate connection: WAL allows it)."""
        conn = sqlite3.connect(self.db_path)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture
def central(tmp_path: Path) -> Iterator[CentralServer]:
    server = CentralServer(tmp_path / "central.db").start()
    yield server
    server.stop()


T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday, in the past: central refuses the future


def make_summary(agent_id: str, sequence: int, *, site_id: str = "site-1",
                 serial: str = "XRX-0001", period_start: datetime = T0,
                 hours: float = 4.0, level: int = 60, with_event: bool = False,
                 address: str | None = "127.0.0.1") -> Summary:
    """A realistic one-toner summary; same (agent, serial, period) gives the same key."""
    end = period_start + timedelta(hours=hours)
    events = (CartridgeEvent(supply_index=1, replaced_at=period_start + timedelta(hours=1),
                             premature=True, grams_wasted=41.5, removed_percent=18.0,
                             cartridge_serial="CRUM-NEW-1", previous_serial="CRUM-OLD-1",
                             part_number="106R03528"),) if with_event else ()
    return Summary(
        agent_id=agent_id, site_id=site_id, contact="facilities@site.example",
        sequence=sequence, idempotency_key=idempotency_key(agent_id, serial, period_start, end),
        period_start=period_start, period_end=end,
        device=DeviceIdentity(serial, "xerox", "VersaLink C405", True, address),
        device_state=DeviceState.OK,
        supplies=(SupplySummary(1, SupplyType.TONER, SupplyClass.CONSUMED, "black", level,
                                LevelState.OK, float(level), 1.5, 6.0, 2.4, 25.0, 21.0, 30.0,
                                "ok", "106R03528", "CRUM-NEW-1"),),
        page_counters=PageCounters(1000 + sequence * 10, 1010 + sequence * 10),
        cartridge_events=events)


def enrolled_agent(server: CentralServer, key_dir: Path, site_id: str = "site-1"
                   ) -> tuple[signing.AgentKey, AgentIdentity]:
    """A key created on disk, enrolled at `server`, identity saved beside it."""
    key = signing.load_or_create(key_dir)
    agent_id = server.enroll_key(key, site_id)
    identity = AgentIdentity(agent_id=agent_id, site_id=site_id, central_url=server.url,
                             key_id=key.key_id)
    identity.save(key_dir)
    return key, identity


# --- a simulated fleet replayed through the real service ----------------------------------------

# (site, contact e-mail) -> {(device serial, supply index): units}
Orders = dict[tuple[str, str], dict[tuple[str, int], int]]
Agents = dict[str, tuple[signing.AgentKey, str]]  # site -> (enrolled key, agent id)


class Clock:
    """The service's clock, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


# Until a test sets it, the service's clock is a year past the simulated days: the policy
# runs it starts after ingest see every device silent for months and hold every line (they
# order nothing), so the only orders are those of the runs the test asks for.
FAR = datetime(2028, 6, 1, tzinfo=UTC)


def _contact_id(site_id: str) -> str:
    return f"{site_id}-facilities"


def registry_yaml(fleet: Fleet) -> str:
    """The fleet's sites, contacts and devices as central's registry document."""
    doc: dict[str, list[dict[str, Any]]] = {"contacts": [], "sites": [], "devices": []}
    for site in fleet.sites:
        doc["contacts"].append({"id": _contact_id(site.id), "name": f"Facilities {site.id}",
                                "email": site.contact})
        doc["sites"].append({"id": site.id, "name": site.id, "contact": _contact_id(site.id)})
        doc["devices"] += [{"serial": d.serial, "site": site.id, "model": d.model}
                           for d in site.devices]
    return json.dumps(doc)  # JSON is YAML


def register_fleet(server: CentralServer, fleet: Fleet, key_root: Path) -> Agents:
    """The fleet's registry imported, and one agent enrolled per site."""
    r = httpx.post(f"{server.url}/v1/registry/import", content=registry_yaml(fleet),
                   trust_env=False, headers={"Authorization": f"Bearer {server.admin_token}",
                                             "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    agents = {}
    for site in fleet.sites:
        key, identity = enrolled_agent(server, key_root / f"agent-{site.id}", site.id)
        agents[site.id] = (key, identity.agent_id)
    return agents


def sim_orders(result: SimResult, day: int) -> Orders:
    """The simulator's parcels created on `day`, keyed as central keys its order lines
    (a supply's index is its place in the device's list, from 1, as the agent numbers it)."""
    contact = {site.id: site.contact for site in result.fleet.sites}
    index = {(d.serial, sid): i for d in result.devices
             for i, sid in enumerate(d.supplies, start=1)}
    out: Orders = {}
    for parcel in result.parcels:
        if parcel.created_day != day:
            continue
        lines = out.setdefault((parcel.site_id, contact[parcel.site_id]), {})
        for line in parcel.lines:
            key = (line.serial, index[(line.serial, line.supply_id)])
            lines[key] = lines.get(key, 0) + line.quantity
    return out


def central_orders(server: CentralServer, fleet: Fleet,
                   only: Collection[int] | None = None) -> tuple[Orders, set[str]]:
    """Central's orders (those whose ids are in `only`, if given) read back through the
    API, and the days they were created on."""
    email = {_contact_id(site.id): site.contact for site in fleet.sites}
    r = server.admin("GET", "/v1/orders")
    assert r.status_code == 200, r.text
    out: Orders = {}
    days = set()
    for order in r.json():
        if only is not None and order["order_id"] not in only:
            continue
        days.add(order["created_on"])
        lines = out.setdefault((order["site_id"], email[order["contact_id"]]), {})
        for line in order["lines"]:
            key = (line["device_serial"], line["supply_index"])
            lines[key] = lines.get(key, 0) + line["quantity"]
    return out, days


def post_summaries(server: CentralServer, agents: Agents, summaries: Iterable[Summary]) -> int:
    """Each summary re-stamped with its site's enrolled agent, signed and POSTed in one
    batch per agent; every one must be accepted. Returns how many were posted."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        key, agent_id = agents[s.site_id]
        s = dataclasses.replace(s, agent_id=agent_id, idempotency_key=idempotency_key(
            agent_id, s.device.serial, s.period_start, s.period_end))
        batches.setdefault(agent_id, []).append(signing.seal(s, key).to_dict())
    for envelopes in batches.values():
        r = httpx.post(f"{server.url}/v1/summaries", json={"envelopes": envelopes},
                       trust_env=False, timeout=30)
        assert r.status_code == 200, r.text
        assert [x["code"] for x in r.json()["results"]] == [201] * len(envelopes), r.text
    return sum(len(b) for b in batches.values())


def run_policy_on(server: CentralServer, today: date) -> dict[str, Any]:
    """A run for an explicit day: planned at that day's start."""
    r = server.admin("POST", "/v1/admin/run-policy", json={"today": today.isoformat()})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def run_late(server: CentralServer, clock: Clock, day: date) -> dict[str, Any]:
    """A run at 23:59 of `day`, the hour the simulator plans at; the clock is set back
    after it, so the runs that later ingest starts order nothing."""
    clock.now = datetime.combine(day, time_of_day(23, 59), UTC)
    try:
        r = server.admin("POST", "/v1/admin/run-policy")
    finally:
        clock.now = FAR
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
