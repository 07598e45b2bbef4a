"""The status page as an admin sees it, in headless Chromium (Debian's package, driven
by Playwright): printers and supply bars visible, the device chart drawn, a screenshot
kept under test-artifacts/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO, require, require_executable
from tests.status_fixtures import StaticSource, running_status_server, sample_snapshot

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    chromium = require_executable("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover - the test extra installs it
        require(False, "playwright is not installed")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def artifact(name: str) -> Path:
    folder = REPO / "test-artifacts"
    folder.mkdir(exist_ok=True)
    return folder / name


def test_overview_shows_printers_and_level_bars(browser) -> None:
    with running_status_server(StaticSource(sample_snapshot())) as server:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server.urls[0])
        cards = page.locator("article.device")
        assert cards.count() == 2
        xerox = page.locator('article.device[data-serial="XRX-0001"]')
        assert xerox.is_visible()
        bar = xerox.locator('[data-supply="1"] .bar > span')
        box = bar.bounding_box()
        track = xerox.locator('[data-supply="1"] .bar').bounding_box()
        assert box is not None and track is not None
        assert box["width"] == pytest.approx(track["width"] * 0.20, abs=2)  # 20 % left
        assert "12 d" in xerox.locator('[data-supply="1"]').inner_text()
        assert page.locator("text=asleep").first.is_visible()
        page.screenshot(path=str(artifact("status-overview.png")), full_page=True)
        page.close()


def test_device_page_shows_history_chart(browser) -> None:
    with running_status_server(StaticSource(sample_snapshot())) as server:
        page = browser.new_page()
        page.goto(server.urls[0] + "devices/XRX-0001")
        chart = page.locator("svg.chart").first
        assert chart.is_visible()
        assert page.locator("polyline.forecast").count() == 1
        page.screenshot(path=str(artifact("status-device.png")), full_page=True)
        page.close()


def test_poll_now_button_posts_with_token(browser) -> None:
    source = StaticSource(sample_snapshot())
    with running_status_server(source) as server:
        page = browser.new_page()
        page.goto(server.urls[0])
        with page.expect_navigation():
            page.click("text=Poll now")
        assert source.poll_requests == [1]
        page.close()
