"""Pages per cartridge learned per printer and part (asr_agent.domain.cartridge_life): the
catalog's yield as the prior, whole lives moving it, a short life judged premature; then
through the consumption analysis of a "some remaining" toner, and a simulated year of heavy
printers that report in coarse steps or only "some remaining"."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_agent.domain.cartridge_life import CartridgeYield, LifeSeen, learn, prior
from asr_agent.domain.catalog import load_catalog
from asr_agent.domain.consumption import analyze
from asr_core.codes import Code
from asr_core.records import LevelState, Sample, SupplyClass, SupplyType, SupplyUnit
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate
from asr_central.simulate.report import summarize
from tests.supply_series import START
from tests.supply_series import simulate as toner_series

PART = "106R03528"
T0 = datetime(2027, 1, 4, tzinfo=UTC)


def _lives(*pages: int, spent: bool = False, part: str = PART) -> list[LifeSeen]:
    return [LifeSeen(T0 + timedelta(days=30 * (i + 1)), part, p, spent)
            for i, p in enumerate(pages)]


def _learn(start: CartridgeYield, lives: list[LifeSeen]):
    return learn(start, lives, premature_threshold_pct=10.0)


def test_with_no_life_seen_the_catalogs_yield_is_the_estimate() -> None:
    y = prior(PART, 10_000)
    assert (y.pages, y.learned) == (10_000, False)
    assert y.left_percent(7_500) == pytest.approx(25.0)
    assert y.left_percent(12_000) == 0.0
    assert prior(PART, None).pages is None and prior(PART, None).left_percent(5) is None


def test_a_few_whole_lives_move_the_yield_to_what_this_printer_gets() -> None:
    """A colour printed less than the catalog rates lasts more pages: three lives of 15,000
    pages against a 10,000-page rating end near 15,000, the prior weighing a quarter of one."""
    y, verdicts = _learn(prior(PART, 10_000), _lives(15_000, 15_000, 15_000))
    assert y.lives == 3 and y.learned
    assert y.pages == pytest.approx((0.25 * 10_000 + 45_000) / 3.25)
    assert y.pages == pytest.approx(15_000, rel=0.03)
    assert [v.premature for v in verdicts] == [False, False, False]


def test_a_short_life_is_premature_with_its_share_left_and_teaches_nothing() -> None:
    """An outlier: 6,000 pages against lives of 10,000 was swapped with 40 % left; it is
    flagged and the yield stays where the whole lives put it."""
    y, verdicts = _learn(prior(PART, 10_000), _lives(10_000, 10_000, 6_000, 10_000))
    assert [v.premature for v in verdicts] == [False, False, True, False]
    assert verdicts[2].left_percent == pytest.approx(40.0)
    assert not verdicts[2].taught
    assert (y.lives, y.pages) == (3, pytest.approx(10_000))


def test_a_life_within_the_lives_own_spread_is_not_premature() -> None:
    """Lives spread by about 8 % (a colour used less, its pages less steady): one 12 % under
    their mean is a slow month, not an early swap."""
    y, _ = _learn(prior(PART, 10_000), _lives(9_000, 11_000, 10_000, 9_500, 10_500, 11_200))
    assert y.spread > 0.05
    _, verdicts = _learn(y, _lives(8_800))
    assert not verdicts[0].premature


def test_a_life_seen_empty_teaches_however_short() -> None:
    """A printer that truly gets fewer pages than the rating (heavy coverage) shows it when
    a cartridge is seen at 0: that life teaches and is no premature replacement."""
    y, verdicts = _learn(prior(PART, 10_000), _lives(6_000, spent=True))
    assert not verdicts[0].premature and verdicts[0].taught
    assert y.pages == pytest.approx((0.25 * 10_000 + 6_000) / 1.25)


def test_a_long_outlier_teaches_at_most_twice_the_yield() -> None:
    y, _ = _learn(prior(PART, 10_000), _lives(90_000))
    assert y.pages == pytest.approx((0.25 * 10_000 + 20_000) / 1.25)


def test_lives_already_counted_are_not_counted_again() -> None:
    """A caller carrying the yield from run to run shows the same lives again."""
    lives = _lives(12_000, 12_000)
    once, _ = _learn(prior(PART, 10_000), lives)
    twice, verdicts = _learn(once, lives + _lives(12_000, 12_000, 12_000)[2:])
    assert (once.lives, twice.lives) == (2, 3)
    assert len(verdicts) == 3 and not any(v.premature for v in verdicts)


def test_lives_of_another_part_are_left_out() -> None:
    y, verdicts = _learn(prior(PART, 10_000), _lives(3_000, part="006R01509"))
    assert (y.lives, verdicts) == (0, ())


# --- through the consumption analysis ---------------------------------------------------


def test_a_some_remaining_toner_always_swapped_early_is_flagged_each_time_with_grams_left() -> None:
    """60 g a day from 530 g cartridges (26,500 pages, the catalog rates 26,000); every one
    swapped after 7.5 days, 14-17 % left, while the printer said "some remaining". Each life
    seen whole is a premature replacement with the grams it had left (the first begins with
    the samples; without `first_life_whole` it is not judged: it may have begun before).
    The catalog's yield is all there is to judge by: no life is seen whole and spent."""
    early = [START + timedelta(days=7.5 * k) for k in range(1, 6)]
    samples, truth = toner_series(lambda d: 60.0, days=40, report="some_remaining", serials=True,
                                  premature_at=early)
    assert len(truth.replacements) == 5
    a = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED,
                catalog=load_catalog(), first_life_whole=True)
    flags = [f for f in a.flags if f.kind is Code.PREMATURE_REPLACEMENT]
    assert len(flags) == 5
    for f, life in zip(flags, a.lives):
        assert f.at == life.removed_at
        # the series prints a page per 0.02 g: what was left, within the catalog's 2 % off
        assert f.grams == pytest.approx(530 - life.pages * 0.02, abs=15.0)  # type: ignore[operator]
    assert a.life_yield is not None and not a.life_yield.learned  # none taught: all early
    later = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED,
                    catalog=load_catalog())
    assert len([f for f in later.flags if f.kind is Code.PREMATURE_REPLACEMENT]) == 4


def test_a_some_remaining_toner_used_up_is_not_flagged_and_teaches_its_pages() -> None:
    samples, truth = toner_series(lambda d: 60.0, days=40, report="some_remaining", serials=True)
    assert len(truth.replacements) >= 4
    a = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED,
                catalog=load_catalog())
    assert not [f for f in a.flags if f.kind is Code.PREMATURE_REPLACEMENT]
    assert a.life_yield is not None and a.life_yield.lives >= 2
    assert a.life_yield.pages == pytest.approx(530 / 0.02, rel=0.03)
    assert a.estimate == "page_counter_learned"


# --- a coarse reporter's early swap -----------------------------------------------------


def _coarse_series(*lives: tuple[float, float], pages_per_poll: int = 100) -> list[Sample]:
    """A toner reporting in 25 % steps (rounded up: 0 only when empty), polled every 4
    hours with `pages_per_poll` printed between polls. Each life is (percent per page,
    share left when the user swaps): a cartridge goes in full and comes out the moment it
    falls to that share, between two polls; one swapped at 0 is seen empty first. A last
    cartridge is left in for a day."""
    out: list[Sample] = []
    t, pages = T0, 100_000

    def poll(k: int, left: float) -> None:
        level = min(100, max(0, math.ceil(left / 25 - 1e-9) * 25))
        out.append(Sample(t, level, 100, SupplyUnit.PERCENT, LevelState.OK, float(level),
                          f"CART-{k:03d}", PART, pages))

    left = 100.0
    for k, (ppp, swap_at) in enumerate(lives):
        poll(k, left)
        while True:
            t += timedelta(hours=4)
            if left - pages_per_poll * ppp <= swap_at + 1e-9:
                if swap_at <= 0:
                    pages += round(left / ppp)
                    left = 0.0
                    poll(k, left)  # seen empty, then swapped before the next poll
                    t += timedelta(hours=4)
                    pages += pages_per_poll
                    left = 100.0 - pages_per_poll * lives[min(k + 1, len(lives) - 1)][0]
                else:
                    used = round((left - swap_at) / ppp)
                    nxt = lives[min(k + 1, len(lives) - 1)][0]
                    pages += pages_per_poll
                    left = 100.0 - (pages_per_poll - used) * nxt
                break
            pages += pages_per_poll
            left -= pages_per_poll * ppp
            poll(k, left)
    for _ in range(6):
        poll(len(lives), left)
        t += timedelta(hours=4)
        pages += pages_per_poll
        left -= pages_per_poll * lives[-1][0]
    return out


def _early_flags(samples: list[Sample]) -> list[datetime]:
    a = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED)
    assert a.coarse
    return [f.at for f in a.flags if f.kind is Code.PREMATURE_REPLACEMENT]


def test_a_coarse_toner_swapped_at_15_percent_is_flagged_though_its_mix_changed() -> None:
    """A 25 % step says only "somewhere in 0-25 %" at a swap at 15 %. The share left is
    the step less the pages printed since it appeared, at this cartridge's own percent per
    page (what its steps from 75 to 25 % took): here 0.01 % a page, while the cartridge
    before, seen empty, went at 0.03 % (a month of colour posters). Read at a rate learned
    over both, the swap looks like one at 8 %."""
    samples = _coarse_series((0.03, 0.0), (0.01, 15.0))
    swaps = [s.taken_at for prev, s in zip(samples, samples[1:])
             if s.cartridge_serial != prev.cartridge_serial]
    assert _early_flags(samples) == [swaps[1]]


def test_a_coarse_toner_used_to_3_percent_is_not_flagged_though_its_mix_changed() -> None:
    """The other way round: the cartridge before went at 0.004 % a page, this one at 0.01 %
    and was swapped with 3 % left (between polls, last seen at the 25 % step): a full life,
    not an early swap, though a rate learned over both reads it as one at 12 %."""
    assert _early_flags(_coarse_series((0.004, 0.0), (0.01, 3.0))) == []


# --- a waste bottle that says only "some remaining" --------------------------------------

BOTTLE = "008R13061"  # rated at 69,000 pages in the catalog


def test_a_bottle_is_judged_against_its_own_lives_not_the_rating() -> None:
    """A colour printer fills its bottle in 30,000 pages, under half the rating: the
    first bottle teaches, the next are judged against it; one emptied at 12,000 pages
    was emptied early."""
    lives = [LifeSeen(T0 + timedelta(days=50 * (i + 1)), BOTTLE, p, False)
             for i, p in enumerate((30_000, 31_000, 29_500, 12_000))]
    y, verdicts = learn(prior(BOTTLE, 69_000), lives, premature_threshold_pct=10.0,
                        judge_by_prior=False)
    assert [v.premature for v in verdicts] == [False, False, False, True]
    assert verdicts[3].left_percent == pytest.approx(100 - 12_000 / (90_500 / 3) * 100)
    assert y.lives == 3


def test_a_some_remaining_bottle_filled_faster_than_its_rating_is_not_flagged() -> None:
    """A "some remaining" bottle on a colour printer, emptied each time it is full (between
    two polls, so never seen full): 30,000 pages a bottle against the 69,000 the catalog
    rates at a mix of mono and colour printers. No bottle was emptied early; read against
    the rating each was emptied with more than half its space left."""
    samples: list[Sample] = []
    t, pages, bottle = T0, 500_000, 0
    for _ in range(4 * 300 + 60):  # four bottles' polls and a while of the fifth
        if pages - 500_000 >= 30_000 * (bottle + 1):
            bottle += 1
        samples.append(Sample(t, None, None, SupplyUnit.PERCENT, LevelState.SOME_REMAINING,
                              None, f"WB-{bottle:03d}", BOTTLE, pages))
        t += timedelta(hours=4)
        pages += 100
    a = analyze(samples, supply_type=SupplyType.WASTE_TONER,
                supply_class=SupplyClass.RECEPTACLE, catalog=load_catalog(),
                first_life_whole=True)
    assert len([life for life in a.lives if life.removed_at is not None]) == 4
    assert [f for f in a.flags if f.kind is Code.PREMATURE_REPLACEMENT] == []
    assert a.life_yield is not None and a.life_yield.lives == 4


# --- a simulated fleet ------------------------------------------------------------------

# Heavy printers (a 300 g toner in 12-15 days) reporting only "some remaining" or 25 %
# steps, over 240 days with slow shipping; three users swap toners early (15 % and 30 %
# left). A colour used less than black lasts more pages than its rating, so a colour
# printer here swaps at empty: an early swap of it while it says "some remaining" cannot be
# told from a spent one, and the fleet asks only what the pages can tell.
HEAVY_COARSE = """\
start: 2027-01-04
days: 240
seed: 19
shipping_days: [3, 7]
lead_days: 21
supply_days: 30
sites:
  - id: print-room
    contact: ops@print-room.example
    devices:
      - serial: SR-EARLY-15
        report: some_remaining
        replace_at_pct: 15
        supplies: &mono
          - {id: black, type: toner, color: black, part_number: 106R03622, capacity_g: 300, level_pct: 100}
          - {id: waste, type: waste_toner, part_number: 008R13061, capacity_g: 600, level_pct: 100}
        usage: {grams_per_day: {black: 22}, noise: 0.3, waste_ratio: 0.1}
      - serial: SR-EARLY-30
        report: some_remaining
        replace_at_pct: 30
        supplies: *mono
        usage: {grams_per_day: {black: 25}, noise: 0.3, waste_ratio: 0.1}
        events:
          - {type: spike, start: 2027-04-12, days: 7, factor: 2}
      - serial: CO-EARLY-15
        report: coarse
        replace_at_pct: 15
        supplies: *mono
        usage: {grams_per_day: {black: 20}, noise: 0.3, waste_ratio: 0.1}
      - serial: SR-COLOUR
        report: some_remaining
        supplies: &colour
          - {id: black, type: toner, color: black, part_number: 106R03528, capacity_g: 250, level_pct: 100}
          - {id: cyan, type: toner, color: cyan, part_number: 106R03525, capacity_g: 120, level_pct: 100}
          - {id: magenta, type: toner, color: magenta, part_number: 106R03526, capacity_g: 120, level_pct: 100}
          - {id: yellow, type: toner, color: yellow, part_number: 106R03527, capacity_g: 120, level_pct: 100}
          - {id: waste, type: waste_toner, part_number: 008R13061, capacity_g: 600, level_pct: 100}
        usage: {grams_per_day: {black: 18, cyan: 6, magenta: 8, yellow: 5}, noise: 0.3, waste_ratio: 0.1}
        events:
          - {type: trend, start: 2027-05-03, factor: 1.3}
      - serial: CO-COLOUR
        report: coarse
        supplies: *colour
        usage: {grams_per_day: {black: 16, cyan: 9, magenta: 7, yellow: 8}, noise: 0.3, waste_ratio: 0.1}
"""


@pytest.mark.slow
def test_heavy_coarse_and_some_remaining_printers_never_run_out_and_every_early_swap_is_flagged(
) -> None:
    result = simulate(parse_fleet(HEAVY_COARSE, source="heavy coarse fleet"), "asr")
    summary = summarize(result)
    assert summary["stockout_supply_days"] == 0
    early = {d.serial: sum(i.premature for i in d.installs) for d in result.devices}
    assert early["SR-EARLY-15"] >= 10 and early["SR-EARLY-30"] >= 10 and early["CO-EARLY-15"] >= 10
    missed = [(d.serial, round(i.day, 1)) for d in result.devices for i in d.installs
              if i.premature and not i.flagged]
    assert missed == []
    assert summary["premature_flagged"] == summary["premature_replacements"]


# --- the agent, from its store ----------------------------------------------------------

EARLY_MONO = """\
start: 2027-01-04
days: 100
seed: 7
shipping_days: [3, 3]
sites:
  - id: print-room
    contact: ops@print-room.example
    devices:
      - serial: SR-MONO
        report: some_remaining
        report_every_hours: 4
        replace_at_pct: 15
        supplies:
          - {id: black, type: toner, color: black, part_number: 106R03622, capacity_g: 300, level_pct: 100}
        usage: {grams_per_day: {black: 22}, noise: 0.3}
"""


def test_the_agent_flags_early_swaps_of_a_some_remaining_toner_from_its_store(tmp_path) -> None:
    """A heavy mono printer saying only "some remaining", its toner swapped at 15 % left,
    polled every 4 h into a real store for 100 days: the agent's insight flags every swap
    of a cartridge it saw go in (the first began before its samples, as far as it can
    tell), and forecasts the toner in use empty when its pages say it will be."""
    from asr_agent.adapters.store import Store
    from asr_agent.app.insight import Settings, device_insights
    from asr_central.simulate.model import DeviceSim
    from asr_central.simulate.pipeline import fleet_catalog
    from asr_core.records import Device, Reading, Supply

    fleet = parse_fleet(EARLY_MONO)
    sims = [DeviceSim(site, spec, seed=fleet.seed, start=fleet.start, days=fleet.days)
            for site, spec in fleet.devices()]
    printer = sims[0]
    black = printer.supplies["black"]
    black.on_hand = 20
    store = Store(tmp_path / "agent.db")
    try:
        for day in range(fleet.days):
            printer.morning(day)
            outcome = printer.step(day, fleet.start + timedelta(days=day))
            for k, at in enumerate(outcome.times):
                x = outcome.sample(k, "black")
                store.record_reading(Reading(
                    "127.0.0.1", 161, at,
                    Device("1.3.6.1.4.1.253.8.62.1.1", "sim", printer.serial, "xerox", "sim", True),
                    (Supply(index=1, description="black toner", type=SupplyType.TONER,
                            supply_class=SupplyClass.CONSUMED, color="black", unit=x.unit,
                            max_capacity=x.max_capacity, level=x.level,
                            remaining_percent=x.remaining_percent, level_state=x.level_state,
                            part_number=x.part_number, cartridge_serial=x.cartridge_serial),),
                    page_count=outcome.counts[k]))
        now = outcome.times[-1]
        insight = device_insights(store, printer.serial, now=now, settings=Settings(),
                                  catalog=fleet_catalog(sims))[1]
    finally:
        store.close()
    early = [i for i in printer.installs if i.premature]
    assert len(early) >= 5
    flagged = [f for f in insight.analysis.flags if f.kind is Code.PREMATURE_REPLACEMENT]
    assert len(flagged) == len(early) - 1
    start = START.replace(year=2027, month=1, day=4)
    for f, ins in zip(flagged, early[1:]):
        assert abs((f.at - start).total_seconds() / 86400 - ins.day) <= 0.5
        assert f.grams == pytest.approx(ins.left_pct * 3.0, abs=12.0)
    # the truth, near enough (use varies by day): the grams left at 22 g a day shaped by
    # the week, spread evenly over each day, from the last reading on
    left, t, weekly = black.left, now, fleet.sites[0].devices[0].usage.weekly
    while True:
        rate = 22.0 * weekly[t.weekday()]
        midnight = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        span = (midnight - t).total_seconds() / 86400
        if rate * span >= left:
            t += timedelta(days=left / rate)
            break
        left -= rate * span
        t = midnight
    truth = (t - now).total_seconds() / 86400
    assert insight.forecast.days_to_empty == pytest.approx(truth, rel=0.2)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=2**64 - 1),
       st.lists(st.tuples(st.integers(min_value=0, max_value=2**64 - 1), st.booleans()),
                max_size=8))
def test_any_page_counts_give_a_yield_and_shares_within_bounds(prior_pages, lives) -> None:
    """Counter64 page counts, spent or not, in any mix: never an error, a yield that is
    positive when there is one, and every share left between 0 and 100 %."""
    seen = [LifeSeen(T0 + timedelta(days=i + 1), PART, p, spent)
            for i, (p, spent) in enumerate(lives)]
    y, verdicts = _learn(prior(PART, prior_pages or None), seen)
    assert y.pages is None or y.pages > 0
    assert 0.0 <= y.spread < float("inf")
    for v in verdicts:
        assert 0.0 <= v.left_percent <= 100.0
