"""Forecast: days to empty from daily use; warm-up, weekdays, gaps, spikes, held-back tails."""

from __future__ import annotations

import math
import random
import statistics
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asr_agent.domain.catalog import load_catalog
from asr_agent.domain.consumption import DailyUse, analyze
from asr_agent.domain.forecast import forecast
from asr_core.records import LevelState, Sample, SupplyClass, SupplyType, SupplyUnit
from tests.supply_series import START, simulate

MONDAY = date(2026, 1, 5)
CATALOG = load_catalog()


def days_of(values: list[float], *, first: date = MONDAY, **kw) -> list[DailyUse]:
    return [DailyUse(first + timedelta(days=i), v, **kw) for i, v in enumerate(values)]


def noon_after(days: list[DailyUse]) -> datetime:
    return datetime.combine(days[-1].day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)


# --- warm-up -------------------------------------------------------------------------------


def test_one_reading_is_warming_up_with_the_reason() -> None:
    f = forecast([DailyUse(MONDAY, 0.0, readings=1, coverage=0.01)], remaining=80, now=datetime(2026, 1, 5, 9, tzinfo=UTC))
    assert f.status == "warming_up" and f.days_to_empty is None
    assert f.reason == "not enough history: 1 reading(s), at least 2 needed"


def test_less_than_the_minimum_span_is_warming_up() -> None:
    f = forecast([DailyUse(MONDAY, 2.0, coverage=0.5, readings=12)], remaining=80,
                 now=datetime(2026, 1, 5, 13, tzinfo=UTC), span_h=12)
    assert f.status == "warming_up" and "12 h of readings, at least 24 h needed" in (f.reason or "")
    assert forecast([DailyUse(MONDAY, 2.0, coverage=0.5, readings=12)], remaining=80,
                    now=datetime(2026, 1, 5, 13, tzinfo=UTC), span_h=12, min_span_h=6).status == "ok"


def test_no_measured_use_yet_is_warming_up() -> None:
    f = forecast([], remaining=80, now=datetime(2026, 1, 9, tzinfo=UTC), readings=30, span_h=96)
    assert f.status == "warming_up" and "no use measured" in (f.reason or "")


def _whole_percent(start_pct: float, pct_per_day: float, hours: int) -> list[Sample]:
    """Hourly whole-percent readings (the printer rounds up) of a steadily used supply."""
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    out = []
    for h in range(hours + 1):
        level = math.ceil(start_pct - pct_per_day * h / 24)
        out.append(Sample(start + timedelta(hours=h), level, 100, SupplyUnit.PERCENT, LevelState.OK, float(level)))
    return out


def _forecast_of(samples: list[Sample]):
    a = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED)
    return a, forecast(a.daily, remaining=a.remaining_percent, now=samples[-1].taken_at,
                       readings=a.readings, span_h=a.span_h)


def test_one_whole_percent_step_on_the_first_day_is_warming_up_not_an_order() -> None:
    # 40.15 % shows as 41 and drops to 40 after 7 h: the first step is 0.15 % of use, but
    # read as a whole step it makes 3 %/day of a supply used at 0.5 %/day (80 days left).
    a, f = _forecast_of(_whole_percent(40.15, 0.5, 30))
    assert a.remaining_percent == 40 and 40 / 0.5 > 60
    assert all(d.resolution == 1.0 for d in a.daily)
    assert f.status == "warming_up" and f.days_to_empty_low is None and f.daily_percent is None
    assert f.reason == ("not enough history: levels move in 1 % steps; need 3 steps (3 %) of use "
                        "or 7 days, seen 1 % over 1 day(s)")


def test_whole_percent_steps_forecast_once_enough_are_seen() -> None:
    _, f = _forecast_of(_whole_percent(40.15, 0.5, 5 * 24))
    assert f.status == "ok" and f.days_to_empty_low is not None and f.days_to_empty_low > 21
    assert f.daily_percent is not None and 0.4 < f.daily_percent < 0.75
    # a fast supply shows its steps within the first day and forecasts at once
    _, fast = _forecast_of(_whole_percent(30.15, 6.0, 24))
    assert fast.status == "ok" and fast.days_to_empty_low is not None and fast.days_to_empty_low < 5


def test_a_slow_stepped_supply_forecasts_after_the_days_allowed() -> None:
    days = days_of([0.0] * 6 + [10.0], resolution=10.0)
    warm = forecast(days, remaining=60, now=noon_after(days) - timedelta(days=1))
    assert warm.status == "warming_up" and "levels move in 10 % steps" in (warm.reason or "")
    assert forecast(days, remaining=60, now=noon_after(days)).status == "ok"
    # fine-grained days (no resolution) are not held back
    assert forecast(days_of([0.0] * 6 + [10.0]), remaining=60,
                    now=noon_after(days) - timedelta(days=1)).status == "ok"


# --- the number ----------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(rate=st.floats(0.05, 20), remaining=st.floats(0, 100), hour=st.integers(0, 23), n=st.integers(2, 80))
def test_constant_use_gives_remaining_over_rate(rate: float, remaining: float, hour: int, n: int) -> None:
    days = days_of([rate] * n)
    now = datetime.combine(days[-1].day + timedelta(days=1), datetime.min.time(), tzinfo=UTC) + timedelta(hours=hour)
    f = forecast(days, remaining=remaining, now=now)
    assert f.status == "ok" and f.daily_percent == pytest.approx(rate)
    assert f.days_to_empty == pytest.approx(min(3650, remaining / rate), rel=1e-6, abs=1e-6)
    assert f.days_to_empty_low <= f.days_to_empty <= f.days_to_empty_high  # type: ignore[operator]
    assert not f.spike


def test_weekly_pattern_is_learned_and_weekends_are_slow() -> None:
    week = [3, 3, 3, 3, 3, 0.2, 0.2]
    f = forecast(days_of(week * 6), remaining=15.0, now=datetime(2026, 2, 16, 0, tzinfo=UTC))  # a Monday
    assert f.weekday_profile == pytest.approx(tuple(week))
    assert f.daily_percent == pytest.approx(sum(week) / 7)
    assert f.days_to_empty == pytest.approx(5.0)  # Mon..Fri uses exactly 15
    g = forecast(days_of(week * 6), remaining=15.4, now=datetime(2026, 2, 16, 0, tzinfo=UTC))
    assert g.days_to_empty == pytest.approx(7.0)  # the weekend adds two slow days


def test_gap_days_carry_use_and_are_not_zero() -> None:
    days = days_of([2.0] * 20) + days_of([2.0] * 5, first=MONDAY + timedelta(days=20), interpolated=True,
                                         readings=0) + days_of([2.0] * 5, first=MONDAY + timedelta(days=25))
    f = forecast(days, remaining=20, now=noon_after(days))
    assert f.daily_percent == pytest.approx(2.0) and f.days_to_empty == pytest.approx(10.0)


def test_a_single_spike_day_does_not_move_the_baseline() -> None:
    values = [2.0] * 40
    values[20] = 30.0
    f = forecast(days_of(values), remaining=20, now=noon_after(days_of(values)))
    assert f.daily_percent == pytest.approx(2.0, rel=0.1) and not f.spike


def test_recent_spike_is_flagged_and_shortens_the_forecast() -> None:
    calm = days_of([2.0] * 30)
    spiky = days_of([2.0] * 27 + [7.0] * 3)
    now = noon_after(calm)
    a, b = forecast(calm, remaining=40, now=now), forecast(spiky, remaining=40, now=now)
    assert b.spike and b.spike_ratio == pytest.approx(3.5)
    assert b.days_to_empty < a.days_to_empty / 3  # type: ignore[operator]
    assert b.baseline_daily_percent == pytest.approx(2.0)
    assert b.days_to_empty_high == pytest.approx(a.days_to_empty_high, rel=0.05)  # the baseline end


def test_a_receptacle_forecasts_days_to_full() -> None:
    f = forecast(days_of([1.0] * 20), remaining=30, now=noon_after(days_of([1.0] * 20)),
                 supply_class=SupplyClass.RECEPTACLE)
    assert f.days_to_empty == pytest.approx(30.0)


def test_no_use_gives_no_days_and_says_why() -> None:
    f = forecast(days_of([0.0] * 20), remaining=50, now=noon_after(days_of([0.0] * 20)))
    assert f.status == "ok" and f.days_to_empty is None and "no use measured" in (f.reason or "")


def test_unknown_remaining_gives_a_rate_but_no_days() -> None:
    f = forecast(days_of([2.0] * 20), remaining=None, now=noon_after(days_of([2.0] * 20)))
    assert f.daily_percent == pytest.approx(2.0) and f.days_to_empty is None
    assert f.reason == "remaining level unknown: no days to empty"


def test_daily_grams_follow_the_grams_of_the_days() -> None:
    days = days_of([2.0] * 20, grams=10.6)
    assert forecast(days, remaining=50, now=noon_after(days)).daily_grams == pytest.approx(10.6)
    assert forecast(days_of([2.0] * 20), remaining=50, now=noon_after(days)).daily_grams is None


def test_forecast_is_fast_enough_for_fleet_simulation() -> None:
    import time

    days = days_of([3, 3, 3, 3, 3, 0.2, 0.2] * 8)
    now = noon_after(days)
    t = time.perf_counter()
    for _ in range(2000):
        forecast(days, remaining=40, now=now)
    per_call = (time.perf_counter() - t) / 2000
    assert per_call < 0.002, f"{per_call * 1e3:.2f} ms per forecast"


# --- held-back tails of generated series ---------------------------------------------------


def _held_back(kind: str, seed: int) -> tuple[float | None, float | None, float | None, float | None]:
    """Simulate 56-76 days of a toner, forecast at a random cut, compare with the true tail."""
    rng = random.Random(seed)
    base = rng.uniform(5, 40)  # grams per working day, 530 g cartridge
    n = 56 + 220
    use = []
    for k in range(n):
        d = START.date() + timedelta(days=k)
        m = base if kind == "constant" or d.weekday() < 5 else base * 0.1
        m *= rng.lognormvariate(0, 0.3)
        if kind == "spikes" and rng.random() < 0.05:
            m *= 4
        use.append(m)
    sleep = []
    if kind == "gaps":
        for _ in range(4):
            a = START + timedelta(days=rng.randint(0, 50), hours=rng.randint(0, 23))
            sleep.append((a, a + timedelta(hours=rng.randint(30, 96))))
    cut = START + timedelta(days=56 + rng.randint(0, 20), hours=rng.randint(0, 23))
    samples, truth = simulate(use, days=n, sleep=sleep, poll_hours=3.0)
    hist = [s for s in samples if s.taken_at <= cut]
    a = analyze(hist, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED, catalog=CATALOG)
    f = forecast(a.daily, remaining=a.remaining_percent, now=cut, readings=a.readings, span_h=a.span_h)
    last = hist[-1].taken_at
    true = truth.days_until_used(last, truth.remaining_g_at[last])
    if true is not None:
        true -= (cut - last).total_seconds() / 86400
    return true, f.days_to_empty, f.days_to_empty_low, f.days_to_empty_high


# Bounds sit above the figures measured when this was written (in each docstring), with
# room for the run-to-run noise of 60 series; they fail on a real regression.
@pytest.mark.slow
@pytest.mark.parametrize(("kind", "max_median_rel", "max_p90_rel", "min_coverage"), [
    ("constant", 0.10, 0.25, 0.85),
    ("weekly", 0.10, 0.30, 0.85),
    ("spikes", 0.20, 0.55, 0.75),
    ("gaps", 0.10, 0.30, 0.85),
])
def test_held_back_tail_error_is_within_bounds(kind: str, max_median_rel: float, max_p90_rel: float,
                                               min_coverage: float) -> None:
    """60 generated toners per kind (5-40 g per working day, daily noise ×lognormal(0, 0.3),
    polled every 3 h, 56-76 days of history), forecast at a random hour, compared with when
    the held-back tail actually empties the cartridge. Relative errors on horizons ≥ 7 days.

    Measured (this test's series): median / p90 relative error, 90 % interval coverage:
      constant 0.058 / 0.150, 0.95 · weekly 0.055 / 0.175, 0.97 ·
      spikes 0.113 / 0.382, 0.92 (future spikes are unpredictable) · gaps 0.042 / 0.187, 0.97
    (150 series per kind polled hourly gave 0.057/0.131/0.97, 0.052/0.158/0.96,
    0.122/0.380/0.89, 0.043/0.155/0.96; median absolute error 0.7 / 0.9 / 1.7 / 0.7 days.)
    """
    n, median, p90, coverage = _tail_errors(kind)
    assert n >= 55
    assert median <= max_median_rel, f"{kind}: median relative error {median:.3f}"
    assert p90 <= max_p90_rel, f"{kind}: p90 relative error {p90:.3f}"
    assert coverage >= min_coverage, f"{kind}: interval coverage {coverage:.2f}"


def _tail_errors(kind: str) -> tuple[int, float, float, float]:
    """Over 60 seeds: series used, median and p90 relative error (horizons >= 7 days), and
    the share of true empty dates inside the 90 % interval."""
    rel, inside, n = [], 0, 0
    for seed in range(60):
        true, point, low, high = _held_back(kind, seed)
        if true is None or point is None:
            continue
        n += 1
        inside += low <= true <= high  # type: ignore[operator]
        if true >= 7:
            rel.append(abs(point - true) / true)
    rel.sort()
    return n, statistics.median(rel), rel[int(0.9 * len(rel))], inside / n


def _report() -> None:  # pragma: no cover - `python -m tests.test_forecast` refreshes the figures
    for kind in ("constant", "weekly", "spikes", "gaps"):
        n, median, p90, coverage = _tail_errors(kind)
        print(kind, n, f"{median:.3f} / {p90:.3f}, {coverage:.2f}")




# --- the spike rule (docs/spike-rule.md) ---------------------------------------------------

OFFICE_WEEK = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0)


def _office_days(seed: int, n: int, *, noise: float, spike: tuple[int, int, float] | None = None,
                 ) -> list[DailyUse]:
    """`n` days of an office supply at 2 % a working day, each day × N(1, noise) (cut at
    0, as the fleet simulator draws it); `spike`: (first day, days, factor)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        day = MONDAY + timedelta(days=i)
        use = 2.0 * OFFICE_WEEK[day.weekday()] * max(0.0, rng.gauss(1.0, noise))
        if spike is not None and spike[0] <= i < spike[0] + spike[1]:
            use *= spike[2]
        out.append(DailyUse(day, use))
    return out


def _spike_days(days: list[DailyUse], first: int) -> list[int]:
    """Indexes of the days from `first` on whose end-of-day forecast, over the 28 days
    before it (the simulator's window), says spike."""
    out = []
    for i in range(first, len(days)):
        now = datetime.combine(days[i].day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
        if forecast(days[i - 27:i + 1], remaining=50, now=now, window_days=28).spike:
            out.append(i)
    return out


def _episodes(flagged: list[int]) -> int:
    return sum(1 for k, i in enumerate(flagged) if k == 0 or flagged[k - 1] != i - 1)


def test_noise_alone_almost_never_makes_a_spike() -> None:
    """30 supply-years of daily noise (15 at CV 0.3, 15 at 0.5), no change in level, a
    forecast at the end of every day: at most one spike episode in all of them (the rule's
    measured rate is in docs/spike-rule.md; the three-day ratio rule it replaced started
    155 episodes here)."""
    episodes = 0
    for seed in range(30):
        days = _office_days(seed, 28 + 365, noise=0.3 if seed % 2 else 0.5)
        episodes += _episodes(_spike_days(days, 28))
    assert episodes <= 1, f"{episodes} spike episodes on noise alone in 30 supply-years"


def test_a_chance_run_of_busy_ordinary_days_in_the_baseline_is_not_a_past_spike() -> None:
    """Noise alone (CV 0.5), four of the five spike episodes the first version of the
    rule started in 150 supply-years: the baseline's busiest ordinary days lay beyond
    three robust spreads of a middle tight by chance; taken for past spikes, they left the
    usual day (a median, itself low by chance) and its spread too low, and three ordinary
    busy days made a spike."""
    for seed, i in ((10_017, 147), (10_061, 352), (10_074, 326), (10_099, 274)):
        days = _office_days(seed, 28 + 365, noise=0.5)
        assert _spike_days(days[:i + 1], i) == [], seed


def test_one_busy_day_is_not_a_spike() -> None:
    days = _office_days(7, 60, noise=0.3)
    last = next(i for i in range(59, 0, -1) if days[i].day.weekday() == 2)  # a Wednesday
    days[last] = DailyUse(days[last].day, 6 * 2.0)  # six times a usual day
    f = forecast(days[:last + 1], remaining=50, now=noon_after(days[:last + 1]) - timedelta(hours=13),
                 window_days=28)
    assert not f.spike and f.spike_ratio is not None and f.spike_ratio > 2


def test_a_change_in_level_is_a_spike_within_three_working_days() -> None:
    """Use tripled for two weeks from a Monday, 10 seeds: flagged in every one, by the
    third working day in 9 (in the tenth the spike's first days drew low: 3.8, 2.4, 1.2
    and 2.2 times a usual day), and the forecast then runs at the higher rate."""
    first = 28 + 7 * 4  # a Monday
    early = 0
    for seed in range(10):
        days = _office_days(seed, first + 14, noise=0.3, spike=(first, 14, 3.0))
        flagged = _spike_days(days, first)
        assert flagged, seed
        early += flagged[0] <= first + 2
        i = flagged[0]
        now = datetime.combine(days[i].day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
        f = forecast(days[i - 27:i + 1], remaining=50, now=now, window_days=28)
        assert f.spike and f.daily_percent > 2 * f.baseline_daily_percent  # type: ignore[operator]
    assert early >= 9


def test_a_tripled_fortnight_is_flagged_before_it_runs_the_supply_out() -> None:
    """Use tripled for two weeks from a Monday (the ten seeds above) on a supply with 60 %
    left, six weeks at its usual rate: flagged in every seed while the supply still holds
    some, and the forecast then runs at the tripled rate, not the usual one. In seed 2 the
    spike's first days drew low (3.8, 2.4, 1.2, 2.2 and 2.8 times a usual day): by its
    second Monday they sit in the plain baseline and only the baseline held back six
    working days still sees the change (without it the fortnight goes unflagged)."""
    first, left = 28 + 7 * 4, 60.0
    for seed in range(10):
        days = _office_days(seed, first + 14, noise=0.3, spike=(first, 14, 3.0))
        flagged = _spike_days(days, first)
        assert flagged, f"seed {seed}: the tripled fortnight was never flagged"
        i = flagged[0]
        remaining = left - sum(d.percent for d in days[first:i + 1])
        assert remaining > 0, f"seed {seed}: flagged on day {i - first}, after the supply ran out"
        now = datetime.combine(days[i].day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=23)
        f = forecast(days[i - 27:i + 1], remaining=remaining, now=now, window_days=28)
        usual = forecast(days[i - 27:i + 1], remaining=remaining, now=now, window_days=28,
                         spike_z=math.inf)
        assert f.spike and not usual.spike
        assert f.days_to_empty < 0.6 * usual.days_to_empty, seed  # type: ignore[operator]


@pytest.mark.slow
def test_noise_at_half_the_mean_day_stays_within_the_documented_rate() -> None:
    """CV 0.5, no change in level: the 300 supply-years docs/spike-rule.md measures the
    rule's false-alarm rate on, held to its 0.010 episodes per supply-year (3)."""
    episodes = sum(_episodes(_spike_days(_office_days(10_000 + seed, 28 + 365, noise=0.5), 28))
                   for seed in range(300))
    assert episodes <= 3, f"{episodes} spike episodes in 300 supply-years at CV 0.5"


def _spike_report(years: int = 300) -> None:  # pragma: no cover - the figures of docs/spike-rule.md
    """Spike episodes per supply-year on noise alone, and how soon a change of level is
    flagged (`python -m tests.test_forecast spikes`)."""
    for noise in (0.3, 0.5):
        episodes = sum(_episodes(_spike_days(_office_days(10_000 + seed, 28 + 365, noise=noise), 28))
                       for seed in range(years))
        print(f"noise {noise}: {episodes} episodes in {years} supply-years, "
              f"{episodes / years:.4f} per supply-year")
    first = 28 + 7 * 4
    for factor in (2.0, 3.0, 4.0):
        for length in (3, 5, 10):
            delays = []
            for seed in range(50):
                days = _office_days(seed, first + length + 5, noise=0.3,
                                    spike=(first + seed % 5, length, factor))
                flagged = [i for i in _spike_days(days, first)
                           if first + seed % 5 <= i < first + seed % 5 + length + 5]
                delays.append(flagged[0] - first - seed % 5 if flagged else None)
            caught = [d for d in delays if d is not None]
            print(f"factor {factor:g} for {length} days from a working day, noise 0.3: "
                  f"{len(caught)}/50 flagged, median day {statistics.median(caught) if caught else '-'}")


if __name__ == "__main__":
    import sys

    _spike_report() if sys.argv[1:] == ["spikes"] else _report()
