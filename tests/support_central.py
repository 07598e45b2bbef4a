"""A real central server on a free loopback port, for tests: uvicorn in a thread with a
real socket and a real SQLite file. Stop and start it again to simulate an outage.

    from support_central import CentralServer, central  # `central` is a fixture
    def test_x(central): central.url, central.create_token("site-1"), central.stop() ...
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from asr_agent import signing
from asr_agent.records import LevelState, SupplyClass, SupplyType
from asr_agent.uplink import AgentIdentity
from asr_agent.wire import (
    CartridgeEvent, DeviceIdentity, DeviceState, PageCounters, Summary, SupplySummary,
    idempotency_key,
)
from asr_central.app import SummaryHook, create_app

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
                 clock: Callable[[], datetime] | None = None) -> None:
        self.db_path = Path(db_path)
        self.clock = clock  # the service's clock (default: the wall clock)
        self.policy_interval_s = policy_interval_s
        self.wrap = wrap  # serves wrap(app) instead of the app (to mount it somewhere)
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
        return f"sqlite:///{self.db_path}"

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
            lifespan="on", server_header=False,
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


T0 = datetime(2027, 1, 4, tzinfo=UTC)


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
