"""Text no database of central can store (a NUL character, which PostgreSQL's text type
refuses and SQLite would keep, or a lone surrogate) through a real central on loopback, on
each engine: every admin endpoint, console form and path that takes text answers it with a
4xx that names where it was, never a 500, and a refused request stores nothing."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import APIRouter, Body
from hypothesis import HealthCheck, example, given, settings, strategies as st

from asr_agent.adapters import keys as signing
from asr_central.service import app as app_module
from asr_central.service.deps import DbDep, NowDep
from asr_central.storage import open_database, registry
from asr_central.storage.text import UnstorableText
from tests.support_central import ADMIN_TOKEN, CentralServer
from tests.support_console import PASSWORD, add_user, place_order, register

# What the refused requests could have written (not the throttle counts, sessions and the
# leader's job times, which change with every request or minute; nor the console's audit of
# a refused action, which it keeps on purpose).
_TABLES = ("enrollment_tokens", "agents", "agent_keys", "contacts", "sites", "registry_devices",
           "supply_catalog", "orders", "order_lines", "shipped_cartridges", "central_alerts",
           "console_users", "mail_outbox")


def _stored(server: CentralServer) -> dict[str, list[tuple[Any, ...]]]:
    queries = {table: f"SELECT * FROM {table}" for table in _TABLES}
    queries["console_audit"] = "SELECT * FROM console_audit WHERE outcome = 'ok'"
    return {table: sorted((tuple(row) for row in server.query(sql)), key=repr)
            for table, sql in queries.items()}


_AROUND = st.text(max_size=12)


def _with(bad: st.SearchStrategy[str], around: st.SearchStrategy[str] = _AROUND
          ) -> st.SearchStrategy[str]:
    """Any text with `bad` put somewhere in it."""
    return st.tuples(around, bad, around).map("".join)


_NUL_TEXT = _with(st.just("\x00"))  # what a form can carry
# in a path segment: no slash, which would make it another path (routed, or not, as such)
_NUL_SEGMENT = _with(st.just("\x00"), st.text(st.characters(exclude_characters="/",
                                                                exclude_categories=["Cs"]),
                                              max_size=12))
_UNSTORABLE = st.one_of(_NUL_TEXT, _with(st.characters(min_codepoint=0xD800,
                                                       max_codepoint=0xDFFF,
                                                       categories=["Cs"])))


class _Central:
    def __init__(self, server: CentralServer, agent_id: str, public_key: str, token: str,
                 order_id: int, line_id: int, console: httpx.Client, csrf: str) -> None:
        self.server, self.agent_id, self.public_key, self.token = (server, agent_id,
                                                                   public_key, token)
        self.order_id, self.line_id, self.console, self.csrf = (order_id, line_id, console,
                                                                csrf)


@pytest.fixture(scope="module")
def central(module_central_db_url: str, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[_Central]:
    tmp = tmp_path_factory.mktemp("unstorable")
    server = CentralServer(module_central_db_url).start()
    register(server)
    agent_id = server.enroll_key(signing.load_or_create(tmp / "agent"), site_id="lyon")
    order_id = place_order(server, "lyon", "claire", [("XRX-1", "106R03528", 1)])
    line_id = server.admin("GET", f"/v1/orders/{order_id}").json()["lines"][0]["line_id"]
    add_user(server, "ada", "admin")
    client = httpx.Client(base_url=server.url, trust_env=False, timeout=30)
    form = client.get("/console/sign-in")
    token = re.search(r'name="form_token" value="([^"]+)"', form.text)[1]  # type: ignore[index]
    assert client.post("/console/sign-in", data={"username": "ada", "password": PASSWORD,
                                                 "form_token": token}).status_code == 303
    csrf = re.search(r'name="csrf" value="([^"]+)"',
                     client.get("/console/agents").text)[1]  # type: ignore[index]
    yield _Central(server, agent_id, signing.load_or_create(tmp / "new").public_b64,
                   server.create_token("lyon"), order_id, line_id, client, csrf)
    client.close()
    server.stop()


def _yaml(text: str) -> str:
    # a JSON string is a YAML double-quoted scalar: NUL and surrogates as \u escapes
    return f"sites:\n  - id: lyon\n    contact: claire\n    name: {json.dumps(text)}\n"


# (what the text is put in, the request with `text` in it): (method, path, JSON body or
# YAML text); the rest of each request is valid, so only the text can refuse it.
Request_ = tuple[str, str, Any]
_BODIES: list[tuple[str, Callable[[_Central, str], Request_]]] = [
    ("name", lambda c, t: ("PUT", "/v1/registry/contacts/claire",
                           {"name": t, "email": "claire@lyon.example"})),
    ("shipping_address", lambda c, t: ("PUT", "/v1/registry/contacts/claire",
                                       {"name": "C", "email": "c@l.example",
                                        "shipping_address": t})),
    ("phone", lambda c, t: ("PUT", "/v1/registry/contacts/claire",
                            {"name": "C", "email": "c@l.example", "phone": t})),
    ("name", lambda c, t: ("PUT", "/v1/registry/sites/lyon", {"name": t, "contact": "claire"})),
    ("contact", lambda c, t: ("PUT", "/v1/registry/sites/lyon", {"contact": t})),
    ("model", lambda c, t: ("PUT", "/v1/registry/devices/XRX-1", {"site": "lyon", "model": t})),
    ("note", lambda c, t: ("PUT", "/v1/registry/devices/XRX-1", {"site": "lyon", "note": t})),
    ("location", lambda c, t: ("PUT", "/v1/registry/devices/XRX-1",
                               {"site": "lyon", "location": t})),
    ("site", lambda c, t: ("PUT", "/v1/registry/devices/NEW-1", {"site": t})),
    ("description", lambda c, t: ("PUT", "/v1/registry/catalog/P-1",
                                  {"kind": "consumable", "description": t})),
    ("color", lambda c, t: ("PUT", "/v1/registry/catalog/P-1",
                            {"kind": "consumable", "color": t})),
    ("name", lambda c, t: ("POST", "/v1/registry/import", _yaml(t))),
    ("note", lambda c, t: ("POST", "/v1/admin/enrollment-tokens", {"site_id": "lyon",
                                                                   "note": t})),
    ("site_id", lambda c, t: ("POST", "/v1/admin/enrollment-tokens", {"site_id": t})),
    ("agent_name", lambda c, t: ("POST", "/v1/enroll", {
        "token": c.token, "public_key": c.public_key, "site_id": "lyon", "agent_name": t})),
    ("reason", lambda c, t: ("POST", f"/v1/admin/agents/{c.agent_id}/revoke", {"reason": t})),
    ("serials", lambda c, t: ("POST", f"/v1/orders/{c.order_id}/ship",
                              {"serials": {str(c.line_id): [t]}})),
    ("tracking", lambda c, t: ("POST", f"/v1/orders/{c.order_id}/ship", {"tracking": t})),
    ("site_id", lambda c, t: ("POST", "/v1/admin/devices/XRX-1/move", {"site_id": t})),
]

# Paths and query strings: the text percent-encoded (a NUL; a lone surrogate cannot be).
_URLS: list[tuple[str, Callable[[_Central, str], tuple[str, str]]]] = [
    ("contact_id", lambda c, t: ("PUT", f"/v1/registry/contacts/{t}")),
    ("site_id", lambda c, t: ("PUT", f"/v1/registry/sites/{t}")),
    ("serial", lambda c, t: ("PUT", f"/v1/registry/devices/{t}")),
    ("part_number", lambda c, t: ("PUT", f"/v1/registry/catalog/{t}")),
    ("serial", lambda c, t: ("DELETE", f"/v1/registry/devices/{t}")),
    ("serial", lambda c, t: ("GET", f"/v1/devices/{t}")),
    ("serial", lambda c, t: ("POST", f"/v1/admin/devices/{t}/move")),
    ("alert_key", lambda c, t: ("POST", f"/v1/alerts/{t}/acknowledge")),
    ("agent_id", lambda c, t: ("POST", f"/v1/admin/agents/{t}/revoke")),
    ("key_id", lambda c, t: ("POST", f"/v1/admin/keys/{t}/revoke")),
    ("contact_id", lambda c, t: ("GET", f"/v1/admin/mail/preview/{t}")),
    ("site_id", lambda c, t: ("GET", f"/v1/orders?site_id={t}")),
    ("device_serial", lambda c, t: ("GET", f"/v1/orders.csv?device_serial={t}")),
    ("kind", lambda c, t: ("GET", f"/v1/alerts?kind={t}")),
    ("site_id", lambda c, t: ("GET", f"/v1/admin/agents?site_id={t}")),
    ("state", lambda c, t: ("GET", f"/v1/admin/mail/outbox?state={t}")),
]

_SETTINGS = settings(max_examples=60, deadline=None,
                     suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(case=st.sampled_from(_BODIES), text=_UNSTORABLE)
def test_unstorable_text_in_an_admin_body_is_refused_by_name_and_stores_nothing(
        central: _Central, case: tuple[str, Callable[[_Central, str], Request_]],
        text: str) -> None:
    field, build = case
    method, path, body = build(central, text)
    before = _stored(central.server)
    yaml = isinstance(body, str)
    r = httpx.request(method, f"{central.server.url}{path}", trust_env=False, timeout=30,
                      content=body.encode("utf-8", "surrogatepass") if yaml else
                      json.dumps(body).encode(),
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type":
                               "application/yaml" if yaml else "application/json"})
    assert r.status_code == 422, (path, r.status_code, r.text[:300])
    assert field in r.text, r.text
    assert _stored(central.server) == before


@_SETTINGS
@given(case=st.sampled_from(_URLS), text=_NUL_SEGMENT)
def test_unstorable_text_in_a_path_or_query_is_refused_and_stores_nothing(
        central: _Central, case: tuple[str, Callable[[_Central, str], tuple[str, str]]],
        text: str) -> None:
    field, build = case
    method, path = build(central, quote(text, safe=""))
    before = _stored(central.server)
    r = httpx.request(method, f"{central.server.url}{path}", trust_env=False, timeout=30,
                      json={"site_id": "paris"} if path.endswith("/move") else None,
                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == (422 if "?" in path else 404), (path, r.status_code, r.text[:300])
    assert field in r.text, r.text
    assert _stored(central.server) == before


_PRINTER_PAGE: tuple[str, Callable[[_Central, str], tuple[str, str, dict[str, Any] | None]]] = (
    "serial", lambda c, t: ("GET", f"/console/printers/{quote(t, safe='')}", None))

# Console forms and pages, signed in as an admin: (field, method, path, form).
_CONSOLE: list[tuple[str, Callable[[_Central, str], tuple[str, str, dict[str, Any] | None]]]] = [
    ("site_id", lambda c, t: ("POST", "/console/agents/enrollment-token", {"site_id": t})),
    ("reason", lambda c, t: ("POST", f"/console/agents/{c.agent_id}/revoke", {"reason": t})),
    ("serial", lambda c, t: ("POST", "/console/registry/devices",
                             {"serial": t, "site_id": "lyon"})),
    ("model", lambda c, t: ("POST", "/console/registry/devices",
                            {"serial": "XRX-1", "site_id": "lyon", "model": t})),
    ("note", lambda c, t: ("POST", "/console/registry/devices",
                           {"serial": "XRX-1", "site_id": "lyon", "note": t})),
    ("contact_id", lambda c, t: ("POST", "/console/registry/devices",
                                 {"serial": "XRX-1", "site_id": "lyon", "contact_id": t})),
    ("name", lambda c, t: ("POST", "/console/registry/import", {"document": _yaml(t)})),
    ("serials", lambda c, t: ("POST", f"/console/orders/{c.order_id}/ship",
                              {"line": str(c.line_id), "serials": t})),
    ("tracking", lambda c, t: ("POST", f"/console/orders/{c.order_id}/ship",
                               {"line": str(c.line_id), "serials": "", "tracking": t})),
    ("alert_key", lambda c, t: ("POST", "/console/alerts/acknowledge", {"alert_key": t})),
    ("agent_id", lambda c, t: ("POST", f"/console/agents/{quote(t, safe='')}/revoke", {})),
    _PRINTER_PAGE,
    ("q", lambda c, t: ("GET", f"/console/fleet?q={quote(t, safe='')}", None)),
]


@_SETTINGS
@given(case=st.sampled_from(_CONSOLE), text=_NUL_SEGMENT)
# a line feed in a printer's path: the route's `path` parameter stopped at it (a JSON 404)
@example(case=_PRINTER_PAGE, text="\n\x00")
def test_unstorable_text_in_a_console_form_or_path_gets_an_error_page_and_stores_nothing(
        central: _Central,
        case: tuple[str, Callable[[_Central, str], tuple[str, str, dict[str, Any] | None]]],
        text: str) -> None:
    field, build = case
    method, path, form = build(central, text)
    before = _stored(central.server)
    r = central.console.request(method, path, data=None if form is None else
                                {**form, "csrf": central.csrf})
    assert r.status_code in (404, 422), (path, r.status_code, r.text[:300])
    assert 'role="alert"' in r.text and field in r.text, r.text
    assert _stored(central.server) == before


def test_a_nul_in_the_sign_in_form_gets_the_error_page_and_signs_no_one_in(
        central: _Central) -> None:
    with httpx.Client(base_url=central.server.url, trust_env=False, timeout=30) as client:
        token = re.search(r'name="form_token" value="([^"]+)"',  # type: ignore[index]
                          client.get("/console/sign-in").text)[1]
        before = _stored(central.server)
        r = client.post("/console/sign-in", data={"username": "ada\x00", "password": PASSWORD,
                                                  "form_token": token})
        assert r.status_code == 422 and "username" in r.text, r.text[:300]
        assert "asr_console" not in client.cookies
    assert _stored(central.server) == before



# --- the PostgreSQL engine's net under the checks above ------------------------------------

def test_postgres_refuses_a_nul_before_sending_it_and_the_unit_of_work_rolls_back(
        postgres_url: str) -> None:
    db = open_database(postgres_url)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    try:
        with pytest.raises(UnstorableText, match=r"parameter 2 .* NUL character"):
            with db.transaction() as conn:
                registry.upsert_site(conn, registry.Site("ok", "fine", None), now)
                registry.upsert_site(conn, registry.Site("bad", "a\x00b", None), now)
        with pytest.raises(UnstorableText):
            db.connection().execute("SELECT 1 FROM sites WHERE site_id = ?", ("\x00",))
        with pytest.raises(UnstorableText):
            db.connection().executemany("INSERT INTO sites (site_id, name) VALUES (?, ?)",
                                        [("s1", "one"), ("s2", "t\x00wo")])

        async def both() -> list[Any]:
            return await asyncio.gather(
                db.write(lambda c: registry.upsert_site(c, registry.Site("w1", "x", None), now)),
                db.write(lambda c: registry.upsert_site(c, registry.Site("w2", "\x00", None),
                                                        now)),
                return_exceptions=True)

        outcomes = asyncio.run(both())
        assert outcomes[0] is None and isinstance(outcomes[1], UnstorableText)
        assert [s.site_id for s in registry.list_sites(db.connection())] == ["w1"]
    finally:
        db.close()


_forgetful = APIRouter()


@_forgetful.post("/v1/test/forgetful-note")
def _forgetful_note(db: DbDep, now: NowDep,
                    text: str = Body(media_type="text/plain")) -> dict[str, str]:
    """A route whose text the request check does not see (a plain-text body)."""
    with db.transaction() as conn:
        registry.upsert_site(conn, registry.Site("forgetful", text, None), now)
    return {"stored": text}


def test_on_postgres_text_past_the_request_check_gets_a_422_not_a_500(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "EXTENSIONS",
                        (*app_module.EXTENSIONS, SimpleNamespace(router=_forgetful)))
    server = CentralServer(postgres_url).start()
    try:
        r = httpx.post(f"{server.url}/v1/test/forgetful-note", content=b"a\x00b",
                       headers={"Content-Type": "text/plain"}, trust_env=False, timeout=30)
        assert r.status_code == 422, r.text
        assert "NUL character" in r.json()["detail"]
        assert server.query("SELECT * FROM sites WHERE site_id = 'forgetful'") == []
    finally:
        server.stop()
