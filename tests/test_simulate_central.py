"""The simulator's fast central side orders what the real central service orders.

The simulator reads the agent's summaries as records and plans from them in process
(asr_central.simulate.pipeline). Here the same summaries, captured from a simulated run, are
signed, POSTed to a real central service (loopback HTTP, SQLite file) and planned by its own
policy run; both must order the same lines, in the same groups, on the same day, and at
the same hour of it (the last test).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from asr_core.wire import Summary
from asr_central.domain.policy import PolicySettings
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate
from support_central import (
    FAR, CentralServer, Clock, central_orders, post_summaries, register_fleet, run_late,
    run_policy_on, sim_orders,
)

# Two sites, each a colour printer (four toners and a waste bottle) and a mono one (toner
# and waste bottle); percent and gram reporters, default weekly pattern and noise. Levels
# are set so that both sites first order on the same day, some weeks in, with lines due
# and lines pulled forward. Policy settings: central's defaults (checked below).
FLEET = """\
start: 2027-01-04
days: 30
seed: 11
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
          - {id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 250, level_pct: 89}
          - {id: cyan, type: toner, color: cyan, part_number: 106R03530, capacity_g: 150, level_pct: 90}
          - {id: magenta, type: toner, color: magenta, part_number: 106R03531, capacity_g: 150, level_pct: 80}
          - {id: yellow, type: toner, color: yellow, part_number: 106R03529, capacity_g: 150, level_pct: 65}
          - {id: waste, type: waste_toner, part_number: 108R01416, capacity_g: 600, level_pct: 30}
        usage:
          grams_per_day: {black: 6.0, cyan: 2.5, magenta: 2.0, yellow: 2.2}
      - serial: LY-MONO-1
        model: Xerox B405
        report: tenths_of_grams
        supplies:
          - {id: black, type: toner, color: black, part_number: 106R03582, capacity_g: 400, level_pct: 95}
          - {id: waste, type: waste_toner, part_number: 101R00555, capacity_g: 500, level_pct: 60}
        usage:
          grams_per_day: {black: 8.5}
  - id: paris
    contact: it@paris.example
    devices:
      - serial: PA-COLOR-1
        model: Xerox VersaLink C405
        report: percent
        supplies:
          - {id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 250, level_pct: 88}
          - {id: cyan, type: toner, color: cyan, part_number: 106R03530, capacity_g: 150, level_pct: 47}
          - {id: magenta, type: toner, color: magenta, part_number: 106R03531, capacity_g: 150, level_pct: 70}
          - {id: yellow, type: toner, color: yellow, part_number: 106R03529, capacity_g: 150, level_pct: 90}
          - {id: waste, type: waste_toner, part_number: 108R01416, capacity_g: 600, level_pct: 25}
        usage:
          grams_per_day: {black: 4.0, cyan: 2.0, magenta: 2.4, yellow: 1.0}
      - serial: PA-MONO-1
        model: Xerox B405
        report: percent
        supplies:
          - {id: black, type: toner, color: black, part_number: 106R03582, capacity_g: 400, level_pct: 80}
          - {id: waste, type: waste_toner, part_number: 101R00555, capacity_g: 500, level_pct: 70}
        usage:
          grams_per_day: {black: 7.0}
"""


def _days(summaries: list[Summary], last: date) -> list[Summary]:
    """The summaries of the simulated days up to `last` (each covers one day)."""
    return [s for s in summaries if s.period_start.date() <= last]


@pytest.fixture
def clock() -> Clock:
    return Clock(FAR)


@pytest.fixture
def service(central_db_url: str, clock: Clock) -> Iterator[CentralServer]:
    server = CentralServer(central_db_url, clock=clock).start()
    yield server
    server.stop()


def test_simulator_orders_what_the_central_service_orders_from_the_same_summaries(
        service: CentralServer, clock: Clock, tmp_path: Path) -> None:
    fleet = parse_fleet(FLEET)
    defaults = PolicySettings()
    assert (fleet.lead_days, fleet.supply_days, fleet.pull_forward_days) == (
        defaults.lead_days, defaults.supply_days, defaults.pull_forward_days)

    with pytest.raises(ValueError, match="jobs=1"):
        simulate(fleet, "asr", jobs=2, summaries=[])  # workers' summaries stay in them
    captured: list[Summary] = []
    result = simulate(fleet, "asr", summaries=captured)
    assert result.parcels, "the fleet must order within its days"
    first = result.parcels[0].created_day
    order_date = fleet.start + timedelta(days=first)
    expected = sim_orders(result, first)
    assert first >= 14  # weeks of history behind the first order
    # both groups, due and pulled-forward lines, colour and mono printers
    assert {site for site, _ in expected} == {"lyon", "paris"}
    # (lyon: a colour toner due, a mono toner pulled forward; paris: a colour toner due)
    assert sum(len(lines) for lines in expected.values()) == 3
    assert sim_orders(result, first - 1) == {}

    agents = register_fleet(service, fleet, tmp_path)
    day_before = order_date - timedelta(days=1)
    posted = post_summaries(service, agents, _days(captured, day_before))
    assert posted == 4 * first  # a summary a day from each device (a supply or more analysed)
    run = run_late(service, clock, day_before)
    assert (run["orders"], run["held"]) == ([], 0)
    assert central_orders(service, fleet) == ({}, set())

    on_the_day = [s for s in captured if s.period_start.date() == order_date]
    assert on_the_day
    post_summaries(service, agents, on_the_day)
    run = run_late(service, clock, order_date)
    assert run["held"] == 0
    orders, created_on = central_orders(service, fleet)
    assert orders == expected
    assert created_on == {order_date.isoformat()}
    reasons = {line["reason"] for order in service.admin("GET", "/v1/orders").json()
               for line in order["lines"]}
    assert reasons == {"due", "pull_forward"}


# One noise-free mono printer: 1000 g at 10 g a day is 1 % a day, read at 20:00 as
# LEVEL - d - 20/24 % on day d. Noise-free, the conservative days to empty are that level
# over 1.12 (the forecast's drift allowance, as in test_simulate). LEVEL puts day 40's
# reading at 21.08 conservative days: above the 21-day lead time at 20:00, below it once
# the 4 hours to midnight are counted down.
BOUNDARY_DAY = 40
BOUNDARY_LEVEL = round(21.08 * 1.12 + BOUNDARY_DAY + 20 / 24, 3)
BOUNDARY = f"""\
start: 2027-01-04
days: {BOUNDARY_DAY + 2}
seed: 1
shipping_days: [3, 3]
lead_days: 21
supply_days: 30
pull_forward_days: 10
sites:
  - id: hq
    contact: facilities@hq.example
    devices:
      - serial: STEADY-1
        model: Xerox B405
        report: tenths_of_grams
        supplies:
          - {{id: black, type: toner, color: black, part_number: P-1000, capacity_g: 1000, level_pct: {BOUNDARY_LEVEL}}}
        usage:
          grams_per_day: {{black: 10}}
          weekly: [1, 1, 1, 1, 1, 1, 1]
          noise: 0
"""


def test_a_cover_crossing_the_lead_time_after_the_last_reading_is_ordered_at_that_hour(
        service: CentralServer, clock: Clock, tmp_path: Path) -> None:
    """The simulator plans each day at 23:59 and counts down the hours since the day's last
    reading; so does central when its policy runs late in the day. A run for an explicit day
    plans at that day's start, when the cover has not crossed the lead time yet."""
    fleet = parse_fleet(BOUNDARY)
    captured: list[Summary] = []
    result = simulate(fleet, "asr", summaries=captured)
    assert [p.created_day for p in result.parcels] == [BOUNDARY_DAY]
    expected = sim_orders(result, BOUNDARY_DAY)
    assert expected == {("hq", "facilities@hq.example"): {("STEADY-1", 1): 1}}
    order_date = fleet.start + timedelta(days=BOUNDARY_DAY)

    agents = register_fleet(service, fleet, tmp_path)
    post_summaries(service, agents, _days(captured, order_date))
    # at the start of the order day, the cover is still above the lead time
    assert run_policy_on(service, order_date)["orders"] == []
    assert central_orders(service, fleet) == ({}, set())
    # at 23:59 of that day, as the simulator plans, central orders the same
    assert run_late(service, clock, order_date)["held"] == 0
    orders, created_on = central_orders(service, fleet)
    assert orders == expected
    assert created_on == {order_date.isoformat()}
