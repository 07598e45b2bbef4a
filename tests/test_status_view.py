"""The status page built from a plain StatusView (no daemon): a real store file, the page
served by uvicorn on loopback, every fact the page shows taken from the view, and time
taken from the view's clock only."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import httpx

from asr_agent.adapters.store import Store
from asr_agent.app.jobs.summarize import SupplyOutlook
from asr_agent.app.status.app import create_status_app
from asr_agent.app.status.server import StatusServer
from asr_agent.app.status.snapshot import (
    AgentFacts, DaemonStatusSource, JobFacts, StatusView, TargetFacts, UplinkFacts,
)
from asr_agent.domain.forecast import Forecast
from asr_core.wire import OrderStatus
from tests.test_store import reading, toner

T = TypeVar("T")
# Far from the wall clock: a page that read datetime.now would show another time.
NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)


@dataclass
class PlainView:
    """A StatusView made of plain values."""

    store: Store | None
    clock: Callable[[], datetime] = lambda: NOW
    facts: AgentFacts = field(default_factory=lambda: AgentFacts(
        site_id="lyon-hq", config_path="/etc/asr-agent/config.yaml", data_dir="/var/lib/asr-agent",
        log_path=None, started_at=NOW - timedelta(days=3),
        central_url="https://user:s3cret-pw@central.example/", central_proxy=None, enrolled=True))
    target_list: tuple[TargetFacts, ...] = ()
    outlook_map: dict[str, dict[int, SupplyOutlook]] = field(default_factory=dict)
    orders: dict[tuple[str, int], OrderStatus] = field(default_factory=dict)
    uplink_facts: UplinkFacts | None = None
    job_map: dict[str, JobFacts] = field(default_factory=dict)

    def now(self) -> datetime:
        return self.clock()

    def agent(self) -> AgentFacts:
        return self.facts

    def targets(self) -> Sequence[TargetFacts]:
        return self.target_list

    def outlooks(self, serial: str) -> Mapping[int, SupplyOutlook]:
        return self.outlook_map.get(serial, {})

    def order_status(self, serial: str, supply_index: int) -> OrderStatus | None:
        return self.orders.get((serial, supply_index))

    def uplink(self) -> UplinkFacts | None:
        return self.uplink_facts

    def jobs(self) -> Mapping[str, JobFacts]:
        return self.job_map

    async def read(self, func: Callable[..., T], *args: object) -> T:
        return func(*args)


@contextmanager
def served(view: StatusView) -> Iterator[str]:
    app = create_status_app(DaemonStatusSource(view))
    server = StatusServer(app, ("127.0.0.1",), 0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server.urls[0].rstrip("/")
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


def test_the_page_is_built_from_a_plain_view_object(tmp_path: Path) -> None:
    with Store.in_dir(tmp_path / "data") as store:
        store.record_reading(reading(NOW - timedelta(days=1), toner(2650), pages=1000))
        store.enqueue(b"{}", "summary", "k1")  # one waiting summary
        fc = Forecast("ok", None, 2.0, 4.2, 12.5, 10.0, 15.0, empty_at=NOW + timedelta(days=12))
        view = PlainView(
            store,
            target_list=(TargetFacts("127.0.0.1", 16100, "XRX001", 1000, None),
                         TargetFacts("127.0.0.9", 161, None, None, "credential 'office': no answer")),
            outlook_map={"XRX001": {1: SupplyOutlook(("premature_replacement",), fc)}},
            orders={("XRX001", 1): OrderStatus("XRX001", 1, "created", 1, 7, created_at=NOW)},
            # The last success 25 h before the view's now; by the wall clock it is years ahead.
            uplink_facts=UplinkFacts((NOW - timedelta(hours=25)).timestamp(),
                                     "refused by https://user:s3cret-pw@central.example/", 2.0, False),
            job_map={"poll": JobFacts(NOW + timedelta(minutes=15), NOW, "ok"),
                     "discover": JobFacts(None, NOW, "error: sweep failed")})
        with served(view) as base:
            body = httpx.get(base + "/api/status.json").json()
            health = httpx.get(base + "/healthz")
            history = httpx.get(base + "/devices/XRX001").text

    assert body["generated_at"] == "2031-06-01T12:00:00+00:00"
    assert body["agent"]["site_id"] == "lyon-hq"
    [device] = body["devices"]
    assert device["serial"] == "XRX001" and device["address"] == "127.0.0.1:16100"
    assert device["page_count"] == 1000 and device["flags"] == ["premature_replacement"]
    [supply] = device["supplies"]
    assert supply["days_to_empty"] == 12.5 and supply["order_status"].startswith("ordered")
    assert [j["id"] for j in body["jobs"]] == ["discover", "poll"]
    assert body["uplink"]["outbox_depth"] == 1
    assert "s3cret-pw" not in str(body)
    assert any("127.0.0.9:161 has never answered" in w for w in body["warnings"])
    # Stale by the view's clock (25 h > 24 h, started 3 days before): unhealthy.
    assert any(p.startswith("central unreachable") for p in body["problems"])
    assert "job discover failed: sweep failed" in body["problems"]
    assert health.status_code == 503
    assert "<svg" in history


def test_the_page_s_times_follow_the_view_s_clock_not_the_wall_clock(tmp_path: Path) -> None:
    past = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)  # years before the wall clock
    with Store.in_dir(tmp_path / "data") as store:
        store.record_reading(reading(past - timedelta(days=1), toner(2650)))
        store.enqueue(b"{}", "summary", "k1")
        # Central answered one hour before the view's now, the agent started 3 days before
        # it: fresh by the view's clock, years stale by the wall clock.
        facts = replace(PlainView(None).facts, started_at=past - timedelta(days=3))
        view = PlainView(store, clock=lambda: past, facts=facts,
                         uplink_facts=UplinkFacts((past - timedelta(hours=1)).timestamp(),
                                                  "timeout", None, False))
        with served(view) as base:
            body = httpx.get(base + "/api/status.json").json()
            history = httpx.get(base + "/devices/XRX001").text
    assert body["healthy"] is True, body["problems"]
    assert body["generated_at"] == "2020-01-06T09:00:00+00:00"
    assert "<svg" in history  # the last 60 days counted back from the view's now
