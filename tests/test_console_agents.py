"""Agents in the console, in a real browser: the list with when central last heard from
each; an admin's enrollment token (shown once, never logged) that a real agent key then
enrolls with; revocation; what operators and customers may not do, also by a direct POST."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from asr_agent.adapters import keys as signing
from tests.support_central import (
    T0, CentralServer, Clock, enrolled_agent, make_summary, post_summaries,
)
from tests.support_console import add_user, browser, csrf_of, register, sign_in

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # fixtures


@pytest.fixture
def central(tmp_path):
    server = CentralServer(tmp_path / "central.db", clock=Clock(T0 + timedelta(days=1))).start()
    register(server)
    key, identity = enrolled_agent(server, tmp_path / "agent-lyon", "lyon")
    post_summaries(server, {"lyon": (key, identity.agent_id)},
                   [make_summary("x", 1, site_id="lyon", serial="XRX-1", with_event=True)])
    for name, role, *sites in (("root", "admin"), ("olga", "operator"),
                               ("claire", "customer", "lyon")):
        add_user(server, name, role, *sites)
    server.agent_id = identity.agent_id
    yield server
    server.stop()


def test_agents_show_their_site_printers_and_last_summary(browser, central) -> None:
    page = sign_in(browser, central, "olga")
    page.goto(f"{central.url}/console/agents")
    row = page.locator(f'tr.agent[data-agent="{central.agent_id}"]')
    cells = row.locator("td")
    assert cells.nth(1).inner_text() == "lyon"
    assert cells.nth(4).inner_text() == "1"  # printers reporting through it
    assert cells.nth(5).inner_text().startswith("2026-01-06")  # received, by the clock
    assert page.locator("#token-form").count() == 0 and row.locator("form").count() == 0


def test_an_admin_creates_an_enrollment_token_an_agent_then_enrolls_with(
        browser, central, tmp_path) -> None:
    page = sign_in(browser, central, "root")
    page.goto(f"{central.url}/console/agents")
    page.select_option("select[name=site_id]", "paris")
    with page.expect_navigation():
        page.click("text=Create enrollment token")
    token = page.locator("#new-token code").first.inner_text()
    assert token.startswith("asr-enroll-")
    key = signing.load_or_create(tmp_path / "agent-paris")
    r = httpx.post(f"{central.url}/v1/enroll", trust_env=False, json={
        "token": token, "public_key": key.public_b64, "site_id": "paris",
        "agent_name": "paris-agent"})
    assert r.status_code == 201, r.text
    logged = central.query("SELECT target, detail FROM console_audit "
                           "WHERE action = 'enrollment_token'")
    assert [r[0] for r in logged] == ["site paris"]
    assert all(token not in " ".join(map(str, r)) for r in central.query(
        "SELECT * FROM console_audit"))


def test_an_admin_revokes_an_agent(browser, central) -> None:
    page = sign_in(browser, central, "root")
    page.goto(f"{central.url}/console/agents")
    row = page.locator(f'tr.agent[data-agent="{central.agent_id}"]')
    row.locator("input[name=reason]").fill("laptop stolen")
    with page.expect_navigation():
        row.locator("text=Revoke").click()
    assert "revoked" in page.locator(f'tr.agent[data-agent="{central.agent_id}"]').inner_text()
    revoked = central.query("SELECT revoked_at, revoked_reason FROM agents")
    assert revoked[0][0] is not None and revoked[0][1] == "laptop stolen"


def test_an_operator_cannot_revoke_or_create_tokens_by_a_direct_post(browser, central) -> None:
    page = sign_in(browser, central, "olga")
    page.goto(f"{central.url}/console/agents")
    token = csrf_of(page)
    for path, form in ((f"/console/agents/{central.agent_id}/revoke", {}),
                       ("/console/agents/enrollment-token", {"site_id": "lyon"})):
        r = page.context.request.post(central.url + path, form={"csrf": token, **form},
                                      max_redirects=0)
        assert r.status == 403, path
    assert central.query("SELECT revoked_at FROM agents")[0][0] is None
    assert central.query("SELECT COUNT(*) FROM enrollment_tokens WHERE site_id = 'lyon' "
                         "AND used_at IS NULL")[0][0] == 0


def test_a_customer_does_not_see_the_agents(browser, central) -> None:
    page = sign_in(browser, central, "claire")
    assert page.goto(f"{central.url}/console/agents").status == 403
    assert "Agents" not in page.goto(f"{central.url}/console/").text()


def test_a_printer_page_shows_its_cartridge_lives(browser, central) -> None:
    page = sign_in(browser, central, "claire")
    page.goto(f"{central.url}/console/printers/XRX-1")
    change = page.locator("#cartridges tr.change")
    assert change.count() == 1
    text = change.inner_text()
    for expected in ("CRUM-NEW-1", "CRUM-OLD-1", "premature", "18 % left", "41.5 g wasted",
                     "not shipped by us"):
        assert expected in text
