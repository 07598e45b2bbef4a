"""Customer mail as it reads: every kind in French and English against reviewed snapshots
(ASR_UPDATE_SNAPSHOTS=1 rewrites them, for review in the diff), and hostile printer
strings through the real SMTP path and headless Chromium: no header changed, nothing run."""

from __future__ import annotations

import email
import email.policy
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr_central.service.mail import smtp
from asr_central.service.mail.render import Item, clean, render_message
from asr_central.service.mail.samples import PREVIEW_KINDS, sample_items
from tests.conftest import require, require_executable
from tests.support_mail import SmtpSink

SNAPSHOTS = Path(__file__).parent / "snapshots" / "mail"
UPDATE = os.environ.get("ASR_UPDATE_SNAPSHOTS") == "1"
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
NAMES = {"fr": "Claire Martin", "en": "Sam Ops"}


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("kind", PREVIEW_KINDS)
def test_each_kind_reads_as_its_reviewed_snapshot(lang: str, kind: str) -> None:
    rendered = render_message(lang, NAMES[lang], kind,
                              sample_items(kind, "XRX-LY-1", "2e étage, comptabilité", DAY), DAY)
    got = {f"{lang}-{kind}.txt": f"Subject: {rendered.subject}\n\n{rendered.text}",
           f"{lang}-{kind}.html": rendered.html}
    for name, text in got.items():
        path = SNAPSHOTS / name
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert path.exists(), f"{path.name} is missing: run with ASR_UPDATE_SNAPSHOTS=1 and review"
        assert text == path.read_text(encoding="utf-8"), (
            f"{name} differs from its reviewed snapshot; if the change is wanted, rerun with "
            "ASR_UPDATE_SNAPSHOTS=1 and review the diff")


# ------------------------------------------------------------------------------ hostile strings

HEADERS = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type",
           "Content-Language", "Auto-Submitted", "X-Mailer"}
ALLOWED_TAGS = {"html", "head", "meta", "title", "body", "p", "section", "h2", "ul", "li",
                "strong", "br", "small"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def _hostile_items(serial: str, location: str) -> list[Item]:
    items = sample_items("digest", serial, location, DAY)
    return items


def _send_and_receive(sink: SmtpSink, serial: str, location: str) -> email.message.EmailMessage:
    before = len(sink.messages)
    rendered = render_message("en", "Sam Ops", "digest", _hostile_items(serial, location), DAY)
    msg = smtp.build_message(sink.settings(), "Sam Ops", "ops@leeds.example", rendered,
                             "<fixed@dealer.example>", NOW, "en")
    smtp.send(sink.settings(), msg)
    messages = sink.messages
    assert len(messages) == before + 1
    return messages[-1]


@pytest.mark.trust
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(serial=st.text(max_size=80), location=st.text(max_size=80))
def test_any_printer_string_changes_no_header_and_adds_no_markup(
        sink: SmtpSink, serial: str, location: str) -> None:
    got = _send_and_receive(sink, serial, location)
    assert set(got.keys()) == HEADERS
    assert got["Subject"] == "Your printers: 6 update(s) for March 2, 2026"
    assert got["To"] == "Sam Ops <ops@leeds.example>"
    assert got["Message-ID"] == "<fixed@dealer.example>"
    text = got.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = got.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f"printer {clean(serial)}" in text.replace("Printer", "printer")
    parser = _Tags()
    parser.feed(html)
    assert set(parser.tags) <= ALLOWED_TAGS and parser.handlers == []


@pytest.mark.trust
def test_a_crlf_in_a_serial_adds_no_header_through_real_smtp(sink: SmtpSink) -> None:
    got = _send_and_receive(sink, "XRX-1\r\nBcc: victim@evil.example\r\n\r\n<b>x</b>",
                            "Hall\r\nSubject: hijacked")
    assert set(got.keys()) == HEADERS
    assert "Bcc" not in got and got["Subject"].startswith("Your printers")
    assert "XRX-1 Bcc: victim@evil.example <b>x</b>" in got.get_body(  # type: ignore[union-attr]
        ("plain",)).get_content()


@pytest.mark.browser
@pytest.mark.trust
def test_the_html_part_runs_no_printer_script_in_chromium(sink: SmtpSink) -> None:
    chromium = require_executable("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed")
    from tests.test_status_browser import CHROMIUM_ARGS

    serial = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2">'
    got = _send_and_receive(sink, serial, "<svg onload=\"window.pwned = 3\">")
    html = got.get_body(("html",)).get_content()  # type: ignore[union-attr]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.set_content(html, wait_until="load")
            assert page.evaluate("typeof window.pwned") == "undefined"
            assert page.locator("script, img, svg").count() == 0
            assert dialogs == []
            sections = page.locator("section.item")
            assert sections.count() == 6
            assert "<script>window.pwned = 1</script>" in sections.first.inner_text()
            assert page.locator("html").get_attribute("lang") == "en"
        finally:
            browser.close()
