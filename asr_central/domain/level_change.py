"""Changes of use level: how often a supply's use jumps and by how much, learned from the
usage spikes central has seen, and the order point that allows for one (docs/order-point.md).
Pure: counts, ratios and days in, rates and days out.

A forecast's spread allows for noise and drift; a printer that starts printing three times
as much (a spike, a new team) is outside it. The service order point counts with a mixture:
within the horizon t (shipping time and the next look) a change of size F starts with
probability p = 1 - exp(-lambda t), at a moment uniform within it (or within the
FOLLOW_DAYS before it, which the forecast's rate has not yet followed), and from then on
the supply is used F times as fast; otherwise the use is the forecast's, normally spread as
before. The order point is that mixture's quantile at the service level.

lambda and F are learned per central (its whole fleet, one dealer's customers) from the
spikes it recorded: lambda = (changes + PRIOR_CHANGES) / (supply-days observed +
PRIOR_SUPPLY_DAYS), F the mean of the ratios seen pooled with PRIOR_CHANGES at PRIOR_FACTOR.
A new central thus counts with one doubling a supply-year.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

__all__ = [
    "CHANGES_LOOKBACK", "PRIOR_CHANGES", "PRIOR_FACTOR", "PRIOR_SUPPLY_DAYS", "LevelChanges",
    "learn_level_changes",
    "change_ratio", "mixture_quantile", "usual_daily_use",
]

# The prior: one change of level a supply-year, doubling the use, weighted as that one
# change and that one year (a fleet's first year of spikes outweighs it).
PRIOR_CHANGES = 1.0
PRIOR_SUPPLY_DAYS = 365.0
PRIOR_FACTOR = 2.0
# A ratio beyond this is a reading gone wrong (a level misread, a tiny usual use), not use.
MAX_FACTOR = 10.0
# A change of level shows in the forecast's rate only once the spike rule has seen it: its
# last three working days and a weekend. A change begun this many days ago is not yet in
# the rate, so it runs over the whole horizon, as one starting now would.
FOLLOW_DAYS = 5.0
# The usual use a spike is measured against: the days before the spike rule's own look-back
# (three working days and a weekend), as far back as the agent's forecast window.
USUAL_FROM_DAYS = 33
USUAL_TO_DAYS = 5
# Changes of use level are learned from the last year's spikes and reports: a year holds
# every season's, and a fleet's printing habits change slower than that.
CHANGES_LOOKBACK = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class LevelChanges:
    """How often a supply's use changes level, and by how much."""

    per_day: float  # lambda: changes per supply-day
    factor: float  # F: the use during a change over the use before it

    def chance(self, days: float) -> float:
        """The probability that a change starts within `days`."""
        return -math.expm1(-self.per_day * max(0.0, days))


PRIOR = LevelChanges(PRIOR_CHANGES / PRIOR_SUPPLY_DAYS, PRIOR_FACTOR)


def learn_level_changes(changes: int, supply_days: float,
                        ratios: Iterable[float | None] = ()) -> LevelChanges:
    """lambda and F from `changes` spikes seen over `supply_days` supply-days of reports and
    the ratios measured for some of them (None: not measurable), pooled with the prior."""
    seen = [min(MAX_FACTOR, r) for r in ratios
            if r is not None and not math.isnan(r) and r >= 1.0]
    per_day = (max(0, changes) + PRIOR_CHANGES) / (max(0.0, supply_days) + PRIOR_SUPPLY_DAYS)
    factor = (PRIOR_CHANGES * PRIOR_FACTOR + sum(seen)) / (PRIOR_CHANGES + len(seen))
    return LevelChanges(per_day, factor)


def usual_daily_use(points: Sequence[tuple[date, float | None]]) -> float | None:
    """Percent a day a supply used over its daily points (oldest first): what it fell by
    between consecutive points over the days between them; a rise (a new cartridge, an
    emptied bottle) and the days across it are left out. None with nothing to go on."""
    used = days = 0.0
    prev: tuple[date, float] | None = None
    for day, pct in points:
        if pct is None:
            continue
        if prev is not None and pct <= prev[1]:
            used += prev[1] - pct
            days += (day - prev[0]).days
        prev = (day, pct)
    return used / days if days > 0 and used > 0 else None


def change_ratio(daily_percent: float | None, points: Sequence[tuple[date, float | None]],
                 started: date) -> float | None:
    """How many times its usual use a supply ran at when a spike began: its forecast rate
    then (the agent's forecast follows the recent rate in a spike) over its use in the
    daily points from USUAL_FROM_DAYS to USUAL_TO_DAYS days before (the days the spike rule
    judged against). None when either is unknown."""
    first, last = started.toordinal() - USUAL_FROM_DAYS, started.toordinal() - USUAL_TO_DAYS
    usual = usual_daily_use([(d, pct) for d, pct in points if first <= d.toordinal() <= last])
    if usual is None or daily_percent is None or daily_percent <= 0:
        return None
    return daily_percent / usual


_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def _g(x: float) -> float:
    # an antiderivative of the normal cdf: d/dx (x Phi(x) + phi(x)) = Phi(x)
    return x * _cdf(x) + _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _mixture_cdf(a: float, horizon: float, sd: float, p: float, extra: float,
                 lag: float) -> float:
    """P(use over the horizon, in days of forecast use, <= horizon + a), a change having
    started within the last `lag` days or the horizon with probability p."""
    if sd > 0:
        normal = _cdf(a / sd)
    else:
        normal = 1.0 if a >= 0 else 0.0
    if p <= 0 or extra <= 0 or horizon <= 0:
        return normal
    # a change starting v days before the horizon's end adds extra * v, v uniform in [0, t];
    # one started in the lag, before the forecast saw it, adds extra * t
    span = extra * horizon
    if sd > 0:
        within = sd / span * (_g(a / sd) - _g((a - span) / sd))
        before = _cdf((a - span) / sd)
    else:
        within = min(1.0, max(0.0, a / span))
        before = 1.0 if a >= span else 0.0
    w = lag / (lag + horizon)
    return (1.0 - p) * normal + p * (w * before + (1.0 - w) * within)


def mixture_quantile(horizon: float, sd: float, level: float, changes: LevelChanges,
                     lag: float = FOLLOW_DAYS) -> float:
    """The order point in days of cover: the quantile at `level` of the use over `horizon`
    days (in days of forecast use), normal with spread `sd` around the horizon, or with
    probability p = changes.chance(lag + horizon) raised by a change of level starting
    uniformly within the last `lag` days (not yet in the forecast: over the whole horizon)
    or the horizon (over the rest of it). With no chance of a change, horizon + z * sd."""
    p = changes.chance(lag + horizon)
    extra = changes.factor - 1.0
    lo = horizon
    hi = horizon + max(0.0, extra) * horizon + 10.0 * sd + 1e-9
    if _mixture_cdf(lo - horizon, horizon, sd, p, extra, lag) >= level:
        # below the horizon: the normal part alone decides (a level under a half)
        lo = horizon - 10.0 * sd - 1e-9
    # the cdf rises with the order point: bisection to a thousandth of a day
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        if _mixture_cdf(mid - horizon, horizon, sd, p, extra, lag) >= level:
            hi = mid
        else:
            lo = mid
    return 0.5 * (lo + hi)
