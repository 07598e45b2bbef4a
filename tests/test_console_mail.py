"""The mail preview in the console, in a real browser on each engine: each contact's
message in their own language (subject, text part, and the HTML part in a sandboxed frame
where nothing runs, a hostile name shown as text); a customer is refused it."""

from __future__ import annotations

import pytest

from tests.support_central import CentralServer
from tests.support_console import add_user, browser, console, register, sign_in

pytestmark = pytest.mark.browser

__all__ = ["browser", "console"]  # fixtures

HOSTILE = 'Ann <img src=x onerror=alert(1)><script>alert(2)</script>'


def _english_contact(server: CentralServer) -> None:
    """A contact mailed in English with a hostile name, the default one of site paris."""
    r = server.admin("PUT", "/v1/registry/contacts/ann", json={
        "name": HOSTILE, "email": "ann@paris.example", "language": "en",
        "shipping_address": "3 quai Voltaire, Paris"})
    assert r.status_code == 200, r.text
    r = server.admin("PUT", "/v1/registry/sites/paris", json={"contact": "ann"})
    assert r.status_code == 200, r.text


def test_staff_preview_each_contacts_message_in_their_language(
        browser, console: CentralServer) -> None:
    register(console)  # claire (lyon, French by default)
    _english_contact(console)
    add_user(console, "olga", "operator")
    page = sign_in(browser, console, "olga")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.click("header >> text=Mail preview")  # linked from the nav
    assert page.url.endswith("/console/mail")

    page.click('tr.contact[data-contact="claire"] a')
    page.click('#kinds a[data-kind="order_shipped"]')
    message = page.locator('#message[data-contact="claire"][data-kind="order_shipped"]')
    assert message.locator("#subject").inner_text() == "Commande n° 1001 : votre colis est parti"
    assert "Bonjour Claire Martin," in message.locator("#text-part").inner_text()
    frame = page.frame_locator("#html-part")
    assert "Bonjour Claire Martin," in frame.locator("body").inner_text()
    assert "XRX-1" in frame.locator("body").inner_text()  # one of claire's own printers

    page.click('tr.contact[data-contact="ann"] a')  # the kind chosen stays
    message = page.locator('#message[data-contact="ann"][data-kind="order_shipped"]')
    assert message.locator("#subject").inner_text() == "Order 1001: your parcel has shipped"
    assert f"Hello {HOSTILE}," in message.locator("#text-part").inner_text()
    # the HTML part: its own document, sandboxed (no script, no origin), the name as text
    assert page.locator("#html-part").get_attribute("sandbox") == ""
    body = frame.locator("body")
    assert f"Hello {HOSTILE}," in body.inner_text() and "P-9" in body.inner_text()
    assert frame.locator("img, script").count() == 0
    assert page.locator("#message img, #message script").count() == 0
    assert dialogs == []


def test_a_customer_is_refused_the_mail_preview(browser, console: CentralServer) -> None:
    register(console)
    add_user(console, "claire", "customer", "lyon")
    page = sign_in(browser, console, "claire")
    assert "Mail preview" not in page.locator("header").inner_text()
    assert page.goto(f"{console.url}/console/mail").status == 403
    r = page.goto(f"{console.url}/console/mail?contact=paul&kind=order_placed")
    assert r.status == 403
    assert "Commande" not in page.content()
    assert console.query("SELECT COUNT(*) FROM console_audit WHERE username = 'claire' AND "
                         "outcome = 'refused' AND action = 'mail_preview'")[0][0] == 2
