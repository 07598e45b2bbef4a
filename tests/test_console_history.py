"""The console's newer pages, in a real browser on each engine: an agent's version and
clock skew as its latest batch told them (a real agent uplink posting to central)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr_agent import __version__
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import Uplink, UplinkSettings, queue_summary
from tests.support_central import CentralServer, enrolled_agent, make_summary
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
