"""The consumption analysis carried from run to run: a supply's state, fed its new samples.

Pure, like `consumption`: samples in, the same `SupplyAnalysis` out as `consumption.analyze`
over every sample fed so far, each run paying for its new samples only.

How: most supplies settle into one way of being measured, the level read in fine steps
(``level``): once a known level has moved within a cartridge and a level off the 5 % grid
has been seen, no later sample can make the analysis read them otherwise. From then on
(the state is *settled*) each cartridge is kept as a few running figures and each level
step's use is spread over its days as it comes, in the order `analyze` adds them, so the
figures are the same to the last bit. Before that, and for supplies that never settle
(coarse steps, "some remaining", use read from pages), the state keeps its samples and
runs `analyze` over them: those are the few supplies whose estimate still depends on
samples yet to come.

A settled state cannot take a sample at or before its last one, a change of unit, nor a
new part number with a different catalog weight in the middle of a cartridge whose use
was already weighed with the old one: `feed` raises `Unsettled`, and the caller rebuilds
the state from the whole history (`SupplyState.of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from asr_core.codes import Code
from asr_core.records import Sample, SupplyClass, SupplyType
from asr_agent.domain.consumption import (
    _EPOCH, _EPOCH_ORDINAL, _GRAMS_PER_UNIT, _STEADY_TAIL, PREMATURE_THRESHOLD_PCT,
    CartridgeLife, DailyUse, Flag, GramsBasis, SupplyAnalysis, _day_seconds, _prepare,
    analyze, usable_serial,
)

if TYPE_CHECKING:
    from asr_agent.domain.catalog import SupplyCatalog

__all__ = ["SupplyState", "Unsettled"]

_DAY_US = 86_400_000_000


class Unsettled(ValueError):
    """A settled state was given a sample it cannot take in order: rebuild it from the
    supply's whole history (`SupplyState.of`)."""


def _us(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


@dataclass(slots=True)
class _Life:
    """One cartridge, as running figures (what `analyze` reads of its samples)."""

    first: Sample  # its first sample
    last: Sample  # its last sample
    first_known: Sample | None = None
    last_known: Sample | None = None
    first_page: int | None = None
    last_page: int | None = None  # set once a second sample has a page count
    page_samples: int = 0
    # page counts up to its first known level (a spent "some remaining" cartridge is
    # learned from up to there)
    pages_to_known: tuple[int, int | None, int] | None = None  # first, last, samples
    part_number: str | None = None
    serial: str | None = None
    nominal: float | None = None
    all_levels: bool = True  # every known level has a raw level
    levels_move: bool = False
    # level segments: the last change point, the use so far (grams None once unknown)
    cp: Sample | None = None
    pct: float = 0.0
    grams: float | None = 0.0
    segs: int = 0
    weighed: bool = False  # a segment's grams came from the catalog weight (or were unknown)
    removed_at: datetime | None = None
    replaced_because: str | None = None
    # a removed cartridge's output, which changes only with these two (any use at all,
    # the percent per page learned): (any use, percent per page, life, its flag)
    made: tuple[bool, float | None, CartridgeLife, Flag | None] | None = None


@dataclass(slots=True)
class _Days:
    """Use spread over calendar days, added segment by segment in `analyze`'s order."""

    tz: tzinfo
    pct: dict[int, float] = field(default_factory=dict)  # day key -> percent
    grams: dict[int, float | None] = field(default_factory=dict)
    cover: dict[int, float] = field(default_factory=dict)
    readings: dict[int, int] = field(default_factory=dict)
    # an overlay's days start from these (a provisional segment is added on top of the
    # days kept, without copying them)
    base: _Days | None = None

    def key(self, t: datetime) -> int:
        if self.tz is UTC:
            return (t - _EPOCH).days
        return t.astimezone(self.tz).date().toordinal() - _EPOCH_ORDINAL

    def read(self, t: datetime) -> None:
        k = self.key(t)
        self.readings[k] = self.readings.get(k, 0) + 1

    def _add(self, k: int, pct: float, g: float | None, cover: float | None) -> None:
        base = self.base
        if base is not None and k not in self.pct:
            if k in base.pct:
                self.pct[k] = base.pct[k]
            if k in base.grams:
                self.grams[k] = base.grams[k]
            if k in base.cover:
                self.cover[k] = base.cover[k]
        p = self.pct.get(k)
        self.pct[k] = (0.0 if p is None else p) + pct
        gd = self.grams.get(k, 0.0)
        if gd is not None:
            self.grams[k] = None if g is None else (gd or 0.0) + g
        if cover is not None:
            self.cover[k] = self.cover.get(k, 0.0) + cover

    def spread(self, t0: datetime, t1: datetime, percent: float, g: float | None,
               skip_before: int | None = None) -> None:
        """Add a segment's use to the days it spans (from day `skip_before` on: the days
        before it are left as they are; each later day gets the same figures)."""
        if self.tz is UTC:
            self._spread_utc(t0, t1, percent, g, skip_before)
        else:
            self._spread_zoned(t0, t1, percent, g, skip_before)

    def _spread_utc(self, t0: datetime, t1: datetime, percent: float, g: float | None,
                    skip_before: int | None = None) -> None:
        # the arithmetic of consumption._daily_utc, one segment at a time
        day_us = _DAY_US
        u0, u1 = _us(t0), _us(t1)
        if u1 - u0 <= 0:
            self._add(u0 // day_us, percent, g, None)
            return
        total = (u1 - u0) / 1_000_000
        day_share = 86400.0 / total
        day_pct = percent * day_share
        day_grams = None if g is None else g * day_share
        t = u0
        if skip_before is not None and t < skip_before * day_us:
            t = skip_before * day_us  # a midnight: the walk from u0 passes through it
        while t < u1:
            k = t // day_us
            end = (k + 1) * day_us
            if t == k * day_us and end <= u1:
                self._add(k, day_pct, day_grams, 1.0)
                t = end
                continue
            if end > u1:
                end = u1
            seconds = (end - t) / 1_000_000
            share = seconds / total
            self._add(k, percent * share, None if g is None else g * share, seconds / 86400.0)
            t = end

    def _spread_zoned(self, t0: datetime, t1: datetime, percent: float, g: float | None,
                      skip_before: int | None = None) -> None:
        # the arithmetic of consumption._split_zoned, one segment at a time
        tz = self.tz
        a, b = t0.astimezone(tz), t1.astimezone(tz)
        total = (b - a).total_seconds()
        if total <= 0:
            self._add(a.date().toordinal() - _EPOCH_ORDINAL, percent, g, None)
            return
        t = a
        if skip_before is not None and a.date().toordinal() - _EPOCH_ORDINAL < skip_before:
            # the local midnight the day-by-day walk from `a` passes through
            t = datetime.combine(date.fromordinal(skip_before + _EPOCH_ORDINAL),
                                 datetime.min.time(), tzinfo=tz)
        while t < b:
            d = t.date()
            nxt = datetime.combine(d + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            end = min(nxt, b)
            share = (end - t).total_seconds() / total
            self._add(d.toordinal() - _EPOCH_ORDINAL, percent * share,
                      None if g is None else g * share,
                      (end - t).total_seconds() / _day_seconds(d, tz))
            t = end

    def overlay(self) -> _Days:
        return _Days(self.tz, readings=self.readings, base=self)

    def value(self, k: int) -> tuple[float, float | None, float]:
        """Percent, grams and coverage of day `k` (one with use)."""
        if k in self.pct or self.base is None:
            return self.pct[k], self.grams.get(k, 0.0), self.cover.get(k, 0.0)
        return self.base.value(k)

    def keys(self) -> tuple[int, int] | None:
        """The first and the last day with use (days are added in time order)."""
        own = (next(iter(self.pct)), next(reversed(self.pct))) if self.pct else None
        below = self.base.keys() if self.base is not None else None
        if own is None or below is None:
            return own or below
        return min(own[0], below[0]), max(own[1], below[1])

    def __contains__(self, k: int) -> bool:
        return k in self.pct or (self.base is not None and k in self.base)

    def count(self) -> int:
        return len(self.pct) + (self.base.count() if self.base is not None else 0)

    def sorted_keys(self) -> list[int]:
        if self.base is None:
            return sorted(self.pct)
        return sorted(set(self.pct) | set(self.base.sorted_keys()))


@dataclass(slots=True)
class SupplyState:
    """One supply's analysis so far; `feed` it new samples, read `analysis()`.

    The keyword settings are those of `consumption.analyze` (page counts come with the
    samples; `coarse` left None lets the levels say).
    """

    supply_type: SupplyType
    supply_class: SupplyClass
    catalog: SupplyCatalog | None = None
    premature_threshold_pct: float = PREMATURE_THRESHOLD_PCT
    noise_pct: float = 2.0
    replacement_jump_pct: float = 20.0
    grams_per_page: float | None = None
    percent_per_page: float | None = None
    coarse: bool | None = None
    tz: tzinfo = UTC
    # unsettled: every sample so far, in time order (None once settled)
    samples: list[Sample] | None = field(default_factory=list)
    # settled: running figures
    lives: list[_Life] = field(default_factory=list)
    days: _Days | None = None
    factor: float | None = None
    unit: object = None
    count: int = 0
    first_at: datetime | None = None
    # the running state of consumption._split_lives
    raw: str | None = None
    serial: str | None = None
    life_serial: str | None = None
    prev_pct: float | None = None
    prev_pages: int | None = None
    split_flags: list[Flag] = field(default_factory=list)
    counter_flags: list[Flag] = field(default_factory=list)
    # the raw capacities of known levels (their resolution); every segment's use, summed in
    # the order analyze sums them (grams None where unknown are left out)
    capacities: set[int] = field(default_factory=set)
    any_segs: bool = False
    total_pct: float = 0.0
    total_grams: float = 0.0
    # completed cartridges' percent and grams per page (consumption._learn_per_page)
    learn_pct: float = 0.0
    learn_pages: float = 0.0
    learn_grams: float = 0.0
    learn_grams_ok: bool = True
    catalog_ppp: tuple[float | None, float | None] = (None, None)
    looked_up: str | None = None  # the part number last looked up in the catalog
    # days no later sample can change (before the current cartridge's last level step),
    # as last output, and the resolution they were output with
    final_days: dict[int, DailyUse] = field(default_factory=dict)
    final_resolution: float | None = None
    # days inside the current steady tail, before the last sample's: they change only
    # when the tail does (the next level step, a replacement)
    tail_days: dict[int, DailyUse] = field(default_factory=dict)
    tail_key: tuple[object, ...] | None = None

    @classmethod
    def of(cls, samples: Sequence[Sample], **settings: object) -> SupplyState:
        """A state fed a supply's whole history at once."""
        state = cls(**settings)  # type: ignore[arg-type]
        state.feed(samples)
        return state

    @property
    def settled(self) -> bool:
        return self.samples is None

    def feed(self, new: Sequence[Sample]) -> None:
        """Add samples taken after every sample fed so far (any order among themselves)."""
        if not new:
            return
        if self.samples is not None:
            if self.samples and min(s.taken_at for s in new) <= self.samples[-1].taken_at:
                self.samples = _prepare(self.samples + list(new), None)
            else:
                self.samples.extend(_prepare(new, None))
            self._try_settle()
            return
        batch = _prepare(new, None)
        if self.lives and batch[0].taken_at <= self.lives[-1].last.taken_at:
            raise Unsettled(f"sample taken at {batch[0].taken_at.isoformat()} is not after the "
                            f"last one fed ({self.lives[-1].last.taken_at.isoformat()}); "
                            "rebuild the state from the whole history")
        for s in batch:
            self._take(s)

    def analysis(self, daily_from: date | None = None) -> SupplyAnalysis:
        """What `consumption.analyze` says of every sample fed (with `daily_from`)."""
        if self.samples is not None:
            return analyze(self.samples, supply_type=self.supply_type,
                           supply_class=self.supply_class, catalog=self.catalog,
                           premature_threshold_pct=self.premature_threshold_pct,
                           noise_pct=self.noise_pct, replacement_jump_pct=self.replacement_jump_pct,
                           grams_per_page=self.grams_per_page,
                           percent_per_page=self.percent_per_page, coarse=self.coarse,
                           tz=self.tz, daily_from=daily_from)
        return self._settled_analysis(daily_from)

    # --- settling ---------------------------------------------------------------------

    def _try_settle(self) -> None:
        ss = self.samples
        assert ss is not None
        if self.coarse is True or not ss:
            return
        known = [s.remaining_percent for s in ss if s.remaining_percent is not None]
        if len(known) < 2:
            return
        if self.coarse is None and not any(
                abs(p - round(p / 5) * 5) > 1e-6 and abs(p - 1.0) > 1e-6 for p in known[1:]):
            return  # the levels may yet read as coarse steps
        trial = SupplyState(self.supply_type, self.supply_class, self.catalog,
                            self.premature_threshold_pct, self.noise_pct,
                            self.replacement_jump_pct, self.grams_per_page,
                            self.percent_per_page, self.coarse, self.tz, samples=None)
        trial.days = _Days(self.tz)
        trial.factor = _GRAMS_PER_UNIT.get(ss[-1].unit) if ss[-1].unit is not None else None
        trial.unit = ss[-1].unit
        try:
            for s in ss:
                trial._take(s)
        except Unsettled:
            return
        if not any(life.levels_move for life in trial.lives):
            return  # the levels have not moved yet: use may still be read from pages
        for name in SupplyState.__slots__:
            setattr(self, name, getattr(trial, name))

    # --- one sample at a time ---------------------------------------------------------

    def _take(self, s: Sample) -> None:
        if s.taken_at.tzinfo is None:
            raise ValueError(f"sample taken at {s.taken_at.isoformat()} has no time zone; "
                             "store and pass aware datetimes")
        if self.lives:
            life = self.lives[-1]
            prev = life.last  # the sample fed last
            if (s.remaining_percent == prev.remaining_percent and s.level == prev.level
                    and s.cartridge_serial == prev.cartridge_serial
                    and s.part_number == prev.part_number and s.unit == prev.unit
                    and s.max_capacity == prev.max_capacity
                    and s.level_state == prev.level_state):
                self._repeat(life, s)
                return
        factor = _GRAMS_PER_UNIT.get(s.unit) if s.unit is not None else None
        if factor != self.factor:
            raise Unsettled(f"the unit changed to {s.unit} at {s.taken_at.isoformat()}; "
                            "rebuild the state from the whole history")
        days = self.days
        assert days is not None
        pct = s.remaining_percent
        if self.count == 0:
            self.first_at = s.taken_at
            self.raw = s.cartridge_serial
            self.serial = self.life_serial = usable_serial(self.raw)
            self.prev_pct = pct
            self.lives.append(_Life(s, s))
        else:
            if s.cartridge_serial != self.raw:
                self.raw = s.cartridge_serial
                self.serial = usable_serial(self.raw)
            serial, life_serial = self.serial, self.life_serial
            reason: str | None = None
            if serial is not None and life_serial is not None and serial != life_serial:
                reason = "serial_change"
            elif self.prev_pct is not None and pct is not None:
                rise = pct - self.prev_pct
                if rise > self.noise_pct:
                    if rise >= self.replacement_jump_pct and not (
                            serial is not None and serial == life_serial):
                        reason = "level_jump"
                    else:
                        self.split_flags.append(Flag(
                            Code.LEVEL_UP_WITHOUT_REPLACEMENT, s.taken_at,
                            f"level rose {rise:.1f} points ({self.prev_pct:.1f} → {pct:.1f} %) "
                            "with the same cartridge"))
            if reason is not None:
                self._close(s, reason)
                self.lives.append(_Life(s, s))
                self.looked_up = None
                self.life_serial = serial
            elif serial is not None and life_serial is None:
                self.life_serial = serial
            if pct is not None:
                self.prev_pct = pct
        self.count += 1
        days.read(s.taken_at)
        if s.page_count is not None:
            if self.prev_pages is not None and s.page_count < self.prev_pages:
                self.counter_flags.append(Flag(
                    Code.COUNTER_RESET, s.taken_at,
                    f"page counter went back from {self.prev_pages} to {s.page_count}"))
            self.prev_pages = s.page_count
        self._into_life(self.lives[-1], s)

    def _repeat(self, life: _Life, s: Sample) -> None:
        """`_take` of a sample that says what the one before it said, but for its time and
        page count (most readings between level steps): no replacement, no segment, the same
        part and serial; only the counts, the pages and the cartridge's last sample move."""
        self.count += 1
        self.days.read(s.taken_at)  # type: ignore[union-attr]
        pages = s.page_count
        if pages is not None:
            if self.prev_pages is not None and pages < self.prev_pages:
                self.counter_flags.append(Flag(
                    Code.COUNTER_RESET, s.taken_at,
                    f"page counter went back from {self.prev_pages} to {pages}"))
            self.prev_pages = pages
            life.page_samples += 1
            if life.first_page is None:
                life.first_page = pages
            else:
                life.last_page = pages
        life.last = s
        if s.remaining_percent is not None:
            life.last_known = s

    def _into_life(self, life: _Life, s: Sample) -> None:
        life.last = s
        if s.part_number:
            life.part_number = s.part_number
            # a part repeats from sample to sample: look it up once per cartridge
            if self.catalog is not None and s.part_number != self.looked_up:
                self.looked_up = s.part_number
                entry = self.catalog.get(s.part_number)
                if entry is not None and entry.nominal_grams is not None:
                    nominal = float(entry.nominal_grams)
                    if nominal != life.nominal and life.weighed:
                        raise Unsettled(f"part {s.part_number} at {s.taken_at.isoformat()} weighs "
                                        "otherwise than the cartridge's use so far; rebuild the "
                                        "state from the whole history")
                    life.nominal = nominal
                if entry is not None and entry.yield_pages:
                    gpp = entry.nominal_grams / entry.yield_pages if entry.nominal_grams else None
                    self.catalog_ppp = (100.0 / entry.yield_pages, gpp)
        if self.serial:  # the sample's serial, cleaned in _take
            life.serial = self.serial
        if s.page_count is not None:
            life.page_samples += 1
            if life.first_page is None:
                life.first_page = s.page_count
            else:
                life.last_page = s.page_count
        pct = s.remaining_percent
        if pct is None:
            return
        if s.level is not None and s.max_capacity is not None and s.max_capacity > 0:
            self.capacities.add(s.max_capacity)
        if s.level is None:
            life.all_levels = False
        if life.first_known is None:
            life.first_known = s
            life.pages_to_known = (life.first_page, life.last_page, life.page_samples) \
                if life.first_page is not None else None
            life.cp = s
        elif pct != life.first_known.remaining_percent:
            life.levels_move = True
        life.last_known = s
        cp = life.cp
        assert cp is not None
        if pct == cp.remaining_percent:
            return
        drop = max(0.0, cp.remaining_percent - pct)  # type: ignore[operator]
        f = self.factor
        if (f is not None and cp.unit == s.unit and cp.level is not None and s.level is not None
                and cp.max_capacity == s.max_capacity):
            grams: float | None = max(0.0, (cp.level - s.level) * f)
        else:
            life.weighed = True
            grams = drop * life.nominal / 100.0 if life.nominal is not None else None
        self._seg(life, cp.taken_at, s.taken_at, drop, grams)
        life.cp = s

    def _seg(self, life: _Life, t0: datetime, t1: datetime, pct: float, grams: float | None) -> None:
        life.pct += pct
        if grams is None:
            life.grams = None
        elif life.grams is not None:
            life.grams += grams
        life.segs += 1
        self.any_segs = True
        self.total_pct += pct
        if grams is not None:
            self.total_grams += grams
        assert self.days is not None
        self.days.spread(t0, t1, pct, grams)

    def _basis(self, life: _Life) -> GramsBasis | None:
        if self.factor is not None and life.all_levels:
            return "measured"
        return "catalog" if life.nominal is not None else None

    def _close(self, successor: Sample, reason: str) -> None:
        """The current cartridge was replaced by the one `successor` shows."""
        life = self.lives[-1]
        life.removed_at = successor.taken_at
        life.replaced_because = reason
        if life.first_known is not None:
            cp, end = life.cp, life.last_known
            assert cp is not None and end is not None
            if end.taken_at - cp.taken_at >= _STEADY_TAIL:
                self._seg(life, cp.taken_at, end.taken_at, 0.0,
                          0.0 if self._basis(life) else None)
        self._learn(life)

    def _learn(self, life: _Life) -> None:
        """consumption._learn_per_page's share of a completed cartridge (levels are known,
        fine steps: no coarse quantum)."""
        fk, lk = life.first_known, life.last_known
        spent_unknown = (fk is not None and life.first.remaining_percent is None
                         and fk.remaining_percent is not None and fk.remaining_percent <= 0)
        if spent_unknown:
            p = life.pages_to_known
            if p is None or p[2] < 2 or p[1] is None or p[1] <= p[0]:
                return
            pages = p[1] - p[0]
        else:
            if life.page_samples < 2 or life.last_page is None or life.first_page is None \
                    or life.last_page <= life.first_page:
                return
            pages = life.last_page - life.first_page
        if spent_unknown:
            pct = 100.0
        elif fk is not None and lk is not None:
            start, end = fk.remaining_percent, lk.remaining_percent
            if start is None or end is None or start - end <= 0:
                return
            pct = start - end
        else:
            return  # levels are known elsewhere: a cartridge without one teaches nothing
        self.learn_pct += pct
        self.learn_pages += pages
        if (self.factor is not None and fk is not None and lk is not None and not spent_unknown
                and fk.level is not None and lk.level is not None):
            self.learn_grams += (fk.level - lk.level) * self.factor
        elif life.nominal is not None:
            self.learn_grams += pct * life.nominal / 100.0
        else:
            self.learn_grams_ok = False

    # --- the analysis -----------------------------------------------------------------

    def _settled_analysis(self, daily_from: date | None) -> SupplyAnalysis:
        lives = self.lives
        if not lives:
            return SupplyAnalysis((), (), (), None, None, None, None, False, None, False,
                                  self.grams_per_page, self.percent_per_page, 0, 0.0)
        current = lives[-1]
        if self.learn_pages > 0:
            ppp: float | None = self.learn_pct / self.learn_pages
            gpp = self.learn_grams / self.learn_pages if self.learn_grams_ok else None
        elif self.percent_per_page is not None:
            ppp, gpp = self.percent_per_page, self.grams_per_page
        else:
            ppp, gpp = self.catalog_ppp
        if gpp is None and ppp is not None and current.nominal is not None:
            gpp = ppp * current.nominal / 100.0
        # the current cartridge's steady tail, if any, is the last segment
        tail: tuple[datetime, datetime, float | None] | None = None
        cur_pct, cur_grams = current.pct, current.grams
        any_use = self.any_segs
        if current.first_known is not None:
            cp = current.cp
            assert cp is not None
            if current.last.taken_at - cp.taken_at >= _STEADY_TAIL:
                g = 0.0 if self._basis(current) else None
                tail = (cp.taken_at, current.last.taken_at, g)
                any_use = True
                if g is None:
                    cur_grams = None
                elif cur_grams is not None:
                    cur_grams += g
        bases = [self._basis(life) for life in lives if life.first_known is not None]
        grams_basis: GramsBasis | None
        if not bases or None in bases:
            grams_basis = None
        else:
            grams_basis = "catalog" if "catalog" in bases else "measured"
        out_lives: list[CartridgeLife] = []
        premature_flags: list[Flag] = []
        for life in lives:
            if life is current:
                out_lives.append(self._life(life, cur_pct, cur_grams, any_use, ppp,
                                            premature_flags))
                continue
            made = life.made
            if made is None or made[0] is not any_use or made[1] != ppp:
                n = len(premature_flags)
                out = self._life(life, life.pct, life.grams, any_use, ppp, premature_flags)
                made = life.made = (any_use, ppp, out,
                                    premature_flags[n] if len(premature_flags) > n else None)
            else:
                if made[3] is not None:
                    premature_flags.append(made[3])
            out_lives.append(made[2])
        # a steady tail adds nothing to the totals (0 %, 0 g or unknown grams left out)
        flags = self.split_flags + self.counter_flags + premature_flags
        flags.sort(key=lambda f: f.at)
        lk = current.last_known
        if lk is not None:
            remaining, estimated = lk.remaining_percent, False
        elif ppp is None or current.last.page_count is None or current.first_page is None:
            remaining, estimated = None, False
        else:
            est = 100.0 - (current.last.page_count - current.first_page) * ppp
            remaining, estimated = max(0.0, min(100.0, est)), True
        resolution = max(100.0 / c for c in self.capacities) if self.capacities else None
        daily = self._daily(tail, resolution, daily_from) if any_use else ()
        first_at = self.first_at
        assert first_at is not None
        return SupplyAnalysis(
            lives=tuple(out_lives), daily=daily, flags=tuple(flags), estimate="level",
            grams_basis=grams_basis, percent_used=self.total_pct,
            grams_used=self.total_grams if grams_basis is not None else None,
            coarse=False, remaining_percent=remaining, remaining_estimated=estimated,
            grams_per_page=gpp, percent_per_page=ppp, readings=self.count,
            span_h=(current.last.taken_at - first_at).total_seconds() / 3600.0,
            nominal_grams=current.nominal,
        )

    def _life(self, life: _Life, pct: float, grams: float | None, any_use: bool,
              ppp: float | None, flags: list[Flag]) -> CartridgeLife:
        first, last = life.first_known, life.last_known
        pages = None
        if life.last_page is not None and life.first_page is not None \
                and life.last_page >= life.first_page:
            pages = life.last_page - life.first_page
        removed = life.removed_at is not None
        end_pct = last.remaining_percent if last is not None else None
        if end_pct is None and ppp is not None and pages is not None:
            end_pct = max(0.0, 100.0 - pages * ppp)
        premature = False
        wasted = None
        threshold = self.premature_threshold_pct
        if removed and end_pct is not None and end_pct > threshold:
            premature = True
            if self.supply_class != SupplyClass.RECEPTACLE:
                if self.factor is not None and last is not None and last.level is not None:
                    wasted = last.level * self.factor
                elif life.nominal is not None:
                    wasted = end_pct * life.nominal / 100.0
            what = "emptied" if self.supply_class == SupplyClass.RECEPTACLE else "replaced"
            assert life.removed_at is not None
            flags.append(Flag(Code.PREMATURE_REPLACEMENT, life.removed_at,
                              f"{what} at {end_pct:.0f} % remaining (threshold {threshold:.0f} %)"
                              + (f", {wasted:.0f} g thrown away" if wasted is not None else ""),
                              wasted))
        g = grams if any_use else None
        basis: GramsBasis | None = None
        if g is not None:
            basis = ("measured" if self.factor is not None and first is not None
                     and first.level is not None else "catalog")
        return CartridgeLife(
            installed_at=life.first.taken_at, last_seen_at=life.last.taken_at,
            removed_at=life.removed_at,
            replaced_because=life.replaced_because,  # type: ignore[arg-type]
            part_number=life.part_number, cartridge_serial=life.serial,
            start_percent=first.remaining_percent if first is not None else None,
            level_at_removal=end_pct if removed else None,
            percent_used=pct if any_use else None, grams_used=g, grams_basis=basis,
            pages=pages, premature=premature, grams_wasted=wasted)

    def _daily(self, tail: tuple[datetime, datetime, float | None] | None,
               resolution: float | None, daily_from: date | None) -> tuple[DailyUse, ...]:
        days = self.days
        assert days is not None
        lo_from = None if daily_from is None else daily_from.toordinal() - _EPOCH_ORDINAL
        if tail is not None:
            # a steady tail can be months long: only the days asked for are spread
            days = days.overlay()
            days.spread(tail[0], tail[1], 0.0, tail[2], skip_before=lo_from)
        ends = days.keys()
        if ends is None:
            return ()
        lo, hi = ends
        if daily_from is not None:
            lo = max(lo, daily_from.toordinal() - _EPOCH_ORDINAL)
        if hi - lo > 2 * days.count():  # sparse: cheaper to sort what there is
            keys = [k for k in days.sorted_keys() if k >= lo]
        else:
            keys = [k for k in range(lo, hi + 1) if k in days]
        current = self.lives[-1]
        frozen = days.key(current.cp.taken_at if current.cp is not None else current.last.taken_at)
        final = self.final_days
        if resolution != self.final_resolution or len(final) > 2 * len(keys) + 8:
            final = self.final_days = {}
            self.final_resolution = resolution
        last_day = days.key(current.last.taken_at)
        in_tail: dict[int, DailyUse] | None = None
        if tail is not None:
            key = (tail[0], tail[2] is None, resolution)
            if key != self.tail_key or len(self.tail_days) > 2 * len(keys) + 8:
                self.tail_days, self.tail_key = {}, key
            in_tail = self.tail_days
        out = []
        readings = days.readings
        for k in keys:
            d = final.get(k)
            if d is None and in_tail is not None:
                d = in_tail.get(k)
            if d is None:
                pct, grams, cover = days.value(k)
                c = min(1.0, round(cover, 9))
                if c <= 0:
                    continue
                n = readings.get(k, 0)
                d = DailyUse(date.fromordinal(_EPOCH_ORDINAL + k), pct, grams, c, n == 0, n,
                             resolution)
                if k < frozen:
                    final[k] = d
                elif in_tail is not None and k < last_day:
                    in_tail[k] = d
            out.append(d)
        return tuple(out)

