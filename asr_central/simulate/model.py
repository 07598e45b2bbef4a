"""The physical side of the simulation: printers using toner, filling waste bottles, and users
installing the units on hand. Deterministic: each device draws from its own seeded generator.

Time is a float day number counted from the fleet's first day (day 3.5 = noon of the fourth
day). Printing is spread evenly over the day; parcels arrive at the start of a day, before
printing. `left` is grams left in a consumable and free grams of space in a waste bottle,
so for both "0 means replace now", as in the Printer-MIB.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field

from asr_core.records import LevelState, Sample, SupplyUnit
from asr_central.simulate.fleet import DeviceSpec, SiteSpec, SupplySpec

PREMATURE_PCT = 10.0  # an install above this much left is a premature replacement
GRAMS_PER_PAGE = 0.025  # marking agent per page at about 5 % coverage, for the page counter
COARSE_STEP = 25.0


@dataclass(slots=True)
class Install:
    """One unit put into a printer: when, on which supply, and how much the old one had left."""

    day: float
    supply_id: str
    left_pct: float
    premature: bool
    flagged: bool = False  # set when the agent's consumption code reported it


@dataclass(slots=True)
class SupplySim:
    spec: SupplySpec
    waste: bool
    capacity: float
    left: float
    replace_at_g: float
    on_hand: int = 0
    out_since: float | None = None  # day number since which it is empty with nothing on hand
    stockout_days: float = 0.0
    stockout_events: int = 0
    cartridge_no: int = 1
    part_number: str = ""
    serials: dict[int, str] = field(default_factory=dict)  # per cartridge number, made once

    @property
    def pct(self) -> float:
        return 100.0 * self.left / self.capacity

    def snapshot(self) -> tuple[float, int, float | None, float, int, int]:
        return (self.left, self.on_hand, self.out_since, self.stockout_days,
                self.stockout_events, self.cartridge_no)

    def restore(self, snap: tuple[float, int, float | None, float, int, int]) -> None:
        (self.left, self.on_hand, self.out_since, self.stockout_days, self.stockout_events,
         self.cartridge_no) = snap


@dataclass(slots=True)
class DayOutcome:
    """What one device did on one day: the level path of each supply and its readings.

    Readings are kept as their times and page counts; a supply's samples are made when
    first asked for, all the day's at once (one walk along its level path).
    """

    reported: bool
    # per supply id: [(fraction of day, left)] with a repeated fraction at an install
    paths: dict[str, list[tuple[float, float]]]
    sim: DeviceSim | None = None
    times: list[dt.datetime] = field(default_factory=list)
    fracs: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    cartridges: dict[str, int] = field(default_factory=dict)  # per supply, at the end of the day
    # per supply: fractions of the day at which a unit was put in during printing
    swaps: dict[str, list[float]] = field(default_factory=dict)
    made: dict[str, list[Sample]] = field(default_factory=dict)

    def samples(self, sid: str) -> list[Sample]:
        """Supply `sid` in every reading of the day, in time order."""
        out = self.made.get(sid)
        if out is None:
            sim = self.sim
            assert sim is not None
            no = self.cartridges[sid]
            swaps = self.swaps.get(sid)
            # a reading before a swap later that day still shows the old unit's serial
            nos = ([no - sum(1 for t in swaps if t > frac) for frac in self.fracs] if swaps
                   else [no] * len(self.fracs))
            out = self.made[sid] = sim._samples(
                sim.supplies[sid], _levels_at(self.paths[sid], self.fracs), self.times,
                self.counts, nos)
        return out

    def sample(self, k: int, sid: str) -> Sample:
        """Supply `sid` as reading `k` of the day shows it."""
        return self.samples(sid)[k]


def _event_days(spec: DeviceSpec, start: dt.date, days: int) -> tuple[list[float], set[int],
                                                                     set[int]]:
    """Per-day use multiplier from spikes and trends, and the offline and closed day sets."""
    factor = [1.0] * days
    offline: set[int] = set()
    closed: set[int] = set()
    for ev in spec.events:
        first = (ev.start - start).days
        if ev.type == "trend":
            for i in range(max(first, 0), days):
                factor[i] *= ev.factor
            continue
        span = range(max(first, 0), min(first + ev.days, days))
        if ev.type == "spike":
            for i in span:
                factor[i] *= ev.factor
        elif ev.type == "offline":
            offline.update(span)
        else:
            closed.update(span)
    return factor, offline, closed


class DeviceSim:
    """One printer and its user, stepped one day at a time."""

    def __init__(self, site: SiteSpec, spec: DeviceSpec, *, seed: int, start: dt.date,
                 days: int) -> None:
        self.site = site
        self.spec = spec
        self.serial = spec.serial
        # a string seed hashes the same in every process (unlike hash()), so runs repeat
        self.rng = random.Random(f"{seed}:{spec.serial}")
        self.start = start
        self.supplies: dict[str, SupplySim] = {}
        for s in spec.supplies:
            waste = s.is_waste
            replace_pct = 0.0 if waste else spec.replace_at_pct
            self.supplies[s.id] = SupplySim(
                spec=s, waste=waste, capacity=s.capacity_g,
                left=s.capacity_g * s.level_pct / 100.0,
                replace_at_g=s.capacity_g * replace_pct / 100.0,
                part_number=s.part_number or default_part_number(s))
        self.consumables = [s for s in self.supplies.values() if not s.waste]
        self.wastes = [s for s in self.supplies.values() if s.waste]
        self.rates = {sid: g for sid, g in spec.usage.grams_per_day.items()}
        self.weekly = spec.usage.weekly
        self.noise = spec.usage.noise
        self.waste_ratio = spec.usage.waste_ratio
        self.factor, self.offline, self.closed = _event_days(spec, start, days)
        self.page_count = 100_000 + self.rng.randrange(50_000)
        self.installs: list[Install] = []
        self.grams_used = 0.0
        hours = spec.report_every_hours
        self.report_fracs = [h / 24.0 for h in range(0, 24, hours)]
        self.report_mode = spec.report

    # --- the user ---------------------------------------------------------------------------

    def _install(self, s: SupplySim, at: float) -> None:
        left_pct = s.pct
        self.installs.append(Install(at, s.spec.id, left_pct,
                                     (not s.waste) and left_pct > PREMATURE_PCT))
        if s.out_since is not None:
            s.stockout_days += at - s.out_since
            s.out_since = None
        s.on_hand -= 1
        s.left = s.capacity
        s.cartridge_no += 1

    def wants_unit(self, s: SupplySim) -> bool:
        return s.left <= s.replace_at_g + 1e-9 or s.left <= 1e-9

    def morning(self, day: int) -> None:
        """Install the units that arrived for supplies at or below their replace level."""
        for s in self.supplies.values():
            if s.on_hand > 0 and self.wants_unit(s):
                self._install(s, float(day))

    # --- one day ----------------------------------------------------------------------------

    def _run(self, s: SupplySim, day: int, rate: float, until: float,
             path: list[tuple[float, float]]) -> float:
        """Use `rate` grams/day from the start of the day to fraction `until`; return grams used."""
        t = 0.0
        used = 0.0
        while t < until - 1e-12:
            if s.out_since is not None:
                break
            if rate <= 0.0:
                break
            # next stop: the replace level (if a unit is on hand and we are above it) or empty
            target = s.replace_at_g if (s.on_hand > 0 and s.left > s.replace_at_g) else 0.0
            if s.on_hand > 0 and s.left <= s.replace_at_g + 1e-9:
                target = s.left  # at or below the replace level with a unit: swap now
            dt_to = (s.left - target) / rate
            if t + dt_to >= until:
                g = rate * (until - t)
                s.left -= g
                used += g
                t = until
                break
            t += dt_to
            used += s.left - target
            s.left = target
            path.append((t, s.left))
            if s.on_hand > 0:
                self._install(s, day + t)
                path.append((t, s.left))
            elif s.left <= 1e-9:
                s.left = 0.0
                s.out_since = day + t
                s.stockout_events += 1
        path.append((until, s.left))
        return used

    def step(self, day: int, date: dt.date) -> DayOutcome:
        closed = day in self.closed
        reported = not closed and day not in self.offline
        mult = 0.0 if closed else self.weekly[date.weekday()] * self.factor[day]
        demand: dict[str, float] = {}
        for s in self.consumables:
            sid = s.spec.id
            # draw noise every day, closed or not, so an event never shifts later draws
            noise = self.rng.gauss(1.0, self.noise) if self.noise > 0 else 1.0
            demand[sid] = self.rates.get(sid, 0.0) * mult * max(noise, 0.0)

        stop = 0.0 if any(w.out_since is not None for w in self.wastes) else 1.0
        snaps = {sid: s.snapshot() for sid, s in self.supplies.items()}
        installs_before = len(self.installs)
        for _attempt in range(3):
            paths: dict[str, list[tuple[float, float]]] = {
                sid: [(0.0, s.left)] for sid, s in self.supplies.items()}
            used = 0.0
            most = 0.0
            for s in self.consumables:
                g = self._run(s, day, demand[s.spec.id], stop, paths[s.spec.id])
                used += g
                most = max(most, g)
            waste_in = used * self.waste_ratio
            new_stop = stop
            for w in self.wastes:
                rate = waste_in / stop if stop > 0 else 0.0
                self._run(w, day, rate, stop, paths[w.spec.id])
                if w.out_since is not None and w.out_since - day < new_stop:
                    new_stop = w.out_since - day
            if new_stop >= stop - 1e-9:
                break
            # a waste bottle filled with no spare: the printer stops at that moment, so
            # replay the day with printing cut there
            for sid, s in self.supplies.items():
                s.restore(snaps[sid])
            del self.installs[installs_before:]
            stop = new_stop
        for s in self.supplies.values():
            if paths[s.spec.id][-1][0] < 1.0:
                paths[s.spec.id].append((1.0, s.left))
        self.grams_used += used
        # every page takes GRAMS_PER_PAGE of the colour used most (the catalog's yield holds
        # for it); lighter colours outlast their yield, as in an office printing mostly black
        pages = most / GRAMS_PER_PAGE
        out = DayOutcome(reported, paths)
        if reported:
            out.sim = self
            out.fracs = self.report_fracs
            out.cartridges = {sid: s.cartridge_no for sid, s in self.supplies.items()}
            for ins in self.installs[installs_before:]:
                out.swaps.setdefault(ins.supply_id, []).append(ins.day - day)
            base = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
            for frac in self.report_fracs:
                out.times.append(base + dt.timedelta(days=frac))
                out.counts.append(self.page_count + int(pages * min(frac / stop, 1.0))
                                  if stop > 0 else self.page_count)
        self.page_count += int(pages)
        return out

    def close_stockouts(self, end: float) -> None:
        """Count the stockouts still running when the simulation ends."""
        for s in self.supplies.values():
            if s.out_since is not None:
                s.stockout_days += end - s.out_since
                s.out_since = end

    # --- what the printer says --------------------------------------------------------------

    def _samples(self, s: SupplySim, lefts: list[float], times: list[dt.datetime],
                 counts: list[int], nos: list[int]) -> list[Sample]:
        """Supply `s` in readings with `lefts` grams left (free space for waste), at `times`,
        with page `counts`, showing cartridge numbers `nos`."""
        serials = s.serials
        for no in nos:
            if no not in serials:
                serials[no] = f"{self.serial}-{s.spec.id}-{no:03d}"
        part = s.part_number
        mode = self.report_mode
        out = []
        if mode == "tenths_of_grams":
            cap = int(round(s.capacity * 10))
            for left, at, count, no in zip(lefts, times, counts, nos):
                level = int(left * 10)
                out.append(Sample(at, level, cap, SupplyUnit.TENTHS_OF_GRAMS, LevelState.OK,
                                  100.0 * level / cap, serials[no], part, count))
            return out
        if mode == "some_remaining":
            for left, at, count, no in zip(lefts, times, counts, nos):
                if left > 1e-9:
                    out.append(Sample(at, None, None, SupplyUnit.PERCENT,
                                      LevelState.SOME_REMAINING, None, serials[no], part, count))
                else:
                    out.append(Sample(at, 0, 100, SupplyUnit.PERCENT, LevelState.OK, 0.0,
                                      serials[no], part, count))
            return out
        coarse = mode == "coarse"
        capacity = s.capacity
        ceil = math.ceil
        for left, at, count, no in zip(lefts, times, counts, nos):
            pct = 100.0 * left / capacity
            if coarse:
                # rounds up, so a coarse printer says 0 only when it is really empty
                level = int(ceil(pct / COARSE_STEP - 1e-9) * COARSE_STEP)
            else:
                level = int(ceil(pct - 1e-9))
            if level < 0:
                level = 0
            elif level > 100:
                level = 100
            out.append(Sample(at, level, 100, SupplyUnit.PERCENT, LevelState.OK, float(level),
                              serials[no], part, count))
        return out


def default_part_number(spec: SupplySpec) -> str:
    """A part number for a supply the fleet file gives none, so the catalog knows its grams."""
    return f"SIM-{spec.type.upper()}-{spec.capacity_g:g}G"


def _levels_at(path: list[tuple[float, float]], fracs: list[float]) -> list[float]:
    """The level at each of the (ascending) fractions of the day, interpolated along the
    path; at an install instant, the new unit's level."""
    out = []
    i, n = 0, len(path)
    prev_t, prev_v = path[0]
    for frac in fracs:
        while i < n and path[i][0] <= frac:
            prev_t, prev_v = path[i]
            i += 1
        if i == n:
            out.append(prev_v)
            continue
        t, v = path[i]
        out.append(v if t == prev_t else prev_v + (v - prev_v) * (frac - prev_t) / (t - prev_t))
    return out
