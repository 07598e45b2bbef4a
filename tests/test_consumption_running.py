"""The analysis carried from run to run (asr_agent.domain.running) says what the analysis of
the whole history says, after every run: fed one run at a time, every output is compared
with `consumption.analyze` over every sample so far, exactly (the same sums in the same
order, so no float tolerance is needed).

Series come from three places: the public walk corpus (each real supply, in its own unit,
capacity and level state, used up and replaced over weeks), the bench fleets' simulated
printers (every report mode), and the generated series the golden test pins.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from recordings.walkfile import read_snmprec, snmpwalk_values

from asr_agent.domain.catalog import load_catalog
from asr_agent.domain.consumption import analyze
from asr_agent.domain.printer_mib import parse_reading
from asr_agent.domain.running import SupplyState, Unsettled
from asr_central.simulate.fleet import load_fleet
from asr_central.simulate.model import DeviceSim
from asr_central.simulate.pipeline import fleet_catalog
from asr_core.records import LevelState, Sample, Supply, SupplyClass, SupplyType
from tests.test_analysis_golden import _cases

CATALOG = load_catalog()
FLEETS = Path(__file__).resolve().parent.parent / "bench" / "fleets"
T0 = dt.datetime(2027, 1, 4, tzinfo=dt.UTC)
ZONES = (dt.UTC, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=5, minutes=30)))


class Tally:
    """Runs compared, and how many of them on a settled state (the running figures, not
    the samples kept while the estimate may still change)."""

    def __init__(self) -> None:
        self.runs = 0
        self.settled = 0

    def check(self, runs: list[list[Sample]], *, every: int = 1, **settings: object) -> None:
        state = SupplyState(**settings)  # type: ignore[arg-type]
        seen: list[Sample] = []
        for n, run in enumerate(runs, start=1):
            state.feed(run)
            seen.extend(run)
            if n % every and n != len(runs):
                continue
            want = analyze(seen, **settings)  # type: ignore[arg-type]
            got = state.analysis()
            assert got == want, (n, _diff(got, want))
            cut = want.daily[len(want.daily) // 2].day if want.daily else None
            if cut is not None:
                assert state.analysis(daily_from=cut) == replace(
                    want, daily=tuple(d for d in want.daily if d.day >= cut))
            self.runs += 1
            self.settled += state.settled


def _diff(got: object, want: object) -> dict[str, tuple[object, object]]:
    return {k: (getattr(got, k), getattr(want, k)) for k in want.__slots__  # type: ignore[attr-defined]
            if getattr(got, k) != getattr(want, k)}


# --- the walk corpus -----------------------------------------------------------------------


def _walk_supplies(shared_walks: Path) -> Iterator[tuple[str, Supply]]:
    for path in sorted(shared_walks.iterdir()):
        if path.suffix == ".snmprec":
            raw = read_snmprec(path)
        elif path.suffix == ".snmpwalk":
            raw = snmpwalk_values(path)
        else:
            continue
        reading = parse_reading(raw, host="127.0.0.1", port=161, taken_at=T0)
        for s in reading.supplies:
            yield path.name, s


def _series(supply: Supply, rng: random.Random, days: int) -> list[list[Sample]]:
    """The supply used from its walked state on, read a few times a day, one run a day: its
    unit and capacity, its level state (a -3 supply stays -3 until replaced), its serial
    changed at each replacement (when it has one), now and then a replacement while far
    from empty."""
    cap = supply.max_capacity
    level = supply.level
    known = level is not None and cap is not None and cap > 0
    use = rng.uniform(0.4, 3.0) / 100.0 * (cap if known else 100)  # raw units a day
    serial, no = supply.cartridge_serial, 0
    pages = rng.randint(1000, 90_000)
    hidden = 100.0 * level / cap if known else rng.uniform(20.0, 100.0)  # percent left
    runs: list[list[Sample]] = []
    for d in range(days):
        run = []
        for h in sorted(rng.sample(range(24), rng.randint(1, 4))):
            at = T0 + dt.timedelta(days=d, hours=h, minutes=rng.randint(0, 59))
            drop = use / (cap if known else 100) * 100.0 * rng.uniform(0.0, 2.0) / 3
            if not (d % 7 >= 5):
                hidden -= drop
                pages += int(drop * 40)
            if hidden <= 0 or rng.random() < 0.004:  # empty, or now and then long before
                hidden, no = 100.0, no + 1
                serial = f"{supply.cartridge_serial}-{no}" if supply.cartridge_serial else None
            if known:
                assert cap is not None
                lvl = max(0, min(cap, int(round(hidden / 100.0 * cap))))
                pct = round(min(100.0, max(0.0, 100.0 * lvl / cap)), 2)
                run.append(Sample(at, lvl, cap, supply.unit, LevelState.OK, pct, serial,
                                  supply.part_number, pages))
            else:
                run.append(Sample(at, None, cap, supply.unit, supply.level_state, None, serial,
                                  supply.part_number, pages))
        runs.append(run)
    return runs


def test_run_by_run_equals_the_whole_history_on_every_supply_of_the_walk_corpus(
        shared_walks: Path) -> None:
    tally = Tally()
    supplies = list(_walk_supplies(shared_walks))
    assert len(supplies) >= 40
    for k, (name, supply) in enumerate(supplies):
        rng = random.Random(f"{name}:{supply.index}")
        tally.check(_series(supply, rng, 75), every=3,
                    supply_type=supply.type or SupplyType.OTHER,
                    supply_class=supply.supply_class or SupplyClass.CONSUMED,
                    catalog=CATALOG, tz=ZONES[k % len(ZONES)])
    # most runs are answered from the running figures, not by analysing samples kept
    assert tally.settled >= tally.runs // 2, (tally.settled, tally.runs)


# --- the bench fleets ----------------------------------------------------------------------


@pytest.mark.parametrize("fleet_file", sorted(p.name for p in FLEETS.glob("*.yaml")))
def test_run_by_run_equals_the_whole_history_on_the_bench_fleets(fleet_file: str) -> None:
    fleet = load_fleet(FLEETS / fleet_file)
    days = 60
    sims = [DeviceSim(site, spec, seed=fleet.seed, start=fleet.start, days=fleet.days)
            for site, spec in fleet.devices()]
    sims = sims[:: max(1, len(sims) // 24)]  # a spread of printers: the big fleet has 150
    catalog = fleet_catalog(sims)
    runs: dict[tuple[int, str], list[list[Sample]]] = {}
    for day in range(days):
        date = fleet.start + dt.timedelta(days=day)
        for i, sim in enumerate(sims):
            sim.morning(day)
            outcome = sim.step(day, date)
            if outcome.reported:
                for sid in sim.supplies:
                    runs.setdefault((i, sid), []).append(outcome.samples(sid))
    tally = Tally()
    modes = set()
    for (i, sid), series in runs.items():
        spec = sims[i].supplies[sid].spec
        waste = spec.type.startswith("waste")
        modes.add(sims[i].report_mode)
        tally.check(series, every=4,
                    supply_type=SupplyType.WASTE_TONER if waste else SupplyType.TONER,
                    supply_class=SupplyClass.RECEPTACLE if waste else SupplyClass.CONSUMED,
                    catalog=catalog)
    assert tally.runs > 100 and tally.settled > tally.runs // 2, (tally.settled, tally.runs)
    assert len(modes) >= 2, modes


# --- generated series ----------------------------------------------------------------------


def test_run_by_run_equals_the_whole_history_on_the_golden_series() -> None:
    tally = Tally()
    for k, samples in _cases():
        rng = random.Random(k)
        runs, i = [], 0
        while i < len(samples):
            j = i + rng.randint(1, 8)  # runs of one to eight polls
            runs.append(samples[i:j])
            i = j
        tally.check(runs, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED,
                    catalog=CATALOG, tz=ZONES[k % len(ZONES)])
    assert tally.settled > 500


def _settled_state() -> tuple[SupplyState, list[Sample]]:
    samples = next(s for _, s in _cases())
    state = SupplyState.of(samples, supply_type=SupplyType.TONER,
                           supply_class=SupplyClass.CONSUMED, catalog=CATALOG)
    assert state.settled
    return state, samples


def test_a_settled_state_refuses_a_sample_from_before_its_last_and_a_rebuild_takes_it() -> None:
    state, samples = _settled_state()
    late = replace(samples[5], taken_at=samples[5].taken_at + dt.timedelta(minutes=1))
    with pytest.raises(Unsettled, match="not after the last one fed.*rebuild"):
        state.feed([late])
    rebuilt = SupplyState.of([*samples, late], supply_type=SupplyType.TONER,
                             supply_class=SupplyClass.CONSUMED, catalog=CATALOG)
    assert rebuilt.analysis() == analyze([*samples, late], supply_type=SupplyType.TONER,
                                         supply_class=SupplyClass.CONSUMED, catalog=CATALOG)


def test_a_settled_state_refuses_a_change_of_unit() -> None:
    state, samples = _settled_state()
    last = samples[-1]
    other = next(u for u in type(last.unit) if u is not last.unit and u.name != "PERCENT"
                 ) if last.unit is not None else None
    with pytest.raises(Unsettled, match="unit changed"):
        state.feed([replace(last, taken_at=last.taken_at + dt.timedelta(hours=1), unit=other)])


def test_an_unsettled_state_takes_samples_in_any_order() -> None:
    """Coarse steps never settle (a later step may change what they say): the state keeps
    its samples, and a late one is put in its place."""
    samples = [s for k, s in _cases() if k == 3][0]  # a series read in 25 % steps
    state = SupplyState(supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED,
                        catalog=CATALOG)
    half = len(samples) // 2
    state.feed(samples[half:])
    state.feed(samples[:half])
    assert not state.settled
    assert state.analysis() == analyze(samples, supply_type=SupplyType.TONER,
                                       supply_class=SupplyClass.CONSUMED, catalog=CATALOG)
