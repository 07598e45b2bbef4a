"""The console's newer pages, in a real browser on each engine: an agent's version and
clock skew as its latest batch told them (a real agent uplink posting to central); a
printer's supply history (a point per day) and forecast chart, its old points pruned by
the retention job, a printer's hostile strings shown as text."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr_central.service.deps import state_of
from asr_agent import __version__
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import Uplink, UplinkSettings, queue_summary
from asr_central.service.retention import CHECK_INTERVAL_S
from asr_central.storage import policy_inputs
from tests.support_central import (CentralServer, Clock, enrolled_agent, make_summary,
                                   post_summaries)
from tests.support_console import add_user, browser, console, register, sign_in

pytestmark = pytest.mark.browser

__all__ = ["browser", "console"]  # fixtures

FAST = timedelta(seconds=90)  # the agent's clock, ahead of central's


def _deliver(server: CentralServer, tmp_path: Path, site: str, serial: str,
             ahead: timedelta) -> str:
    """One summary from a real agent uplink whose clock is `ahead` of this host's."""
    key, identity = enrolled_agent(server, tmp_path / f"agent-{site}", site)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with Store(tmp_path / f"agent-{site}.sqlite3") as store, Uplink(
            UplinkSettings(server.url, trust_env=False), store,
            clock=lambda: datetime.now(UTC) + ahead) as up:
        queue_summary(store, make_summary(identity.agent_id, store.next_sequence(),
                                          site_id=site, serial=serial, period_start=start), key)
        up.drain()
        assert store.pending() == []  # delivered
    return identity.agent_id


def test_the_agents_page_shows_each_agents_version_and_clock_skew(
        browser, console: CentralServer, tmp_path: Path) -> None:
    register(console)
    fast = _deliver(console, tmp_path, "lyon", "XRX-1", FAST)
    quiet = enrolled_agent(console, tmp_path / "agent-paris", "paris")[1].agent_id
    add_user(console, "olga", "operator")
    page = sign_in(browser, console, "olga")
    page.goto(f"{console.url}/console/agents")
    row = page.locator(f'tr.agent[data-agent="{fast}"]')
    assert row.locator("td.version").inner_text() == __version__
    skew = row.locator("td.skew").inner_text()
    assert skew.endswith("clock off"), skew
    assert 89 <= int(skew.split(" s")[0]) <= 91, skew
    never = page.locator(f'tr.agent[data-agent="{quiet}"]')
    assert never.locator("td.version").inner_text() == "unknown"
    assert never.locator("td.skew").inner_text() == "unknown"


def _days_of_history(server: CentralServer, tmp_path: Path, days: list[int],
                     color: str = "black") -> None:
    """One summary per entry of `days` (days ago, the level falling 2 % a day) for XRX-1
    at lyon, through the real ingest in one batch; the nth ends n % 3 hours before 09:00
    and reads n % 3 % lower (a day's later summary in the batch may be its older reading)."""
    key, identity = enrolled_agent(server, tmp_path / "agent-lyon", "lyon")
    today = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    summaries = []
    for n, ago in enumerate(days, 1):
        s = make_summary(identity.agent_id, n, site_id="lyon", serial="XRX-1",
                         period_start=today - timedelta(days=ago, hours=n % 3), hours=1,
                         level=max(5, 90 - 2 * (days[0] - ago) - n % 3))
        summaries.append(dataclasses.replace(s, supplies=tuple(
            dataclasses.replace(x, color=color) for x in s.supplies)))
    post_summaries(server, {"lyon": (key, identity.agent_id)}, summaries)


def test_the_printer_page_charts_a_point_per_day_and_the_forecast(
        browser, console: CentralServer, tmp_path: Path) -> None:
    register(console)
    # six days of history, the fourth day reported twice: five points, not six
    _days_of_history(console, tmp_path, [5, 4, 3, 3, 2, 1])
    add_user(console, "olga", "operator")
    page = sign_in(browser, console, "olga")
    page.goto(f"{console.url}/console/printers/XRX-1")
    chart = page.locator('#supply-charts figure[data-supply="1"]')
    assert chart.locator("circle.point").count() == 5
    assert len(chart.locator("polyline.history").get_attribute("points").split()) == 5
    # the forecast from the latest reading (25 days, 21 to 30) to empty, its band shaded
    assert len(chart.locator("polyline.forecast").get_attribute("points").split()) == 2
    assert len(chart.locator("polygon.band").get_attribute("points").split()) == 3
    empty_on = (datetime.now(UTC) - timedelta(days=1) + timedelta(days=25)).date()
    caption = chart.locator("figcaption").inner_text()
    assert any(str(empty_on + timedelta(days=d)) in caption for d in (-1, 0, 1)), caption
    days = console.query("SELECT day, remaining_percent FROM supply_history "
                         "WHERE device_serial = 'XRX-1' ORDER BY day")
    # that day's newer reading (08:00 to 09:00, 86 %) kept, not the older one sent after it
    assert len(days) == 5 and days[2][1] == 86.0


def test_points_past_400_days_are_pruned_by_the_retention_job(
        browser, central_db_url: str, tmp_path: Path) -> None:
    clock = Clock(datetime.now(UTC))
    server = CentralServer(central_db_url, clock=clock).start()
    try:
        # signed payloads kept forever (0 days): the history is pruned all the same, and no
        # payload is emptied
        state_of(server.app).keep_payload_days = 0
        register(server)
        _days_of_history(server, tmp_path, [402, 398, 1])
        assert server.query("SELECT COUNT(*) FROM supply_history")[0][0] == 3
        # the spikes the service order point learns from go with the points they were read on
        with state_of(server.app).db.transaction() as conn:
            policy_inputs.record_usage_changes(conn, [
                ("XRX-1", "1", clock.now - timedelta(days=402), 3.0),
                ("XRX-1", "1", clock.now - timedelta(days=1), None)])
        # the retention job ran when the server started: it is due again an interval later,
        # tried when the next batch wakes the leader
        clock.now += timedelta(seconds=CHECK_INTERVAL_S + 1)
        state_of(server.app).duties.wake()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            days = server.query("SELECT COUNT(*) FROM supply_history")[0][0]
            if days == 2:
                break
            time.sleep(0.2)
        assert days == 2  # the leader's retention run took the 402-day-old point only
        assert [tuple(r) for r in server.query("SELECT ratio FROM usage_changes")] == [(None,)]
        assert server.query("SELECT day FROM supply_history ORDER BY day")[0][0] == str(
            (datetime.now(UTC) - timedelta(days=398)).date())
        assert server.query("SELECT COUNT(*) FROM summaries WHERE length(payload) = 0 "
                            "OR length(signature) = 0")[0][0] == 0
        add_user(server, "olga", "operator")
        page = sign_in(browser, server, "olga")
        page.goto(f"{server.url}/console/printers/XRX-1")
        assert page.locator('#supply-charts circle.point').count() == 2
    finally:
        server.stop()


def test_a_hostile_supply_name_on_the_chart_is_text(
        browser, console: CentralServer, tmp_path: Path) -> None:
    register(console)
    hostile = '"><script>document.title="owned"</script><img src=x onerror=alert(1)>'
    _days_of_history(console, tmp_path, [2, 1], color=hostile)
    add_user(console, "olga", "operator")
    page = sign_in(browser, console, "olga")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{console.url}/console/printers/XRX-1")
    chart = page.locator('#supply-charts figure[data-supply="1"]')
    assert hostile in chart.locator("figcaption").inner_text()
    assert chart.locator("script, img").count() == 0
    assert page.title() != "owned" and dialogs == []
    assert chart.locator("polyline.history").get_attribute("stroke") == "#5b6b7b"
