"""Waste bottles that say little (coarse steps, or only "some remaining"), filled in step
with the toner the printer uses: a bottle fills in proportion to it, and the agent measures it.

Pure: the bottle's samples, the device's toner use per day and a prior in; a `WasteFill`
out. No clock, no I/O.

Model: the bottle fills `k` percent of its space per gram of toner used. `k` is learned
per device from what the bottle itself shows, over the history given (the agent keeps
months of it): a new bottle is empty (100 % free), a coarse bottle's step down to L means
its free space just fell to L (levels are shown rounded up, so L is its step's top), a
bottle reporting 0 is full, and so is one replaced while it showed "some remaining" or its
lowest step (the printer asks for a new one when it is full). Between two such moments
in one bottle's life, the drop in free space over the toner used in between is one
measurement of `k`. The catalog's figures (the bottle's capacity in grams and a nominal
waste ratio, grams of waste per gram of toner) give the prior, weighed as
`prior_weight_pct` percent of a bottle's worth of measurement, so the first steps move it
only part way.

Free space now: the last such moment's level less `k` × the toner used since, kept within
what the bottle shows (a coarse step bounds it; "some remaining" means not full yet). A
bottle first seen without a moment to start from is taken at the top of what it shows (a
fresh bottle), as the page-counter estimate does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from asr_agent.domain.catalog import CatalogEntry
from asr_agent.domain.consumption import DailyUse, SupplyAnalysis, is_replacement
from asr_core.records import Sample, SupplyClass

__all__ = ["TonerDays", "WasteFill", "level_step", "prior_percent_per_gram", "says_little",
           "toner_days", "waste_fill"]

# A bottle showing "some remaining" still has room: never forecast it full before it says so.
_SOME_ROOM_PCT = 0.5
# A bottle replaced while it showed "some remaining" or its lowest coarse step (at most
# this) was replaced full; one replaced higher up was emptied early and says nothing.
_LAST_STEP_PCT = 25.0


@dataclass(frozen=True, slots=True)
class WasteFill:
    percent_per_toner_gram: float  # bottle percent filled per gram of toner used
    basis: Literal["learned", "catalog"]  # learned: at least one measurement went in
    learned_toner_g: float  # toner grams behind the measurements (0: the prior alone)
    free_percent: float  # free space now, estimated
    daily: tuple[DailyUse, ...]  # bottle percent filled per day, from the toner used
    # (from `waste_fill`'s daily_from on)


def says_little(analysis: SupplyAnalysis, supply_class: SupplyClass | None) -> bool:
    """Whether a supply is a waste bottle whose own level cannot carry its forecast: it
    reports in coarse steps or only "some remaining" (its use then comes from pages)."""
    return supply_class == SupplyClass.RECEPTACLE and (
        analysis.coarse or analysis.remaining_estimated
        or (analysis.estimate or "").startswith("page_counter")
        or (analysis.readings > 0 and analysis.remaining_percent is None))


def level_step(samples: Sequence[Sample]) -> float | None:
    """The smallest gap between the distinct levels a supply showed; None under two."""
    levels = sorted({s.remaining_percent for s in samples if s.remaining_percent is not None})
    gaps = [b - a for a, b in zip(levels, levels[1:]) if b - a > 1e-9]
    return min(gaps) if gaps else None


def prior_percent_per_gram(entry: CatalogEntry | None) -> float | None:
    """Bottle percent per gram of toner from the catalog: its nominal waste ratio over its
    capacity in grams; None unless the catalog gives both."""
    if entry is None or entry.waste_ratio is None or not entry.nominal_grams:
        return None
    return 100.0 * entry.waste_ratio / entry.nominal_grams


def toner_days(series: Iterable[Sequence[DailyUse]]) -> tuple[DailyUse, ...]:
    """The device's toner grams per day, summed over its toners (one series each).

    A day counts only when every toner has it with grams known (a day missing one colour
    would read as less use); its coverage is the least of theirs.
    """
    by_day, n = _by_day(series)
    out = []
    for day in sorted(by_day):
        d = _toner_day(by_day[day], n)
        if d is not None:
            out.append(d)
    return tuple(out)


class TonerDays:
    """`toner_days` for a device whose toners are analysed again and again: a day whose
    figures are the very ones it was given last time is not summed again (most of a
    bottle's months of toner days are, from one run to the next)."""

    def __init__(self) -> None:
        self._memo: dict[date, tuple[list[DailyUse], DailyUse | None]] = {}

    def __call__(self, series: Iterable[Sequence[DailyUse]]) -> tuple[DailyUse, ...]:
        by_day, n = _by_day(series)
        memo = self._memo
        fresh: dict[date, tuple[list[DailyUse], DailyUse | None]] = {}
        out = []
        for day in sorted(by_day):
            ds = by_day[day]
            held = memo.get(day)
            if (held is not None and len(held[0]) == len(ds)
                    and all(a is b for a, b in zip(held[0], ds))):
                fresh[day] = held
                d = held[1]
            else:
                d = _toner_day(ds, n)
                fresh[day] = (ds, d)
            if d is not None:
                out.append(d)
        self._memo = fresh
        return tuple(out)


def _by_day(series: Iterable[Sequence[DailyUse]]) -> tuple[dict[date, list[DailyUse]], int]:
    by_day: dict[date, list[DailyUse]] = {}
    n = 0
    for s in series:
        n += 1
        for d in s:
            by_day.setdefault(d.day, []).append(d)
    return by_day, n


def _toner_day(ds: list[DailyUse], n: int) -> DailyUse | None:
    """One day of `toner_days` from its toners' figures (None: it does not count)."""
    if len(ds) != n or any(d.grams is None for d in ds):
        return None
    return DailyUse(ds[0].day, sum(d.grams for d in ds),  # type: ignore[misc]
                    grams=sum(d.grams for d in ds),  # type: ignore[misc]
                    coverage=min(d.coverage for d in ds),
                    interpolated=all(d.interpolated for d in ds),
                    readings=min(d.readings for d in ds))


def _anchors(samples: Sequence[Sample]) -> list[tuple[datetime, float, int]]:
    """Moments the bottle's free space is known: (when, free percent, life number)."""
    out: list[tuple[datetime, float, int]] = []
    life = 0
    prev: Sample | None = None
    for s in samples:
        pct = s.remaining_percent
        if prev is None:
            # the first sample: taken at the top of what it shows (a fresh bottle)
            out.append((s.taken_at, 100.0 if pct is None else pct, life))
        elif is_replacement(prev, s) or (prev.remaining_percent == 0 and pct is None):
            # (a full bottle that says "some remaining" again was emptied or replaced)
            if prev.remaining_percent is None or 0 < prev.remaining_percent <= _LAST_STEP_PCT:
                # the printer asks for a new bottle when it is full: a spare at hand goes
                # in before a reading shows it full, so the swap is when it filled
                out.append((prev.taken_at + (s.taken_at - prev.taken_at) / 2, 0.0, life))
            life += 1
            out.append((s.taken_at, 100.0, life))
        elif pct is not None and (prev.remaining_percent is None or pct < prev.remaining_percent):
            out.append((s.taken_at, pct, life))  # a step down (or "some remaining" to 0)
        prev = s
    return out


def _grams_between(days: dict[date, DailyUse], a: datetime, b: datetime) -> float | None:
    """Toner grams from `a` to `b`, a day's use spread evenly over it; None when a day in
    between is missing (its use is unknown)."""
    if b <= a:
        return 0.0
    total = 0.0
    t = a
    while t < b:
        day = t.date()
        nxt = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=t.tzinfo)
        end = min(nxt, b)
        d = days.get(day)
        if d is None:
            return None
        total += (d.grams or 0.0) * (end - t).total_seconds() / 86400.0
        t = end
    return total


def waste_fill(samples: Sequence[Sample], toner: Sequence[DailyUse], *, prior: float | None,
               now: datetime, step: float | None = None,
               prior_weight_pct: float = 25.0, daily_from: date | None = None) -> WasteFill | None:
    """The bottle's fill from the toner used (module docstring).

    `samples`: the bottle's, in time order (the first of each step and of each bottle is
    what counts); `toner`: the device's toner grams per day (`toner_days`) in the time zone
    of `now`, covering the samples' span; `prior`: percent per toner gram
    (`prior_percent_per_gram`); `step`: a coarse bottle's step in percent (None for
    "some remaining"); `daily_from`: the first day `daily` holds (default: every day of
    `toner`). None when there is nothing to go on: no samples, or no prior and
    nothing learned yet.
    """
    if not samples:
        return None
    by_day = {d.day: d for d in toner}
    tz = now.tzinfo
    anchors = [(t.astimezone(tz), f, life) for t, f, life in _anchors(samples)]
    # the first sample only bounds the level: a measurement starts at a real moment
    measured_pct = measured_g = 0.0
    for (t0, f0, l0), (t1, f1, l1) in zip(anchors, anchors[1:]):
        if l0 != l1 or (t0, f0, l0) == anchors[0] or f1 >= f0:
            continue
        g = _grams_between(by_day, t0, t1)
        if g is None or g <= 0:
            continue
        measured_pct += f0 - f1
        measured_g += g
    if prior is not None and prior > 0:
        weight_g = prior_weight_pct / prior
        k = (measured_pct + prior * weight_g) / (measured_g + weight_g)
    elif measured_g > 0:
        k = measured_pct / measured_g
    else:
        return None
    t_a, f_a, _ = anchors[-1]
    used = _grams_between(by_day, t_a, now)
    if used is None:
        # a day without toner figures since: count from what is known, day by day
        used = sum((d.grams or 0.0) for day, d in by_day.items() if t_a.date() < day <= now.date())
    free = f_a - k * used
    last = samples[-1].remaining_percent
    if last is None:
        free = max(_SOME_ROOM_PCT, min(100.0, free))  # "some remaining": not full yet
    elif step is not None and last > 0:
        free = max(last - step, min(last, free))  # the step it shows bounds it
    else:
        free = max(0.0, min(100.0, free if last > 0 else 0.0))
    daily = tuple(DailyUse(d.day, k * (d.grams or 0.0), grams=None, coverage=d.coverage,
                           interpolated=d.interpolated, readings=d.readings) for d in toner
                  if daily_from is None or d.day >= daily_from)
    return WasteFill(k, "learned" if measured_g > 0 else "catalog", measured_g, free, daily)
