"""A simulated toner for consumption and forecast tests: known daily use in, samples out.

Use happens in office hours (08:00-18:00, evenly); the printer is polled every
`poll_hours` unless asleep; the cartridge is replaced at the first poll after it runs
empty, or at the times given in `premature_at`. Levels are reported the way real
printers do: tenths of grams, whole percent, coarse steps, or only -3.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from asr_core.records import LevelState, Sample, SupplyUnit

START = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
OFFICE_HOURS = range(8, 18)


@dataclass
class Truth:
    use_by_day: dict[date, float] = field(default_factory=dict)  # grams
    replacements: list[datetime] = field(default_factory=list)
    remaining_g_at: dict[datetime, float] = field(default_factory=dict)  # at each poll

    def days_until_used(self, t: datetime, grams: float) -> float | None:
        """Days from `t` until `grams` more have been used (None: beyond the recorded days)."""
        if grams <= 0:
            return 0.0
        day = t.date()
        hour = t.hour + t.minute / 60
        done = min(1.0, max(0.0, (hour - 8) / 10))
        need = grams
        while day in self.use_by_day:
            use = self.use_by_day[day]
            left_today = use * (1 - done)
            if use > 0 and need <= left_today:
                frac = done + need / use
                at = datetime.combine(day, datetime.min.time(), tzinfo=t.tzinfo) + timedelta(hours=8 + 10 * frac)
                return (at - t).total_seconds() / 86400
            need -= left_today
            day += timedelta(days=1)
            done = 0.0
        return None


def simulate(
    daily_grams: Callable[[date], float] | Sequence[float],
    *,
    days: int,
    capacity_g: float = 530.0,
    poll_hours: float = 1.0,
    report: str = "grams",  # grams | percent | coarse10 | coarse25 | some_remaining
    sleep: Sequence[tuple[datetime, datetime]] = (),
    premature_at: Sequence[datetime] = (),
    start_g: float | None = None,
    grams_per_page: float = 0.02,
    part_number: str | None = "006R01509",
    serials: bool = False,
    start: datetime = START,
) -> tuple[list[Sample], Truth]:
    truth = Truth()
    use_of = (lambda d: daily_grams[(d - start.date()).days]) if isinstance(daily_grams, Sequence) else daily_grams
    g = capacity_g if start_g is None else start_g
    used_total = 0.0
    cartridge = 1
    pending_premature = sorted(premature_at)
    samples: list[Sample] = []
    step = timedelta(hours=1)
    next_poll = start
    t = start
    end = start + timedelta(days=days)
    empty = False
    while t < end:
        d = t.date()
        if d not in truth.use_by_day:
            truth.use_by_day[d] = max(0.0, float(use_of(d)))
        if next_poll <= t:
            asleep = any(a <= t < b for a, b in sleep)
            if not asleep:
                if empty or (pending_premature and pending_premature[0] <= t):
                    if pending_premature and pending_premature[0] <= t:
                        pending_premature.pop(0)
                    g = capacity_g
                    cartridge += 1
                    empty = False
                    truth.replacements.append(t)
                samples.append(_sample(t, g, capacity_g, report, part_number,
                                       f"CRUM{cartridge:04d}" if serials else None,
                                       int(used_total / grams_per_page)))
                truth.remaining_g_at[t] = g
            next_poll = t + timedelta(hours=poll_hours)
        if t.hour in OFFICE_HOURS:
            u = truth.use_by_day[d] / len(OFFICE_HOURS)
            used_total += u
            g -= u
            if g <= 0:
                g = 0.0
                empty = True
        t += step
    return samples, truth


def _sample(t: datetime, g: float, cap: float, report: str, part: str | None, serial: str | None,
            pages: int) -> Sample:
    pct = 100.0 * g / cap
    if report == "grams":
        level = int(g * 10)
        return Sample(t, level, int(cap * 10), SupplyUnit.TENTHS_OF_GRAMS, LevelState.OK,
                      100.0 * level / int(cap * 10), serial, part, pages)
    if report == "percent":
        level = math.ceil(pct) if pct > 0 else 0
        return Sample(t, level, 100, SupplyUnit.PERCENT, LevelState.OK, float(level), serial, part, pages)
    if report in ("coarse10", "coarse25"):
        q = 10 if report == "coarse10" else 25
        level = q * math.ceil(pct / q) if pct > 0 else 0
        return Sample(t, level, 100, SupplyUnit.PERCENT, LevelState.OK, float(level), serial, part, pages)
    if report == "some_remaining":
        return Sample(t, None, None, SupplyUnit.PERCENT, LevelState.SOME_REMAINING, None, serial, part, pages)
    raise ValueError(report)


def weekly(weekday_g: float, weekend_g: float) -> Callable[[date], float]:
    return lambda d: weekday_g if d.weekday() < 5 else weekend_g
