"""The agent measures its clock against central's `Date` header on each delivery: the skew
is logged when it goes past the bound (and when it comes back), and shown on the status
page and in /metrics. Central here is the real service behind a clock set 10 minutes
behind this host's, which is what an agent 10 minutes fast sees."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from asr_agent.app.config import load_config
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import Uplink, UplinkSettings, queue_summary
from tests.agent_harness import agent_config, asr_log, run_agent
from tests.support_central import CentralServer, enrolled_agent, make_summary

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

SHIFT = timedelta(minutes=-10)


class ShiftedDate:
    """Serves the app with a `Date` header `shift` away from this host's clock."""

    def __init__(self, app: Any, shift: timedelta) -> None:
        self.app, self.shift = app, shift

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        async def send_dated(message: dict) -> None:
            if message["type"] == "http.response.start":
                when = datetime.now(UTC) + self.shift
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"date", format_datetime(when, usegmt=True).encode())]}
            await send(message)

        await self.app(scope, receive, send_dated if scope["type"] == "http" else send)


@pytest.fixture
def shifted_central(tmp_path: Path):
    server = CentralServer(tmp_path / "central.db", wrap=lambda app: ShiftedDate(app, SHIFT),
                           date_header=False).start()
    yield server
    server.stop()


def _queue(store: Store, key, agent_id: str, serial: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    queue_summary(store, make_summary(agent_id, store.next_sequence(), serial=serial, period_start=start), key)


def test_uplink_measures_the_skew_and_warns_once_then_says_when_it_is_back(
        tmp_path: Path, shifted_central: CentralServer) -> None:
    key, identity = enrolled_agent(shifted_central, tmp_path / "keys")
    offset = [timedelta(0)]
    with Store(tmp_path / "agent.sqlite3") as store, asr_log() as log, Uplink(
            UplinkSettings(shifted_central.url, trust_env=False), store,
            clock=lambda: datetime.now(UTC) + offset[0]) as up:
        for n in range(2):
            _queue(store, key, identity.agent_id, f"XRX-{n}")
            up.drain()
            assert 598 <= up.clock_skew_s <= 602, up.clock_skew_s  # type: ignore[operator]
        offset[0] = SHIFT  # the host's clock set right (to central's)
        _queue(store, key, identity.agent_id, "XRX-2")
        up.drain()
        assert abs(up.clock_skew_s) <= 2  # type: ignore[arg-type]
    warned = [line for line in log.lines(logging.WARNING) if "clock" in line]
    assert len(warned) == 1 and re.search(r"\+(599|600|601) s off central's", warned[0]), warned
    assert any("agrees with central's again" in line for line in log.lines(logging.INFO))


def test_daemon_shows_the_skew_on_its_page_and_in_metrics(tmp_path: Path, shifted_central: CentralServer) -> None:
    config_path = agent_config(tmp_path, [], central_url=shifted_central.url)
    paths = load_config(config_path).paths(config_file=config_path)
    key, identity = enrolled_agent(shifted_central, paths.key_dir)
    with Store.in_dir(paths.data_dir) as store:
        _queue(store, key, identity.agent_id, "XRX-1")

    pages = run_agent(config_path, lambda d: d.store.outbox_depth() == 0 and d._uplink.clock_skew_s is not None)

    skew = pages["/api/status.json"].json()["uplink"]["clock_skew_s"]
    assert 598 <= skew <= 602
    metric = next(line for line in pages["/metrics"].text.splitlines()
                  if line.startswith("asr_clock_skew_seconds "))
    assert float(metric.split()[1]) == skew
    assert f"{skew:+.1f} s" in pages["/"].text
    assert any(re.search(r"\+(599|600|601) s off central's", w) for w in pages["/healthz"].json()["warnings"])
