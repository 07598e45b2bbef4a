"""The registry in the console, in a real browser: an admin's YAML import whose error is
shown in place with nothing saved, then saved once fixed; who may not import, also by a
direct POST."""

from __future__ import annotations

import pytest

from tests.support_console import add_user, browser, console, csrf_of, register, sign_in

pytestmark = pytest.mark.browser

__all__ = ["browser", "console"]  # fixtures

BROKEN = """\
devices:
  - serial: NEW-1
    site: lyon
    colour: red
"""


@pytest.fixture
def central(console):
    register(console)
    for name, role, *sites in (("root", "admin"), ("olga", "operator"),
                               ("claire", "customer", "lyon")):
        add_user(console, name, role, *sites)
    return console


def _devices(server) -> list[str]:
    return [r[0] for r in server.query("SELECT serial FROM registry_devices ORDER BY serial")]


def test_an_import_error_is_shown_in_place_and_nothing_is_saved(browser, central) -> None:
    page = sign_in(browser, central, "root")
    page.goto(f"{central.url}/console/registry")
    page.fill("textarea[name=document]", BROKEN)
    with page.expect_navigation():
        page.click("#import button")
    alert = page.locator("[role=alert]").inner_text()
    assert "Nothing was saved" in alert and "<form>:4:" in alert and "colour" in alert
    bad = page.locator("#bad-line")
    assert "colour: red" in bad.inner_text()
    assert page.locator("#yaml-lines li").nth(3).get_attribute("id") == "bad-line"
    assert page.input_value("textarea[name=document]").strip() == BROKEN.strip()  # kept
    assert "NEW-1" not in _devices(central)

    page.fill("textarea[name=document]", BROKEN.replace("colour: red", "note: by the door"))
    with page.expect_navigation():
        page.click("#import button")
    assert ", 1 devices," in page.locator("[role=status]").inner_text()
    assert "NEW-1" in _devices(central)
    logged = central.query("SELECT outcome FROM console_audit WHERE action = 'registry_import' "
                           "ORDER BY at, audit_id")
    assert [r[0] for r in logged] == ["failed", "ok"]


def test_a_large_registry_is_imported_past_the_json_body_limit(browser, central) -> None:
    page = sign_in(browser, central, "root")
    page.goto(f"{central.url}/console/registry")
    doc = "devices:\n" + "".join(f"  - {{serial: BULK-{i:05d}, site: paris, note: 'rack "
                                 f"{i}'}}\n" for i in range(1500))
    assert len(doc) > 64 * 1024
    # as pasted: typing 80 KB key by key is not what is tested here
    page.locator("textarea[name=document]").evaluate("(box, text) => box.value = text", doc)
    with page.expect_navigation():
        page.click("#import button")
    assert ", 1500 devices," in page.locator("[role=status]").inner_text()


def test_an_operator_cannot_import_and_a_customer_cannot_see_the_registry(
        browser, central) -> None:
    page = sign_in(browser, central, "olga")
    page.goto(f"{central.url}/console/registry")
    assert page.locator("#import").count() == 0
    r = page.context.request.post(f"{central.url}/console/registry/import",
                                  form={"csrf": csrf_of(page),
                                        "document": "devices: [{serial: X-9, site: lyon}]"},
                                  max_redirects=0)
    assert r.status == 403 and "X-9" not in _devices(central)
    customer = sign_in(browser, central, "claire")
    assert customer.goto(f"{central.url}/console/registry").status == 403


def test_an_admin_edits_a_printers_registry_entry_on_its_page(browser, central) -> None:
    page = sign_in(browser, central, "root")
    page.goto(f"{central.url}/console/printers/XRX-2")
    page.click("summary:has-text('Registry entry')")  # folded away until asked for
    form = page.locator("#registry-entry")
    form.locator("select[name=contact_id]").select_option("paul")
    form.locator("input[name=note]").fill("ground floor, by the lifts")
    with page.expect_navigation():
        form.locator("button").click()
    assert page.locator("[role=status]").inner_text() == "Registry entry saved."
    assert "ground floor, by the lifts" in page.locator("article.printer").inner_text()
    row = central.query("SELECT site_id, contact_id, model, note FROM registry_devices "
                        "WHERE serial = 'XRX-2'")
    assert tuple(row[0]) == ("lyon", "paul", "VersaLink C405", "ground floor, by the lifts")
    logged = central.query("SELECT username, target, detail FROM console_audit "
                           "WHERE action = 'registry_device'")
    assert logged[0][0] == "root" and logged[0][1] == "printer XRX-2"
    assert "contact (site default)" in logged[0][2] and "contact paul" in logged[0][2]

    r = page.context.request.post(f"{central.url}/console/registry/devices", form={
        "csrf": csrf_of(page), "serial": "XRX-2", "site_id": "nowhere"}, max_redirects=0)
    assert r.status == 422 and "nowhere&#39; is not in the registry" in r.text()


def test_an_operator_cannot_edit_a_registry_entry(browser, central) -> None:
    page = sign_in(browser, central, "olga")
    page.goto(f"{central.url}/console/printers/XRX-2")
    assert page.locator("#registry-entry").count() == 0
    r = page.context.request.post(f"{central.url}/console/registry/devices", form={
        "csrf": csrf_of(page), "serial": "XRX-2", "site_id": "paris"}, max_redirects=0)
    assert r.status == 403
    assert central.query("SELECT site_id FROM registry_devices WHERE serial = 'XRX-2'")[0][0] \
        == "lyon"
