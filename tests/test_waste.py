"""Waste bottles that report in coarse steps or only "some remaining": their fill follows the
toner the printer uses, learned per device, so they are ordered within the lead time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from asr_agent.domain.catalog import CatalogEntry, parse_catalog
from asr_agent.domain.consumption import DailyUse
from asr_core.errors import ConfigError
from asr_core.records import LevelState, Sample, SupplyType, SupplyUnit
from asr_agent.domain.waste import TonerDays, prior_percent_per_gram, toner_days, waste_fill
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate

START = datetime(2027, 1, 4, tzinfo=UTC)


def _bottle(levels: list[tuple[float, float | None]], serial: str = "W-1") -> list[Sample]:
    """Samples at (day number, level shown: a coarse step or None for "some remaining")."""
    return [Sample(START + timedelta(days=t), None if pct is None else int(pct),
                   None if pct is None else 100, SupplyUnit.PERCENT,
                   LevelState.SOME_REMAINING if pct is None else LevelState.OK, pct, serial,
                   "W-150", None) for t, pct in levels]


def _toner(grams_per_day: float, n: int) -> list[DailyUse]:
    return [DailyUse(START.date() + timedelta(days=i), grams_per_day, grams=grams_per_day)
            for i in range(n)]


def test_the_fill_per_toner_gram_is_learned_from_the_bottles_steps() -> None:
    """10 g of toner a day into a bottle that fills 0.5 % per gram (a ratio twice the
    catalog's): 25 % steps every 5 days. After two steps the learned figure sits between
    prior and truth, weighed by a quarter bottle of prior against the half bottle seen."""
    prior = 0.25  # % per toner gram: a ratio of 0.1 into a 40 g bottle
    samples = _bottle([(0, 100.0), (0.2, 100.0), (5, 75.0), (10, 50.0), (12, 50.0)])
    fill = waste_fill(samples, _toner(10.0, 13), prior=prior, now=START + timedelta(days=12))
    assert fill is not None and fill.basis == "learned"
    assert fill.learned_toner_g == pytest.approx(50.0)  # from the first step to the second
    want = (25.0 + prior * 100.0) / (50.0 + 100.0)  # the prior weighs 25 % / prior grams
    assert fill.percent_per_toner_gram == pytest.approx(want)
    assert fill.free_percent == pytest.approx(50.0 - want * 20.0)  # 2 days since the step
    assert [d.percent for d in fill.daily] == pytest.approx([want * 10.0] * 13)


def test_a_some_remaining_bottle_starts_full_of_room_and_never_reads_full_early() -> None:
    fill = waste_fill(_bottle([(0, None), (30, None)]), _toner(10.0, 31), prior=0.25,
                      now=START + timedelta(days=30))
    assert fill is not None and fill.basis == "catalog" and fill.learned_toner_g == 0
    assert fill.free_percent == pytest.approx(100.0 - 0.25 * 300.0)
    later = waste_fill(_bottle([(0, None), (60, None)]), _toner(10.0, 61), prior=0.25,
                       now=START + timedelta(days=60))
    assert later is not None and 0 < later.free_percent < 1  # says "some remaining": not full


def test_a_some_remaining_bottle_learns_from_a_life_it_saw_from_swap_to_swap() -> None:
    """Polled every 5 days, the bottle swapped between day 5 and 10 and again between 15
    and 20 while it said "some remaining": the printer asks for a new bottle when it is
    full, so the middle bottle filled from day 10 (its first reading) to about 17.5."""
    samples = [s for t, serial in ((0, "W-1"), (5, "W-1"), (10, "W-2"), (15, "W-2"),
                                   (20, "W-3"), (22, "W-3"))
               for s in _bottle([(t, None)], serial=serial)]
    fill = waste_fill(samples, _toner(10.0, 23), prior=0.25, now=START + timedelta(days=22))
    assert fill is not None and fill.basis == "learned"
    assert fill.learned_toner_g == pytest.approx(75.0)
    k = (100.0 + 25.0) / (75.0 + 100.0)
    assert fill.percent_per_toner_gram == pytest.approx(k)
    assert fill.free_percent == pytest.approx(100.0 - k * 20.0)  # since the third went in


def test_without_prior_or_anything_learned_there_is_no_fill() -> None:
    assert waste_fill(_bottle([(0, None), (3, None)]), _toner(5.0, 4), prior=None,
                      now=START + timedelta(days=3)) is None


def test_toner_days_count_only_days_every_toner_measured_in_grams() -> None:
    day = date(2027, 1, 4)
    black = [DailyUse(day, 2.0, grams=5.0), DailyUse(day + timedelta(days=1), 2.0, grams=5.0)]
    cyan = [DailyUse(day, 1.0, grams=1.0, coverage=0.5), DailyUse(day + timedelta(days=1), 1.0)]
    out = toner_days([black, cyan])
    assert [(d.day, d.grams, d.coverage) for d in out] == [(day, 6.0, 0.5)]


def test_toner_days_kept_from_call_to_call_sum_again_only_the_days_that_changed() -> None:
    """A device's toners are analysed again and again: the memo answers as toner_days does
    when days are replaced, added, dropped, or lose their grams."""
    day = date(2027, 1, 4)
    black = {day + timedelta(days=i): DailyUse(day + timedelta(days=i), 2.0, grams=5.0 + i)
             for i in range(6)}
    cyan = {day + timedelta(days=i): DailyUse(day + timedelta(days=i), 1.0, grams=1.0 + i,
                                              coverage=0.5 + i / 20) for i in range(6)}
    memo = TonerDays()
    for change in range(5):
        series = [list(black.values()), list(cyan.values())]
        assert memo(series) == toner_days(series)
        d = day + timedelta(days=change + 1)
        black[d] = DailyUse(d, 3.0, grams=7.5 + change)  # re-measured
        cyan[d] = DailyUse(d, 1.0, grams=None if change == 2 else 2.0)
        black.pop(day + timedelta(days=change), None)  # aged out
        later = day + timedelta(days=6 + change)
        black[later] = cyan[later] = DailyUse(later, 1.0, grams=2.0)
    first = memo([list(black.values()), list(cyan.values())])
    assert first == toner_days([list(black.values()), list(cyan.values())])
    assert memo([list(black.values())]) == toner_days([list(black.values())])  # one toner


def test_the_fill_read_from_a_day_on_holds_those_days_and_the_same_figures() -> None:
    samples = _bottle([(0, 100.0), (0.2, 100.0), (5, 75.0), (10, 50.0), (12, 50.0)])
    now = START + timedelta(days=12)
    every = waste_fill(samples, _toner(10.0, 13), prior=0.25, now=now)
    recent = waste_fill(samples, _toner(10.0, 13), prior=0.25, now=now,
                        daily_from=START.date() + timedelta(days=9))
    assert every is not None and recent is not None
    assert recent.daily == every.daily[9:] and len(recent.daily) == 4
    assert (recent.percent_per_toner_gram, recent.free_percent) == (
        every.percent_per_toner_gram, every.free_percent)


def test_the_catalog_gives_a_bottles_waste_ratio_and_checks_it() -> None:
    cat = parse_catalog("parts:\n  W-150: {type: waste_toner, nominal_grams: 150, "
                        "waste_ratio: 0.1}\n", source="cat.yaml")
    entry = cat["W-150"]
    assert entry.type is SupplyType.WASTE_TONER and entry.waste_ratio == 0.1
    assert prior_percent_per_gram(entry) == pytest.approx(100 * 0.1 / 150)
    assert prior_percent_per_gram(CatalogEntry("X", nominal_grams=150)) is None
    with pytest.raises(ConfigError) as info:
        parse_catalog("parts:\n  W-150:\n    waste_ratio: 2\n", source="cat.yaml")
    assert "cat.yaml" in str(info.value) and "parts.W-150.waste_ratio" in str(info.value)


# A colour printer printing much colour beside a mono one, both on one bottle part: rated
# in pages at their mean, the colour printer's bottle fills 1.5 times faster than its rating
# and the mono one's at 0.5 times; per gram of toner both fill at the catalog's 0.1.
STUDIO = """\
start: 2027-01-04
days: 200
seed: 5
shipping_days: [3, 5]
lead_days: 21
supply_days: 30
sites:
  - id: studio
    contact: office@studio.example
    devices:
      - serial: COLOUR-1
        report: {mode}
        supplies:
          - {{id: black, type: toner, color: black, part_number: K-250, capacity_g: 250}}
          - {{id: cyan, type: toner, color: cyan, part_number: C-120, capacity_g: 120}}
          - {{id: magenta, type: toner, color: magenta, part_number: M-120, capacity_g: 120}}
          - {{id: yellow, type: toner, color: yellow, part_number: Y-120, capacity_g: 120}}
          - {{id: waste, type: waste_toner, part_number: W-150, capacity_g: 150}}
        usage:
          grams_per_day: {{black: 6, cyan: 4, magenta: 4, yellow: 4}}
          noise: 0
      - serial: MONO-1
        report: {mode}
        supplies:
          - {{id: black, type: toner, color: black, part_number: K-300, capacity_g: 300}}
          - {{id: waste, type: waste_toner, part_number: W-150, capacity_g: 150}}
        usage:
          grams_per_day: {{black: 6}}
          noise: 0
"""


@pytest.mark.parametrize("mode", ["coarse", "some_remaining"])
def test_a_bottle_that_says_little_is_ordered_within_the_lead_time(mode: str) -> None:
    """The colour printer's bottle fills on day 113.7 (18 g of toner a working day, 0.1 of
    it into 150 g). It must be ordered about the lead time (21 days) ahead, as a toner is:
    at least two thirds of it, and delivered before it fills. The mono printer's bottle,
    which fills on day 340, is not ordered in these 200 days."""
    result = simulate(parse_fleet(STUDIO.format(mode=mode)), "asr", keep_history=True)
    colour, mono = result.devices
    assert result.history is not None
    full_day = next(i.day for i in colour.installs if i.supply_id == "waste")
    assert full_day == pytest.approx(113.7, abs=0.1)
    ordered = [day for day, sid, _ in result.history[colour.serial].orders if sid == "waste"]
    delivered = [day for day, sid, _ in result.history[colour.serial].deliveries if sid == "waste"]
    assert ordered and full_day - ordered[0] >= 14, (ordered, full_day)
    assert delivered and delivered[0] <= full_day
    assert colour.supplies["waste"].stockout_days == 0
    assert [o for o in result.history[mono.serial].orders if o[1] == "waste"] == []
    assert all(s.stockout_days == 0 for d in result.devices for s in d.supplies.values())


def test_the_agent_forecasts_such_a_bottle_from_its_store_as_the_simulator_does(tmp_path) -> None:
    """The colour printer above, coarse, polled every 4 h into a real store for 100 days:
    the agent's insight forecasts its bottle full 13.7 days later (from the toner), where
    the bottle's own page rating, 1.5 times too slow for this printer, would say weeks."""
    from asr_agent.app.insight import Settings, device_insights
    from asr_core.records import Device, Reading, Supply, SupplyClass
    from asr_agent.adapters.store import Store
    from asr_central.simulate.model import DeviceSim
    from asr_central.simulate.pipeline import fleet_catalog

    fleet = parse_fleet(STUDIO.format(mode="coarse"))
    sims = [DeviceSim(site, spec, seed=fleet.seed, start=fleet.start, days=fleet.days)
            for site, spec in fleet.devices()]
    colour = sims[0]
    for s in colour.consumables:
        s.on_hand = 5  # toners swapped as they run out, as deliveries would allow
    types = {"toner": SupplyType.TONER, "waste_toner": SupplyType.WASTE_TONER}
    store = Store(tmp_path / "agent.db")
    try:
        for day in range(100):
            colour.morning(day)
            outcome = colour.step(day, fleet.start + timedelta(days=day))
            for k, at in enumerate(outcome.times):
                supplies = []
                for i, (sid, s) in enumerate(colour.supplies.items(), start=1):
                    x = outcome.sample(k, sid)
                    supplies.append(Supply(
                        index=i, description=sid, type=types[s.spec.type],
                        supply_class=SupplyClass.RECEPTACLE if s.waste else SupplyClass.CONSUMED,
                        color=s.spec.color, unit=x.unit, max_capacity=x.max_capacity,
                        level=x.level, remaining_percent=x.remaining_percent,
                        level_state=x.level_state, part_number=x.part_number,
                        cartridge_serial=x.cartridge_serial))
                store.record_reading(Reading(
                    "127.0.0.1", 161, at, Device("1.3.6.1.4.1.253.8.62.1.1", "sim", colour.serial,
                                                 "xerox", "sim", True),
                    tuple(supplies), page_count=outcome.counts[k]))
        now = START + timedelta(days=100)
        insights = device_insights(store, colour.serial, now=now, settings=Settings(),
                                   catalog=fleet_catalog(sims))
    finally:
        store.close()
    bottle = insights[5].forecast
    assert bottle.status == "ok" and bottle.days_to_empty is not None
    assert bottle.days_to_empty == pytest.approx(13.7, abs=2.0)
    assert bottle.days_to_empty_low is not None and bottle.days_to_empty_low <= 13.7
