"""Order status as central reports it to the agent: an enrolled agent's signed, fresh,
single-use request over a real server on loopback with a real SQLite file, answered with
the newest open order line of each of its own supplies and nobody else's."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support_central import (  # noqa: F401  (`central` is a fixture)
    CentralServer, central, enrolled_agent, make_summary,
)

from asr_agent.adapters import keys as signing
from asr_core.errors import PermanentUplinkError
from asr_core.records import LevelState, SupplyClass, SupplyType
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import AgentIdentity, Uplink, UplinkSettings, queue_summary
from asr_core.wire import (
    CONTROL_MAX_AGE_S, CartridgeEvent, Envelope, OrderStatus, SupplySummary,
    order_status_request,
)

REGISTRY = """\
contacts:
  - {id: claire, name: Claire Martin, email: facilities@lyon.example,
     shipping_address: "12 rue Garibaldi, 69003 Lyon"}
  - {id: paul, name: Paul Roux, email: it@paris.example,
     shipping_address: "3 rue de Rivoli, 75004 Paris"}
sites:
  - {id: lyon, name: Lyon HQ, contact: claire}
  - {id: paris, name: Paris office, contact: paul}
"""


def due_toner(index: int = 1, color: str = "black") -> SupplySummary:
    """A toner about ten days from empty: inside the 21-day lead time."""
    return SupplySummary(index, SupplyType.TONER, SupplyClass.CONSUMED, color, 20,
                         LevelState.OK, 20.0, 5.0, 5.0, 2.0, 10.0, 8.0, 12.0, "ok",
                         "106R03528" if color == "black" else None)


class FieldAgent:
    """An enrolled agent with its own key on disk, store file and uplink."""

    def __init__(self, server: CentralServer, root: Path, site: str) -> None:
        self.key, self.identity = enrolled_agent(server, root / "keys", site)
        self.store = Store.in_dir(root / "data")
        self.uplink = Uplink(UplinkSettings(central_url=server.url, trust_env=False,
                                            max_attempts=2, backoff_initial_s=0.01),
                             self.store)
        self.site = site

    def report(self, serial: str, end: datetime, supplies: tuple[SupplySummary, ...],
               events: tuple[CartridgeEvent, ...] = ()) -> None:
        summary = dataclasses.replace(
            make_summary(self.identity.agent_id, self.store.next_sequence(), site_id=self.site,
                         serial=serial, period_start=end - timedelta(hours=4)),
            supplies=supplies, cartridge_events=events)
        queue_summary(self.store, summary, self.key)
        report = self.uplink.drain()
        assert report.accepted == 1, report

    def close(self) -> None:
        self.uplink.close()
        self.store.close()


def orders_of(server: CentralServer, site: str) -> list[dict[str, Any]]:
    r = server.admin("GET", "/v1/orders", params={"site_id": site})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def fleet(central: CentralServer, tmp_path: Path  # noqa: F811
          ) -> Iterator[tuple[CentralServer, FieldAgent, FieldAgent, datetime]]:
    r = httpx.post(f"{central.url}/v1/registry/import", content=REGISTRY, trust_env=False,
                   headers={"Authorization": f"Bearer {central.admin_token}",
                            "Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text
    lyon = FieldAgent(central, tmp_path / "lyon", "lyon")
    paris = FieldAgent(central, tmp_path / "paris", "paris")
    # hours back: the tests report a later period too, and central refuses the future
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=5)
    lyon.report("XRX-L1", now, (due_toner(1), due_toner(2, "cyan")))
    paris.report("XRX-P1", now, (due_toner(1),))
    run_policy(central)
    assert orders_of(central, "lyon") and orders_of(central, "paris")
    yield central, lyon, paris, now
    lyon.close()
    paris.close()


def run_policy(server: CentralServer) -> None:
    """Run the policy now: the after-ingest run comes at most every policy interval (30 s
    by default, `serve --policy-interval`; a tenth of a second for CentralServer), and
    what follows needs its outcome."""
    r = server.admin("POST", "/v1/admin/run-policy", json={})
    assert r.status_code == 200, r.text


def post_envelope(server: CentralServer, env: Envelope | dict[str, Any]) -> httpx.Response:
    body = env.to_dict() if isinstance(env, Envelope) else env
    return httpx.post(f"{server.url}/v1/agent/order-status", json=body, trust_env=False,
                      timeout=10)


def signed_request(agent: FieldAgent, issued_at: datetime | None = None,
                   nonce: str = "n-0123456789abcdef") -> Envelope:
    data = order_status_request(agent.identity.agent_id, issued_at or datetime.now(UTC), nonce)
    return signing.seal_data(data, agent.key, agent.identity.agent_id)


def test_agent_sees_its_order_created_then_shipped_delivered_and_gone_once_installed(
        fleet) -> None:
    server, lyon, _, now = fleet
    order = orders_of(server, "lyon")[0]
    status = lyon.uplink.order_status(lyon.identity, lyon.key)
    assert set(status) == {("XRX-L1", 1), ("XRX-L1", 2)}
    black = status[("XRX-L1", 1)]
    assert (black.status, black.order_id, black.shipped_at) == ("created", order["order_id"], None)
    line = next(l for l in order["lines"] if l["supply_index"] == 1)
    assert black.quantity == line["quantity"] >= 1
    assert black.describe().startswith("ordered ")

    r = server.admin("POST", f"/v1/orders/{order['order_id']}/ship",
                     json={"serials": {str(line["line_id"]): ["CRT-900"]}, "tracking": "PK-9"})
    assert r.status_code == 200, r.text
    black = lyon.uplink.order_status(lyon.identity, lyon.key)[("XRX-L1", 1)]
    assert black.status == "shipped"
    assert black.cartridge_serials == ("CRT-900",)
    assert black.shipped_at is not None and abs(black.shipped_at - datetime.now(UTC)) < \
        timedelta(minutes=1)
    unit = "1 unit" if black.quantity == 1 else f"{black.quantity} units"
    assert black.describe() == f"shipped {black.shipped_at.date().isoformat()} ({unit})"

    assert server.admin("POST", f"/v1/orders/{order['order_id']}/deliver").status_code == 200
    black = lyon.uplink.order_status(lyon.identity, lyon.key)[("XRX-L1", 1)]
    assert black.status == "delivered" and black.delivered_at is not None

    # the agent reports every unit of the black line installed: it closes and disappears
    later = now + timedelta(hours=4)
    events = tuple(CartridgeEvent(1, later - timedelta(hours=1, minutes=i), False,
                                  cartridge_serial="CRT-900" if i == 0 else None)
                   for i in range(black.quantity))
    fresh = dataclasses.replace(due_toner(1), level=100, remaining_percent=100.0,
                                days_to_empty=50.0, days_to_empty_low=45.0,
                                days_to_empty_high=55.0)
    lyon.report("XRX-L1", later, (fresh, due_toner(2, "cyan")), events)
    run_policy(server)
    assert set(lyon.uplink.order_status(lyon.identity, lyon.key)) == {("XRX-L1", 2)}


def test_another_agents_devices_are_not_visible(fleet) -> None:
    server, lyon, paris, _ = fleet
    assert {serial for serial, _ in lyon.uplink.order_status(lyon.identity, lyon.key)} == \
        {"XRX-L1"}
    paris_view = paris.uplink.order_status(paris.identity, paris.key)
    assert set(paris_view) == {("XRX-P1", 1)}
    assert paris_view[("XRX-P1", 1)].order_id == orders_of(server, "paris")[0]["order_id"]
    # a lyon key cannot ask in paris's name
    forged = signing.seal_data(order_status_request(paris.identity.agent_id, datetime.now(UTC),
                                                    "n-forged-0123456789"),
                               lyon.key, paris.identity.agent_id)
    r = post_envelope(server, forged)
    assert r.status_code == 401 and "unknown_key" in r.json()["detail"]
    # and a lyon-signed request naming paris in its payload is refused too
    mismatch = signing.seal_data(order_status_request(paris.identity.agent_id,
                                                      datetime.now(UTC), "n-mismatch-0123456"),
                                 lyon.key, lyon.identity.agent_id)
    r = post_envelope(server, mismatch)
    assert r.status_code == 403 and "agent_mismatch" in r.json()["detail"]


def test_tampered_request_is_refused(fleet) -> None:
    server, lyon, _, _ = fleet
    env = signed_request(lyon)
    altered = env.payload.replace(b"n-0123456789abcdef", b"n-0123456789abcdeX")
    assert altered != env.payload
    r = post_envelope(server, dataclasses.replace(env, payload=altered))
    assert r.status_code == 422 and "bad_signature" in r.json()["detail"]
    stranger = signing.AgentKey(Ed25519PrivateKey.generate())
    r = post_envelope(server, signing.seal_data(
        order_status_request(lyon.identity.agent_id, datetime.now(UTC), "n-stranger-01234567"),
        stranger, lyon.identity.agent_id))
    assert r.status_code == 401
    # the untouched request still works: the refusals were about the tampering
    assert post_envelope(server, env).status_code == 200


def test_stale_or_future_request_is_refused_with_a_clock_hint(fleet) -> None:
    _, lyon, _, _ = fleet
    too_old = datetime.now(UTC) - timedelta(seconds=CONTROL_MAX_AGE_S + 60)
    with pytest.raises(PermanentUplinkError, match=r"\(403\).*stale.*clock"):
        lyon.uplink.order_status(lyon.identity, lyon.key, now=too_old)
    too_new = datetime.now(UTC) + timedelta(seconds=CONTROL_MAX_AGE_S + 60)
    with pytest.raises(PermanentUplinkError, match="future"):
        lyon.uplink.order_status(lyon.identity, lyon.key, now=too_new)
    # within the window a slightly slow clock is fine
    slow = datetime.now(UTC) - timedelta(seconds=CONTROL_MAX_AGE_S / 2)
    assert ("XRX-L1", 1) in lyon.uplink.order_status(lyon.identity, lyon.key, now=slow)


def test_a_captured_request_cannot_be_replayed(fleet) -> None:
    server, lyon, _, _ = fleet
    env = signed_request(lyon, nonce="n-captured-0123456789")
    first = post_envelope(server, env)
    assert first.status_code == 200 and first.json()["lines"]
    again = post_envelope(server, env)
    assert again.status_code == 409 and "replay" in again.json()["detail"]


def test_revoked_agent_learns_nothing(fleet) -> None:
    server, lyon, _, _ = fleet
    r = server.admin("POST", f"/v1/admin/agents/{lyon.identity.agent_id}/revoke")
    assert r.status_code == 200, r.text
    with pytest.raises(PermanentUplinkError, match=r"\(403\).*agent_revoked"):
        lyon.uplink.order_status(lyon.identity, lyon.key)


def test_order_status_record_round_trips_and_refuses_unknown_states() -> None:
    shipped = OrderStatus("XRX-1", 3, "shipped", 2, 17, 1,
                          datetime(2026, 11, 28, 9, tzinfo=UTC),
                          datetime(2026, 12, 1, 15, tzinfo=UTC), None, ("A", "B"))
    assert OrderStatus.from_dict(shipped.to_dict()) == shipped
    assert shipped.describe() == "shipped 2026-12-01 (2 units, 1 installed)"
    # a newer central may add fields; the agent keeps what it knows
    assert OrderStatus.from_dict({**shipped.to_dict(), "eta": "2026-12-02"}) == shipped
    with pytest.raises(ValueError, match="status.*closed"):
        OrderStatus.from_dict({**shipped.to_dict(), "status": "closed"})


def test_identity_from_disk_is_enough_to_ask(fleet, tmp_path: Path) -> None:
    _, lyon, _, _ = fleet
    identity = AgentIdentity.load(tmp_path / "lyon" / "keys")
    key = signing.load(tmp_path / "lyon" / "keys")
    assert identity is not None
    assert ("XRX-L1", 2) in lyon.uplink.order_status(identity, key)
