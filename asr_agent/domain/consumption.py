"""What a supply used: its samples become cartridge lifecycles, grams, flags and a daily series.

Pure: samples and catalog in, records out; no I/O, no clock (time comes from the samples).

How use is measured, in order of preference (the result says which one was used):

* ``level``: the drop of `remaining_percent` between level changes, spread evenly over the
  time between the two changes (a level quantised to 1 % otherwise shows use only on the
  day the step happens). Grams are exact (``measured``) when the unit is tenthsOfGrams
  (or thousandths of ounces), else ``catalog`` from the part's nominal grams, else None.
* ``page_counter_learned`` / ``page_counter_catalog_yield``: for coarse reporters (levels
  in steps of 10-25 %, Canon's 100/10/1) and for supplies that only say -3 "some
  remaining", use between samples is pages printed × percent (grams) per page, learned
  from this supply's completed cartridges, else from the catalog's ISO yield. A -3
  supply learns the pages its cartridges last in this printer from those seen whole
  (`cartridge_life`), which also tells a cartridge swapped early from one used up.
* ``level_coarse``: a coarse reporter without a page counter; the steps are spread over
  the time between steps.

`remaining_percent` already means "share left before replacement" for both classes (fill
left of a toner, free space left of a waste bottle), so a consumable and a receptacle are
analysed the same way: use is a drop, a replacement (or an emptied bottle) is a rise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Literal

from asr_core.codes import Code
from asr_core.records import Sample, SupplyClass, SupplyType, SupplyUnit
from asr_agent.domain import cartridge_life, serials
from asr_agent.domain.cartridge_life import CartridgeYield

if TYPE_CHECKING:
    from asr_agent.domain.catalog import SupplyCatalog

__all__ = [
    "CartridgeLife", "DailyUse", "Flag", "SupplyAnalysis", "analyze", "is_replacement",
    "usable_serial", "PREMATURE_THRESHOLD_PCT",
]

GramsBasis = Literal["measured", "catalog", "page_counter"]
Estimate = Literal["level", "level_coarse", "page_counter_learned", "page_counter_catalog_yield"]

# A cartridge removed above this remaining share is a premature replacement. Declared here
# only: the config, the store and the status command take it from here.
PREMATURE_THRESHOLD_PCT = 10.0

_GRAMS_PER_UNIT = {SupplyUnit.TENTHS_OF_GRAMS: 0.1, SupplyUnit.THOUSANDTHS_OF_OUNCES: 0.028349523}
# A level steady this long is evidence of no use; shorter quiet tails stay uncovered
# because the next step may already be under way.
_STEADY_TAIL = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class DailyUse:
    """Use on one calendar day (in the analysis time zone).

    `coverage` is the share of the day over which use is known (0..1]; `interpolated` says
    the day had no reading at all and its use is the gap's total spread over time, so a
    sleeping printer's days are not mistaken for days without printing.
    """

    day: date
    percent: float
    grams: float | None = None
    coverage: float = 1.0
    interpolated: bool = False
    readings: int = 1
    # The level step (percent) the use was read in: 1 for whole-percent levels, a coarse
    # reporter's 10-25; None when use comes from pages or the step is unknown. The forecast
    # needs it: a single step says little about the rate behind it.
    resolution: float | None = None


@dataclass(frozen=True, slots=True)
class Flag:
    kind: Code  # one of the analysis flags
    at: datetime
    detail: str
    grams: float | None = None


@dataclass(frozen=True, slots=True)
class CartridgeLife:
    """One installed cartridge (or one fill of a waste bottle), as seen in the samples."""

    installed_at: datetime  # first sample showing it
    last_seen_at: datetime  # last sample showing it
    removed_at: datetime | None  # first sample showing its successor; None while installed
    replaced_because: Literal["level_jump", "serial_change"] | None  # why the successor was detected
    part_number: str | None
    cartridge_serial: str | None
    start_percent: float | None
    level_at_removal: float | None  # remaining percent last seen (estimated for -3 supplies)
    percent_used: float | None
    grams_used: float | None
    grams_basis: GramsBasis | None
    pages: int | None
    premature: bool = False
    grams_wasted: float | None = None


@dataclass(frozen=True, slots=True)
class SupplyAnalysis:
    lives: tuple[CartridgeLife, ...]
    daily: tuple[DailyUse, ...]
    flags: tuple[Flag, ...]
    estimate: Estimate | None  # how use was measured; None when it could not be
    grams_basis: GramsBasis | None  # of grams_used; None when grams are unknown
    percent_used: float | None
    grams_used: float | None
    coarse: bool
    remaining_percent: float | None  # latest, estimated from pages for -3 / coarse supplies
    remaining_estimated: bool
    grams_per_page: float | None
    percent_per_page: float | None
    readings: int  # distinct sample instants
    span_h: float  # first to last sample
    nominal_grams: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # "some remaining" supplies: pages per cartridge learned from this device's past ones
    # (asr_agent.domain.cartridge_life); None for others
    life_yield: CartridgeYield | None = None


def usable_serial(serial: str | None) -> str | None:
    """A cartridge serial worth comparing, or None for blanks and placeholders."""
    return serials.usable(serial)


def is_replacement(prev: Sample, cur: Sample, *, noise_pct: float = 2.0,
                   replacement_jump_pct: float = 20.0) -> Literal["level_jump", "serial_change"] | None:
    """Whether `cur` shows a different cartridge than `prev` (the store calls this per poll)."""
    a, b = usable_serial(prev.cartridge_serial), usable_serial(cur.cartridge_serial)
    if a is not None and b is not None:
        return "serial_change" if a != b else None
    if prev.remaining_percent is not None and cur.remaining_percent is not None:
        rise = cur.remaining_percent - prev.remaining_percent
        if rise > noise_pct and rise >= replacement_jump_pct:
            return "level_jump"
    return None


@dataclass(slots=True)
class _Seg:
    """Use known from sample i0 to sample i1 (indexes into the prepared samples; their
    instants are equal for an instant step)."""

    i0: int
    i1: int
    percent: float
    grams: float | None
    life: int


def analyze(
    samples: Sequence[Sample],
    *,
    supply_type: SupplyType,
    supply_class: SupplyClass,
    catalog: SupplyCatalog | None = None,
    premature_threshold_pct: float = PREMATURE_THRESHOLD_PCT,
    noise_pct: float = 2.0,
    replacement_jump_pct: float = 20.0,
    page_counts: Sequence[tuple[datetime, int]] | None = None,
    grams_per_page: float | None = None,
    percent_per_page: float | None = None,
    coarse: bool | None = None,
    tz: tzinfo = UTC,
    daily_from: date | None = None,
    life_yield: CartridgeYield | None = None,
    first_life_whole: bool = False,
) -> SupplyAnalysis:
    """Analyse one supply's samples (any order; equal instants keep the last).

    `page_counts` supplies the device's life counter where samples lack it;
    `grams_per_page` / `percent_per_page` are priors learned earlier on this device (used
    only when the samples hold no completed cartridge to learn from); `coarse` overrides
    the step detection; `tz` decides which calendar day a moment belongs to; `daily_from`
    leaves the days before it out of `daily` (a caller that keeps the days it measured
    before need not pay for them again: a checkpoint months back spreads over every day
    since), every other figure is unchanged by it. `life_yield`: what earlier analyses of
    a "some remaining" supply learned of its cartridges' pages (`SupplyAnalysis.life_yield`),
    for a caller that keeps fewer of its samples than the lives it has seen;
    `first_life_whole`: the first sample shows a cartridge just put in (a caller that saw
    the supply from its installation), so its life is seen whole too.
    """
    ss = _prepare(samples, page_counts)
    if not ss:
        return SupplyAnalysis((), (), (), None, None, None, None, False, None, False,
                              grams_per_page, percent_per_page, 0, 0.0)
    flags: list[Flag] = []
    life_of, bounds, reasons = _split_lives(ss, noise_pct, replacement_jump_pct, flags)
    _counter_resets(ss, flags)

    known = [s for s in ss if s.remaining_percent is not None]
    if coarse is None:
        coarse = _looks_coarse(known)
    quantum = _quantum(known) if coarse else None
    have_pages = _at_least_two_page_counts(ss)

    nominal_by_life = [_nominal_grams(ss[a:b], catalog) for a, b in bounds]
    grams_factor = _GRAMS_PER_UNIT.get(ss[-1].unit) if ss[-1].unit is not None else None

    # Learn percent (and grams) per page from completed cartridges.
    learned_ppp, learned_gpp = _learn_per_page(ss, bounds, known_levels=bool(known), quantum=quantum,
                                               nominal_by_life=nominal_by_life, grams_factor=grams_factor)
    yield_ppp, yield_gpp = _catalog_per_page(ss, catalog)
    ppp, gpp, page_estimate = None, None, None
    if learned_ppp is not None:
        ppp, gpp, page_estimate = learned_ppp, learned_gpp, "page_counter_learned"
    elif percent_per_page is not None:
        ppp, gpp, page_estimate = percent_per_page, grams_per_page, "page_counter_learned"
    elif yield_ppp is not None:
        ppp, gpp, page_estimate = yield_ppp, yield_gpp, "page_counter_catalog_yield"
    # A -3 supply says 0 once a cartridge is spent (a printer left empty, a user slow to
    # replace): that one known level per cartridge cannot measure use, its pages can.
    levels_move = bool(known) and any(_level_moves(ss, a, b) for a, b in bounds)
    left_by_life: dict[int, tuple[float, bool]] | None = None
    if have_pages and not levels_move:
        # "some remaining": pages per cartridge from this device's past ones (cartridge_life)
        life_yield, left_by_life = _learn_lives(ss, bounds, catalog, life_yield,
                                                premature_threshold_pct, first_life_whole,
                                                supply_class != SupplyClass.RECEPTACLE)
        if life_yield.percent_per_page is not None:
            ppp, gpp = life_yield.percent_per_page, None
            page_estimate = ("page_counter_learned" if life_yield.learned
                             else "page_counter_catalog_yield")
    else:
        life_yield = None
    if gpp is None and ppp is not None and nominal_by_life[-1] is not None:
        gpp = ppp * nominal_by_life[-1] / 100.0

    use_pages = have_pages and ppp is not None and (coarse or not levels_move)
    estimate: Estimate | None
    segs: list[_Seg] = []
    if use_pages:
        estimate = page_estimate  # type: ignore[assignment]
        _page_segments(ss, life_of, ppp, gpp, segs)  # type: ignore[arg-type]
        grams_basis: GramsBasis | None = "page_counter" if gpp is not None else None
    elif known:
        estimate = "level_coarse" if coarse else "level"
        grams_basis = _level_segments(ss, bounds, nominal_by_life, grams_factor, segs)
    else:
        estimate, grams_basis = None, None

    lives = _lives(ss, bounds, reasons, segs, nominal_by_life, grams_factor, ppp, supply_class,
                   premature_threshold_pct, use_pages, flags, quantum, left_by_life,
                   first_life_whole)
    remaining, remaining_estimated = _remaining(ss, bounds, ppp, coarse, use_pages)
    resolution = None if use_pages else (quantum if coarse else _resolution(known))
    daily = _daily(segs, ss, tz, resolution, daily_from) if segs else ()
    pct_total = sum(s.percent for s in segs) if estimate is not None else None
    grams_total = (sum(s.grams for s in segs if s.grams is not None)
                   if grams_basis is not None and estimate is not None else None)
    span_h = (ss[-1].taken_at - ss[0].taken_at).total_seconds() / 3600.0
    flags.sort(key=lambda f: f.at)
    return SupplyAnalysis(
        lives=tuple(lives), daily=daily, flags=tuple(flags), estimate=estimate,
        grams_basis=grams_basis, percent_used=pct_total, grams_used=grams_total,
        coarse=bool(coarse), remaining_percent=remaining, remaining_estimated=remaining_estimated,
        grams_per_page=gpp, percent_per_page=ppp, readings=len(ss), span_h=span_h,
        nominal_grams=nominal_by_life[-1], life_yield=life_yield,
    )


# --- preparation -----------------------------------------------------------------------


def _prepare(samples: Sequence[Sample], page_counts: Sequence[tuple[datetime, int]] | None) -> list[Sample]:
    ss = list(samples)
    ordered = True
    prev: datetime | None = None
    for s in ss:
        t = s.taken_at
        if t.tzinfo is None:
            raise ValueError(f"sample taken at {t.isoformat()} has no time zone; "
                             "store and pass aware datetimes")
        if ordered and prev is not None and not prev < t:
            ordered = False
        prev = t
    if not ordered:  # stores hand samples in time order; anything else is sorted here
        by_time: dict[datetime, Sample] = {}
        for s in ss:
            by_time[s.taken_at] = s
        ss = sorted(by_time.values(), key=lambda s: s.taken_at)
    if page_counts:
        pcs = sorted(page_counts)
        out, j, last = [], 0, None
        for s in ss:
            while j < len(pcs) and pcs[j][0] <= s.taken_at:
                last = pcs[j][1]
                j += 1
            if s.page_count is None and last is not None:
                s = Sample(s.taken_at, s.level, s.max_capacity, s.unit, s.level_state,
                           s.remaining_percent, s.cartridge_serial, s.part_number, last)
            out.append(s)
        ss = out
    return ss


def _split_lives(ss: list[Sample], noise: float, jump: float, flags: list[Flag]
                 ) -> tuple[list[int], list[tuple[int, int]], list[str | None]]:
    """Cartridge boundaries: returns life index per sample, [start, end) per life and reasons."""
    life_of = [0] * len(ss)
    starts = [0]
    reasons: list[str | None] = []
    raw = ss[0].cartridge_serial
    serial = life_serial = usable_serial(raw)
    prev_pct = ss[0].remaining_percent  # the last known level
    life = 0
    for i in range(1, len(ss)):
        s = ss[i]
        if s.cartridge_serial != raw:  # a serial repeats from sample to sample: clean it once
            raw = s.cartridge_serial
            serial = usable_serial(raw)
        pct = s.remaining_percent
        reason: str | None = None
        if serial is not None and life_serial is not None and serial != life_serial:
            reason = "serial_change"
        elif prev_pct is not None and pct is not None:
            rise = pct - prev_pct
            if rise > noise:
                if rise >= jump and not (serial is not None and serial == life_serial):
                    reason = "level_jump"
                else:
                    flags.append(Flag(Code.LEVEL_UP_WITHOUT_REPLACEMENT, s.taken_at,
                                      f"level rose {rise:.1f} points "
                                      f"({prev_pct:.1f} → {pct:.1f} %) "
                                      "with the same cartridge"))
        if reason is not None:
            life += 1
            starts.append(i)
            reasons.append(reason)
            life_serial = serial
        elif serial is not None and life_serial is None:
            life_serial = serial
        life_of[i] = life
        if pct is not None:
            prev_pct = pct
    reasons.append(None)
    bounds = [(starts[k], starts[k + 1] if k + 1 < len(starts) else len(ss)) for k in range(len(starts))]
    return life_of, bounds, reasons


def _counter_resets(ss: list[Sample], flags: list[Flag]) -> None:
    prev: int | None = None
    for s in ss:
        if s.page_count is None:
            continue
        if prev is not None and s.page_count < prev:
            flags.append(Flag(Code.COUNTER_RESET, s.taken_at,
                              f"page counter went back from {prev} to {s.page_count}"))
        prev = s.page_count


def _at_least_two_page_counts(ss: list[Sample]) -> bool:
    seen = 0
    for s in ss:
        if s.page_count is not None:
            seen += 1
            if seen == 2:
                return True
    return False


def _level_moves(ss: list[Sample], a: int, b: int) -> bool:
    """Whether samples [a, b) show two different known levels."""
    first: float | None = None
    for i in range(a, b):
        pct = ss[i].remaining_percent
        if pct is None:
            continue
        if first is None:
            first = pct
        elif pct != first:
            return True
    return False


def _looks_coarse(known: list[Sample]) -> bool:
    """Steps of 10-25 % (or Canon's 100/10/1): every value on a 5 % grid, steps ≥ 5."""
    if len(known) < 2:
        return False
    drops = []
    for a, b in zip(known, known[1:]):
        pa, pb = a.remaining_percent, b.remaining_percent
        assert pa is not None and pb is not None
        if abs(pb - round(pb / 5) * 5) > 1e-6 and abs(pb - 1.0) > 1e-6:
            return False
        if pa > pb:
            drops.append(pa - pb)
    return bool(drops) and min(drops) >= 5 - 1e-6 and max(drops) >= 10 - 1e-6


def _resolution(known: list[Sample]) -> float | None:
    """The finest step the levels can show: 100 / max capacity for whole-unit levels (a
    percent-reporting supply moves in 1 % steps), None when the levels say nothing of it."""
    capacities = {s.max_capacity for s in known
                  if s.level is not None and s.max_capacity is not None and s.max_capacity > 0}
    return max(100.0 / c for c in capacities) if capacities else None


def _quantum(known: list[Sample]) -> float | None:
    """The smallest level step seen (a coarse reporter's resolution)."""
    drops = [a.remaining_percent - b.remaining_percent for a, b in zip(known, known[1:])  # type: ignore[operator]
             if a.remaining_percent > b.remaining_percent]  # type: ignore[operator]
    return min(drops) if drops else None


def _nominal_grams(life: Sequence[Sample], catalog: SupplyCatalog | None) -> float | None:
    if catalog is None:
        return None
    for s in reversed(life):
        if s.part_number:
            entry = catalog.get(s.part_number)
            if entry is not None and entry.nominal_grams is not None:
                return float(entry.nominal_grams)
    return None


def _catalog_per_page(ss: list[Sample], catalog: SupplyCatalog | None) -> tuple[float | None, float | None]:
    if catalog is None:
        return None, None
    for s in reversed(ss):
        if s.part_number:
            entry = catalog.get(s.part_number)
            if entry is not None and entry.yield_pages:
                gpp = entry.nominal_grams / entry.yield_pages if entry.nominal_grams else None
                return 100.0 / entry.yield_pages, gpp
    return None, None


# --- use from levels and pages -----------------------------------------------------------


def _grams_between(a: Sample, b: Sample, pct: float, nominal: float | None,
                   factor: float | None) -> tuple[float | None, GramsBasis | None]:
    if (factor is not None and a.unit == b.unit and a.level is not None and b.level is not None
            and a.max_capacity == b.max_capacity):
        return max(0.0, (a.level - b.level) * factor), "measured"
    if nominal is not None:
        return pct * nominal / 100.0, "catalog"
    return None, None


def _level_segments(ss: list[Sample], bounds: list[tuple[int, int]], nominal_by_life: list[float | None],
                    factor: float | None, segs: list[_Seg]) -> GramsBasis | None:
    bases: set[GramsBasis | None] = set()
    for life, (a, b) in enumerate(bounds):
        pts = [i for i in range(a, b) if ss[i].remaining_percent is not None]
        if not pts:
            continue
        if factor is not None and all(ss[i].level is not None for i in pts):
            life_basis: GramsBasis | None = "measured"
        else:
            life_basis = "catalog" if nominal_by_life[life] is not None else None
        bases.add(life_basis)
        nominal = nominal_by_life[life]
        k = pts[0]
        cp = ss[k]
        for i in pts[1:]:
            s = ss[i]
            if s.remaining_percent == cp.remaining_percent:
                continue
            pct = max(0.0, cp.remaining_percent - s.remaining_percent)  # type: ignore[operator]
            grams, _ = _grams_between(cp, s, pct, nominal, factor)
            segs.append(_Seg(k, i, pct, grams, life))
            k, cp = i, s
        end = pts[-1] if b < len(ss) else len(ss) - 1
        if ss[end].taken_at - cp.taken_at >= _STEADY_TAIL:
            segs.append(_Seg(k, end, 0.0, 0.0 if life_basis else None, life))
    if not bases or None in bases:
        return None
    return "catalog" if "catalog" in bases else "measured"


def _page_segments(ss: list[Sample], life_of: list[int], ppp: float, gpp: float | None,
                   segs: list[_Seg]) -> None:
    prev: Sample | None = None
    k = 0
    for i, s in enumerate(ss):
        if s.page_count is None:
            continue
        if prev is not None and s.page_count >= prev.page_count:  # type: ignore[operator]
            pages = s.page_count - prev.page_count  # type: ignore[operator]
            segs.append(_Seg(k, i, pages * ppp, pages * gpp if gpp is not None else None,
                             life_of[i]))
        prev, k = s, i


def _learn_per_page(ss: list[Sample], bounds: list[tuple[int, int]], *, known_levels: bool,
                    quantum: float | None,
                    nominal_by_life: list[float | None], grams_factor: float | None
                    ) -> tuple[float | None, float | None]:
    """Percent and grams per page over completed cartridges (replaced at or near empty)."""
    pct_sum = pages_sum = grams_sum = 0.0
    grams_ok = True
    for life, (a, b) in enumerate(bounds[:-1]):
        part = ss[a:b]
        lv = [s for s in part if s.remaining_percent is not None]
        # a -3 cartridge reported empty: spent when it first said 0 (the page counter goes
        # on with the other colours while it waits for a new one)
        spent_unknown = (bool(lv) and part[0].remaining_percent is None
                         and lv[0].remaining_percent is not None and lv[0].remaining_percent <= 0)
        if spent_unknown:
            part = part[:part.index(lv[0]) + 1]
        pcs = [s for s in part if s.page_count is not None]
        if len(pcs) < 2 or pcs[-1].page_count <= pcs[0].page_count:  # type: ignore[operator]
            continue
        pages = pcs[-1].page_count - pcs[0].page_count  # type: ignore[operator]
        if spent_unknown:
            pct = 100.0
        elif lv:
            start = lv[0].remaining_percent
            end = lv[-1].remaining_percent
            if start is None or end is None or start - end <= 0:
                continue
            pct = start - end
            if quantum is not None and end <= quantum + 1e-9:
                # A coarse reporter's lowest step means "somewhere down to empty"; the
                # customer replaces on the empty message, so the cartridge is spent.
                pct = start
        elif known_levels:
            continue
        else:
            pct = 100.0  # -3 only: the customer replaces on the empty message
        pct_sum += pct
        pages_sum += pages
        if (grams_factor is not None and lv and not spent_unknown and lv[0].level is not None
                and lv[-1].level is not None):
            grams_sum += (lv[0].level - lv[-1].level) * grams_factor
        elif nominal_by_life[life] is not None:
            grams_sum += pct * nominal_by_life[life] / 100.0  # type: ignore[operator]
        else:
            grams_ok = False
    if pages_sum <= 0:
        return None, None
    return pct_sum / pages_sum, (grams_sum / pages_sum if grams_ok else None)


def _learn_lives(ss: list[Sample], bounds: list[tuple[int, int]], catalog: SupplyCatalog | None,
                 start: CartridgeYield | None, threshold: float, first_whole: bool,
                 judge_by_prior: bool = True
                 ) -> tuple[CartridgeYield, dict[int, tuple[float, bool]]]:
    """A "some remaining" supply's pages per cartridge (cartridge_life.learn) over its lives
    seen whole, and by life number the share each had left at removal and whether that
    makes it premature.

    The first life's installation is before the samples (its pages are a part), so it
    neither teaches nor is judged, unless `first_whole` says it began there. A life's
    pages run from halfway between the last sample of the one before and its first, to
    halfway between its last and its successor's first (the swap is somewhere in between);
    a life that showed 0 counts up to its first 0 (the counter goes on with the other
    colours while it waits).
    """
    part = next((s.part_number for s in reversed(ss) if s.part_number), None)
    if start is None or start.part_number != part:
        entry = catalog.get(part) if catalog is not None and part else None
        start = cartridge_life.prior(part, entry.yield_pages if entry is not None else None)
    seen: list[tuple[int, cartridge_life.LifeSeen]] = []
    for k in range(0 if first_whole else 1, len(bounds) - 1):
        a, b = bounds[k]
        spent_at = next((i for i in range(a, b)
                         if (pct := ss[i].remaining_percent) is not None and pct <= 0), None)
        lo = _count_between(ss[a - 1], ss[a]) if a > 0 else ss[a].page_count
        hi = ss[spent_at].page_count if spent_at is not None else _count_between(ss[b - 1], ss[b])
        if lo is None or hi is None or hi < lo:
            continue
        life_part = next((ss[i].part_number for i in range(b - 1, a - 1, -1)
                          if ss[i].part_number), None)
        seen.append((k, cartridge_life.LifeSeen(ss[b].taken_at, life_part, round(hi - lo),
                                                spent_at is not None)))
    learned, verdicts = cartridge_life.learn(start, [life for _, life in seen],
                                             premature_threshold_pct=threshold,
                                             judge_by_prior=judge_by_prior)
    by_life = {id(life): k for k, life in seen}
    return learned, {by_life[id(v.life)]: (v.left_percent, v.premature) for v in verdicts}


def _count_between(a: Sample, b: Sample) -> float | None:
    """The page count halfway between two samples' (the one known if only one is)."""
    if a.page_count is None or b.page_count is None:
        return a.page_count if b.page_count is None else b.page_count
    return (a.page_count + b.page_count) / 2.0


# --- lives, remaining, daily series -----------------------------------------------------


def _lives(ss, bounds, reasons, segs, nominal_by_life, grams_factor, ppp, supply_class,
           threshold, use_pages, flags, quantum, left_by_life,
           first_whole: bool = False) -> list[CartridgeLife]:
    pct_by_life = [0.0] * len(bounds)
    grams_by_life: list[float | None] = [0.0] * len(bounds)
    for s in segs:
        pct_by_life[s.life] += s.percent
        if s.grams is None:
            grams_by_life[s.life] = None
        elif grams_by_life[s.life] is not None:
            grams_by_life[s.life] += s.grams
    any_use = bool(segs)
    out: list[CartridgeLife] = []
    for k, (a, b) in enumerate(bounds):
        first, last = _known_ends(ss, a, b)
        pcs = _page_ends(ss, a, b)
        pages = pcs[1] - pcs[0] if pcs is not None and pcs[1] >= pcs[0] else None
        removed = b < len(ss)
        end_pct = last.remaining_percent if last is not None else None
        verdict = left_by_life.get(k) if left_by_life is not None else None
        if end_pct is None and left_by_life is not None:
            # -3 supply: against the pages its cartridges last (None: not seen whole)
            end_pct = verdict[0] if verdict is not None else None
        elif end_pct is None and ppp is not None and pages is not None:
            end_pct = max(0.0, 100.0 - pages * ppp)  # -3 supply: estimated from pages
        elif end_pct is not None and quantum is not None:
            # A coarse step only bounds the level: estimate it from the pages printed since
            # the step appeared, at the cartridge's own percent per page where its steps
            # measure one, else take the step's low end (no false premature alarm). A
            # first cartridge already at its last step when the samples begin fell to it
            # at some unseen time: the step's low end too.
            crossings = _step_crossings(ss, a, b)
            rate = _steps_percent_per_page(crossings)
            rate = ppp if rate is None else rate
            since: float | None = _first_at_level(ss, a, b, end_pct).page_count
            if crossings and crossings[-1][0] == end_pct:
                since = crossings[-1][1]
            elif k == 0 and not first_whole:
                since = None
            low = max(0.0, end_pct - quantum)
            if rate is not None and since is not None and last.page_count is not None:  # type: ignore[union-attr]
                end_pct = max(low, end_pct - (last.page_count - since) * rate)  # type: ignore[union-attr]
            else:
                end_pct = low
        premature = False
        wasted = None
        if removed and end_pct is not None and (
                verdict[1] if verdict is not None else end_pct > threshold):
            premature = True
            if supply_class != SupplyClass.RECEPTACLE:
                if grams_factor is not None and last is not None and last.level is not None:
                    wasted = last.level * grams_factor
                elif nominal_by_life[k] is not None:
                    wasted = end_pct * nominal_by_life[k] / 100.0
            what = "emptied" if supply_class == SupplyClass.RECEPTACLE else "replaced"
            flags.append(Flag(Code.PREMATURE_REPLACEMENT, ss[b].taken_at,
                              f"{what} at {end_pct:.0f} % remaining (threshold {threshold:.0f} %)"
                              + (f", {wasted:.0f} g thrown away" if wasted is not None else ""),
                              wasted))
        grams = grams_by_life[k] if any_use else None
        basis: GramsBasis | None = None
        if grams is not None:
            if use_pages:
                basis = "page_counter"
            elif grams_factor is not None and first is not None and first.level is not None:
                basis = "measured"
            else:
                basis = "catalog"
        out.append(CartridgeLife(
            installed_at=ss[a].taken_at, last_seen_at=ss[b - 1].taken_at,
            removed_at=ss[b].taken_at if removed else None,
            replaced_because=reasons[k],
            part_number=next((ss[i].part_number for i in range(b - 1, a - 1, -1)
                              if ss[i].part_number), None),
            cartridge_serial=next((usable_serial(ss[i].cartridge_serial)
                                   for i in range(b - 1, a - 1, -1)
                                   if usable_serial(ss[i].cartridge_serial)), None),
            start_percent=first.remaining_percent if first is not None else None,
            level_at_removal=end_pct if removed else None,
            percent_used=pct_by_life[k] if any_use else None,
            grams_used=grams, grams_basis=basis, pages=pages,
            premature=premature, grams_wasted=wasted,
        ))
    return out


def _remaining(ss, bounds, ppp, coarse, use_pages) -> tuple[float | None, bool]:
    a, b = bounds[-1]
    _, known = _known_ends(ss, a, b)
    last = ss[-1]
    if known is not None and not (coarse and use_pages):
        return known.remaining_percent, False
    if ppp is None or last.page_count is None:
        return (known.remaining_percent, False) if known is not None else (None, False)
    if known is not None:
        # Coarse: the last step minus what was printed since it was first shown.
        step = known.remaining_percent
        first_at_step = _first_at_level(ss, a, b, step)  # type: ignore[arg-type]
        if first_at_step.page_count is None:
            return step, False
        est = step - (last.page_count - first_at_step.page_count) * ppp
        return max(0.0, min(step, est)), True
    first_count = next(ss[i].page_count for i in range(a, b) if ss[i].page_count is not None)
    est = 100.0 - (last.page_count - first_count) * ppp
    return max(0.0, min(100.0, est)), True


def _known_ends(ss: list[Sample], a: int, b: int) -> tuple[Sample | None, Sample | None]:
    """The first and the last of samples [a, b) with a known level (None, None if none)."""
    for i in range(a, b):
        if ss[i].remaining_percent is not None:
            break
    else:
        return None, None
    for j in range(b - 1, i - 1, -1):
        if ss[j].remaining_percent is not None:
            return ss[i], ss[j]
    raise AssertionError("unreachable: sample i has a known level")


def _page_ends(ss: list[Sample], a: int, b: int) -> tuple[int, int] | None:
    """The first and the last page count of samples [a, b); None unless two samples have one."""
    for i in range(a, b):
        if ss[i].page_count is not None:
            break
    else:
        return None
    for j in range(b - 1, i, -1):
        if ss[j].page_count is not None:
            return ss[i].page_count, ss[j].page_count  # type: ignore[return-value]
    return None


def _step_crossings(ss: list[Sample], a: int, b: int) -> list[tuple[float, float]]:
    """Where a coarse cartridge (samples [a, b)) fell to each lower step: (step, page
    count), in order; the step it began at is none (it may have started anywhere in it).

    The level crossed a step between the last sample above it and the first at it: the
    page count halfway between them (a poll's use can be a large share of a step, and the
    first sample at a step is below it by up to that much).
    """
    out: list[tuple[float, float]] = []
    shown: float | None = None
    for i in range(a, b):
        pct = ss[i].remaining_percent
        if pct is None:
            continue
        if shown is not None and pct < shown and i > a:
            pages = _count_between(ss[i - 1], ss[i])
            if pages is not None:
                out.append((pct, pages))
        if shown is None or pct < shown:
            shown = pct
    return out


def _steps_percent_per_page(crossings: list[tuple[float, float]]) -> float | None:
    """A coarse cartridge's own percent per page, between the first and the last step it
    fell to; None under two such steps.

    The pages between two crossings are this cartridge's, at the colours printed while it
    was in. The percent per page learned from completed cartridges takes one removed at
    its lowest step as spent: for a user who swaps at that step with a share left it
    overstates use, and the mix printed (so the pages a colour lasts) drifts from one
    cartridge to the next; either way the share left at removal came out too low (an
    early swap at 15 % read as one at 9 %).
    """
    if len(crossings) < 2:
        return None
    (hi, at_hi), (lo, at_lo) = crossings[0], crossings[-1]
    return (hi - lo) / (at_lo - at_hi) if at_lo > at_hi else None


def _first_at_level(ss: list[Sample], a: int, b: int, pct: float) -> Sample:
    """The first of samples [a, b) showing level `pct` (one must)."""
    return next(ss[i] for i in range(a, b) if ss[i].remaining_percent == pct)


def _daily(segs: list[_Seg], ss: list[Sample], tz: tzinfo, resolution: float | None,
           daily_from: date | None) -> tuple[DailyUse, ...]:
    if tz is UTC:
        return _daily_utc(segs, ss, resolution, daily_from)
    pct, grams, cover, readings = _split_zoned(segs, ss, tz)
    out = []
    for d in sorted(pct):
        if daily_from is not None and d < daily_from:
            continue
        c = min(1.0, round(cover.get(d, 0.0), 9))
        if c <= 0:
            continue
        n = readings.get(d, 0)
        out.append(DailyUse(d, pct[d], grams.get(d), c, n == 0, n, resolution))
    return tuple(out)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_DAY_US = 86_400_000_000


def _daily_utc(segs: list[_Seg], ss: list[Sample], resolution: float | None,
               daily_from: date | None) -> tuple[DailyUse, ...]:
    """`_split_zoned` then `_daily` for UTC days, on whole microseconds since the epoch.

    The same figures bit for bit: `timedelta.total_seconds()` is microseconds / 10**6, and
    every UTC day lasts 86,400 s, so each share and coverage is the same division, added
    to its day in the same order. Days are slots from the first (or `daily_from`) to the
    last sample's day. A segment reaching back before `daily_from` is split from that
    midnight on, exactly as the day-by-day walk from the segment's start would.
    """
    day_us = _DAY_US
    k0 = (ss[0].taken_at - _EPOCH).days
    if daily_from is not None:
        k0 = max(k0, daily_from.toordinal() - _EPOCH_ORDINAL)
    n = (ss[-1].taken_at - _EPOCH).days - k0 + 1
    if n <= 0:
        return ()
    from_us = k0 * day_us
    pct: list[float | None] = [None] * n  # None: no segment touched the day
    grams: list[float | None] = [0.0] * n  # None once a segment of unknown grams touched it
    cover = [0.0] * n
    readings = [0] * n
    i1 = -1
    u1 = 0
    for s in segs:
        # a segment mostly starts at the sample the one before it ended at
        if s.i0 != i1:
            d = ss[s.i0].taken_at - _EPOCH
            u1 = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
        u0 = u1
        i1 = s.i1
        d = ss[i1].taken_at - _EPOCH
        u1 = (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds
        g = s.grams
        percent = s.percent
        if u1 - u0 <= 0:
            if u0 < from_us:
                continue
            i = u0 // day_us - k0
            p = pct[i]
            pct[i] = (0.0 if p is None else p) + percent
            gd = grams[i]
            if gd is not None:
                grams[i] = None if g is None else (gd or 0.0) + g
            continue
        if u1 <= from_us:
            continue
        total = (u1 - u0) / 1_000_000
        # every whole day inside the segment gets the same share (86,400 s / total)
        day_share = 86400.0 / total
        day_pct = percent * day_share
        day_grams = None if g is None else g * day_share
        t = u0 if u0 >= from_us else from_us
        while t < u1:
            k = t // day_us
            end = (k + 1) * day_us
            i = k - k0
            p = pct[i]
            gd = grams[i]
            if t == k * day_us and end <= u1:
                pct[i] = (0.0 if p is None else p) + day_pct
                if gd is not None:
                    grams[i] = None if g is None else (gd or 0.0) + day_grams  # type: ignore[operator]
                cover[i] += 1.0
                t = end
                continue
            if end > u1:
                end = u1
            seconds = (end - t) / 1_000_000
            share = seconds / total
            pct[i] = (0.0 if p is None else p) + percent * share
            if gd is not None:
                grams[i] = None if g is None else (gd or 0.0) + g * share
            cover[i] += seconds / 86400.0
            t = end
    for x in reversed(ss):  # in time order: from the latest back to the first day kept
        k = (x.taken_at - _EPOCH).days - k0
        if k < 0:
            break
        readings[k] += 1
    out = []
    for i in range(n):
        p = pct[i]
        if p is None:
            continue
        c = min(1.0, round(cover[i], 9))
        if c <= 0:
            continue
        r = readings[i]
        out.append(DailyUse(date.fromordinal(_EPOCH_ORDINAL + k0 + i), p, grams[i], c,
                            r == 0, r, resolution))
    return tuple(out)


_Split = tuple[dict[date, float], dict[date, float | None], dict[date, float], dict[date, int]]


def _split_zoned(segs: list[_Seg], ss: list[Sample], tz: tzinfo) -> _Split:
    """Each segment's use spread over the calendar days of `tz` it spans, by time."""
    pct: dict[date, float] = {}
    grams: dict[date, float | None] = {}
    cover: dict[date, float] = {}
    for s in segs:
        t0, t1 = ss[s.i0].taken_at.astimezone(tz), ss[s.i1].taken_at.astimezone(tz)
        total = (t1 - t0).total_seconds()
        if total <= 0:
            d = t0.date()
            pct[d] = pct.get(d, 0.0) + s.percent
            _add_grams(grams, d, s.grams)
            continue
        t = t0
        while t < t1:
            nxt = datetime.combine(t.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            end = min(nxt, t1)
            share = (end - t).total_seconds() / total
            d = t.date()
            pct[d] = pct.get(d, 0.0) + s.percent * share
            _add_grams(grams, d, None if s.grams is None else s.grams * share)
            cover[d] = cover.get(d, 0.0) + (end - t).total_seconds() / _day_seconds(d, tz)
            t = end
    readings: dict[date, int] = {}
    for x in ss:
        d = x.taken_at.astimezone(tz).date()
        readings[d] = readings.get(d, 0) + 1
    return pct, grams, cover, readings


def _add_grams(grams: dict[date, float | None], d: date, g: float | None) -> None:
    if d in grams and grams[d] is None:
        return
    grams[d] = None if g is None else (grams.get(d) or 0.0) + g


@lru_cache(maxsize=4096)
def _day_seconds(d: date, tz: tzinfo) -> float:
    # cached: the daily split asks for the same few days once per segment
    a = datetime.combine(d, datetime.min.time(), tzinfo=tz)
    b = datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    sec = (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()
    return sec if sec > 0 else 86400.0
