"""A status snapshot with every kind of device and supply, and a running status server
built from it, shared by the status page's HTTP and browser tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from asr_agent.app.status.app import create_status_app
from asr_agent.app.status.model import (
    AgentView, DeviceView, JobView, LevelPoint, StatusSnapshot, SupplyHistory, SupplyView, UplinkView,
)
from asr_agent.app.status.server import StatusServer


def sample_snapshot(*, healthy: bool = True) -> StatusSnapshot:
    xerox = DeviceView(
        serial="XRX-0001", vendor="xerox", model="AltaLink C8045", address="127.0.0.1:16100",
        state="ok", asr_compatible=True, last_poll="2026-11-28T08:00:00+00:00", page_count=123456,
        supplies=(
            SupplyView(1, "Black Toner", "toner", "consumed", "black", 20.0, "ok",
                       days_to_empty=12.5, days_to_empty_low=10.0, days_to_empty_high=15.0,
                       daily_grams=4.2, forecast_status="ok", part_number="006R01509",
                       order_status="shipped"),
            SupplyView(2, "Cyan Toner", "toner", "consumed", "cyan", 66.0, "ok",
                       forecast_status="warming_up", forecast_reason="not enough history"),
            SupplyView(10, "Waste Toner Container", "waste_toner", "receptacle", None, 5.0, "ok",
                       days_to_empty=3.0, flags=("usage_spike",)),
            SupplyView(3, "Magenta <script>alert(1)</script>", "toner", "consumed", "magenta", None,
                       "some_remaining"),
        ),
        flags=("premature_replacement",),
    )
    hp = DeviceView(serial="CNB1234", vendor="hp", model=None, address=None, state="asleep",
                    asr_compatible=False, last_poll=None)
    return StatusSnapshot(
        generated_at="2026-11-28T08:01:00+00:00",
        agent=AgentView(version="0.1.0", site_id="lyon-hq", config_path="/etc/asr-agent/config.yaml",
                        data_dir="/var/lib/asr-agent", log_path=None, started_at="2026-11-28T07:00:00+00:00"),
        uplink=UplinkView(central_url="https://central.example/", enrolled=True,
                          last_success="2026-11-28T08:00:30+00:00", last_error=None, last_error_at=None,
                          outbox_depth=3),
        devices=(xerox, hp),
        jobs=(JobView("poll", "2026-11-28T08:15:00+00:00", "2026-11-28T08:00:00+00:00", "ok"),),
        healthy=healthy,
        problems=() if healthy else ("central unreachable for 2 days",),
    )


@dataclass
class StaticSource:
    snap: StatusSnapshot
    poll_requests: list[int] = field(default_factory=list)

    def snapshot(self) -> StatusSnapshot:
        return self.snap

    def history(self, serial: str) -> list[SupplyHistory]:
        points = tuple(LevelPoint(f"2026-11-{d:02d}T12:00:00+00:00", 100 - 3 * d) for d in range(1, 27))
        forecast = (LevelPoint("2026-12-10T12:00:00+00:00", 0.0),)
        return [SupplyHistory(1, points, forecast)]

    async def poll_now(self) -> None:
        self.poll_requests.append(1)


@contextmanager
def running_status_server(source: StaticSource, binds: tuple[str, ...] = ("127.0.0.1",)) -> Iterator[StatusServer]:
    """The status app served by uvicorn on a real loopback socket, in a background loop."""
    app = create_status_app(source, poll_now=source.poll_now)
    server = StatusServer(app, binds, 0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
