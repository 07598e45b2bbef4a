"""Consumption: generated supply series (known use in) → lives, grams, flags, daily use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr_agent.domain.catalog import CatalogEntry, SupplyCatalog, load_catalog
from asr_agent.domain.consumption import analyze
from asr_core.codes import Code
from asr_core.records import LevelState, Sample, SupplyClass, SupplyType, SupplyUnit
from tests.supply_series import START, simulate, weekly

CATALOG = load_catalog()
TONER = dict(supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED)


def total(truth) -> float:
    return sum(truth.use_by_day.values())


def pct_sample(at: datetime, pct: float | None, *, serial: str | None = None, pages: int | None = None,
               state: LevelState = LevelState.OK, part: str | None = "006R01509") -> Sample:
    level = None if pct is None else int(pct)
    return Sample(at, level, 100, SupplyUnit.PERCENT, state, pct, serial, part, pages)


# --- grams and their basis -------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grams=st.floats(2.0, 40.0), poll=st.sampled_from([0.5, 1.0, 4.0, 24.0]))
def test_tenths_of_grams_give_measured_grams(grams: float, poll: float) -> None:
    samples, truth = simulate(lambda d: grams, days=10, poll_hours=poll)  # < 530 g: one cartridge
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.estimate == "level" and a.grams_basis == "measured"
    # All use up to the last poll is seen, to the 0.1 g resolution of the first and last reading.
    used_to_last = 530.0 - truth.remaining_g_at[samples[-1].taken_at]
    assert a.grams_used == pytest.approx(used_to_last, abs=0.2)


def test_percent_with_a_catalogued_part_gives_catalog_grams() -> None:
    samples, truth = simulate(lambda d: 10.6, days=20, report="percent")  # 2 % a day of 530 g
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.grams_basis == "catalog" and a.nominal_grams == 530.0
    assert a.grams_used == pytest.approx(total(truth), rel=0.03)


def test_percent_without_a_known_part_gives_no_grams() -> None:
    samples, _ = simulate(lambda d: 10.6, days=10, report="percent", part_number="UNKNOWN-1")
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.percent_used == pytest.approx(20.0, abs=1.5)
    assert a.grams_used is None and a.grams_basis is None
    assert all(d.grams is None for d in a.daily)


# --- lifecycles and flags --------------------------------------------------------------


def test_replacement_at_empty_starts_a_new_life_without_a_flag() -> None:
    samples, truth = simulate(lambda d: 60.0, days=12)  # 530 g lasts ~9 days
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert len(a.lives) == 2 and len(truth.replacements) == 1
    first, second = a.lives
    assert first.removed_at == truth.replacements[0] and first.replaced_because == "level_jump"
    assert not first.premature and not [f for f in a.flags if f.kind == Code.PREMATURE_REPLACEMENT]
    assert first.grams_used == pytest.approx(530.0, abs=12.0)  # less what the last hour used
    assert second.removed_at is None


@given(at_day=st.integers(2, 7), hour=st.integers(9, 17))
@settings(max_examples=15, deadline=None)
def test_premature_replacement_is_flagged_with_the_grams_thrown_away(at_day: int, hour: int) -> None:
    """Without a cartridge serial a replacement is seen as a jump of ≥ 20 points (here ≥ 23)."""
    when = START + timedelta(days=at_day, hours=hour)
    samples, truth = simulate(lambda d: 60.0, days=8, premature_at=[when])
    a = analyze(samples, **TONER, catalog=CATALOG)
    first = a.lives[0]
    left = truth.remaining_g_at[max(t for t in truth.remaining_g_at if t < when)]
    assert first.premature
    assert first.grams_wasted == pytest.approx(left, abs=0.2)
    [flag] = [f for f in a.flags if f.kind == Code.PREMATURE_REPLACEMENT]
    assert flag.at == when and flag.grams == first.grams_wasted


def test_premature_threshold_is_configurable() -> None:
    samples, _ = simulate(lambda d: 60.0, days=9, premature_at=[START + timedelta(days=7, hours=12)])
    left_pct = analyze(samples, **TONER, catalog=CATALOG).lives[0].level_at_removal
    assert left_pct is not None and 15 < left_pct < 30
    assert not analyze(samples, **TONER, catalog=CATALOG, premature_threshold_pct=40).lives[0].premature


def test_a_new_cartridge_serial_is_a_replacement_even_without_a_level_jump() -> None:
    t = START
    samples = [pct_sample(t, 3, serial="A"), pct_sample(t + timedelta(hours=1), 3, serial="B")]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert [life.cartridge_serial for life in a.lives] == ["A", "B"]
    assert a.lives[0].replaced_because == "serial_change"


def test_level_up_without_replacement_is_flagged_and_keeps_one_life() -> None:
    t = START
    samples = [pct_sample(t, 50), pct_sample(t + timedelta(hours=1), 45), pct_sample(t + timedelta(hours=2), 52),
               pct_sample(t + timedelta(hours=3), 50)]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert len(a.lives) == 1
    assert [f.kind for f in a.flags] == [Code.LEVEL_UP_WITHOUT_REPLACEMENT]
    assert a.percent_used == pytest.approx(5 + 2)


def test_same_serial_with_a_big_jump_is_not_a_replacement() -> None:
    t = START
    samples = [pct_sample(t, 10, serial="A"), pct_sample(t + timedelta(hours=1), 90, serial="A")]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert len(a.lives) == 1 and a.flags[0].kind == Code.LEVEL_UP_WITHOUT_REPLACEMENT


def test_counter_reset_is_flagged_and_its_interval_ignored() -> None:
    t = START
    samples = [pct_sample(t + timedelta(hours=h), None, state=LevelState.SOME_REMAINING, pages=p)
               for h, p in enumerate([1000, 1100, 50, 150])]
    cat = SupplyCatalog({"P1": CatalogEntry("P1", yield_pages=1000, nominal_grams=100)})
    a = analyze([Sample(s.taken_at, None, None, None, s.level_state, None, None, "P1", s.page_count)
                 for s in samples], **TONER, catalog=cat)
    assert [f.kind for f in a.flags] == [Code.COUNTER_RESET]
    assert a.percent_used == pytest.approx(20.0)  # 200 pages of a 1000-page part, the reset skipped


def test_emptied_waste_bottle_is_a_new_life() -> None:
    t = START
    levels = [60, 50, 40, 8, 100, 95]  # remaining space, in percent
    samples = [pct_sample(t + timedelta(days=i), p, part="008R13061") for i, p in enumerate(levels)]
    a = analyze(samples, supply_type=SupplyType.WASTE_TONER, supply_class=SupplyClass.RECEPTACLE, catalog=CATALOG)
    assert len(a.lives) == 2 and not a.lives[0].premature and a.lives[0].grams_wasted is None
    assert a.percent_used == pytest.approx(52 + 5)


# --- coarse reporters and -3 -----------------------------------------------------------


@pytest.mark.parametrize("report", ["coarse10", "coarse25"])
def test_coarse_steps_learn_grams_per_page_from_a_completed_cartridge(report: str) -> None:
    samples, truth = simulate(weekly(40.0, 4.0), days=40, report=report)  # ~2 cartridges
    assert truth.replacements
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.coarse and a.estimate == "page_counter_learned" and a.grams_basis == "page_counter"
    # 0.02 g/page in the simulation; learnt from coarse steps, so within 15 %.
    assert a.grams_per_page == pytest.approx(0.02, rel=0.15)
    weekday = [d for d in a.daily if d.day.weekday() < 5 and d.coverage == 1.0]
    weekend = [d for d in a.daily if d.day.weekday() >= 5 and d.coverage == 1.0]
    assert sum(d.grams for d in weekday) / len(weekday) == pytest.approx(40.0, rel=0.15)  # type: ignore[misc]
    assert sum(d.grams for d in weekend) / len(weekend) < 8.0  # type: ignore[misc]


def test_coarse_steps_before_any_completed_cartridge_use_the_catalog_yield() -> None:
    samples, truth = simulate(lambda d: 20.0, days=10, report="coarse25")
    assert not truth.replacements
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.estimate == "page_counter_catalog_yield"
    assert a.percent_per_page == pytest.approx(100 / 26000)
    assert a.remaining_estimated and a.remaining_percent is not None


def test_coarse_steps_without_a_page_counter_are_spread_between_steps() -> None:
    samples, _ = simulate(lambda d: 26.5, days=10, report="coarse10")  # 5 % a day
    samples = [Sample(s.taken_at, s.level, s.max_capacity, s.unit, s.level_state, s.remaining_percent,
                      None, s.part_number, None) for s in samples]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.estimate == "level_coarse"
    full = [d for d in a.daily if d.coverage == 1.0]
    assert sum(d.percent for d in full) / len(full) == pytest.approx(5.0, rel=0.1)


def test_some_remaining_only_is_estimated_from_pages_and_learned_after_a_replacement() -> None:
    samples, truth = simulate(lambda d: 60.0, days=20, report="some_remaining", serials=True)
    assert len(truth.replacements) == 2
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.estimate == "page_counter_learned" and a.remaining_estimated
    assert a.percent_per_page == pytest.approx(0.02 / 530 * 100, rel=0.05)
    true_left = 100 * truth.remaining_g_at[samples[-1].taken_at] / 530
    assert a.remaining_percent == pytest.approx(true_left, abs=5.0)


def test_some_remaining_without_pages_or_catalog_is_unknown_not_zero() -> None:
    samples, _ = simulate(lambda d: 20.0, days=5, report="some_remaining", part_number=None)
    samples = [Sample(s.taken_at, None, None, None, s.level_state, None) for s in samples]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert (a.estimate, a.percent_used, a.grams_used, a.remaining_percent) == (None, None, None, None)
    assert a.daily == ()


# --- daily series ----------------------------------------------------------------------


def test_a_sleeping_printer_gap_is_spread_over_its_days_not_zero() -> None:
    gap = (START + timedelta(days=3, hours=18), START + timedelta(days=7, hours=7))
    samples, truth = simulate(lambda d: 20.0, days=10, sleep=[gap])
    a = analyze(samples, **TONER, catalog=CATALOG)
    inside = [d for d in a.daily if d.interpolated]
    assert [d.day for d in inside] == [(START + timedelta(days=k)).date() for k in (4, 5, 6)]
    # Spread by time over the gap (evenings included), so each day gets a share close to 20 g.
    assert all(d.grams == pytest.approx(20.0, rel=0.2) for d in inside)
    assert sum(d.grams for d in a.daily) == pytest.approx(a.grams_used)  # type: ignore[misc]


def test_days_are_cut_in_the_given_time_zone() -> None:
    from zoneinfo import ZoneInfo

    samples, _ = simulate(lambda d: 20.0, days=3)
    tokyo = analyze(samples, **TONER, catalog=CATALOG, tz=ZoneInfo("Asia/Tokyo"))
    utc = analyze(samples, **TONER, catalog=CATALOG)
    assert tokyo.daily[0].day != utc.daily[0].day or tokyo.daily[0].coverage != utc.daily[0].coverage


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24 * 30), st.one_of(st.none(), st.floats(0, 100)),
                          st.one_of(st.none(), st.integers(0, 10**6)), st.sampled_from([None, "A", "B"])),
                min_size=0, max_size=40))
def test_any_series_gives_consistent_non_negative_results(rows) -> None:
    samples = [pct_sample(START + timedelta(hours=h), p, pages=pg, serial=s,
                          state=LevelState.OK if p is not None else LevelState.SOME_REMAINING)
               for h, p, pg, s in rows]
    a = analyze(samples, **TONER, catalog=CATALOG)
    assert a.percent_used is None or a.percent_used >= 0
    assert all(0 < d.coverage <= 1 and d.percent >= 0 for d in a.daily)
    if a.percent_used is not None and a.daily:
        assert sum(d.percent for d in a.daily) == pytest.approx(a.percent_used, abs=1e-6)
    assert all(life.installed_at <= life.last_seen_at for life in a.lives)
    assert a.remaining_percent is None or 0 <= a.remaining_percent <= 100


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        analyze([pct_sample(datetime(2026, 1, 1), 50)], **TONER)


def test_analysis_is_fast_enough_for_fleet_simulation(benchmark=None) -> None:
    import time

    samples, _ = simulate(weekly(20, 2), days=56, poll_hours=24)
    t = time.perf_counter()
    for _ in range(200):
        analyze(samples, **TONER, catalog=CATALOG)
    per_call = (time.perf_counter() - t) / 200
    assert per_call < 0.01, f"{per_call * 1000:.1f} ms per analysis of 56 daily samples"


_ = UTC


# --- supply catalog ----------------------------------------------------------------------


def test_builtin_catalog_knows_the_xerox_parts_seen_in_real_walks() -> None:
    for part in ("006R01509", "006R01510", "006R01511", "006R01512", "013R00662", "008R13061"):
        assert CATALOG.get(part) is not None, part
    assert CATALOG.get(" 006r01509 ").nominal_grams == 530.0  # type: ignore[union-attr]


def test_user_catalog_overrides_field_by_field(tmp_path) -> None:
    user = tmp_path / "parts.yaml"
    user.write_text("parts:\n  006R01509:\n    nominal_grams: 600\n  ABC-1:\n    type: toner\n    yield_pages: 3000\n")
    cat = load_catalog(user)
    assert (cat["006R01509"].nominal_grams, cat["006R01509"].yield_pages) == (600.0, 26000)
    assert cat["ABC-1"].type == SupplyType.TONER and cat["ABC-1"].nominal_grams is None


def test_catalog_errors_name_file_line_and_key(tmp_path) -> None:
    from asr_core.errors import ConfigError

    user = tmp_path / "parts.yaml"
    user.write_text("parts:\n  X1:\n    nominal_grams: 0\n")
    with pytest.raises(ConfigError, match=r"parts.yaml:3: parts.X1.nominal_grams: must be a positive number"):
        load_catalog(user)
    user.write_text("parts:\n  X1:\n    grams: 5\n")
    with pytest.raises(ConfigError, match=r"parts.yaml:3: parts.X1.grams: unknown field"):
        load_catalog(user)
