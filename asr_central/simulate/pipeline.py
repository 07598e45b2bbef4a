"""The product's own code, called in process for the simulator: agent consumption and forecast,
the agent's summary builder, central's policy and alert rules. The simulator's only door into product rules.

When a device reports, each supply due for analysis (see "Scheduling" below) has its
recent samples go through the agent's `consumption.analyze`: the window starts the day
before its previous analysis (so each day is measured from a window that began before
it), longer for coarse and -3 reporters whose estimate needs checkpoints from further
back; for a level read in percent it starts before the last level step but one, and the
days from the last step on are measured again, so each day is spread from a real step
and measured from the level, as the agent's analysis of months at once measures it
(`_measure_from`). The daily use it measures is kept per day (the analysis is asked for
the days it measures again only: `daily_from`), and `forecast.forecast` runs over
the last FORECAST_DAYS of it, as the agent would from its store. The device's summary
(asr_agent.domain.summary.build_summary), one each day it reports, carries the analysed supplies;
central's view of each supply, and of when the device last reported, is what the summaries
say. The policy runs once per simulated day over every supply; the alert rules run once per
day over every device.

A waste bottle that says little (coarse steps, "some remaining") is forecast as the agent
forecasts it (asr_agent.domain.waste): from its printer's toner grams per day, kept for it as far
back as its oldest checkpoint, at the bottle percent per toner gram learned from its steps
(the catalog's nominal waste ratio as the prior). When such a bottle is due, its printer's
toners are analysed with it, so their use is known up to that day.

Scheduling (a cost saving of the simulator, not a product rule): a supply is analysed
again when a reading shows a replacement, when its level has dropped faster than its
forecast allows, or when its counted-down cover may near the policy's horizon. After a
run with conservative cover C (days, stock included) at forecast rate r (% a day), the
next run is at most `gap = (C - H - MARGIN_DAYS - DROP_SLACK_PCT / r) / DROP_FACTOR` days
later (at least 1, at most MAX_GAP_DAYS; H = lead + pull-forward). Between runs each
day's last reading is compared with the level at the run: a drop beyond
DROP_FACTOR × r × elapsed days + DROP_SLACK_PCT triggers a run that day. So while no run
happens, use ran at most DROP_FACTOR times the forecast, and the cover a fresh forecast
would give is at least C - DROP_FACTOR × elapsed - DROP_SLACK_PCT / r, which stays above
H + MARGIN_DAYS until the scheduled run. MARGIN_DAYS absorbs what the bound leaves out:
a fresh forecast re-estimates the rate itself (at most MAX_GAP_DAYS of faster use out of
a FORECAST_DAYS window) and its interval. Coarse and -3 reporters, whose level says too
little, are watched through their page counter at the percent per page their last
analysis learned. A supply with nothing to watch, no forecast, or a forecast in a usage
spike (whose end is news) runs daily. The central side counts down the last forecast
between runs, exactly as it does for a silent device.

Measured on the small-office and heavy-production fleets against analysing every supply
every day: the same stockouts (none), parcels within one, mean units on hand within 3 %,
spike alerts within about 15 % (short spikes flicker less).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from asr_core import wire
from asr_core.codes import Code
from asr_agent.domain.cartridge_life import CartridgeYield
from asr_agent.domain.catalog import CatalogEntry, SupplyCatalog
from asr_agent.domain.consumption import (
    DailyUse, SupplyAnalysis, analyze, is_replacement,
)
from asr_agent.domain.forecast import Forecast, forecast
from asr_core.records import Device, Reading, Sample, Supply, SupplyClass, SupplyType
from asr_agent.domain.summary import build_summary
from asr_agent.domain.waste import (
    level_step, prior_percent_per_gram, says_little, toner_days, waste_fill,
)
from asr_central.domain.alerts import AlertKind, DeviceFacts, SupplyFacts, evaluate
from asr_central.domain.policy import (
    PolicySettings, SupplyKind, SupplyOutlook, plan, silent_days, silent_state,
)
from asr_central.simulate.model import GRAMS_PER_PAGE
from asr_central.simulate.records import Line, Parcel, SupplyLink

if TYPE_CHECKING:
    from asr_central.simulate.fleet import Fleet
    from asr_central.simulate.model import DayOutcome, DeviceSim

FORECAST_DAYS = 28  # days of daily use the forecast sees
RECENT_DAYS = 3  # coarse and -3 reporters: recent samples kept whole, older ones compressed
MAX_GAP_DAYS = 7
# a level read in percent that steps less often than this: its window reaches no further
# back (the forecast sees FORECAST_DAYS; a step a month says little about a day)
MAX_LEVEL_DAYS = 2 * FORECAST_DAYS
MARGIN_DAYS = 10.0
DROP_FACTOR = 2.0
DROP_SLACK_PCT = 1.0  # whole-percent levels: a drop read off two readings is off by < 1
# a spike alert this many days after a spike event's last day still belongs to it: the
# spike rule looks back over the last three working days (a weekend between)
SPIKE_AFTER_DAYS = 5

_TYPES = {"toner": SupplyType.TONER, "ink": SupplyType.INK,
          "waste_toner": SupplyType.WASTE_TONER, "waste_ink": SupplyType.WASTE_INK}


@dataclass(slots=True)
class _AgentSupply:
    """What the agent keeps about one supply between runs."""

    index: int
    type: SupplyType
    supply_class: SupplyClass
    daily: dict[dt.date, DailyUse] = field(default_factory=dict)
    percent_per_page: float | None = None
    grams_per_page: float | None = None
    last_run_day: int = -10**6
    # the next run's window starts on `window_day` and its days are measured from
    # `recent_day` on (set by each run; see `_measure_from`)
    window_day: int = -10**6
    recent_day: int = -10**6
    # a level read in percent: the days its level changed on, the last few (see `_measure_from`)
    level_changes: list[int] | None = None
    next_run_day: int = -10**6
    # level and forecast rate at the last run, to watch the drop until the next one
    run_pct: float | None = None
    run_pages: int | None = None
    run_rate: float | None = None
    last: Sample | None = None  # the supply in the last reading seen
    # coarse and -3 reporters: every recent sample, and the samples their page-counter
    # estimate needs from further back (first and last of each of the last two cartridges,
    # first at each level step)
    samples: deque[Sample] | None = None
    checkpoints: list[Sample] | None = None
    changed: bool = True  # a reading since the last run looks like a replacement
    # a toner of a printer whose waste bottle says little: its grams per day, kept as far
    # back as the bottle's oldest checkpoint (the bottle's fill follows them)
    grams_days: dict[dt.date, DailyUse] | None = None
    # "some remaining": pages per cartridge learned from the lives seen so far (the window
    # holds two of them; the analysis counts each once)
    life_yield: CartridgeYield | None = None


@dataclass(slots=True)
class _CentralSupply:
    """Central's latest view of one supply, from the last decoded summary."""

    days_to_empty: float | None
    days_to_empty_low: float | None
    daily_percent: float | None
    spike: bool
    as_of: dt.datetime


def _checkpoint(st: _AgentSupply, sample: Sample, replaced: bool) -> None:
    """Keep what a coarse or -3 estimate needs from before the recent window."""
    cps = st.checkpoints
    assert cps is not None
    if replaced or not cps:
        if replaced and st.samples:
            cps.append(st.samples[-1])  # last sample of the cartridge just removed
        # keep two cartridges back: the completed one teaches percent per page
        cps.append(sample)
        lives = _life_starts(cps)
        if len(lives) > 2:
            # a waste bottle keeps the last sample before the completed one too: its swap,
            # seen from both sides, is when it went in (asr_agent.domain.waste learns from
            # it); so does a supply saying "some remaining", whose completed cartridge is
            # then seen whole (asr_agent.domain.cartridge_life learns its pages)
            before = st.supply_class == SupplyClass.RECEPTACLE or sample.remaining_percent is None
            del cps[:lives[-2] - (1 if before else 0)]
        return
    prev = st.samples[-1] if st.samples else cps[-1]
    if sample.remaining_percent != prev.remaining_percent or sample.level_state != prev.level_state:
        cps.append(sample)  # first sample at a new level step


def _rescale(st: _AgentSupply, pct: float, grams: float | None) -> None:
    """Days kept from earlier runs of a supply measured from pages were read at the
    percent (grams) per page learned then; read again at the one learned now, as the
    agent's analysis of its whole history would, so the series does not jump where a
    cartridge taught a new figure (a jump the spike rule would take for a spike)."""
    def scaled(d: DailyUse) -> DailyUse:
        g = None if d.grams is None or grams is None else d.grams * grams
        return replace(d, percent=d.percent * pct, grams=g)

    st.daily = {k: scaled(d) for k, d in st.daily.items()}
    if st.grams_days is not None:
        st.grams_days = {k: scaled(d) for k, d in st.grams_days.items()}


def _measure_from(st: _AgentSupply, day: int) -> None:
    """Where the run after today's starts its window and from which day it measures.

    The window begins the day before this run, so the days from this run's on are measured
    again by a window that began before them. A level read in whole percent needs more: the
    use between two level steps is spread over the time between them, and the agent,
    analysing months at once, spreads each step from the step before it. So the next
    window reaches back to the day before the last step but one (each of its days then
    lies in a segment that starts at a real step, and its level is seen to move, so it is
    measured from the level as the agent's is, not from pages), and measures again from
    the day of the last step (the days since it, read as nothing used while the level
    held, get their share once the next step comes).
    """
    st.window_day, st.recent_day = day - 1, day
    changes = st.level_changes
    if not changes:
        return
    del changes[:-2]
    if len(changes) == 2:
        st.window_day = max(day - MAX_LEVEL_DAYS, min(day - 1, changes[0] - 1))
        st.recent_day = max(st.window_day + 1, min(day, changes[-1]))


def _life_starts(cps: list[Sample]) -> list[int]:
    out = [0]
    for i in range(1, len(cps)):
        if is_replacement(cps[i - 1], cps[i]):
            out.append(i)
    return out


def fleet_catalog(sims: list[DeviceSim]) -> SupplyCatalog:
    """The catalog the simulated printers' parts would have: grams and ISO-like yield.

    A toner's rated yield is its grams at GRAMS_PER_PAGE. A waste bottle's nominal waste
    ratio is the mean of the printers using that part; its rated yield
    (pages until full) is taken at the mean waste per page of the printers that use that
    part, as a maker rates a bottle for its printer models.
    """
    waste_per_page: dict[str, list[float]] = {}
    waste_ratio: dict[str, list[float]] = {}
    for sim in sims:
        for w in sim.wastes:
            waste_ratio.setdefault(w.part_number, []).append(sim.waste_ratio)
        rates = [sim.rates.get(c.spec.id, 0.0) for c in sim.consumables]
        if rates and max(rates) > 0:
            # pages follow the colour used most (model.DeviceSim.step)
            per_page = sim.waste_ratio * sum(rates) / max(rates) * GRAMS_PER_PAGE
            for w in sim.wastes:
                waste_per_page.setdefault(w.part_number, []).append(per_page)
    entries: dict[str, CatalogEntry] = {}
    for sim in sims:
        for s in sim.supplies.values():
            if not s.waste:
                yield_pages: int | None = max(1, round(s.capacity / GRAMS_PER_PAGE))
            else:
                per = waste_per_page.get(s.part_number)
                mean = sum(per) / len(per) if per else 0.0
                yield_pages = max(1, round(s.capacity / mean)) if mean > 0 else None
            ratios = waste_ratio.get(s.part_number) if s.waste else None
            entries[s.part_number] = CatalogEntry(
                s.part_number, _TYPES[s.spec.type], s.spec.color, s.capacity, yield_pages,
                waste_ratio=sum(ratios) / len(ratios) if ratios else None)
    return SupplyCatalog(entries)


class Pipeline:
    def __init__(self, fleet: Fleet, sims: list[DeviceSim],
                 catalog: SupplyCatalog | None = None,
                 sink: list[wire.Summary] | None = None) -> None:
        """`catalog`: the whole fleet's when `sims` are a part of it (default: from `sims`).
        `sink`: gets every summary central reads, in order (to replay them elsewhere)."""
        self.settings = PolicySettings(
            **{k: float(v) for k, v in (("lead_days", fleet.lead_days),
                                         ("supply_days", fleet.supply_days),
                                         ("pull_forward_days", fleet.pull_forward_days))
               if v is not None})
        self.sims = sims
        self.sink = sink
        self.catalog = catalog if catalog is not None else fleet_catalog(sims)
        self.start_at = dt.datetime.combine(fleet.start, dt.time(), tzinfo=dt.UTC)
        self.agent: dict[tuple[str, str], _AgentSupply] = {}
        self.keys: dict[tuple[str, str], str] = {}  # (serial, policy key) -> supply id
        # per device: the days it reported since the oldest window start any supply needs
        self.kept: dict[str, list[tuple[int, DayOutcome]]] = {}
        # per device: (supply id, agent state) in supply order, for the daily look at each
        self._supplies: dict[str, list[tuple[str, _AgentSupply]]] = {}
        for sim in sims:
            per_day = len(sim.report_fracs)
            coarse = sim.report_mode in ("coarse", "some_remaining")
            self.kept[sim.serial] = []
            for i, (sid, s) in enumerate(sim.supplies.items(), start=1):
                t = _TYPES[s.spec.type]
                self.agent[(sim.serial, sid)] = _AgentSupply(
                    i, t, SupplyClass.RECEPTACLE if t.is_waste else SupplyClass.CONSUMED,
                    samples=deque(maxlen=per_day * (RECENT_DAYS + MAX_GAP_DAYS))
                    if coarse else None,
                    checkpoints=[] if coarse else None,
                    level_changes=None if coarse else [])
                self.keys[(sim.serial, str(i))] = sid
            self._supplies[sim.serial] = [(sid, self.agent[(sim.serial, sid)])
                                          for sid in sim.supplies]
            if coarse and sim.wastes:
                for _sid, st in self._supplies[sim.serial]:
                    if st.supply_class == SupplyClass.CONSUMED:
                        st.grams_days = {}
        self.central: dict[tuple[str, str], _CentralSupply] = {}
        self.last_report: dict[str, dt.datetime] = {}
        self.sequence: dict[str, int] = {}
        self.premature: set[tuple[str, str, dt.datetime]] = set()
        self.silent_alerts = 0
        self.spike_alerts = 0
        self.spike_alert_days: list[tuple[str, int]] = []  # (device, day) an episode began
        self._active: set[str] = set()
        self._outlooks: dict[tuple[str, str], tuple] = {}
        self.placeholders: tuple[str, ...] = (
            "central ingest: summaries go from the agent's summary builder to central as "
            "records; they are not encoded (dict or canonical bytes), signed, verified nor "
            "stored through asr_central.storage.summaries; measured in process that full "
            "path costs about 1.1 ms per summary (encode 0.26, sign 0.14, verify 0.29, "
            "decode 0.19, store in in-memory SQLite 0.20), about 6 minutes for a "
            "1,000-device year. tests/test_simulate_central.py and "
            "tests/test_simulate_central_year.py send the same summaries to the real "
            "service: its policy run, at the same hour, with its orders shipped and "
            "delivered as the simulated parcels are, orders the same lines day after day "
            "over 150 days and counts the same units on hand and on order",
        )

    # --- agent side ---------------------------------------------------------------------

    def _due_for_run(self, st: _AgentSupply, day: int) -> bool:
        if st.changed or day >= st.next_run_day:
            return True
        used = self._used_since_run(st)
        if used is None or st.run_rate is None:
            return False
        return used > DROP_FACTOR * st.run_rate * (day - st.last_run_day) + DROP_SLACK_PCT

    @staticmethod
    def _used_since_run(st: _AgentSupply) -> float | None:
        """Percent used since the last run, as the latest reading shows it."""
        last = st.last
        if last is None:
            return None
        if st.checkpoints is None:
            if st.run_pct is None or last.remaining_percent is None:
                return None
            return st.run_pct - last.remaining_percent
        # coarse and -3 levels say too little: pages at the percent per page last learned
        if st.run_pages is None or last.page_count is None or st.percent_per_page is None:
            return None
        return (last.page_count - st.run_pages) * st.percent_per_page

    def _schedule(self, st: _AgentSupply, day: int, f: Forecast, stock: int) -> None:
        """The day by which this supply must be analysed again (module docstring)."""
        last = st.last
        st.run_pct = last.remaining_percent if last is not None else None
        st.run_pages = last.page_count if last is not None else None
        st.run_rate = rate = f.daily_percent
        low = f.days_to_empty_low if f.days_to_empty_low is not None else f.days_to_empty
        if (low is None or not rate or rate <= 0 or f.spike
                or self._used_since_run(st) is None):
            # nothing to count down, nothing to watch, or a spike whose end is news
            st.next_run_day = day + 1
            return
        cover = low + stock * 100.0 / rate
        horizon = self.settings.lead_days + self.settings.pull_forward_days
        gap = (cover - horizon - MARGIN_DAYS - DROP_SLACK_PCT / rate) / DROP_FACTOR
        st.next_run_day = day + max(1, min(MAX_GAP_DAYS, int(gap)))

    def _window(self, serial: str, st: _AgentSupply, sid: str) -> list[Sample]:
        first = st.window_day
        if st.checkpoints is not None:
            assert st.samples is not None
            since = self.start_at + dt.timedelta(days=max(-1, first))
            recent = [x for x in st.samples if x.taken_at >= since]
            return sorted({x.taken_at: x for x in st.checkpoints + recent}.values(),
                          key=lambda x: x.taken_at)
        out: list[Sample] = []
        for d, outcome in self.kept[serial]:
            if d >= first:
                out.extend(outcome.samples(sid))
        return out

    def observe(self, sim: DeviceSim, day: int, outcome: DayOutcome,
                links: dict[tuple[str, str], SupplyLink]) -> None:
        kept = self.kept[sim.serial]
        kept.append((day, outcome))
        due: list[str] = []
        serial = sim.serial
        for sid, st in self._supplies[serial]:
            if st.checkpoints is not None:
                assert st.samples is not None
                for sample in outcome.samples(sid):
                    replaced = bool(st.samples) and is_replacement(st.samples[-1], sample)
                    if replaced:
                        st.changed = True
                    _checkpoint(st, sample, bool(replaced))
                    st.samples.append(sample)
                last = st.samples[-1]
            else:
                # the day's last reading: a replacement shows as a new serial (or a jump) in it
                # (the day's other samples are made with it: a later window reads them all)
                last = outcome.samples(sid)[-1]
                if st.last is not None and is_replacement(st.last, last):
                    st.changed = True
                first_pct = outcome.samples(sid)[0].remaining_percent
                if st.level_changes is not None and (
                        last.remaining_percent != first_pct
                        or (st.last is not None and st.last.remaining_percent != first_pct)):
                    st.level_changes.append(day)
            st.last = last
            links[(serial, sid)].last_pct = last.remaining_percent
            if self._due_for_run(st, day):
                due.append(sid)
        if due and any(self.agent[(serial, sid)].supply_class == SupplyClass.RECEPTACLE
                       for sid in due) and any(st.grams_days is not None
                                               for _, st in self._supplies[serial]):
            # a bottle forecast from the toner needs the toner's use up to today
            due = ([sid for sid, st in self._supplies[serial] if st.grams_days is not None]
                   + [sid for sid in due if self.agent[(serial, sid)].grams_days is None])
        first_count = outcome.counts[0]
        last_at, last_count = outcome.times[-1], outcome.counts[-1]
        # a summary each day the device reports, as the agent sends one per device and day:
        # central hears of the device from summaries alone; a supply not analysed today is
        # left out of it (central keeps its last forecast)
        self._run(sim, day, due, first_count, last_at, last_count, links)
        oldest = min(st.window_day for _, st in self._supplies[serial])
        while kept and kept[0][0] < oldest:
            kept.pop(0)

    def _run(self, sim: DeviceSim, day: int, due: list[str], first_count: int,
             last_at: dt.datetime, last_count: int,
             links: dict[tuple[str, str], SupplyLink]) -> None:
        supplies: list[Supply] = []
        analyses: dict[int, SupplyAnalysis] = {}
        forecasts: dict[int, Forecast] = {}
        for sid in due:
            s = sim.supplies[sid]
            st = self.agent[(sim.serial, sid)]
            window = self._window(sim.serial, st, sid)
            # the window's recent samples begin the day before the previous run: from that
            # run's day on, this window measures better than the one before it (and a coarse
            # reporter's compressed history smears use over the older days)
            recent_from = sim.start + dt.timedelta(days=max(0, st.recent_day))
            st.last_run_day = day
            _measure_from(st, day)
            st.changed = False
            a = analyze(window, supply_type=st.type, supply_class=st.supply_class,
                        catalog=self.catalog, percent_per_page=st.percent_per_page,
                        grams_per_page=st.grams_per_page, daily_from=recent_from,
                        life_yield=st.life_yield,
                        # a supply put in fresh at the start is seen from its installation
                        first_life_whole=bool(window) and window[0].taken_at <= self.start_at
                        and s.spec.level_pct >= 100)
            st.life_yield = a.life_yield
            if a.percent_per_page is not None:
                if (st.supply_class == SupplyClass.CONSUMED and st.percent_per_page
                        and (a.estimate or "").startswith("page_counter")
                        and a.percent_per_page != st.percent_per_page):
                    _rescale(st, a.percent_per_page / st.percent_per_page,
                             a.grams_per_page / st.grams_per_page
                             if a.grams_per_page and st.grams_per_page else None)
                st.percent_per_page, st.grams_per_page = a.percent_per_page, a.grams_per_page
            for d in a.daily:
                st.daily[d.day] = d
            if st.grams_days is not None:
                st.grams_days.update((d.day, d) for d in a.daily)
            oldest = last_at.date() - dt.timedelta(days=FORECAST_DAYS)
            for stale in [k for k in st.daily if k <= oldest]:
                del st.daily[stale]
            for flag in a.flags:
                if flag.kind is Code.PREMATURE_REPLACEMENT:
                    self.premature.add((sim.serial, sid, flag.at))
            # kept in day order (a run adds later days, drops the oldest): forecast takes
            # them as they are and sorts only days out of order
            f = None
            if st.checkpoints is not None and says_little(a, st.supply_class):
                f = self._waste_forecast(sim, st, window, last_at)
            if f is None:
                f = forecast(list(st.daily.values()),
                             remaining=a.remaining_percent, now=last_at,
                             supply_class=st.supply_class, window_days=FORECAST_DAYS)
            link = links[(sim.serial, sid)]
            self._schedule(st, day, f, link.on_hand_known + link.on_order)
            last = st.last
            assert last is not None
            analyses[st.index] = a
            forecasts[st.index] = f
            supplies.append(Supply(
                index=st.index, description=f"{s.spec.color or ''} {s.spec.type}".strip(),
                type=st.type, supply_class=st.supply_class, color=s.spec.color,
                unit=last.unit, max_capacity=last.max_capacity, level=last.level,
                remaining_percent=last.remaining_percent, level_state=last.level_state,
                part_number=last.part_number, cartridge_serial=last.cartridge_serial))
        agent_id = f"sim-agent-{sim.site.id}"
        seq = self.sequence.get(agent_id, 0) + 1
        self.sequence[agent_id] = seq
        period_start = dt.datetime.combine(last_at.date(), dt.time(), tzinfo=dt.UTC)
        reading = Reading(host="127.0.0.1", port=161, taken_at=last_at,
                          device=Device("1.3.6.1.4.1.253.8.62.1.1", sim.spec.model, sim.serial,
                                        "xerox", sim.spec.model, True),
                          supplies=tuple(supplies), page_count=last_count)
        # the period ends just after the last reading, so a replacement seen in it counts
        summary = build_summary(
            agent_id=agent_id, site_id=sim.site.id, contact=sim.site.contact, reading=reading,
            period_start=period_start, period_end=last_at + dt.timedelta(microseconds=1),
            sequence=seq, analyses=analyses, forecasts=forecasts, page_count_start=first_count,
            mask_ip_addresses=True)
        self._ingest(summary, links)

    def _waste_forecast(self, sim: DeviceSim, st: _AgentSupply, window: list[Sample],
                        now: dt.datetime) -> Forecast | None:
        """A bottle that says little, forecast from the toner used (asr_agent.domain.waste), as
        the agent does; None when there is nothing to go on."""
        toners = [t for _, t in self._supplies[sim.serial] if t.grams_days is not None]
        if not toners or not window:
            return None
        since = window[0].taken_at.date() - dt.timedelta(days=1)
        toner_days_kept = [t.grams_days for t in toners if t.grams_days is not None]
        for kept in toner_days_kept:  # the bottle's oldest checkpoint is as far back as they are needed
            for d in [d for d in kept if d < since]:
                del kept[d]
        part = window[-1].part_number
        fill = waste_fill(window, toner_days([list(kept.values())
                                              for kept in toner_days_kept]),
                          prior=prior_percent_per_gram(self.catalog.get(part)), now=now,
                          step=level_step(window))
        if fill is None:
            return None
        gpp = [t.grams_per_page for t in toners]
        if all(g is not None for g in gpp):
            # its drop between runs is watched through pages, at the fill per page
            st.percent_per_page = fill.percent_per_toner_gram * sum(gpp)  # type: ignore[arg-type]
        return forecast(list(fill.daily), remaining=fill.free_percent, now=now,
                        supply_class=st.supply_class, window_days=FORECAST_DAYS)

    # --- central side -------------------------------------------------------------------

    def _ingest(self, summary: wire.Summary, links: dict[tuple[str, str], SupplyLink]) -> None:
        """Central's reading of a summary (the wire round trip is tested with the wire
        format itself; a record in, the same record out, so it is skipped here)."""
        if self.sink is not None:
            self.sink.append(summary)
        serial = summary.device.serial
        self.last_report[serial] = summary.period_end
        for event in summary.cartridge_events:
            # a replacement closes a delivered unit: it is no longer on hand for central
            links[(serial, self.keys[(serial, str(event.supply_index))])].installs_reported += 1
        # a supply not analysed today is left out of the summary, so central keeps its
        # previous forecast and counts it down from that forecast's time
        for p in summary.supplies:
            sid = self.keys[(serial, str(p.index))]
            self.central[(serial, sid)] = _CentralSupply(
                p.days_to_empty, p.days_to_empty_low, p.daily_percent, p.spike,
                summary.period_end)

    def plan(self, day: int, now: dt.datetime,
             links: dict[tuple[str, str], SupplyLink]) -> list[Parcel]:
        outlooks = []
        cache = self._outlooks
        for sim in self.sims:
            last = self.last_report.get(sim.serial)
            state = silent_state(silent_days(last, now), self.settings)
            for sid, s in sim.supplies.items():
                key = (sim.serial, sid)
                c = self.central.get(key)
                if c is None:
                    continue
                link = links[key]
                open_units = link.on_order
                on_hand = link.on_hand_known
                # an outlook is rebuilt only when something it says has changed
                held = cache.get(key)
                if (held is not None and held[0] is c and held[1] == on_hand
                        and held[2] == open_units and held[3] is state):
                    outlooks.append(held[4])
                    continue
                o = SupplyOutlook(
                    device_serial=sim.serial, site_id=sim.site.id,
                    contact_id=sim.site.contact, supply_key=str(self.agent[key].index),
                    supply_kind=SupplyKind.WASTE if s.waste else SupplyKind.CONSUMABLE,
                    days_to_empty=c.days_to_empty, days_to_empty_low=c.days_to_empty_low,
                    daily_units=None if c.daily_percent is None else c.daily_percent / 100.0,
                    units_on_hand=on_hand, open_units=open_units,
                    last_report_at=c.as_of, device_silent_state=state,
                    part_number=s.part_number)
                cache[key] = (c, on_hand, open_units, state, o)
                outlooks.append(o)
        parcels = []
        for order in plan(outlooks, [], self.settings, now).orders:
            lines = [Line(line.device_serial, self.keys[(line.device_serial, line.supply_key)],
                          line.quantity) for line in order.lines]
            parcels.append(Parcel(order.site_id, day, -1, lines))
        return parcels

    def end_of_day(self, day: int, now: dt.datetime) -> None:
        """Central's condition alerts for today; a new episode of an alert is counted once."""
        devices = [DeviceFacts(sim.serial, sim.site.id, sim.site.contact,
                               self.last_report.get(sim.serial)) for sim in self.sims]
        supplies = [SupplyFacts(serial, sid, spike=True)
                    for (serial, sid), c in self.central.items() if c.spike]
        active = set()
        for alert in evaluate(devices, supplies, self.settings, now):
            if alert.kind not in (AlertKind.DEVICE_SILENT, AlertKind.USAGE_SPIKE):
                continue
            # one episode per device (or supply) and kind, whatever its severity
            key = f"{alert.kind.value}|{alert.device_serial}|{alert.supply_key or ''}"
            active.add(key)
            if key not in self._active:
                if alert.kind is AlertKind.DEVICE_SILENT:
                    self.silent_alerts += 1
                else:
                    self.spike_alerts += 1
                    self.spike_alert_days.append((alert.device_serial, day))
        self._active = active

    def spike_split(self) -> tuple[int, int, int, int]:
        """Spike alerts that began during a real spike event and outside one, and spike
        events, of which flagged. "During" runs to SPIKE_AFTER_DAYS after the event's last
        day, while the days the spike rule looks back over still hold spike days; an event
        is flagged when a spike alert on its printer began during it."""
        spans: dict[str, list[tuple[int, int]]] = {}
        for sim in self.sims:
            for ev in sim.spec.events:
                if ev.type == "spike":
                    first = (ev.start - sim.start).days
                    spans.setdefault(sim.serial, []).append((first, first + ev.days + SPIKE_AFTER_DAYS))
        during = 0
        flagged: set[tuple[str, int]] = set()
        for serial, day in self.spike_alert_days:
            hit = [(a, b) for a, b in spans.get(serial, ()) if a <= day < b]
            during += bool(hit)
            flagged.update((serial, a) for a, _ in hit)
        events = sum(len(v) for v in spans.values())
        return during, len(self.spike_alert_days) - during, events, len(flagged)

    def match_premature(self) -> int:
        """Premature installs the agent's consumption code flagged (within a day of them)."""
        flagged = 0
        start = None
        for sim in self.sims:
            start = start or sim.start
            flags: dict[str, list[float]] = {}
            for serial, sid, at in self.premature:
                if serial == sim.serial:
                    flags.setdefault(sid, []).append(
                        (at.date() - sim.start).days + (at - at.replace(
                            hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 86400)
            for ins in sim.installs:
                if ins.premature and any(abs(t - ins.day) <= 1.0
                                         for t in flags.get(ins.supply_id, ())):
                    ins.flagged = True
                    flagged += 1
        return flagged
