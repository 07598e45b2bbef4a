"""Orders in the console, in a real browser: the packing queue's cards, shipping with
scanned cartridge serials, delivery, cancellation, history and CSV; what each role may do,
also by a direct POST without the button; a customer sees only their own sites' orders."""

from __future__ import annotations

import pytest

from tests.support_console import (
    add_user, browser, console, csrf_of, place_order, register, screenshot, sign_in,
)

pytestmark = pytest.mark.browser

__all__ = ["browser", "console"]  # fixtures


@pytest.fixture
def shop(console):
    """The lyon parcel (two printers) and the paris one, waiting to be packed."""
    register(console)
    lyon = place_order(console, "lyon", "claire", [("XRX-1", "006R01746", 1),
                                                   ("XRX-2", "106R03528", 2)])
    paris = place_order(console, "paris", "paul", [("P-9", "006R01693", 1)])
    add_user(console, "olga", "operator")
    add_user(console, "vic", "viewer")
    add_user(console, "claire", "customer", "lyon")
    return console, lyon, paris


def _status(server, order_id: int) -> str:
    return server.query("SELECT status FROM orders WHERE order_id = ?", (order_id,))[0][0]


def test_a_parcel_card_shows_where_it_goes_and_which_printer_each_line_is_for(
        browser, shop) -> None:
    server, lyon, _ = shop
    page = sign_in(browser, server, "olga")
    page.goto(f"{server.url}/console/orders")
    card = page.locator(f'article.parcel[data-order="{lyon}"]')
    text = card.inner_text()
    assert "Claire Martin" in text and "12 rue des Fleurs, Lyon" in text
    first = card.locator("tr.line").first.inner_text()
    for expected in ("XRX-1", "AltaLink C8130", "2nd floor, copy room", "006R01746",
                     "due: 10.0 days of cover left (order point 12.5 days)"):
        assert expected in first
    assert page.locator("article.parcel").count() == 2
    screenshot(page, "console-orders.png")


def test_an_operator_packs_and_ships_with_scanned_serials_then_marks_it_delivered(
        browser, shop) -> None:
    server, lyon, paris = shop
    page = sign_in(browser, server, "olga")
    page.goto(f"{server.url}/console/orders")
    card = page.locator(f'article.parcel[data-order="{lyon}"]')
    boxes = card.locator("textarea[name=serials]")
    boxes.nth(0).fill("CRUM-A1")
    boxes.nth(1).type("CRUM-B1\nCRUM-B2\n")  # a scanner types each serial, then Enter
    card.locator("input[name=tracking]").fill("TRACK-77")
    with page.expect_navigation():
        card.locator("button[value=ship]").click()
    assert f"Order {lyon} shipped." in page.locator("[role=status]").inner_text()
    assert _status(server, lyon) == "shipped"
    shipped = server.query("SELECT c.cartridge_serial, l.device_serial FROM shipped_cartridges c "
                           "JOIN order_lines l ON l.line_id = c.line_id ORDER BY 1")
    assert [tuple(r) for r in shipped] == [("CRUM-A1", "XRX-1"), ("CRUM-B1", "XRX-2"),
                                           ("CRUM-B2", "XRX-2")]
    moving = page.locator(f'#in-transit article.parcel[data-order="{lyon}"]')
    assert "CRUM-B1 CRUM-B2" in moving.inner_text()
    with page.expect_navigation():
        moving.locator("text=Mark delivered").click()
    assert _status(server, lyon) == "delivered"
    page.goto(f"{server.url}/console/orders/{lyon}")
    timeline = page.locator("#timeline").inner_text()
    assert "shipped\t20" in timeline and "delivered\t20" in timeline
    assert _status(server, paris) == "created"
    audit = server.query("SELECT username, action, target, outcome, detail FROM console_audit "
                         "WHERE action LIKE 'order_%' ORDER BY at, audit_id")
    assert [tuple(r)[:4] for r in audit] == [
        ("olga", "order_ship", f"order {lyon}", "ok"),
        ("olga", "order_deliver", f"order {lyon}", "ok")]
    assert "CRUM-A1 CRUM-B1 CRUM-B2" in audit[0][4] and "TRACK-77" in audit[0][4]


def test_a_serial_shipped_before_is_refused_in_place_and_nothing_changes(
        browser, shop) -> None:
    server, lyon, paris = shop
    page = sign_in(browser, server, "olga")
    page.goto(f"{server.url}/console/orders")
    page.locator(f'article.parcel[data-order="{lyon}"] textarea').first.fill("CRUM-SAME")
    with page.expect_navigation():
        page.locator(f'article.parcel[data-order="{lyon}"] button[value=ship]').click()
    paris_card = page.locator(f'#queue article.parcel[data-order="{paris}"]')
    paris_card.locator("textarea").fill("CRUM-SAME")
    with page.expect_navigation():
        paris_card.locator("button[value=ship]").click()
    assert "CRUM-SAME was already shipped" in page.locator("[role=alert]").inner_text()
    assert _status(server, paris) == "created"
    failed = server.query("SELECT outcome FROM console_audit WHERE target = ?",
                          (f"order {paris}",))
    assert [r[0] for r in failed] == ["failed"]


def test_an_operator_cancels_an_order(browser, shop) -> None:
    server, _, paris = shop
    page = sign_in(browser, server, "olga")
    page.goto(f"{server.url}/console/orders")
    with page.expect_navigation():
        page.locator(f'article.parcel[data-order="{paris}"]').locator(
            "text=Cancel order").click()
    assert _status(server, paris) == "cancelled"
    page.goto(f"{server.url}/console/orders/history?status=cancelled")
    assert page.locator("tr.order").count() == 1


@pytest.mark.parametrize("user", ["vic", "claire"])
def test_viewers_see_no_buttons_and_a_direct_post_is_refused(browser, shop, user) -> None:
    server, lyon, _ = shop
    page = sign_in(browser, server, user)
    page.goto(f"{server.url}/console/orders")
    assert page.locator(f'article.parcel[data-order="{lyon}"]').count() == 1
    assert page.locator("main form[method=post]").count() == 0  # sign-out is in the header
    token = csrf_of(page)
    for step, form in (("ship", {"line": "1", "serials": "X-1"}), ("cancel", {})):
        r = page.context.request.post(f"{server.url}/console/orders/{lyon}/{step}",
                                      form={"csrf": token, **form}, max_redirects=0)
        assert r.status == 403, step
    assert _status(server, lyon) == "created"
    refused = server.query("SELECT action FROM console_audit WHERE username = ? AND "
                           "outcome = 'refused' ORDER BY at, audit_id", (user,))
    assert [r[0] for r in refused] == ["order_ship", "order_cancel"]


def test_a_post_without_the_csrf_token_ships_nothing(browser, shop) -> None:
    server, lyon, _ = shop
    page = sign_in(browser, server, "olga")
    for form in ({}, {"csrf": "forged"}):
        r = page.context.request.post(f"{server.url}/console/orders/{lyon}/ship",
                                      form={**form, "line": "1", "serials": "X"},
                                      max_redirects=0)
        assert r.status == 403
    assert _status(server, lyon) == "created"


def test_a_customer_sees_only_their_sites_orders_also_by_guessing_ids(browser, shop) -> None:
    server, lyon, paris = shop
    page = sign_in(browser, server, "claire")
    page.goto(f"{server.url}/console/orders")
    assert [page.locator("article.parcel").nth(i).get_attribute("data-order")
            for i in range(page.locator("article.parcel").count())] == [str(lyon)]
    assert "Paul Durand" not in page.content() and "P-9" not in page.content()
    assert page.goto(f"{server.url}/console/orders/{lyon}").status == 200
    assert page.goto(f"{server.url}/console/orders/{paris}").status == 404
    assert page.locator("[role=alert]").inner_text() == f"Order {paris} does not exist"
    assert page.goto(f"{server.url}/console/orders/99999").status == 404
    page.goto(f"{server.url}/console/orders/history")
    assert page.locator("tr.order").count() == 1
    assert page.goto(f"{server.url}/console/orders.csv").status == 403


def test_the_csv_export_keeps_spreadsheet_formulas_inert(browser, shop) -> None:
    server, lyon, _ = shop
    r = server.admin("PUT", "/v1/registry/contacts/claire",
                     json={"name": "=HYPERLINK(\"http://evil.example\")",
                           "email": "claire@lyon.example"})
    assert r.status_code == 200
    page = sign_in(browser, server, "vic")
    page.goto(f"{server.url}/console/orders")
    with page.expect_download() as download:
        page.click("text=CSV export")
    with open(download.value.path(), encoding="utf-8", newline="") as f:
        text = f.read()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text
    assert text.count("\r\n") == 1 + 3  # header and three lines


def test_a_script_in_a_printer_string_is_shown_as_text(browser, console) -> None:
    register(console, lyon_note="<script>window.pwned = 1</script><b>bold</b>")
    lyon = place_order(console, "lyon", "claire", [("XRX-1", "<img src=x>", 1)])
    add_user(console, "olga", "operator")
    page = sign_in(browser, console, "olga")
    page.goto(f"{console.url}/console/orders")
    line = page.locator(f'article.parcel[data-order="{lyon}"] tr.line').first
    assert "<script>window.pwned = 1</script><b>bold</b>" in line.inner_text()
    assert "<img src=x>" in line.inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined"
    assert line.locator("b, img, script").count() == 0
