"""A whole simulated period through the real central service, day by day.

tests/test_simulate_central.py shows that central orders what the simulator orders up to a
fleet's first orders. After them stock matters: the simulator counts units on order and
delivered-not-installed itself, central derives them from its orders' states and from the
replacements the agent reports. Here every day of a period long enough for several orders,
deliveries and installs per supply is replayed: the parcels the simulator delivered that
morning are marked delivered, the day's summaries are posted, central's policy runs at
23:59 (the hour the simulator plans at), its new orders are shipped at once, and they must
be the simulator's parcels of that day, line for line. The policy reads units on hand and
on order as one stock, so a delivery marked late would not change an order: both sides'
units on hand and on order per supply are compared every day as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from asr_core.wire import Summary
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import SimResult, simulate
from asr_central.storage import open_database, orders as order_store
from support_central import (
    FAR, CentralServer, Clock, Orders, central_orders, post_summaries, register_fleet,
    run_late, sim_orders,
)

# Two sites: a colour printer (four toners and a waste bottle, percent) and a mono one
# (toner and waste bottle, tenths of grams) at one, a colour printer at the other; default
# weekly pattern and noise. Small cartridges and heavy use, so that within the period every
# supply is ordered, delivered and installed several times.
DAYS = 150
FLEET = f"""\
start: 2027-01-04
days: {DAYS}
seed: 5
shipping_days: [2, 5]
lead_days: 21
supply_days: 30
pull_forward_days: 10
sites:
  - id: lyon
    contact: facilities@lyon.example
    devices:
      - serial: LY-COLOR-1
        model: Xerox VersaLink C405
        report: percent
        supplies:
          - {{id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 150, level_pct: 70}}
          - {{id: cyan, type: toner, color: cyan, part_number: 106R03530, capacity_g: 100, level_pct: 90}}
          - {{id: magenta, type: toner, color: magenta, part_number: 106R03531, capacity_g: 100, level_pct: 50}}
          - {{id: yellow, type: toner, color: yellow, part_number: 106R03529, capacity_g: 100, level_pct: 35}}
          - {{id: waste, type: waste_toner, part_number: 108R01416, capacity_g: 60, level_pct: 60}}
        usage:
          grams_per_day: {{black: 6.0, cyan: 3.0, magenta: 3.5, yellow: 2.5}}
        events:
          - {{type: spike, start: 2027-03-08, days: 10, factor: 3}}
      - serial: LY-MONO-1
        model: Xerox B405
        report: tenths_of_grams
        supplies:
          - {{id: black, type: toner, color: black, part_number: 106R03582, capacity_g: 200, level_pct: 95}}
          - {{id: waste, type: waste_toner, part_number: 101R00555, capacity_g: 40, level_pct: 80}}
        usage:
          grams_per_day: {{black: 8.5}}
  - id: paris
    contact: it@paris.example
    devices:
      - serial: PA-COLOR-1
        model: Xerox VersaLink C405
        report: percent
        supplies:
          - {{id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 150, level_pct: 88}}
          - {{id: cyan, type: toner, color: cyan, part_number: 106R03530, capacity_g: 100, level_pct: 42}}
          - {{id: magenta, type: toner, color: magenta, part_number: 106R03531, capacity_g: 100, level_pct: 70}}
          - {{id: yellow, type: toner, color: yellow, part_number: 106R03529, capacity_g: 100, level_pct: 90}}
          - {{id: waste, type: waste_toner, part_number: 108R01416, capacity_g: 60, level_pct: 25}}
        usage:
          grams_per_day: {{black: 5.0, cyan: 2.5, magenta: 3.0, yellow: 2.0}}
        events:
          - {{type: offline, start: 2027-04-05, days: 9}}
"""


@pytest.fixture
def clock() -> Clock:
    return Clock(FAR)


@pytest.fixture
def service(central_db_url: str, clock: Clock) -> Iterator[CentralServer]:
    # after-ingest runs at most once an hour: the first (clock far ahead) orders nothing,
    # the others never start within the test, so every order comes from the test's runs
    server = CentralServer(central_db_url, clock=clock,
                           policy_interval_s=3600).start()
    yield server
    server.stop()


Stock = dict[tuple[str, int], tuple[int, int]]  # (serial, supply index) -> (on hand, open)


def _central_stock(server: CentralServer) -> Stock:
    """Central's units on hand and open per supply, as its policy run reads them."""
    db = open_database(server.db_url, migrate=False)
    try:
        return {k: v for k, v in order_store.stock(db.connection()).items() if v != (0, 0)}
    finally:
        db.close()


def _sim_stock(result: SimResult, reported: dict[tuple[str, int], int], day: int) -> Stock:
    """What the simulator's central side counts at the end of `day`: units ordered and not
    arrived, and units arrived and not reported installed (`reported`: cartridge events
    seen so far per supply)."""
    index = {(d.serial, sid): i for d in result.devices
             for i, sid in enumerate(d.supplies, start=1)}
    on_order: dict[tuple[str, int], int] = {}
    delivered: dict[tuple[str, int], int] = {}
    for parcel in result.parcels:
        if parcel.created_day > day:
            continue
        into = on_order if parcel.arrive_day > day else delivered
        for line in parcel.lines:
            key = (line.serial, index[(line.serial, line.supply_id)])
            into[key] = into.get(key, 0) + line.quantity
    # the simulator's count is central's only while installs use delivered units (a
    # cartridge from elsewhere would count there and not here: records.SupplyLink)
    assert all(n <= delivered.get(key, 0) for key, n in reported.items()), day
    out = {}
    for key in on_order.keys() | delivered.keys():
        v = (delivered.get(key, 0) - reported.get(key, 0), on_order.get(key, 0))
        if v != (0, 0):
            out[key] = v
    return out


def test_a_whole_period_orders_the_same_through_the_central_service(
        service: CentralServer, clock: Clock, tmp_path: Path) -> None:
    fleet = parse_fleet(FLEET)
    captured: list[Summary] = []
    result = simulate(fleet, "asr", summaries=captured)
    agents = register_fleet(service, fleet, tmp_path)
    by_day: dict[int, list[Summary]] = {}
    for s in captured:
        by_day.setdefault((s.period_start.date() - fleet.start).days, []).append(s)

    # every supply is ordered, delivered and installed two times or more, nothing runs out
    installs: dict[tuple[str, int], int] = {}
    for d in result.devices:
        index = {sid: i for i, sid in enumerate(d.supplies, start=1)}
        for ins in d.installs:
            key = (d.serial, index[ins.supply_id])
            installs[key] = installs.get(key, 0) + 1
    assert len(installs) == sum(len(d.supplies) for d in result.devices) == 12
    assert min(installs.values()) >= 2
    assert sum(s.stockout_days for d in result.devices for s in d.supplies.values()) == 0
    assert len(result.parcels) >= 12

    arriving: dict[int, list[int]] = {}  # day -> central orders the simulator delivers then
    reported: dict[tuple[str, int], int] = {}  # cartridge events posted so far, per supply
    seen: set[int] = set()
    orders_differ: list[tuple[str, Orders, Orders]] = []
    stock_differs: list[tuple[str, Stock, Stock]] = []
    for day in range(fleet.days):
        date = fleet.start + timedelta(days=day)
        # the simulator delivers a day's parcels at its start, before anything is read
        for order_id in arriving.pop(day, ()):
            r = service.admin("POST", f"/v1/orders/{order_id}/deliver")
            assert r.status_code == 200, r.text
        todays = by_day.get(day, [])
        post_summaries(service, agents, todays)
        for summary in todays:
            for event in summary.cartridge_events:
                key = (summary.device.serial, event.supply_index)
                reported[key] = reported.get(key, 0) + 1
        run_late(service, clock, date)

        r = service.admin("GET", "/v1/orders")
        assert r.status_code == 200, r.text
        new = [o for o in r.json() if o["order_id"] not in seen]
        assert {o["created_on"] for o in new} <= {date.isoformat()}
        central, _ = central_orders(service, fleet, only={o["order_id"] for o in new})
        expected = sim_orders(result, day)
        if central != expected:
            orders_differ.append((date.isoformat(), expected, central))
        # stock decides orders only near a supply's order point: compared every day
        held, counted = _central_stock(service), _sim_stock(result, reported, day)
        if held != counted:
            stock_differs.append((date.isoformat(), counted, held))

        # each new order ships at once and is delivered the day its parcel arrives
        parcels = {p.site_id: p for p in result.parcels if p.created_day == day}
        for order in new:
            seen.add(order["order_id"])
            r = service.admin("POST", f"/v1/orders/{order['order_id']}/ship")
            assert r.status_code == 200, r.text
            parcel = parcels.get(order["site_id"])
            if parcel is not None:
                arriving.setdefault(parcel.arrive_day, []).append(order["order_id"])
    assert orders_differ == []
    assert stock_differs == []
    assert len(seen) == len(result.parcels)

    # every install the simulated users made was reported and closed a unit of a line
    lines = [line for order in service.admin("GET", "/v1/orders").json()
             for line in order["lines"]]
    closed: dict[tuple[str, int], int] = {}
    for line in lines:
        key = (line["device_serial"], line["supply_index"])
        closed[key] = closed.get(key, 0) + line["installed"]
    assert closed == installs == reported
