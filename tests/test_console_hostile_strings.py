"""Printer and registry strings are untrusted: whatever text a registry entry holds, the
console's fleet page has the same structure (no tag, attribute or script of the text's
making) and shows the text itself. Through a real central on loopback, any Unicode text."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support_central import CentralServer
from tests.support_console import PASSWORD, add_user, register


class _Structure(HTMLParser):
    """The page's tags with their attribute names, and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, tuple(name for name, _ in attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.tags.append(("/" + tag, ()))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def signed_in(tmp_path_factory: pytest.TempPathFactory):
    server = CentralServer(Path(tmp_path_factory.mktemp("hostile")) / "central.db").start()
    register(server)
    add_user(server, "vic", "viewer")
    client = httpx.Client(base_url=server.url, trust_env=False, timeout=10)
    form = client.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)[1]
    assert client.post("/console/sign-in", data={"username": "vic", "password": PASSWORD,
                                                 "form_token": token}).status_code == 303
    yield server, client
    client.close()
    server.stop()


def _page(server: CentralServer, client: httpx.Client, note: str) -> _Structure:
    r = server.admin("PUT", "/v1/registry/devices/XRX-1",
                     json={"site": "lyon", "model": "AltaLink C8130", "note": note})
    assert r.status_code == 200, r.text
    page = client.get("/console/fleet?q=XRX-1")
    assert page.status_code == 200
    parsed = _Structure()
    parsed.feed(page.text)
    return parsed


# Any text a JSON body can carry and a database can hold: no lone surrogates (refused at
# the API with 400), no NUL or carriage return (HTML parsing rewrites those by rule).
_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r"),
                min_size=1, max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(note=st.one_of(_TEXT, st.sampled_from([
    "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' onmouseover='x",
    "</td></tr></table><form action=//evil>", "{{ 7*7 }}", "&lt;b&gt;", "<!--", "]]>"])))
def test_any_registry_text_leaves_the_page_structure_alone(signed_in, note: str) -> None:
    server, client = signed_in
    plain = _page(server, client, "plain")
    hostile = _page(server, client, note)
    assert hostile.tags == plain.tags
    assert note.strip() in "".join(hostile.text)
