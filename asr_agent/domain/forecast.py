"""Days to empty (days to full for waste receptacles) from a supply's daily use.

Pure: daily use, the remaining level and `now` in; a frozen `Forecast` out. No clock, no I/O.

Method (all figures in percent of a full unit per calendar day):

1. Days of the last `window_days` with at least a fifth of the day covered; a partly
   covered day counts at its rate (use / coverage). Days a printer slept through carry the
   gap's use spread evenly (see `consumption.DailyUse.interpolated`), so gaps are neither
   zero days nor dropped.
2. Spike-robust baseline: rates are winsorised at median + 5 MADs; the level is total use /
   covered days over the baseline days; the weekday shape (offices print little at the
   weekend) is the mean per weekday over observed days, used once there are two weeks of
   them with every weekday seen twice.
3. Spike (docs/spike-rule.md): the last `spike_days` observed working days (a weekday
   the profile expects little use on is passed over) against the usual working day, in
   units of the supply's own day-to-day spread; the sum must reach `spike_z` (raised to
   Student's t for a spread learned from a few weeks, widened for days that resemble
   their neighbours), no one day counting for more than that, so one busy day is not a
   spike. The usual day is taken from the days before the recent ones and, failing that,
   from the days before the last `spike_guards` working days, so the first days of a
   change do not hide it once they age into the baseline. Also: recent use at least
   `spike_ratio_threshold` times the profile's, enough extra use to matter, and, for a
   level read in steps, at least `spike_min_steps` steps of it. The point forecast then
   assumes the recent rate goes on, which shortens it; the high end of the interval
   stays on the baseline.
4. Interval: the profile is scaled by 1 ± z·(σ/√D + σ/√n)/level + drift, where σ is the
   spread of daily residuals around the profile, n the baseline days and D the horizon; the
   drift term allows for use changing after the window (a new team, a holiday).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import compress
from typing import Literal

from asr_agent.domain.consumption import DailyUse
from asr_core.records import SupplyClass

__all__ = ["Forecast", "forecast"]

_MIN_COVERAGE = 0.2
_Z90 = 1.645
_DRIFT = 0.12
_MAX_DAYS = 3650.0
# A weekday whose expected use is below this share of the mean day (a weekend, mostly) says
# little about a change in level: the spike test skips it and looks one day further back.
_QUIET_DAY = 0.25
# The least relative day-to-day spread assumed: a series with almost no noise would
# otherwise call a few percent more use a spike.
_MIN_SPREAD = 0.08
# Working days of baseline a spike is judged against, at least: two weeks' worth. A new
# printer's first days (its first steps, a catalog's rating still in use) are no baseline.
_MIN_BASE_DAYS = 10
# A baseline working day this many robust spreads (1.4826 MADs) from the median is a past
# spike (or a holiday) and counts as a median day. Three cut genuine noise: the MAD of a
# few weeks is itself noisy, and a middle tight by chance cut the busiest ordinary days,
# leaving the usual day and its spread too low (most of the false alarms left on noise).
_CLIP_SPREADS = 5.0
# per day: rate (use / coverage), coverage, weekday (Monday = 0), observed (not interpolated)
_Rows = tuple[list[float], list[float], list[int], list[bool]]


@dataclass(frozen=True, slots=True)
class Forecast:
    status: Literal["ok", "warming_up"]
    reason: str | None
    daily_percent: float | None  # expected use per calendar day (the spike rate during a spike)
    daily_grams: float | None
    days_to_empty: float | None  # for a receptacle: days until full
    days_to_empty_low: float | None  # 90 % prediction interval
    days_to_empty_high: float | None
    spike: bool = False
    spike_ratio: float | None = None
    baseline_daily_percent: float | None = None
    empty_at: datetime | None = None
    weekday_profile: tuple[float, ...] | None = None  # % per day, Monday first; None when flat
    basis_days: int = 0


def _warming(reason: str) -> Forecast:
    return Forecast("warming_up", reason, None, None, None, None, None)


def forecast(
    daily_use: Sequence[DailyUse],
    *,
    remaining: float | None,
    now: datetime,
    supply_class: SupplyClass = SupplyClass.CONSUMED,
    min_span_h: float = 24.0,
    min_readings: int = 2,
    readings: int | None = None,
    span_h: float | None = None,
    window_days: int = 56,
    spike_days: int = 3,
    spike_ratio_threshold: float = 1.5,
    spike_min_excess_pct: float = 0.5,
    spike_z: float = 4.5,
    spike_guards: Sequence[int] = (6,),
    spike_min_steps: float = 4.0,
    min_steps: int = 3,
    min_step_days: int = 7,
) -> Forecast:
    """Forecast one supply. `now` must be in the time zone the days were cut in.

    `readings` / `span_h` default to what the days say (readings per day, covered hours).
    Levels read in steps (`DailyUse.resolution`) stay warming up until `min_steps` steps of
    use or `min_step_days` calendar days are seen.
    """
    n_readings = readings if readings is not None else sum([d.readings for d in daily_use])
    span = span_h if span_h is not None else 24.0 * sum([d.coverage for d in daily_use])
    if n_readings < min_readings:
        return _warming(f"not enough history: {n_readings} reading(s), at least {min_readings} needed")
    if span < min_span_h:
        return _warming(f"not enough history: {span:.0f} h of readings, at least {min_span_h:.0f} h needed")

    today = now.date()
    first = today - timedelta(days=window_days)
    days = [d for d in daily_use if first < d.day <= today and d.coverage >= _MIN_COVERAGE]
    keys = [d.day for d in days]
    if keys != sorted(keys):  # callers mostly pass them in order
        days.sort(key=_day)
    if not days:
        older = [d.day for d in daily_use if d.day <= first]
        if older:
            return _warming(f"not enough recent history: no use measured in the last {window_days} days "
                            f"(the last on {max(older).isoformat()})")
        return _warming("not enough history: no use measured yet (the level has not moved since "
                        "the readings started)")

    step = max((d.resolution for d in days if d.resolution is not None), default=None)
    if step is not None:
        # One step seen is anywhere from nothing to two steps of use (where the level sat
        # inside its first step is unknown), and the first step comes soonest when the
        # level started just above it: a rate from it can be many times the true one.
        seen = sum(d.percent for d in days)
        elapsed = (today - days[0].day).days
        if seen < min_steps * step - 1e-9 and elapsed < min_step_days:
            return _warming(f"not enough history: levels move in {step:g} % steps; need {min_steps} "
                            f"steps ({min_steps * step:g} %) of use or {min_step_days} days, "
                            f"seen {seen:.3g} % over {elapsed} day(s)")

    # per day, once for both baselines: rate (use / coverage), coverage, weekday, observed
    covs = [d.coverage for d in days]
    rows: _Rows = ([d.percent / c for d, c in zip(days, covs)], covs,
            [d.day.weekday() for d in days], [not d.interpolated for d in days])
    full = _baseline(*rows)
    quiet = [p < _QUIET_DAY * full[0] for p in full[1]] if full[0] > 0 else [False] * 7
    recent = _recent(days, today, spike_days, quiet)
    if len(days) - len(recent) >= 7:
        # a day can only equal a recent one if it has the same date: compare those alone
        recent_days = {d.day for d in recent}
        keep = [d.day not in recent_days or d not in recent for d in days]
        base = list(compress(days, keep))
        base_rows = _kept(rows, keep)
    else:
        base, base_rows = days, rows
    spike, ratio, recent_rate = False, None, None
    if recent and base is not days:
        level, profile, sigma, n = _baseline(*base_rows, spread=False)
        expected = sum(profile[d.day.weekday()] * d.coverage for d in recent)
        observed = sum(d.percent for d in recent)
        cov = sum(d.coverage for d in recent)
        ratio = observed / expected if expected > 0 else (math.inf if observed > 0 else None)
        step = max((d.resolution or 0.0) for d in recent)
        spike = (len(recent) >= 2 and ratio is not None and ratio >= spike_ratio_threshold
                 and (observed - expected) / cov >= spike_min_excess_pct
                 # a level read in steps: one step early or late is not a change of level
                 and observed - expected >= spike_min_steps * step
                 and _changed(days, rows, today, quiet, recent, base_rows, z=spike_z,
                              guards=spike_guards))
        if spike:
            recent_rate = observed / cov
            sigma = _baseline(*base_rows)[2]
        else:
            level, profile, sigma, n = full
    else:
        level, profile, sigma, n = full
    if ratio is not None and math.isinf(ratio):
        ratio = None

    grams_per_pct = _grams_per_percent(days)
    flat = _flat(profile)
    point_profile = profile
    rate = level
    if spike and recent_rate is not None and level > 0:
        point_profile = [p * recent_rate / level for p in profile]
        rate = recent_rate
    elif spike and recent_rate is not None:
        point_profile = [recent_rate] * 7
        rate = recent_rate
    base_fields = dict(
        daily_percent=rate, daily_grams=rate * grams_per_pct if grams_per_pct is not None else None,
        spike=spike, spike_ratio=ratio, baseline_daily_percent=level,
        weekday_profile=None if flat else tuple(profile), basis_days=len(base if spike else days),
    )
    if remaining is None:
        return Forecast("ok", "remaining level unknown: no days to empty", days_to_empty=None,
                        days_to_empty_low=None, days_to_empty_high=None, **base_fields)  # type: ignore[arg-type]
    if rate <= 0:
        what = "fill" if supply_class == SupplyClass.RECEPTACLE else "use"
        return Forecast("ok", f"no {what} measured over the last {len(days)} day(s)", days_to_empty=None,
                        days_to_empty_low=None, days_to_empty_high=None, **base_fields)  # type: ignore[arg-type]
    remaining = max(0.0, remaining)
    start = _start_of(now)
    point = _time_to_consume(remaining, point_profile, start)
    rel = sigma / level if level > 0 else 0.0

    def spread(horizon: float | None) -> float:
        h = max(1.0, horizon if horizon is not None else _MAX_DAYS)
        return _Z90 * rel * math.sqrt(1.0 / h + 1.0 / max(1, n)) + _DRIFT

    low = high = point
    for _ in range(2):
        up = 1 + spread(low)
        low = _time_to_consume(remaining, [p * up for p in point_profile], start)
        high_profile = profile if spike else point_profile
        down = max(0.05, 1 - spread(high))
        high = _time_to_consume(remaining, [p * down for p in high_profile], start)
    return Forecast(
        "ok", None, days_to_empty=point, days_to_empty_low=low, days_to_empty_high=high,
        empty_at=now + timedelta(days=point) if point is not None else None,
        **base_fields,  # type: ignore[arg-type]
    )


def _changed(days: list[DailyUse], rows: _Rows, today: date, quiet: list[bool],
             recent: list[DailyUse], base_rows: _Rows, *, z: float, guards: Sequence[int]) -> bool:
    """Whether the recent days are a change of level: against the baseline before them or,
    failing that, against the baseline before the last `guards` working days. A change
    that began a week or two ago has its first days in the plain baseline, where they
    raise the usual day and widen its spread until the test cannot see the change it is
    looking at; held out, they leave the days before the change to judge it by."""
    if _excess_z(recent, quiet, *base_rows, z=z) >= 0:
        return True
    for g in guards:
        held = _recent(days, today, g, quiet)
        if len(held) < g:  # not that many recent working days (a gap, a closure)
            continue
        held_days = {d.day for d in held}
        keep = [d.day not in held_days or d not in held for d in days]
        if _excess_z(recent, quiet, *_kept(rows, keep), z=z) >= 0:
            return True
    return False


def _kept(rows: _Rows, keep: list[bool]) -> _Rows:
    rates, covs, wds, seen = rows
    return (list(compress(rates, keep)), list(compress(covs, keep)), list(compress(wds, keep)),
            list(compress(seen, keep)))


def _recent(days: list[DailyUse], today: date, spike_days: int, quiet: list[bool]) -> list[DailyUse]:
    """The last observed, well-covered working days, if they are recent: a quiet weekday
    (`quiet`, Monday first) is passed over and lets the search reach a day further back,
    so a weekend neither hides a spike nor ends one."""
    out: list[DailyUse] = []
    reach = spike_days + 1
    for d in reversed(days):
        if (today - d.day).days > reach or len(out) == spike_days:
            break
        if quiet[d.day.weekday()]:
            reach += 1
            continue
        if not d.interpolated and d.coverage >= 0.5:
            out.append(d)
    return out


def _excess_z(recent: list[DailyUse], quiet: list[bool], rates: list[float], covs: list[float],
              wds: list[int], seen: list[bool], *, z: float) -> float:
    """How far the recent days' use is above the usual working day, in units of its own
    spread, less the `z` a noise-only series reaches that rarely (>= 0: a spike).

    Working days (weekdays not `quiet`) are taken as alike: a per-weekday mean from a few
    weeks is itself too noisy to judge one day against. The usual day is the mean rate of
    the observed baseline working days, a day beyond `_CLIP_SPREADS` robust spreads of
    their median counted as a median day (a past spike neither raises nor widens it);
    the spread is the standard deviation of their relative residuals (at least
    `_MIN_SPREAD`). Use varies in proportion to its level, so
    each recent day's excess is weighed by what was expected of it; no day counts for more
    spreads than the threshold, so it takes a change of level over several days, not one
    busy day. Allowed
    for: neighbouring days' likeness (a level read in whole percent spreads one step over
    days; lag-1 and lag-2 correlation, taken as at least 0), the usual day's own error,
    and a spread estimated from few days (`z` raised to Student's t for those days).
    """
    base = [r for r, wd, ok in zip(rates, wds, seen) if ok and not quiet[wd]]
    n = len(base)
    if n < _MIN_BASE_DAYS:
        return -z
    med = _median(base)
    if med <= 0:
        return -z
    rel = [r / med - 1.0 for r in base]
    # a day far out (a past spike) counts as a median day: it would widen the spread and,
    # with its neighbours, pass for likeness of days
    clip = _CLIP_SPREADS * max(_MIN_SPREAD, 1.4826 * _median([abs(r) for r in rel]))
    rel = [r if abs(r) <= clip else 0.0 for r in rel]
    mean = sum(rel) / n
    # the usual day is the mean of those days: a median of a few weeks strays half as
    # far again, and a low one made a noisy week look like a change
    usual = med * (1.0 + mean)
    if usual <= 0:
        return -z
    dev = [r - mean for r in rel]
    ss = sum(x * x for x in dev)
    spread = max(_MIN_SPREAD, math.sqrt(ss / (n - 1)) / (1.0 + mean))
    rho = [1.0] + [max(0.0, min(0.9, sum(dev[i] * dev[i + k] for i in range(n - k)) / ss))
                   if ss > 0 else 0.0 for k in (1, 2)]
    n_eff = max(2.0, n / (1 + 2 * rho[1] + 2 * rho[2]))
    df = n_eff - 1
    # Student's t quantile at the normal tail of `z` (Cornish-Fisher, two terms)
    t = z * (1 + (z * z + 1) / (4 * df) + (5 * z ** 4 + 16 * z * z + 3) / (96 * df * df))
    es = [usual * d.coverage for d in recent]
    num = sum(min(t, (d.percent - e) / (spread * e)) * e for d, e in zip(recent, es))
    var = sum(es[i] * es[j] * rho[abs(i - j)] if abs(i - j) <= 2 else 0.0
              for i in range(len(es)) for j in range(len(es)))
    var += sum(es) ** 2 / n_eff  # the usual day's own error
    return num / math.sqrt(var) - t


def _day(d: DailyUse) -> date:
    return d.day


def _baseline(rates: list[float], covs: list[float], wds: list[int], seen: list[bool], *,
              spread: bool = True) -> tuple[float, list[float], float, int]:
    """Level (% per day), weekday profile (Monday first), residual spread, days used.

    Per day: its rate (use / coverage), coverage, weekday, and whether it was observed
    (not interpolated over a gap). `spread` False: the spread is left out (nan), for a
    baseline whose spread is read only in a spike.
    """
    med = _median(rates)
    mad = _median([abs(r - med) for r in rates])
    cap = med + 5 * 1.4826 * mad if mad > 0 else max(3 * med, med + 1e-9)
    # min(r, cap), keeping r on a tie; most windows have no day above the cap
    wins = [cap if cap < r else r for r in rates] if cap < max(rates) else rates
    use = [w * c for w, c in zip(wins, covs)]
    level = sum(use) / sum(covs)
    by_wd: list[list[float]] = [[], [], [], [], [], [], []]
    use_wd, cov_wd = [0.0] * 7, [0.0] * 7
    for w, u, c, wd, observed in zip(wins, use, covs, wds, seen):
        use_wd[wd] += u
        cov_wd[wd] += c
        if observed:
            by_wd[wd].append(w)
    if min(map(len, by_wd)) >= 2:  # every weekday seen twice: two weeks' worth
        # The level is the mean of weekday means, so a window holding more Mondays than
        # Sundays does not tilt it; the shape comes from days actually observed.
        level = sum(u / c for u, c in zip(use_wd, cov_wd)) / 7
        means = [sum(v) / len(v) for v in by_wd]
        m = sum(means) / 7
        profile = [level * x / m for x in means] if m > 0 else [level] * 7
    else:
        profile = [level] * 7
    if not spread:
        return level, profile, math.nan, len(rates)
    resid = [w - profile[wd] for w, wd, observed in zip(wins, wds, seen) if observed]
    if len(resid) >= 2:
        mean_r = sum(resid) / len(resid)
        sigma = math.sqrt(sum([(r - mean_r) ** 2 for r in resid]) / (len(resid) - 1))
    else:
        sigma = level
    return level, profile, sigma, len(rates)


def _flat(profile: list[float]) -> bool:
    """Whether every weekday expects the same use (to 1e-9 %: a profile scaled from equal
    means may differ in its last bits). Rounding is slow: equal values need none, and the
    first weekday that differs ends the search."""
    first = profile[0]
    if first == first and profile.count(first) == len(profile):
        return True
    r = round(first, 9)
    return all(round(p, 9) == r for p in profile)


def _grams_per_percent(days: list[DailyUse]) -> float | None:
    pct = grams = 0.0
    known = 0
    for d in days:
        if d.grams is not None:
            known += 1
            pct += d.percent
            grams += d.grams
    if known * 2 < len(days) or pct <= 0:
        return None
    return grams / pct


def _start_of(now: datetime) -> tuple[float, int]:
    """The share of today left at `now`, and today's weekday (Monday = 0)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return 1.0 - (now - midnight).total_seconds() / 86400.0, now.weekday()


def _time_to_consume(amount: float, profile: Sequence[float], start: tuple[float, int]) -> float | None:
    """Days from now until `amount` percent is used at `profile` (per weekday); `start`
    says where in its day now is (`_start_of`)."""
    weekly = sum(profile)
    if weekly <= 0:
        return None
    if amount <= 0:
        return 0.0
    rest, wd = start
    today_use = profile[wd] * rest
    if amount <= today_use:
        return amount / profile[wd]
    amount -= today_use
    t = rest
    weeks = math.floor(amount / weekly)
    if weeks > 0:
        if 7 * weeks > _MAX_DAYS:
            return _MAX_DAYS
        amount -= weeks * weekly
        t += 7 * weeks
    for _ in range(15):
        wd = (wd + 1) % 7
        p = profile[wd]
        if amount <= p and p > 0:
            return min(_MAX_DAYS, t + amount / p)
        amount -= p
        t += 1.0
    return min(_MAX_DAYS, t)


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    if n == 0:
        return 0.0
    mid = n // 2
    return s[mid] if n % 2 else (s[mid - 1] + s[mid]) / 2
