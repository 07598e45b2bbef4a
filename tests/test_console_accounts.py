"""The console's accounts in a real browser: sign-in, session cookies and fixation, CSRF on
every form action, throttled sign-in, the audit log and who may read it, and the
`asr-central users` command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from asr_central.cli import main as central_cli
from tests.support_central import CentralServer, Clock
from tests.support_console import (
    PASSWORD, add_user, browser, console, session_cookie, sign_in,
)

pytestmark = pytest.mark.browser

__all__ = ["browser", "console"]  # fixtures


def test_sign_in_leads_to_the_console_with_a_strict_httponly_cookie(browser, console) -> None:
    add_user(console, "ada", "operator")
    page = sign_in(browser, console, "ada")
    assert page.url.endswith("/console/")
    assert "ada" in page.locator("header").inner_text()
    cookie = session_cookie(page)
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/console"
    # only the hash of the id is stored
    stored = [r["session_hash"] for r in console.query("SELECT session_hash FROM console_sessions")]
    assert stored and cookie["value"] not in stored


def test_a_page_without_a_session_leads_to_sign_in_and_back(browser, console) -> None:
    add_user(console, "ada", "admin")
    page = browser.new_context().new_page()
    page.goto(f"{console.url}/console/audit")
    assert "/console/sign-in" in page.url
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/console/audit")


def test_session_id_changes_at_sign_in(browser, console) -> None:
    """A session id planted before sign-in (fixation) is never the one signed in: the
    browser gets a fresh random id, and the planted one opens nothing."""
    add_user(console, "ada", "operator")
    planted = {"name": "asr_console", "value": "planted-by-attacker", "domain": "127.0.0.1",
               "path": "/console"}
    context = browser.new_context()
    context.add_cookies([planted])
    page = context.new_page()
    page.goto(f"{console.url}/console/sign-in")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.url.endswith("/console/")
    first = session_cookie(page)
    assert first is not None and first["value"] != "planted-by-attacker"
    second = session_cookie(sign_in(browser, console, "ada"))
    assert second is not None and second["value"] != first["value"]

    attacker = browser.new_context()
    attacker.add_cookies([planted])
    p = attacker.new_page()
    p.goto(f"{console.url}/console/")
    assert "/console/sign-in" in p.url, "the planted id was signed in"


def test_wrong_password_is_refused_and_audited(browser, console) -> None:
    add_user(console, "ada", "admin")
    page = sign_in(browser, console, "ada", password="not the password")
    assert "/console/sign-in" in page.url
    assert page.locator("[role=alert]").inner_text() == "Wrong username or password."
    assert session_cookie(page) is None
    rows = console.query("SELECT username, action, target, outcome, address FROM console_audit "
                         "WHERE action = 'sign_in'")
    assert [tuple(r) for r in rows] == [(None, "sign_in", "ada", "failed", "127.0.0.1")]


def test_unknown_and_disabled_accounts_cannot_sign_in(browser, console) -> None:
    add_user(console, "ada", "operator")
    assert central_cli(["users", "--db", console.db_url, "disable", "ada"]) == 0
    for name in ("ada", "nobody"):
        page = sign_in(browser, console, name)
        assert "/console/sign-in" in page.url and session_cookie(page) is None


def test_disabling_an_account_ends_its_sessions(browser, console) -> None:
    add_user(console, "ada", "operator")
    page = sign_in(browser, console, "ada")
    assert page.url.endswith("/console/")
    assert central_cli(["users", "--db", console.db_url, "disable", "ada"]) == 0
    page.goto(f"{console.url}/console/")
    assert "/console/sign-in" in page.url


def test_sign_in_is_throttled_per_account(browser, console) -> None:
    """After five failures for one account, even the right password is refused for a while."""
    add_user(console, "ada", "operator")
    for _ in range(5):
        assert "/console/sign-in" in sign_in(browser, console, "ada", password="guess").url
    page = sign_in(browser, console, "ada")
    assert "/console/sign-in" in page.url and session_cookie(page) is None
    assert "Too many failed sign-ins" in page.locator("[role=alert]").inner_text()
    refused = console.query("SELECT detail FROM console_audit WHERE outcome = 'refused'")
    assert [r[0] for r in refused] == ["too many failed sign-ins for this account"]


def test_sign_in_is_throttled_per_address(browser, console) -> None:
    """Guesses spread over many account names from one address stop too."""
    add_user(console, "ada", "operator")
    context = browser.new_context()
    request = context.request
    for i in range(20):
        form = _sign_in_form(context, console)
        r = request.post(f"{console.url}/console/sign-in",
                         form={"username": f"user{i}", "password": "guess", **form})
        assert r.status == 401
    form = _sign_in_form(context, console)
    r = request.post(f"{console.url}/console/sign-in",
                     form={"username": "ada", "password": PASSWORD, **form})
    assert r.status == 429 and int(r.headers["retry-after"]) >= 1


def _sign_in_form(context, server) -> dict[str, str]:
    page = context.new_page()
    page.goto(f"{server.url}/console/sign-in")
    token = page.locator("input[name=form_token]").get_attribute("value")
    page.close()
    return {"form_token": token}


def test_sign_in_from_another_site_without_the_form_token_is_refused(browser, console) -> None:
    add_user(console, "ada", "operator")
    context = browser.new_context()
    r = context.request.post(f"{console.url}/console/sign-in",
                             form={"username": "ada", "password": PASSWORD}, max_redirects=0)
    assert r.status == 403
    assert not any(c["name"] == "asr_console" for c in context.cookies())


@pytest.mark.parametrize("csrf", [None, "", "wrong-token"])
def test_a_form_action_without_the_right_csrf_token_is_refused(browser, console, csrf) -> None:
    add_user(console, "ada", "admin")
    page = sign_in(browser, console, "ada")
    form = {} if csrf is None else {"csrf": csrf}
    r = page.context.request.post(f"{console.url}/console/sign-out", form=form,
                                  max_redirects=0)
    assert r.status == 403
    page.goto(f"{console.url}/console/")
    assert page.url.endswith("/console/"), "the session ended without a valid token"
    refused = console.query("SELECT username, action, outcome FROM console_audit "
                            "WHERE outcome = 'refused'")
    assert [tuple(r) for r in refused] == [("ada", "sign_out", "refused")]


def test_sign_out_with_the_button_ends_the_session(browser, console) -> None:
    add_user(console, "ada", "viewer")
    page = sign_in(browser, console, "ada")
    held = session_cookie(page)
    with page.expect_navigation():
        page.click("text=Sign out")
    assert "/console/sign-in" in page.url
    other = browser.new_context()
    other.add_cookies([{"name": "asr_console", "value": held["value"],
                        "url": f"{console.url}/console/"}])
    p = other.new_page()
    p.goto(f"{console.url}/console/")
    assert "/console/sign-in" in p.url


def test_admins_read_the_audit_log_and_others_are_refused(browser, console) -> None:
    add_user(console, "root", "admin")
    add_user(console, "ada", "operator")
    sign_in(browser, console, "ada", password="wrong once")
    operator = sign_in(browser, console, "ada")
    r = operator.goto(f"{console.url}/console/audit")
    assert r.status == 403 and r.headers["content-type"].startswith("text/html")
    assert "may not see this page" in operator.locator("[role=alert]").inner_text()
    r = operator.goto(f"{console.url}/console/audit?p=many")
    assert r.status in (403, 422) and r.headers["content-type"].startswith("text/html")
    assert "Audit log" not in operator.goto(f"{console.url}/console/").text()
    admin = sign_in(browser, console, "root")
    admin.goto(f"{console.url}/console/audit")
    rows = admin.locator("tr.audit-row")
    text = admin.locator("#audit").inner_text()
    assert rows.count() >= 5
    for expected in ("user_add", "sign_in", "failed", "refused", "127.0.0.1", "cli"):
        assert expected in text
    assert admin.locator('tr[data-action="audit_read"][data-outcome="refused"]').count() == 1


def test_the_users_command_reads_passwords_from_a_file_not_argv(console, tmp_path, capsys) -> None:
    short = tmp_path / "short"
    short.write_text("short\n")
    with pytest.raises(SystemExit, match="at least 10"):
        central_cli(["users", "--db", console.db_url, "add", "x", "--role", "admin",
                     "--password-file", str(short)])
    with pytest.raises(SystemExit):  # no --password option exists
        central_cli(["users", "--db", console.db_url, "add", "x", "--role", "admin",
                     "--password", "correct horse battery"])
    with pytest.raises(SystemExit, match="at least one site"):
        add_user(console, "cust", "customer")
    add_user(console, "cust", "customer", "site-1", "site-2")
    again = tmp_path / "cust.password"
    again.write_text(PASSWORD + "\n")
    assert central_cli(["users", "--db", console.db_url, "add", "cust", "--role", "viewer",
                        "--password-file", str(again)]) == 2
    assert central_cli(["users", "--db", console.db_url, "list"]) == 0
    assert "cust\tcustomer\tactive sites=site-1,site-2" in capsys.readouterr().out
    hashes = [r[0] for r in console.query("SELECT password_hash FROM console_users")]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


@pytest.mark.parametrize("path", ["/console/orders?p=99999999999999999999999",
                                  "/console/orders/99999999999999999999999",
                                  "/console/orders/-1", "/console/fleet?p=0",
                                  "/console/alerts?all=maybe",
                                  "/console/printers/%00%ff%2F..%2F"])
def test_odd_numbers_and_ids_get_a_clear_page_not_a_server_error(browser, console,
                                                                  path) -> None:
    add_user(console, "ada", "viewer")
    page = sign_in(browser, console, "ada")
    r = page.goto(console.url + path)
    assert r.status in (404, 422), (path, r.status)
    assert page.locator("[role=alert]").count() == 1


def test_a_session_ends_after_its_twelve_hours(browser, tmp_path) -> None:
    clock = Clock(datetime(2026, 3, 2, 8, tzinfo=UTC))
    server = CentralServer(tmp_path / "central.db", clock=clock).start()
    try:
        add_user(server, "ada", "operator")
        page = sign_in(browser, server, "ada")
        clock.now += timedelta(hours=11, minutes=59)
        page.goto(f"{server.url}/console/")
        assert page.url.endswith("/console/")
        clock.now += timedelta(minutes=2)
        page.goto(f"{server.url}/console/")
        assert "/console/sign-in" in page.url
    finally:
        server.stop()
