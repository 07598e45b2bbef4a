"""Who may say what about which device, and when: two sites, two enrolled agents and one
real central on loopback (real SQLite file, real signed summaries). An agent speaks only for
its own site's devices; a moved printer is held until an admin confirms the move; a summary
from the future is refused; a token of one site never adds a key to another site's agent."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from support_central import Clock, CentralServer, enrolled_agent, make_summary

from asr_agent.adapters import keys as signing
from asr_agent.adapters.uplink import AgentIdentity
from asr_core.wire import CartridgeEvent, Summary, order_status_request

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

REGISTRY = json.dumps({
    "contacts": [{"id": "claire", "name": "Claire Martin", "email": "facilities@lyon.example"},
                 {"id": "paul", "name": "Paul Roux", "email": "it@paris.example"}],
    "sites": [{"id": "lyon", "name": "Lyon HQ", "contact": "claire"},
              {"id": "paris", "name": "Paris office", "contact": "paul"}],
    "devices": [{"serial": "XRX-L1", "site": "lyon"}, {"serial": "XRX-M1", "site": "lyon"},
                {"serial": "XRX-R1", "site": "lyon"}, {"serial": "XRX-P1", "site": "paris"}],
})
# central's clock, fixed: a policy run stamps what it refreshes with it, so two runs over
# the same facts leave the same rows
NOW = datetime.now(UTC).replace(microsecond=0)
END = NOW - timedelta(minutes=5)  # the end of the latest period an agent reports
THAW = "050_unfreeze_future_reports.sql"


class Agent:
    """An enrolled agent of one site: its key and its next sequence number."""

    def __init__(self, server: CentralServer, root: Path, site: str) -> None:
        self.server = server
        self.site = site
        self.key, self.identity = enrolled_agent(server, root / site, site)
        self.sequence = 0

    @property
    def agent_id(self) -> str:
        return self.identity.agent_id

    def summary(self, serial: str, end: datetime = END, *, level: int = 20,
                site_id: str | None = None, with_event: bool = False) -> Summary:
        self.sequence += 1
        return make_summary(self.agent_id, self.sequence, site_id=site_id or self.site,
                            serial=serial, period_start=end - timedelta(hours=4), level=level,
                            with_event=with_event)

    def send(self, *summaries: Summary) -> list[tuple[int, str | None]]:
        """(code, reason) per summary, each sealed with this agent's key."""
        body = {"envelopes": [signing.seal(s, self.key).to_dict() for s in summaries]}
        r = httpx.post(f"{self.server.url}/v1/summaries", json=body, trust_env=False,
                       timeout=30)
        assert r.status_code == 200, r.text
        return [(x["code"], x["reason"]) for x in r.json()["results"]]

    def order_status(self) -> set[tuple[str, int]]:
        data = order_status_request(self.agent_id, datetime.now(UTC),
                                    f"n-{self.agent_id}-{self.sequence:012d}")
        self.sequence += 1
        env = signing.seal_data(data, self.key, self.agent_id)
        r = httpx.post(f"{self.server.url}/v1/agent/order-status", json=env.to_dict(),
                       trust_env=False, timeout=10)
        assert r.status_code == 200, r.text
        return {(x["device_serial"], x["supply_index"]) for x in r.json()["lines"]}


@pytest.fixture
def sites(central_db_url: str, tmp_path: Path) -> Iterator[tuple[CentralServer, Agent, Agent]]:
    server = CentralServer(central_db_url, clock=Clock(NOW)).start()
    r = httpx.post(f"{server.url}/v1/registry/import", content=REGISTRY, trust_env=False,
                   headers={"Authorization": f"Bearer {server.admin_token}",
                            "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    lyon, paris = Agent(server, tmp_path, "lyon"), Agent(server, tmp_path, "paris")
    yield server, lyon, paris
    server.stop()


def run_policy(server: CentralServer) -> dict[str, Any]:
    r = server.admin("POST", "/v1/admin/run-policy", json={})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def codes(results: list[tuple[int, str | None]]) -> list[int]:
    return [code for code, _ in results]


def site_rows(server: CentralServer, site: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of what central knows and decided about `site`'s devices, table by table."""
    serials = "(SELECT serial FROM device_status WHERE site_id = :site UNION " \
              "SELECT serial FROM registry_devices WHERE site_id = :site)"
    orders = "(SELECT order_id FROM orders WHERE site_id = :site)"
    queries = {
        "device_status": f"SELECT * FROM device_status WHERE serial IN {serials} ORDER BY serial",
        "supply_latest": f"SELECT * FROM supply_latest WHERE device_serial IN {serials} "
                         "ORDER BY device_serial, supply_index",
        "cartridge_events": f"SELECT * FROM cartridge_events WHERE device_serial IN {serials} "
                            "ORDER BY id",
        "summaries": f"SELECT * FROM summaries WHERE device_serial IN {serials} ORDER BY id",
        "orders": "SELECT * FROM orders WHERE site_id = :site ORDER BY order_id",
        "order_lines": f"SELECT * FROM order_lines WHERE order_id IN {orders} ORDER BY line_id",
        "shipped_cartridges": "SELECT * FROM shipped_cartridges WHERE line_id IN (SELECT "
                              f"line_id FROM order_lines WHERE order_id IN {orders}) "
                              "ORDER BY cartridge_serial",
        "registry_devices": "SELECT * FROM registry_devices WHERE site_id = :site "
                            "ORDER BY serial",
        "central_alerts": f"SELECT * FROM central_alerts WHERE device_serial IN {serials} "
                          "AND kind != 'device_moved' ORDER BY alert_key",
    }
    out = {}
    for name, sql in queries.items():
        sql = sql.replace(":site", "?")
        out[name] = [tuple(row) for row in server.query(sql, (site,) * sql.count("?"))]
    return out


def test_two_sites_every_cross_site_attempt_is_refused_and_site_a_is_unchanged_row_by_row(
        sites: tuple[CentralServer, Agent, Agent], tmp_path: Path) -> None:
    server, lyon, paris = sites
    # site A (lyon): a registered printer with two due toners and a premature replacement,
    # and one the registry does not list yet (bound to lyon, the first site reporting it)
    assert codes(lyon.send(lyon.summary("XRX-L1", with_event=True),
                           lyon.summary("XRX-U1"))) == [201, 201]
    assert codes(paris.send(paris.summary("XRX-P1"))) == [201]
    run_policy(server)
    order = next(o for o in server.admin("GET", "/v1/orders").json() if o["site_id"] == "lyon")
    line = next(x for x in order["lines"] if x["device_serial"] == "XRX-L1")
    shipped = server.admin("POST", f"/v1/orders/{order['order_id']}/ship",
                           json={"serials": {str(line["line_id"]): ["CRT-900"]}})
    assert shipped.status_code == 200, shipped.text
    assert lyon.order_status() == {("XRX-L1", 1), ("XRX-U1", 1)}
    before = site_rows(server, "lyon")
    assert before["orders"] and before["order_lines"] and before["central_alerts"]
    assert {r[0] for r in before["device_status"]} == {"XRX-L1", "XRX-U1"}

    # site B's agent, signing for its own site, about site A's printers
    later = END + timedelta(minutes=4)
    attacks = [
        paris.summary("XRX-L1", later, level=1),                  # registered to lyon
        paris.summary("XRX-U1", later, level=1),                  # bound to lyon, unregistered
        paris.summary("XRX-L1", later - timedelta(minutes=1), level=100,
                      with_event=True),                           # a replacement with A's part
        paris.summary("XRX-P1", later),                           # its own: accepted
    ]
    results = paris.send(*attacks)
    assert codes(results) == [403, 403, 403, 201], results
    assert all(str(reason).startswith("other_site: device of another site")
               for _, reason in results[:3])
    # B claiming to be site A is refused as before (the summary must name the agent's site)
    claim = paris.send(paris.summary("XRX-L1", later, site_id="lyon"))
    assert codes(claim) == [403] and "site_mismatch" in str(claim[0][1])
    # B's order status names its own lines, none of A's
    assert paris.order_status() == {("XRX-P1", 1)}
    # a token of site B cannot add a key to A's agent (and the key signs nothing for A)
    thief = signing.load_or_create(tmp_path / "thief")
    r = httpx.post(f"{server.url}/v1/enroll", trust_env=False, json={
        "token": server.create_token("paris"), "public_key": thief.public_b64,
        "site_id": "paris", "agent_name": "x", "agent_id": lyon.agent_id})
    assert r.status_code == 403, r.text
    forged = Agent.__new__(Agent)
    forged.server, forged.site, forged.key, forged.sequence = server, "lyon", thief, 900
    forged.identity = AgentIdentity(lyon.agent_id, "lyon", server.url, thief.key_id)
    assert codes(forged.send(forged.summary("XRX-L1", later, level=1))) == [401]

    run_policy(server)
    after = site_rows(server, "lyon")
    for table, rows in before.items():
        assert after[table] == rows, table
    assert lyon.order_status() == {("XRX-L1", 1), ("XRX-U1", 1)}
    # a serial nobody reported yet goes to the first site reporting it; then B is refused
    assert codes(lyon.send(lyon.summary("XRX-N1"))) == [201]
    assert codes(paris.send(paris.summary("XRX-N1", later))) == [403]
    # what B attempted is held for an admin to see, once per device and site
    moved = server.admin("GET", "/v1/alerts", params={"kind": "device_moved"}).json()
    assert sorted(a["device_serial"] for a in moved) == ["XRX-L1", "XRX-N1", "XRX-U1"]
    assert all(paris.agent_id in a["message"] for a in moved)


def test_a_moved_printer_is_held_and_alerted_until_an_admin_confirms_the_move(
        sites: tuple[CentralServer, Agent, Agent]) -> None:
    server, lyon, paris = sites
    first = lyon.summary("XRX-M1", END - timedelta(hours=4))
    assert codes(lyon.send(first)) == [201]
    # the printer is carried to Paris: the Paris agent finds it
    seen = paris.send(paris.summary("XRX-M1", END, level=90))
    assert codes(seen) == [403] and "XRX-M1 belongs to site 'lyon'" in str(seen[0][1])
    status = server.query("SELECT site_id, agent_id, last_seen FROM device_status "
                          "WHERE serial = 'XRX-M1'")
    assert [tuple(r) for r in status] == [
        ("lyon", lyon.agent_id, (END - timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M:%SZ"))]
    alerts = server.admin("GET", "/v1/alerts", params={"kind": "device_moved"}).json()
    assert [(a["device_serial"], a["severity"]) for a in alerts] == [("XRX-M1", "warning")]
    assert "'paris'" in alerts[0]["message"] and "/move" in alerts[0]["message"]

    r = server.admin("POST", "/v1/admin/devices/XRX-M1/move", json={"site_id": "paris"})
    assert r.status_code == 200, r.text
    assert r.json() == {"serial": "XRX-M1", "site_id": "paris", "previous_site_id": "lyon"}
    assert server.admin("GET", "/v1/alerts", params={"kind": "device_moved"}).json() == []
    registry = server.admin("GET", "/v1/registry").json()["devices"]
    assert next(d for d in registry if d["serial"] == "XRX-M1")["site_id"] == "paris"

    assert codes(paris.send(paris.summary("XRX-M1", END + timedelta(minutes=1), level=80))
                 ) == [201]
    back = lyon.send(lyon.summary("XRX-M1", END + timedelta(minutes=2)))
    assert codes(back) == [403] and "belongs to site 'paris'" in str(back[0][1])
    # what Lyon's agent sent before the move and resends (its answer lost) is a duplicate:
    # acknowledged, not refused
    assert lyon.send(first) == [(409, f"duplicate: already stored as #{1}")]
    row = server.query("SELECT site_id, agent_id FROM device_status WHERE serial = 'XRX-M1'")
    assert tuple(row[0]) == ("paris", paris.agent_id)
    assert [r["level"] for r in server.query(
        "SELECT level FROM supply_latest WHERE device_serial = 'XRX-M1'")] == [80]


def test_a_move_made_in_the_registry_takes_the_new_sites_agent_and_refuses_the_old(
        sites: tuple[CentralServer, Agent, Agent]) -> None:
    server, lyon, paris = sites
    assert codes(paris.send(paris.summary("XRX-P1"))) == [201]
    run_policy(server)
    # from here on only the runs this test asks for plan: ingest's would come in an hour
    server.app.state.policy_min_interval = 3600.0
    assert codes(lyon.send(lyon.summary("XRX-R1", END - timedelta(hours=4)))) == [201]
    r = server.admin("PUT", "/v1/registry/devices/XRX-R1", json={"site": "paris"})
    assert r.status_code == 200, r.text
    # until Paris reports it, nothing is ordered from the numbers Lyon's agent sent
    run_policy(server)
    assert lines_for(server, "XRX-R1") == []
    assert codes(lyon.send(lyon.summary("XRX-R1", END - timedelta(hours=2)))) == [403]
    assert codes(paris.send(paris.summary("XRX-R1", END))) == [201]
    row = server.query("SELECT site_id, agent_id FROM device_status WHERE serial = 'XRX-R1'")
    assert tuple(row[0]) == ("paris", paris.agent_id)
    run_policy(server)
    assert lines_for(server, "XRX-R1") == ["paris"]


def lines_for(server: CentralServer, serial: str) -> list[str]:
    """The site of each order line for `serial`."""
    return [o["site_id"] for o in server.admin("GET", "/v1/orders").json()
            for x in o["lines"] if x["device_serial"] == serial]


def test_a_summary_from_the_future_is_refused_and_never_freezes_the_device(
        sites: tuple[CentralServer, Agent, Agent]) -> None:
    server, lyon, _ = sites
    far = datetime(2099, 1, 1, tzinfo=UTC)
    refused = lyon.send(lyon.summary("XRX-F1", far, level=5))
    assert codes(refused) == [422] and str(refused[0][1]).startswith("future: ")
    assert "check the agent machine's clock" in str(refused[0][1])
    assert server.query("SELECT * FROM device_status WHERE serial = 'XRX-F1'") == []
    # real summaries after it still move the device, and a clock a little ahead is allowed
    assert codes(lyon.send(lyon.summary("XRX-F1", END, level=60))) == [201]
    assert codes(lyon.send(lyon.summary("XRX-F1", NOW + timedelta(minutes=4), level=55))
                 ) == [201]
    assert codes(lyon.send(lyon.summary("XRX-F1", NOW + timedelta(minutes=6), level=50))
                 ) == [422]
    levels = server.query("SELECT level, as_of FROM supply_latest WHERE device_serial = 'XRX-F1'")
    assert [tuple(r) for r in levels] == [
        (55, (NOW + timedelta(minutes=4)).strftime("%Y-%m-%dT%H:%M:%SZ"))]


def test_a_replacement_dated_in_the_future_or_a_period_before_2000_is_refused(
        sites: tuple[CentralServer, Agent, Agent]) -> None:
    server, lyon, _ = sites
    s = lyon.summary("XRX-F2")
    event = CartridgeEvent(1, NOW + timedelta(days=1), False)
    future_event = dataclasses.replace(s, cartridge_events=(event,))
    old = lyon.summary("XRX-F2", datetime(1999, 12, 31, tzinfo=UTC))
    results = lyon.send(future_event, old)
    assert codes(results) == [422, 400]
    assert str(results[0][1]).startswith("future: ")
    assert "year 1999 is out of range 2000..2100" in str(results[1][1])
    assert server.query("SELECT * FROM summaries WHERE device_serial = 'XRX-F2'") == []


def test_a_token_of_site_b_cannot_add_a_key_to_an_agent_of_site_a(
        sites: tuple[CentralServer, Agent, Agent], tmp_path: Path) -> None:
    server, lyon, _ = sites
    thief = signing.load_or_create(tmp_path / "thief")
    token = server.create_token("paris")
    r = httpx.post(f"{server.url}/v1/enroll", trust_env=False, json={
        "token": token, "public_key": thief.public_b64, "site_id": "paris",
        "agent_name": "lyon-clone", "agent_id": lyon.agent_id})
    assert r.status_code == 403, r.text
    assert "belongs to site 'lyon'" in r.json()["detail"]
    keys = server.query("SELECT key_id FROM agent_keys WHERE agent_id = ?", (lyon.agent_id,))
    assert [k["key_id"] for k in keys] == [lyon.key.key_id]
    # the refused token was not spent: it still enrolls a new agent of its own site
    r = httpx.post(f"{server.url}/v1/enroll", trust_env=False, json={
        "token": token, "public_key": thief.public_b64, "site_id": "paris",
        "agent_name": "paris-2"})
    assert r.status_code == 201 and r.json()["site_id"] == "paris"


def test_a_device_frozen_by_a_future_summary_stored_before_the_time_bounds_thaws_on_upgrade(central_db_url: str,
        tmp_path: Path) -> None:
    server = CentralServer(central_db_url, clock=Clock(NOW)).start()
    try:
        lyon = Agent(server, tmp_path, "lyon")
        assert codes(lyon.send(lyon.summary("XRX-F3", END - timedelta(hours=4), level=70))
                     ) == [201]
    finally:
        server.stop()
    # the state a 2099 summary left before central refused the future, and the database
    # as it was before the migration that thaws it
    server.query("UPDATE device_status SET last_seen = '2099-01-01T04:00:00Z'")
    server.query("UPDATE supply_latest SET as_of = '2099-01-01T04:00:00Z', level = 3")
    server.query("DELETE FROM schema_migrations WHERE name = ?", (THAW,))
    server.start()
    try:
        assert codes(lyon.send(lyon.summary("XRX-F3", END, level=65))) == [201]
        assert [tuple(r) for r in server.query(
            "SELECT level, as_of FROM supply_latest WHERE device_serial = 'XRX-F3'")] == [
            (65, END.strftime("%Y-%m-%dT%H:%M:%SZ"))]
        assert [r["last_seen"] for r in server.query("SELECT last_seen FROM device_status")] \
            == [END.strftime("%Y-%m-%dT%H:%M:%SZ")]
    finally:
        server.stop()


def test_an_unregistered_printer_moves_by_the_admin_api_and_a_bad_move_is_refused(
        sites: tuple[CentralServer, Agent, Agent]) -> None:
    server, lyon, paris = sites
    assert codes(lyon.send(lyon.summary("XRX-U2", END - timedelta(hours=4)))) == [201]
    assert codes(paris.send(paris.summary("XRX-U2", END))) == [403]
    unknown = server.admin("POST", "/v1/admin/devices/XRX-NONE/move", json={"site_id": "paris"})
    assert unknown.status_code == 404 and "nothing to move" in unknown.json()["detail"]
    nowhere = server.admin("POST", "/v1/admin/devices/XRX-U2/move", json={"site_id": "pariss"})
    assert nowhere.status_code == 422 and "'pariss' is unknown" in nowhere.json()["detail"]
    r = server.admin("POST", "/v1/admin/devices/XRX-U2/move", json={"site_id": "paris"})
    assert r.status_code == 200 and r.json()["previous_site_id"] == "lyon", r.text
    assert codes(paris.send(paris.summary("XRX-U2", END + timedelta(minutes=1)))) == [201]
    assert codes(lyon.send(lyon.summary("XRX-U2", END + timedelta(minutes=2)))) == [403]
    assert server.query("SELECT * FROM registry_devices WHERE serial = 'XRX-U2'") == []
