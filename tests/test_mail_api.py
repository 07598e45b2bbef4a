"""The dealer's mail tools on a real central server: the preview of each message for any
contact, the packing slip linked from the order (printable in Chromium), the outbox, the
mail job started by `serve`'s flags, and `asr-central mail test CONTACT`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from asr_central.cli import build_parser, main
from asr_central.commands.serve import build_app
from asr_central.storage import open_database
from asr_central.storage import registry
from tests.conftest import require, require_executable
from tests.support_central import ADMIN_TOKEN, CentralServer
from tests.support_mail import SmtpSink, seed, smtp_sink  # noqa: F401
from tests.test_notify import AppServer, wait_for


@pytest.fixture
def seeded(tmp_path: Path) -> Iterator[tuple[CentralServer, dict[str, int]]]:
    db_path = tmp_path / "central.db"
    db = open_database(f"sqlite:///{db_path}")
    try:
        ids = seed(db, datetime.now(UTC))
        with db.transaction() as conn:  # a hostile location, as an admin could type it
            device = registry.get_device(conn, "XRX-LE-1")
            assert device is not None
            registry.upsert_device(conn, registry.RegistryDevice(
                device.serial, device.site_id, None, None, None,
                '<script>window.pwned=1</script>Reception'), datetime.now(UTC))
    finally:
        db.close()
    server = CentralServer(db_path).start()
    yield server, ids
    server.stop()


def test_preview_shows_each_message_in_the_contacts_language_on_their_printer(
        seeded: tuple[CentralServer, dict[str, int]]) -> None:
    server, _ = seeded
    r = server.admin("GET", "/v1/admin/mail/preview/claire", params={"kind": "order_placed"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["language"] == "fr" and body["to"] == "claire@lyon.example"
    assert body["subject"] == "Commande n° 1001 : vos fournitures arrivent"
    assert "L'imprimante XRX-LY-1 (2e étage, comptabilité) : 2 × toner noir" in body["text"]
    r = server.admin("GET", "/v1/admin/mail/preview/ops", params={"part": "html"})
    assert r.headers["content-type"].startswith("text/html")
    assert "Here is the news of your printers" in r.text
    assert "&lt;script&gt;" in r.text and "<script>" not in r.text
    assert server.admin("GET", "/v1/admin/mail/preview/nobody").status_code == 404
    assert server.admin("GET", "/v1/admin/mail/preview/ops",
                        params={"kind": "spam"}).status_code == 422


def test_mail_tools_need_the_admin_token(seeded: tuple[CentralServer, dict[str, int]]) -> None:
    import httpx

    server, ids = seeded
    for path in ("/v1/admin/mail/preview/claire", "/v1/admin/mail/outbox",
                 f"/v1/admin/orders/{ids['shipped']}/packing-slip"):
        assert httpx.get(server.url + path, trust_env=False).status_code == 401


def test_the_order_links_a_packing_slip_listing_serial_location_and_part(
        seeded: tuple[CentralServer, dict[str, int]]) -> None:
    server, ids = seeded
    order = server.admin("GET", f"/v1/orders/{ids['shipped']}").json()
    assert order["packing_slip"] == f"/v1/admin/orders/{ids['shipped']}/packing-slip"
    assert all("packing_slip" in o for o in server.admin("GET", "/v1/orders").json())
    r = server.admin("GET", order["packing_slip"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert "Packing slip" in r.text  # the Leeds contact reads English
    assert ('<td class="serial">XRX-LE-1</td><td class="location">&lt;script&gt;'
            'window.pwned=1&lt;/script&gt;Reception</td><td class="part">106R03528</td>') in r.text
    assert "CART-001" in r.text
    lyon = server.admin("GET", f"/v1/admin/orders/{ids['placed']}/packing-slip").text
    assert "Bordereau de livraison" in lyon and "2e étage, comptabilité" in lyon
    assert server.admin("GET", "/v1/admin/orders/999/packing-slip").status_code == 404


@pytest.mark.browser
def test_the_packing_slip_prints_its_lines_in_chromium_and_runs_nothing(
        seeded: tuple[CentralServer, dict[str, int]], tmp_path: Path) -> None:
    chromium = require_executable("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed")
    from tests.test_status_browser import CHROMIUM_ARGS

    server, ids = seeded
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(extra_http_headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}"})
            page.goto(f"{server.url}/v1/admin/orders/{ids['shipped']}/packing-slip")
            rows = page.locator("tr.line")
            assert rows.count() == 1
            assert rows.first.locator("td.serial").inner_text() == "XRX-LE-1"
            assert rows.first.locator("td.location").inner_text() == \
                "<script>window.pwned=1</script>Reception"
            assert page.evaluate("typeof window.pwned") == "undefined"
            page.emulate_media(media="print")
            pdf = page.pdf()
            assert pdf.startswith(b"%PDF")
        finally:
            browser.close()


def test_outbox_lists_messages_and_refuses_an_unknown_state(
        seeded: tuple[CentralServer, dict[str, int]]) -> None:
    server, _ = seeded
    assert server.admin("GET", "/v1/admin/mail/outbox").json() == []
    assert server.admin("GET", "/v1/admin/mail/outbox",
                        params={"state": "lost"}).status_code == 422


def test_serve_with_smtp_flags_mails_the_contact(tmp_path: Path,
                                                 smtp_sink: SmtpSink) -> None:  # noqa: F811
    db_path = tmp_path / "central.db"
    db = open_database(f"sqlite:///{db_path}")
    try:
        seed(db, datetime.now(UTC))
    finally:
        db.close()
    (tmp_path / "admin").write_text(ADMIN_TOKEN)
    args = build_parser().parse_args([
        "serve", "--db", f"sqlite:///{db_path}", "--admin-token-file", str(tmp_path / "admin"),
        "--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_sink.port),
        "--smtp-security", "none", "--mail-from", "asr@dealer.example",
        "--mail-immediate", "order_shipped, usage_spike", "--mail-interval", "0.2"])
    server = AppServer(build_app(args), db_path).start()
    try:
        # the leader takes the mail job first (seconds on a loaded machine), then sends
        wait_for(lambda: len(smtp_sink.messages) == 2, timeout=30)
        subjects = sorted(str(m["Subject"]) for m in smtp_sink.messages)
        assert subjects == ["A printer is printing much more than usual",
                            "Order 2: your parcel has shipped"]
        sent = server.admin("GET", "/v1/admin/mail/outbox", params={"state": "sent"}).json()
        assert len(sent) == 2
    finally:
        server.stop()


def test_serve_refuses_an_unknown_immediate_kind(tmp_path: Path) -> None:
    from asr_core.errors import ConfigError

    args = build_parser().parse_args([
        "serve", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--smtp-host", "127.0.0.1",
        "--smtp-security", "none", "--mail-from", "asr@dealer.example",
        "--mail-immediate", "weather"])
    with pytest.raises(ConfigError, match="'weather' is not a kind of mail"):
        build_app(args)


def test_mail_test_command_sends_to_the_contact_and_says_what(
        tmp_path: Path, smtp_sink: SmtpSink, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    db_url = f"sqlite:///{tmp_path / 'central.db'}"
    db = open_database(db_url)
    try:
        seed(db, datetime.now(UTC))
    finally:
        db.close()
    flags = ["--smtp-host", "127.0.0.1", "--smtp-port", str(smtp_sink.port),
             "--smtp-security", "none", "--mail-from", "asr@dealer.example"]
    assert main(["mail", "--db", db_url, "test", "claire", *flags]) == 0
    out = capsys.readouterr().out
    assert "sent to Claire Martin <claire@lyon.example>" in out
    assert "Subject: Message d'essai d'ASR" in out
    got, = smtp_sink.messages
    assert got["Subject"] == "Message d'essai d'ASR" and got["Message-ID"] in out
    assert main(["mail", "--db", db_url, "test", "nobody", *flags]) == 1
    assert "'nobody' is not in the registry" in capsys.readouterr().out
    assert main(["mail", "--db", db_url, "test", "quiet", *flags]) == 1
    assert "opted out" in capsys.readouterr().out
    smtp_sink.stop()
    assert main(["mail", "--db", db_url, "test", "ops", *flags]) == 1
    assert "not sent to ops@leeds.example: cannot reach the mail server" in \
        capsys.readouterr().out
