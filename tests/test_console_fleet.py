"""The fleet and alerts in the console, in a real browser, fed by signed summaries through
the real ingest and a real policy run: supply bars, days to empty, silent and alert badges,
filters, search and pages; acknowledging an alert; what a customer and a viewer may see
and do, also by guessing URLs and by a direct POST."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from tests.support_central import (
    T0, CentralServer, Clock, enrolled_agent, make_summary, post_summaries, run_policy_on,
)
from tests.support_console import add_user, browser, csrf_of, register, screenshot, sign_in

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # fixtures

NOW = T0 + timedelta(days=10)


@pytest.fixture
def fleet(tmp_path):
    """lyon: XRX-1 reporting (20 % left), XRX-2 silent for ten days; paris: P-9 reporting.
    A policy run has raised the silent alert."""
    server = CentralServer(tmp_path / "central.db", clock=Clock(NOW)).start()
    register(server, lyon_note="<script>window.pwned = 1</script> copy room")
    agents = {site: (key, identity.agent_id) for site, (key, identity) in (
        (s, enrolled_agent(server, tmp_path / f"agent-{s}", s)) for s in ("lyon", "paris"))}
    recent = T0 + timedelta(days=9)
    post_summaries(server, agents, [
        make_summary("x", 1, site_id="lyon", serial="XRX-1", period_start=recent, level=20),
        make_summary("x", 2, site_id="lyon", serial="XRX-2", period_start=T0, level=70),
        make_summary("x", 1, site_id="paris", serial="P-9", period_start=recent, level=90)])
    run_policy_on(server, NOW.date())
    for name, role, *sites in (("olga", "operator"), ("vic", "viewer"),
                               ("claire", "customer", "lyon")):
        add_user(server, name, role, *sites)
    yield server
    server.stop()


def _serials(page) -> list[str]:
    rows = page.locator("tr.printer")
    return [rows.nth(i).get_attribute("data-serial") for i in range(rows.count())]


def _open_alerts(server, serial: str) -> list[str]:
    return [r[0] for r in server.query(
        "SELECT kind FROM central_alerts WHERE device_serial = ? AND resolved_at IS NULL "
        "AND acknowledged_at IS NULL", (serial,))]


def test_printers_show_supply_bars_days_to_empty_and_badges(browser, fleet) -> None:
    page = sign_in(browser, fleet, "vic")
    page.goto(f"{fleet.url}/console/fleet")
    assert _serials(page) == ["P-9", "XRX-1", "XRX-2"]
    one = page.locator('tr.printer[data-serial="XRX-1"]')
    bar = one.locator('[data-supply="1"] .bar > span').bounding_box()
    track = one.locator('[data-supply="1"] .bar').bounding_box()
    assert bar["width"] == pytest.approx(track["width"] * 0.20, abs=2)
    assert "25 d" in one.locator('[data-supply="1"]').inner_text()
    assert one.locator(".badge-silent").count() == 0
    silent = page.locator('tr.printer[data-serial="XRX-2"]')
    assert silent.locator(".badge-silent").count() == 1
    assert "device_silent" in _open_alerts(fleet, "XRX-2")
    assert silent.locator(".badge-alert").count() == 1
    # a printer string is text, never markup
    assert "<script>window.pwned = 1</script> copy room" in one.inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    screenshot(page, "console-fleet.png")


@pytest.mark.parametrize("query, expected", [
    ("site=paris", ["P-9"]),
    ("contact=claire", ["XRX-1", "XRX-2"]),
    ("state=silent", ["XRX-2"]),
    ("state=alert", ["XRX-2"]),
    ("q=xrx-", ["XRX-1", "XRX-2"]),
    ("q=%25", []),  # a LIKE wildcard is searched for, not obeyed
])
def test_filters_and_search(browser, fleet, query, expected) -> None:
    page = sign_in(browser, fleet, "olga")
    page.goto(f"{fleet.url}/console/fleet?{query}")
    assert _serials(page) == expected


def test_the_filter_form_searches_by_serial(browser, fleet) -> None:
    page = sign_in(browser, fleet, "olga")
    page.goto(f"{fleet.url}/console/fleet")
    page.fill("input[name=q]", "p-9")
    with page.expect_navigation():
        page.click("text=Show")
    assert _serials(page) == ["P-9"]


def test_the_fleet_comes_a_page_at_a_time_and_pages_keep_the_filter(browser, fleet) -> None:
    doc = {"devices": [{"serial": f"BULK-{i:03d}", "site": "paris"} for i in range(70)]}
    r = httpx.post(f"{fleet.url}/v1/registry/import", content=json.dumps(doc), trust_env=False,
                   headers={"Authorization": f"Bearer {fleet.admin_token}",
                            "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    page = sign_in(browser, fleet, "olga")
    page.goto(f"{fleet.url}/console/fleet?site=paris")
    assert len(_serials(page)) == 50
    with page.expect_navigation():
        page.click("a[rel=next]")
    assert "site=paris" in page.url and "p=2" in page.url
    rest = _serials(page)
    assert len(rest) == 21 and rest[-1] == "P-9"


def test_an_operator_acknowledges_an_alert_linked_to_its_printer(browser, fleet) -> None:
    page = sign_in(browser, fleet, "olga")
    page.goto(f"{fleet.url}/console/alerts")
    screenshot(page, "console-alerts.png")
    row = page.locator("tr.alert", has_text="XRX-2").filter(has_text="device_silent")
    assert row.locator("a").get_attribute("href") == "/console/printers/XRX-2"
    with page.expect_navigation():
        row.locator("text=Acknowledge").click()
    assert "Alert acknowledged." in page.locator("[role=status]").inner_text()
    assert "device_silent" not in _open_alerts(fleet, "XRX-2")
    assert page.locator("tr.alert", has_text="XRX-2").filter(has_text="device_silent").count() == 0
    audit = fleet.query("SELECT username, action, outcome FROM console_audit "
                        "WHERE action = 'alert_acknowledge'")
    assert [tuple(r) for r in audit] == [("olga", "alert_acknowledge", "ok")]
    page.goto(f"{fleet.url}/console/printers/XRX-2")
    acknowledged = page.locator("#printer-alerts tr", has_text="device_silent")
    assert "2026-01-15" in acknowledged.locator("td").nth(3).inner_text()  # when, by the clock


@pytest.mark.parametrize("user", ["vic", "claire"])
def test_readers_cannot_acknowledge_also_by_a_direct_post(browser, fleet, user) -> None:
    page = sign_in(browser, fleet, user)
    page.goto(f"{fleet.url}/console/alerts")
    assert page.locator("main button").count() == 0
    key = fleet.query("SELECT alert_key FROM central_alerts WHERE device_serial = 'XRX-2' "
                      "AND kind = 'device_silent'")[0][0]
    r = page.context.request.post(f"{fleet.url}/console/alerts/acknowledge",
                                  form={"csrf": csrf_of(page), "alert_key": key},
                                  max_redirects=0)
    assert r.status == 403
    assert "device_silent" in _open_alerts(fleet, "XRX-2")


def test_a_customer_sees_only_their_sites_also_by_guessing_urls(browser, fleet) -> None:
    page = sign_in(browser, fleet, "claire")
    page.goto(f"{fleet.url}/console/fleet")
    assert _serials(page) == ["XRX-1", "XRX-2"]
    sites = page.locator("tr.site")
    assert [sites.nth(i).get_attribute("data-site") for i in range(sites.count())] == ["lyon"]
    assert "Paul Durand" not in page.content()
    for query in ("site=paris", "q=P-9", "contact=paul"):
        page.goto(f"{fleet.url}/console/fleet?{query}")
        assert _serials(page) == [], query
    assert page.goto(f"{fleet.url}/console/printers/XRX-1").status == 200
    assert page.goto(f"{fleet.url}/console/printers/P-9").status == 404
    assert page.goto(f"{fleet.url}/console/printers/NO-SUCH").status == 404
    page.goto(f"{fleet.url}/console/alerts?all=1")
    assert "P-9" not in page.locator("#alerts").inner_text()
