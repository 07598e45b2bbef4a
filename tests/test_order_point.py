"""The service order point (docs/order-point.md): the formula by hand, shipping times learned
from deliveries, the setting in the config file, and a simulated fleet ordered by it."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from asr_core.errors import ConfigError
from asr_central.cli import main as central_main
from asr_central.config import parse_settings
from asr_central.domain.policy import (
    LineReason, Order, OrderLine, OrderPoint, PolicySettings, ShippingTime, SupplyKind,
    SupplyOutlook, learn_shipping, order_point_days, plan, plan_orders,
)
from asr_central.service.replenish import shipping_times
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate
from asr_central.simulate.report import summarize
from asr_central.storage import Database, open_database
from asr_central.storage import orders as store

import test_simulate

TODAY = date(2027, 3, 10)
REPORTED = datetime(2027, 3, 10, 0, 0, tzinfo=UTC)  # the start of TODAY: nothing counted down
SERVICE = PolicySettings(order_point=OrderPoint.SERVICE)  # 99.5 %, shipping [2, 5]


def outlook(dte: float, low: float, rate: float = 0.05, site: str = "lyon") -> SupplyOutlook:
    return SupplyOutlook(
        device_serial="XRX-1", site_id=site, contact_id="facilities", supply_key="1",
        supply_kind=SupplyKind.CONSUMABLE, days_to_empty=dte, days_to_empty_low=low,
        daily_units=rate, last_report_at=REPORTED)


# --- the formula ------------------------------------------------------------------------

def test_the_service_order_point_is_the_formula_worked_by_hand() -> None:
    # interval 10 days, low end 8: the rate's 90 % margin is 10 / 8 - 1 = 0.25, so its
    # spread u = 0.25 / 1.645 = 0.151976; shipping 3.5 days give or take 1, one day to the
    # next look: T = 4.5; z(0.995) = 2.575829; a whole percent at 5 % a day lasts 0.2 day,
    # anywhere within it: sd 0.2 / sqrt(12) = 0.057735.
    # 4.5 + 2.575829 * sqrt((4.5 * 0.151976)^2 + 1^2 + 0.057735^2)
    #   = 4.5 + 2.575829 * sqrt(0.467706 + 1 + 0.003333) = 4.5 + 2.575829 * 1.212864
    #   = 4.5 + 3.124131 = 7.624131
    got = order_point_days(10.0, 8.0, 0.05, ShippingTime(3.5, 1.0), 0.995)
    assert got == pytest.approx(7.624131, abs=1e-5)


def test_a_level_is_not_read_off_by_more_than_what_is_left() -> None:
    # a near-zero rate makes a whole percent last for ever; the days to empty bound it
    # (the forecast says 3,650 days at most): sd 3650 / sqrt(12) = 1053.65 days, the rest
    # nil (point = low, no spread; shipping exactly 3 days)
    got = order_point_days(3650.0, 3650.0, 4e-14, ShippingTime(3.0, 0.0), 0.995)
    assert got == pytest.approx(4 + 2.575829 * 3650 / math.sqrt(12), abs=1e-2)


def test_a_supply_is_due_in_service_mode_once_its_point_cover_reaches_the_order_point() -> None:
    # the same spread (point / low = 1.25) and step; the prior's shipping time is
    # learn_shipping((2, 5), ()) = 3.5 days, spread 1.4826 * 0.75 = 1.11195:
    # 4.5 + 2.575829 * sqrt(0.467706 + 1.236433 + 0.003333) = 4.5 + 3.365844 = 7.865844
    assert order_point_days(8.0, 6.4, 0.05, learn_shipping((2.0, 5.0), ()), 0.995) == \
        pytest.approx(7.865844, abs=1e-5)
    due = plan_orders([outlook(7.85, 7.85 / 1.25)], [], SERVICE, TODAY)
    assert [(line.reason, line.cover_days, line.order_point_days) for line in due[0].lines] == [
        (LineReason.DUE, pytest.approx(7.85), pytest.approx(7.865844, abs=1e-5))]
    assert plan_orders([outlook(7.90, 7.90 / 1.25)], [], SERVICE, TODAY) == []


def test_the_fixed_order_point_stays_the_default_and_orders_at_the_lead_time() -> None:
    assert PolicySettings().order_point is OrderPoint.FIXED
    # 20 days of point cover (16 at the low end): due at 21 days fixed, far off in service
    [order] = plan_orders([outlook(20.0, 16.0)], [], PolicySettings(), TODAY)
    assert order.lines[0].order_point_days == 21.0
    assert plan_orders([outlook(20.0, 16.0)], [], SERVICE, TODAY) == []


def test_a_slower_carrier_moves_the_order_point_of_its_site_only() -> None:
    slow = {"lyon": ShippingTime(9.0, 1.0)}
    # 10 days of cover: not due on the prior's 3.5 days, due on lyon's learned 9
    assert plan([outlook(10.0, 8.0, site="paris")], [], SERVICE, TODAY, slow).orders == ()
    assert len(plan([outlook(10.0, 8.0, site="lyon")], [], SERVICE, TODAY, slow).orders) == 1


_DAYS = st.floats(min_value=0.0, max_value=3650.0)
_RATE = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e6))


@given(dte=st.one_of(st.none(), _DAYS), low=st.one_of(st.none(), _DAYS), rate=_RATE,
       days=_DAYS, spread=_DAYS, level=st.floats(min_value=0.5, max_value=0.9999))
@example(dte=None, low=None, rate=5e-324, days=3.0, spread=1.0, level=0.995)
@example(dte=None, low=3650.0, rate=5e-324, days=3.0, spread=1.0, level=0.9999)
@example(dte=3650.0, low=5e-324, rate=1e-6, days=3650.0, spread=3650.0, level=0.9999)
def test_the_order_point_is_finite_and_at_least_the_shipping_time_for_any_forecast(
        dte: float | None, low: float | None, rate: float | None, days: float, spread: float,
        level: float) -> None:
    # anything a summary may carry (finite, non-negative) and any rate down to the least
    # float: never NaN or infinite, never below the shipping time and the next look
    point = order_point_days(dte, low, rate, ShippingTime(days, spread), level)
    assert math.isfinite(point) and point >= days + 1.0
    assert order_point_days(dte, low, rate, ShippingTime(days, spread), 0.5) <= point


# --- shipping times ---------------------------------------------------------------------

def test_with_no_deliveries_the_shipping_time_is_the_configured_ranges_middle() -> None:
    # the range [2, 5] as four orders at 2.375, 3.125, 3.875, 4.625: median 3.5, median
    # absolute deviation 0.75, spread 1.4826 * 0.75 (a uniform [2, 5] has 0.866 * 1.5 = 1.30)
    got = learn_shipping((2.0, 5.0), ())
    assert (got.days, got.spread) == (pytest.approx(3.5), pytest.approx(1.11195, abs=1e-5))


def test_a_few_deliveries_move_the_shipping_time_one_outlier_does_not() -> None:
    assert learn_shipping((2.0, 5.0), [8.0] * 5).days == pytest.approx(8.0)
    one_lost_parcel = learn_shipping((2.0, 5.0), [30.0])
    assert one_lost_parcel.days == pytest.approx(3.875)  # one rank up, not to 8.8 (a mean)
    assert one_lost_parcel.spread < 1.5
    # the outlier among the site's usual deliveries
    usual = learn_shipping((2.0, 5.0), [3.0, 3.0, 4.0, 3.0, 30.0, 4.0])
    assert usual.days == pytest.approx(3.5) and usual.spread < 1.2


def test_only_the_last_deliveries_count() -> None:
    # a new carrier: twenty fast parcels after twenty slow ones
    got = learn_shipping((2.0, 5.0), [9.0] * 20 + [1.0] * 20)
    assert got.days < 2.0


@pytest.fixture
def db(central_db_url: str) -> Iterator[Database]:
    database = open_database(central_db_url)
    yield database
    database.close()


def _delivered(db: Database, site: str, placed: datetime, days: float) -> None:
    line = OrderLine("P-" + site, "1", SupplyKind.CONSUMABLE, 1, LineReason.DUE, 5.0, 0.02)
    with db.transaction() as conn:
        [order_id] = store.create_orders(
            conn, [Order(site, site + "-facilities", placed.date(), (line,))], placed, {})
        store.mark_shipped(conn, order_id, placed + timedelta(hours=12))
        store.mark_delivered(conn, order_id, placed + timedelta(days=days))


def test_each_line_keeps_the_order_point_it_was_judged_against(db: Database) -> None:
    # what the console's "why now" shows: 7.85 days left against an order point of 7.87
    [order] = plan_orders([outlook(7.85, 7.85 / 1.25)], [], SERVICE, TODAY)
    with db.transaction() as conn:
        [order_id] = store.create_orders(conn, [order], REPORTED, {})
        [view] = store.list_orders(conn)
        [row] = store.export_rows(conn)
    [line] = view.lines
    assert view.order_id == order_id
    assert (line.cover_days, line.order_point_days) == (7.85, 7.866)
    assert (row["reason"], row["order_point_days"]) == ("due", 7.866)


def test_central_learns_each_sites_shipping_time_from_its_delivered_orders(db: Database) -> None:
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    for i in range(5):  # lyon's carrier takes eight days, from the order to the door
        _delivered(db, "lyon", start + timedelta(days=10 * i), 8.0)
    _delivered(db, "paris", start, 30.0)  # paris: one parcel lost for a month
    now = start + timedelta(days=60)
    with db.transaction() as conn:
        learned = shipping_times(conn, SERVICE, now)
        assert shipping_times(conn, PolicySettings(), now) == {}  # fixed reads none
    assert learned["lyon"].days == pytest.approx(8.0)
    assert learned["paris"].days == pytest.approx(3.875)


# --- the setting ------------------------------------------------------------------------

def test_the_order_point_comes_from_the_config_file() -> None:
    s = parse_settings("policy:\n  order_point: service\n  service_level: 0.99\n"
                       "  shipping_days: [1, 3]\n", source="central.yaml")
    assert s.policy_settings() == PolicySettings(order_point=OrderPoint.SERVICE,
                                                 service_level=0.99, shipping_days=(1.0, 3.0))
    assert parse_settings(None).policy_settings().order_point is OrderPoint.FIXED


@pytest.mark.parametrize("text, line, key", [
    ("policy:\n  lead_days: 21\n  order_point: servce\n", 3, "policy.order_point"),
    ("policy:\n  service_level: 99.5\n", 2, "policy.service_level"),
    ("policy:\n  shipping_days: [5, 2]\n", 2, "policy.shipping_days"),
])
def test_a_bad_order_point_setting_is_refused_by_file_line_and_key(
        text: str, line: int, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^central\.yaml:{line}: {key}: "):
        parse_settings(text, source="central.yaml")


def test_check_config_shows_the_order_point(tmp_path: Path, capsys) -> None:
    path = tmp_path / "central.yaml"
    path.write_text("policy:\n  order_point: service\n", encoding="utf-8")
    assert central_main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "order_point: service" in out and "service_level: 0.995" in out


def test_serve_flags_set_the_order_point(tmp_path: Path) -> None:
    from asr_central.cli import build_parser
    from asr_central.commands.config_flags import settings_from_args

    path = tmp_path / "central.yaml"
    path.write_text("policy:\n  order_point: fixed\n", encoding="utf-8")
    args = build_parser().parse_args(["serve", "--config", str(path), "--order-point",
                                      "service", "--shipping-days", "1,4"])
    p = settings_from_args(args).policy_settings()
    assert (p.order_point, p.shipping_days) == (OrderPoint.SERVICE, (1.0, 4.0))


# --- in the simulator -------------------------------------------------------------------

# tests/test_simulate.py's steady printer, ordered for by the service order point.
STEADY = test_simulate.STEADY.replace("lead_days: 21\n", "order_point: service\n")
assert "order_point: service" in STEADY


def test_a_steady_printer_in_service_mode_orders_on_the_day_the_formula_says() -> None:
    """1000 g at 10 g/day: 1 % a day, empty at exactly day 100 (tests/test_simulate.py's
    steady printer). The point forecast is what is left (100 - d - 20/24 % at the day's
    last reading, 20:00), counted down 3 h 59 min to the 23:59 policy run; the interval's
    margin on a noise-free series is its drift allowance alone (0.12), so u = 0.12 / 1.645;
    shipping always 3 days (spread 0), T = 4; a whole percent lasts a day (sd 1 / sqrt(12)).
    The spread alone orders on day 94; with the margin for a change of level (the prior,
    one doubling a supply-year, learned over the d + 1 days watched by day d's plan:
    tests/test_level_change.py) on day 91."""
    from asr_agent.domain.forecast import _DRIFT
    from asr_central.domain.level_change import learn_level_changes, mixture_quantile

    u = _DRIFT / 1.645
    sd = math.hypot(4 * u, 1 / math.sqrt(12))
    point = 4 + 2.575829 * sd  # = 5.0573
    silence = (3 * 60 + 59) / 1440
    order_day = next(d for d in range(150) if 100 - d - 20 / 24 - silence <= point)
    assert order_day == 94  # worked on paper: 100 - 0.8333 - 0.1660 - 5.0573 = 93.94
    order_day = next(d for d in range(150) if 100 - d - 20 / 24 - silence
                     <= mixture_quantile(4, sd, 0.995, learn_level_changes(0, d + 1)))
    assert order_day == 91
    result = simulate(parse_fleet(STEADY), "asr")
    assert [(p.created_day, p.arrive_day) for p in result.parcels] == [(91, 94)]
    summary = summarize(result)
    assert summary["stockout_supply_days"] == 0
    # on hand from day 94 to the install on day 100, where the fixed rule held it from 79
    assert summary["mean_units_on_hand"] == pytest.approx(6 / 150, abs=1e-4)


SMALL_FLEET = textwrap.dedent("""\
    start: 2027-01-04
    days: 200
    seed: 5
    shipping_days: [2, 5]
    order_point: {mode}
    sites:
      - id: hq
        contact: facilities@hq.example
        devices:
          - serial: XRX-A
            report: percent
            supplies:
              - {{id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 250, level_pct: 40}}
              - {{id: cyan, type: toner, color: cyan, part_number: 106R03525, capacity_g: 120, level_pct: 70}}
              - {{id: waste, type: waste_toner, part_number: 008R13061, capacity_g: 600, level_pct: 60}}
            usage:
              grams_per_day: {{black: 4.0, cyan: 1.5}}
              noise: 0.3
              waste_ratio: 0.1
          - serial: XRX-B
            report: tenths_of_grams
            supplies:
              - {{id: black, type: toner, color: black, part_number: 106R03622, capacity_g: 300, level_pct: 25}}
            usage:
              grams_per_day: {{black: 6.0}}
              noise: 0.3
      - id: annex
        contact: facilities@annex.example
        devices:
          - serial: XRX-C
            report: percent
            supplies:
              - {{id: black, type: toner, color: black, part_number: 106R03622, capacity_g: 300, level_pct: 90}}
            usage:
              grams_per_day: {{black: 9.0}}
              noise: 0.4
    """)


def test_a_small_fleet_in_service_mode_has_no_stockout_and_holds_less_stock() -> None:
    service = summarize(simulate(parse_fleet(SMALL_FLEET.format(mode="service")), "asr"))
    fixed = summarize(simulate(parse_fleet(SMALL_FLEET.format(mode="fixed")), "asr"))
    assert service["stockout_supply_days"] == 0 and service["units_installed"] >= 6
    assert service["mean_units_on_hand"] < fixed["mean_units_on_hand"]


def test_the_simulator_takes_the_order_point_from_the_command_line(capsys) -> None:
    import json
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.yaml"
        path.write_text(STEADY.replace("order_point: service\n", ""), encoding="utf-8")
        assert central_main(["simulate", str(path), "--json", "--jobs", "1"]) == 0
        fixed = json.loads(capsys.readouterr().out)
        assert central_main(["simulate", str(path), "--json", "--jobs", "1",
                             "--order-point", "service"]) == 0
        service = json.loads(capsys.readouterr().out)
    assert fixed["mean_units_on_hand"] == pytest.approx(21 / 150, abs=1e-4)
    assert service["mean_units_on_hand"] == pytest.approx(6 / 150, abs=1e-4)
    assert math.isfinite(service["mean_units_on_hand"])


# --- the real service plans as the simulator does ---------------------------------------

def test_the_central_service_in_service_mode_orders_what_the_simulator_orders(
        central_db_url: str, tmp_path: Path) -> None:
    """tests/test_simulate_central.py's fleet and check, both sides in service mode: the
    same summaries, signed and POSTed to a real central, planned by its own policy run,
    order the same lines on the same day; the fixed order point would have ordered days
    earlier."""
    from support_central import (
        FAR, CentralServer, Clock, central_orders, post_summaries, register_fleet, run_late,
        sim_orders,
    )
    from test_simulate_central import FLEET, _days

    from asr_central.service.deps import state_of
    from asr_core.wire import Summary

    fleet = parse_fleet(FLEET.replace("days: 30", "days: 45")).model_copy(
        update={"order_point": "service"})
    captured: list[Summary] = []
    result = simulate(fleet, "asr", summaries=captured)
    first = result.parcels[0].created_day
    fixed_first = simulate(fleet.model_copy(update={"order_point": "fixed"}), "asr").parcels[0]
    assert first > fixed_first.created_day
    order_date = fleet.start + timedelta(days=first)
    expected = sim_orders(result, first)
    assert expected

    clock = Clock(FAR)
    service = CentralServer(central_db_url, clock=clock).start()
    try:
        state_of(service.app).policy_settings = SERVICE
        agents = register_fleet(service, fleet, tmp_path)
        day_before = order_date - timedelta(days=1)
        post_summaries(service, agents, _days(captured, day_before))
        run = run_late(service, clock, day_before)
        assert (run["orders"], run["held"]) == ([], 0)
        post_summaries(service, agents, [s for s in captured
                                         if s.period_start.date() == order_date])
        run_late(service, clock, order_date)
        orders, created_on = central_orders(service, fleet)
    finally:
        service.stop()
    assert orders == expected
    assert created_on == {order_date.isoformat()}
