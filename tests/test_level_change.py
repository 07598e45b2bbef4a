"""The service order point's margin for a change of use level (docs/order-point.md): the
mixture's quantile by hand, how often and how much use changes learned from the usage
spikes central stored (both engines), and a simulated printer whose use triples the day
after its order, which the margin keeps supplied."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from support_central import make_summary

from asr_agent.adapters import keys as signing
from asr_core.wire import check_summary
from asr_central.domain.level_change import (
    CHANGES_LOOKBACK, PRIOR_SUPPLY_DAYS, LevelChanges, _mixture_cdf, change_ratio, learn_level_changes,
    mixture_quantile, usual_daily_use,
)
from asr_central.domain.policy import (
    OrderPoint, PolicySettings, ShippingTime, order_point_days,
)
from asr_central.service.replenish import level_changes, run_policy
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate
from asr_central.simulate.report import summarize
from asr_central.storage import Database, agents, open_database, policy_inputs, registry, summaries

import test_simulate

SERVICE = PolicySettings(order_point=OrderPoint.SERVICE)


# --- the mixture ------------------------------------------------------------------------


def test_the_mixture_order_point_worked_by_hand() -> None:
    # no spread: the use over t = 4.5 days is 4.5 days' worth, or with a change of size 2
    # starting v days before the end (v uniform in [0, 4.5]) 4.5 + v. With no lag:
    # P(X <= q) = (1 - p) + p (q - 4.5) / 4.5 = 0.995, p = 1 - exp(-4.5 / 365) = 0.0122531,
    # so q = 4.5 + 4.5 (0.995 - 0.9877469) / 0.0122531 = 4.5 + 4.5 * 0.591927 = 7.16367
    prior = learn_level_changes(0, 0)
    assert prior == LevelChanges(1 / 365, 2.0)
    assert mixture_quantile(4.5, 0.0, 0.995, prior, lag=0.0) == pytest.approx(7.16367, abs=1e-3)
    # with a lag of 2 days before a 4-day horizon, a change of size 3 (adds up to 8 days),
    # p = 0.02 over the 6 days: a third of the changes began in the lag (add 8 days), two
    # thirds within the horizon (add v * 2, v uniform in [0, 4]): for 0 <= a < 8,
    # P = 0.98 + 0.02 * (2/3) * a / 8 = 0.99 at a = 6: the order point is 4 + 6 = 10
    lam = -math.log(0.98) / 6.0
    assert mixture_quantile(4.0, 0.0, 0.99, LevelChanges(lam, 3.0), lag=2.0) == pytest.approx(
        10.0, abs=1e-3)
    # at 99.5 % no level below the full 8 days reaches it: 0.98 + 0.02 * 2/3 < 0.995
    assert mixture_quantile(4.0, 0.0, 0.995, LevelChanges(lam, 3.0), lag=2.0) == pytest.approx(
        12.0, abs=1e-3)


def test_with_a_spread_the_order_point_is_where_the_mixture_reaches_the_level() -> None:
    changes = LevelChanges(0.002, 3.0)
    t, sd, lag = 4.5, 1.2, 5.0
    q = mixture_quantile(t, sd, 0.995, changes, lag)
    # the mixture's distribution counted the long way: the change's start on a fine grid
    p = changes.chance(t + lag)
    normal = 0.5 * math.erfc(-(q - t) / sd / math.sqrt(2))
    n = 20000
    starts = [(i + 0.5) / n * (t + lag) for i in range(n)]  # from the lag's start on
    changed = sum(0.5 * math.erfc(-(q - t - 2.0 * min(t, t + lag - s)) / sd / math.sqrt(2))
                  for s in starts) / n
    assert (1 - p) * normal + p * changed == pytest.approx(0.995, abs=1e-5)
    assert _mixture_cdf(q - t, t, sd, p, 2.0, lag) == pytest.approx(0.995, abs=1e-5)
    assert q > t + 2.575829 * sd  # more than the normal spread alone


def test_without_changes_the_order_point_is_the_spread_alone() -> None:
    ship = ShippingTime(3.5, 1.0)
    today = order_point_days(10.0, 8.0, 0.05, ship, 0.995)
    assert order_point_days(10.0, 8.0, 0.05, ship, 0.995, LevelChanges(0.0, 3.0)) == (
        pytest.approx(today, abs=1e-3))
    assert order_point_days(10.0, 8.0, 0.05, ship, 0.995, LevelChanges(0.01, 1.0)) == (
        pytest.approx(today, abs=1e-3))
    learned = order_point_days(10.0, 8.0, 0.05, ship, 0.995, learn_level_changes(0, 0))
    assert learned > today + 1.0


# --- learning ---------------------------------------------------------------------------


def test_how_often_and_how_much_use_changes_is_learned_with_the_prior() -> None:
    # three spikes in two supply-years, two of them measured at 3 and 4 times the usual
    # use: (3 + 1) / (730 + 365) a day, and F = (2 + 3 + 4) / 3
    learned = learn_level_changes(3, 730, [3.0, None, 4.0])
    assert learned.per_day == pytest.approx(4 / 1095)
    assert learned.factor == pytest.approx(3.0)
    # a misread (a ratio below 1, or beyond ten times) counts as a change, not as its size
    assert learn_level_changes(2, 0, [0.5, 50.0]).factor == pytest.approx((2 + 10) / 2)
    # a big fleet's quiet year outweighs the prior
    assert learn_level_changes(0, 100 * 365).per_day < 0.01 / 365 * 1.1


def test_the_usual_use_leaves_out_the_days_across_a_new_cartridge() -> None:
    d = date(2027, 3, 1)
    points = [(d, 50.0), (d + timedelta(days=2), 48.0), (d + timedelta(days=3), 95.0),
              (d + timedelta(days=5), 93.0), (d + timedelta(days=6), None)]
    assert usual_daily_use(points) == pytest.approx(4.0 / 4)  # 2 % in 2 days, twice
    assert usual_daily_use([(d, 40.0)]) is None
    # a spike begun on day 40 at 3 % a day, against 1 % a day from day 7 to day 35
    history = [(d + timedelta(days=i), 100.0 - i) for i in range(41)]
    assert change_ratio(3.0, history, d + timedelta(days=40)) == pytest.approx(3.0)
    assert change_ratio(None, history, d + timedelta(days=40)) is None


@pytest.fixture
def db(central_db_url: str) -> Iterator[Database]:
    database = open_database(central_db_url)
    yield database
    database.close()


REGISTRY = """\
contacts:
  - {id: claire, name: Claire Martin, email: facilities@lyon.example}
sites:
  - {id: lyon, name: Lyon HQ, contact: claire}
devices:
  - {serial: XRX-L1, site: lyon, model: VersaLink C405}
"""
START = datetime(2026, 1, 5, 8, tzinfo=UTC)


def _report(db: Database, key: signing.AgentKey, agent_id: str, day: int, *,
            level: float, rate: float, spike: bool) -> None:
    """The printer's summary of `day`: its toner at `level` %, used `rate` % a day."""
    base = make_summary(agent_id, day + 1, site_id="lyon", serial="XRX-L1",
                        period_start=START + timedelta(days=day))
    supply = dataclasses.replace(base.supplies[0], level=round(level), remaining_percent=level,
                                 daily_percent=rate, days_to_empty=level / rate,
                                 days_to_empty_low=level / rate / 1.2,
                                 days_to_empty_high=level / rate * 1.2, spike=spike)
    summary = dataclasses.replace(base, supplies=(supply,), cartridge_events=())
    with db.transaction() as conn:
        summaries.store_summaries(conn, [(check_summary(summary.to_dict()),
                                          signing.seal(summary, key))], base.period_end)


def test_central_learns_changes_of_level_from_the_spikes_it_raised(
        db: Database, tmp_path: Path) -> None:
    """A toner at 1 % a day for 40 days, then a spike at 3 % a day: the run that raises the
    alert records the spike at 3 times the usual use; it ends, and a second spike at 2 %
    a day is recorded beside it (the alert row keeps only its latest episode), against the
    usual use of days 13 to 41 (30 % in 28 days, the first spike's day among them): 2 /
    (30 / 28) = 1.8667. Learned: two changes over 48 supply-days, F = (2 + 3 + 1.8667) / 3."""
    key = signing.load_or_create(tmp_path)
    with db.transaction() as conn:
        registry.save_document(conn, registry.parse_registry_yaml(REGISTRY), START)
        agent_id = agents.create_agent(conn, "lyon", "agent-lyon", START)
    level = 95.0
    episodes = {40: 3.0, 46: 2.0}
    for day in range(48):
        rate = episodes.get(day, 1.0)
        level -= rate
        _report(db, key, agent_id, day, level=level, rate=rate, spike=day in episodes)
        run_policy(db, settings=SERVICE, now=START + timedelta(days=day, hours=6))
    with db.transaction() as conn:
        since = START - timedelta(days=1)
        assert sorted(r for r in policy_inputs.usage_changes_since(conn, since)
                      if r is not None) == pytest.approx([2 / (30 / 28), 3.0])
        assert policy_inputs.supply_days_since(conn, since) == 48
        learned = level_changes(conn, SERVICE, START + timedelta(days=48))
        assert level_changes(conn, PolicySettings(), START + timedelta(days=48)) is None
    assert learned.per_day == pytest.approx(3 / (48 + PRIOR_SUPPLY_DAYS))
    assert learned.factor == pytest.approx((2 + 3 + 2 / (30 / 28)) / 3)
    # a year of daily points is read once a day, not at every run: the day's count is kept
    _report(db, key, agent_id, 48, level=level - 1, rate=1.0, spike=False)
    year_ago = START + timedelta(days=48) - CHANGES_LOOKBACK  # as level_changes counted
    with db.transaction() as conn:
        assert policy_inputs.supply_days_since(conn, year_ago) == 48  # the day's count, kept
        assert policy_inputs.supply_days_since(conn, year_ago + timedelta(days=1)) == 49


# --- a simulated printer ----------------------------------------------------------------


def test_a_change_of_level_after_the_order_no_longer_empties_the_printer() -> None:
    """tests/test_simulate.py's steady printer (1 % a day, empty on day 100, shipping 3
    days) triples its use on day 95. The spread alone orders on day 94 (tests/
    test_order_point.py): the parcel comes on day 97, after the toner ran dry on day 96.7.
    The margin for a change (the prior, one doubling a supply-year, learned down a little
    by 90 quiet days) orders on day 91: in hand on day 94."""
    text = test_simulate.STEADY.replace(
        "noise: 0", "noise: 0\n        events:\n"
        "          - {type: spike, start: 2027-04-09, days: 10, factor: 3}")
    result = simulate(parse_fleet(text + "order_point: service\n"), "asr")
    assert [(p.created_day, p.arrive_day) for p in result.parcels][0] == (91, 94)
    summary = summarize(result)
    assert summary["stockout_supply_days"] == 0
    fixed = summarize(simulate(parse_fleet(text), "asr"))
    assert summary["mean_units_on_hand"] < fixed["mean_units_on_hand"]


def test_a_fleet_in_service_mode_learns_from_all_its_sites_whatever_the_jobs() -> None:
    """Sites share what central learns of changes of level: two worker processes would
    each learn from half the fleet, so a service-mode fleet runs in one, with one answer."""
    from test_order_point import SMALL_FLEET

    fleet = parse_fleet(SMALL_FLEET.format(mode="service"))
    one, two = simulate(fleet, "asr"), simulate(fleet, "asr", jobs=2)
    assert [(p.site_id, p.created_day, p.arrive_day) for p in two.parcels] == [
        (p.site_id, p.created_day, p.arrive_day) for p in one.parcels]
    assert summarize(two) == summarize(one)
