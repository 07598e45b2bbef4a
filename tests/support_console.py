"""The console as a browser meets it: a real central server on loopback, accounts made with
the real `asr-central users` command, and a headless Chromium (Debian's, driven by
Playwright) that signs in through the form."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from asr_central.cli import main as central_cli
from asr_central.domain.policy import LineReason, Order, OrderLine, SupplyKind
from asr_central.storage import orders as orders_store
from tests.conftest import REPO, require, require_executable
from tests.support_central import CentralServer

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

PASSWORD = "correct horse battery"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = require_executable("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def console(central_db_url: str) -> Iterator[CentralServer]:
    """Central with its console, on each engine in turn."""
    server = CentralServer(central_db_url).start()
    yield server
    server.stop()


def add_user(server: CentralServer, username: str, role: str, *sites: str,
             password: str = PASSWORD) -> None:
    folder = Path(tempfile.mkdtemp(prefix="asr-console-"))  # the database may be no file
    secret = folder / f"{username}.password"
    secret.write_text(password + "\n", encoding="utf-8")
    args = ["users", "--db", server.db_url, "add", username, "--role", role,
            "--password-file", str(secret)]
    for site in sites:
        args += ["--site", site]
    try:
        assert central_cli(args) == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sign_in(browser: Any, server: CentralServer, username: str,
            password: str = PASSWORD) -> Any:
    """A new browser context signed in as `username`, on the page sign-in led to."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.url}/console/sign-in")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    return page


def session_cookie(page: Any) -> dict[str, Any] | None:
    return next((c for c in page.context.cookies() if c["name"] == "asr_console"), None)


# --- a registry and orders to show ---------------------------------------------------------

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def register(server: CentralServer, *, lyon_note: str = "2nd floor, copy room") -> None:
    """Two sites through the registry API: lyon (two printers) and paris (one)."""
    puts = [("/v1/registry/contacts/claire", {"name": "Claire Martin",
                                              "email": "claire@lyon.example",
                                              "shipping_address": "12 rue des Fleurs, Lyon"}),
            ("/v1/registry/contacts/paul", {"name": "Paul Durand", "email": "p@paris.example",
                                            "shipping_address": "3 quai Voltaire, Paris"}),
            ("/v1/registry/sites/lyon", {"contact": "claire"}),
            ("/v1/registry/sites/paris", {"contact": "paul"}),
            ("/v1/registry/devices/XRX-1", {"site": "lyon", "model": "AltaLink C8130",
                                            "note": lyon_note}),
            ("/v1/registry/devices/XRX-2", {"site": "lyon", "model": "VersaLink C405"}),
            ("/v1/registry/devices/P-9", {"site": "paris", "model": "Apeos C3060"})]
    for path, body in puts:
        r = server.admin("PUT", path, json=body)
        assert r.status_code == 200, r.text


def place_order(server: CentralServer, site: str, contact: str,
                lines: list[tuple[str, str, int]]) -> int:
    """An order as the policy stores it: (printer, part number, units) per line, each
    due with 10 days of cover against an order point of 12.5."""
    order = Order(site, contact, NOW.date(), tuple(
        OrderLine(serial, str(i), SupplyKind.CONSUMABLE, units, LineReason.DUE, 10.0, 0.05,
                  part, 12.5) for i, (serial, part, units) in enumerate(lines, 1)))
    with server.app.state.db.transaction() as conn:
        [order_id] = orders_store.create_orders(conn, [order], NOW, {})
    return int(order_id)


def csrf_of(page: Any) -> str:
    """The session's CSRF token, as every form on a console page carries it."""
    return str(page.locator("input[name=csrf]").first.get_attribute("value"))


def screenshot(page: Any, name: str) -> None:
    """Keep a picture of the page under test-artifacts/ (the README's come from there)."""
    folder = REPO / "test-artifacts"
    folder.mkdir(exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=str(folder / name), full_page=True)
