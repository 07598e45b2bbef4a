"""The product's own code, called in process for the simulator: agent consumption and forecast,
the agent's summary builder, central's policy and alert rules. The simulator's only door into product rules.

When a device reports, each supply's new samples go into its running analysis
(asr_agent.domain.running, the agent's own): what it says is what the agent's analysis of
the whole history says, at the cost of the new samples only. Each supply due for analysis
(see "Scheduling" below) has `forecast.forecast` run over the last FORECAST_DAYS of its
daily use, as the agent would. Coarse and -3 reporters, whose estimate never settles (a
later step or cartridge may change how every day is read), go through
`consumption.analyze` over a window instead: their recent samples and the checkpoints
their estimate needs from further back; the window starts the day before their previous
analysis, and the days it measures replace those kept (`daily_from`). The device's summary
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
forecast allows, or when its counted-down cover may near the order point. After a
run with conservative cover C (days, stock included) at forecast rate r (% a day), the
next run is at most `gap = (C - H - MARGIN_DAYS - DROP_SLACK_PCT / r) / DROP_FACTOR` days
later (at least 1, at most MAX_GAP_DAYS; H = the order point: the lead time or, under
the service order point, the larger of it and the supply's own). Between the order point
and the pull-forward's reach a supply only joins a parcel another line makes: central
judges that from the counted-down forecast, so those days need no runs. Between runs each
day's last reading is compared with the level at the run: a drop beyond
DROP_FACTOR × r × elapsed days + DROP_SLACK_PCT triggers a run that day. So while no run
happens, use ran at most DROP_FACTOR times the forecast, and the cover a fresh forecast
would give is at least C - DROP_FACTOR × elapsed - DROP_SLACK_PCT / r, which stays above
H + MARGIN_DAYS until the scheduled run. MARGIN_DAYS absorbs what the bound leaves out:
a fresh forecast re-estimates the rate itself (at most MAX_GAP_DAYS of up to
DROP_FACTOR times the use out of a FORECAST_DAYS window) and its interval. Coarse and
-3 reporters, whose level says too little, are watched through their page counter at
the percent per page their last analysis learned. A supply with nothing to watch, no
forecast, or a forecast in a usage spike (whose end is news) runs daily. The central
side counts down the last forecast between runs, exactly as it does for a silent device.

Measured against analysing every supply every day (small-office and heavy-production
fleets, an earlier schedule): the same stockouts (none), parcels within one, mean units
on hand within 3 %, spike alerts within about 15 % (short spikes flicker less). Against
the schedule before this one (MAX_GAP_DAYS 7, MARGIN_DAYS 10, DROP_FACTOR 2), on the
three bench fleets in both order-point modes: 17 to 36 % fewer runs, the same stockout
days (none under the fixed order point), orders within 0.3 % but on heavy production
under the service order point (28 → 31, a unit fewer shipped), mean units on hand
within 2.5 %, spike alerts within 6 % (fewer). At 14 days the heavy-production fleet
took 4 and 5 more parcels. Against the schedule that also ran daily up to the
pull-forward's reach (H = order point + pull-forward): 19 to 37 % fewer runs, the same
stockout days (none under the fixed order point; 0 and 2.18 and 8.14 under the service
one), parcels within one but on fifty sites under the fixed order point (753 → 748),
mean units on hand within 1.5 %, spike alerts within 2 % (one fewer on fifty sites in each mode).
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
from asr_agent.domain.running import SupplyState
from asr_core.records import Device, Reading, Sample, Supply, SupplyClass, SupplyType
from asr_agent.domain.summary import build_summary
from asr_agent.domain.waste import (
    TonerDays, level_step, prior_percent_per_gram, says_little, waste_fill,
)
from asr_central.domain.alerts import AlertKind, DeviceFacts, SupplyFacts, evaluate
from asr_central.domain.level_change import (
    CHANGES_LOOKBACK, USUAL_FROM_DAYS, LevelChanges, change_ratio, learn_level_changes,
)
from asr_central.domain.policy import (
    SHIPPING_MEMORY, OrderPoint, PolicySettings, ShippingTime, SupplyKind, SupplyOutlook,
    learn_shipping, order_point_days, plan, silent_days, silent_state,
)
from asr_central.simulate.model import GRAMS_PER_PAGE
from asr_central.simulate.records import Line, Parcel, SupplyLink

if TYPE_CHECKING:
    from asr_central.simulate.fleet import Fleet
    from asr_central.simulate.model import DayOutcome, DeviceSim

FORECAST_DAYS = 28  # days of daily use the forecast sees
RECENT_DAYS = 3  # coarse and -3 reporters: recent samples kept whole, older ones compressed
MAX_GAP_DAYS = 10
MARGIN_DAYS = 5.0
DROP_FACTOR = 1.5
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
    # coarse and -3 reporters: the next run's window starts on `window_day` and its days
    # are measured from `recent_day` on (set by each run)
    window_day: int = -10**6
    recent_day: int = -10**6
    # every other supply: its analysis, carried from run to run
    running: SupplyState | None = None
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
        if cps[-1] is not prev:
            cps.append(prev)  # the last sample at the step before: the step fell in between
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


def policy_settings(fleet: Fleet) -> PolicySettings:
    """The policy settings a fleet file gives (each one it leaves out at its default); the
    configured shipping range is the fleet's carrier's."""
    given: dict[str, object] = {k: float(v) for k, v in (
        ("lead_days", fleet.lead_days), ("supply_days", fleet.supply_days),
        ("pull_forward_days", fleet.pull_forward_days), ("service_level", fleet.service_level))
        if v is not None}
    if fleet.order_point is not None:
        given["order_point"] = OrderPoint(fleet.order_point)
    lo, hi = fleet.shipping_days
    return PolicySettings(shipping_days=(float(lo), float(hi)), **given)  # type: ignore[arg-type]


class Pipeline:
    def __init__(self, fleet: Fleet, sims: list[DeviceSim],
                 catalog: SupplyCatalog | None = None,
                 sink: list[wire.Summary] | None = None) -> None:
        """`catalog`: the whole fleet's when `sims` are a part of it (default: from `sims`).
        `sink`: gets every summary central reads, in order (to replay them elsewhere)."""
        self.settings = policy_settings(fleet)
        # per site: the days its delivered parcels took, and the shipping time learned from
        # them (service order point), as central learns it from its orders
        self.shipped: dict[str, list[float]] = {}
        self.shipping: dict[str, ShippingTime] = {}
        self.sims = sims
        self.sink = sink
        self.catalog = catalog if catalog is not None else fleet_catalog(sims)
        self.start_at = dt.datetime.combine(fleet.start, dt.time(), tzinfo=dt.UTC)
        self.agent: dict[tuple[str, str], _AgentSupply] = {}
        self.keys: dict[tuple[str, str], str] = {}  # (serial, policy key) -> supply id
        # per device: (supply id, agent state) in supply order, for the daily look at each
        self._supplies: dict[str, list[tuple[str, _AgentSupply]]] = {}
        for sim in sims:
            per_day = len(sim.report_fracs)
            coarse = sim.report_mode in ("coarse", "some_remaining")
            for i, (sid, s) in enumerate(sim.supplies.items(), start=1):
                t = _TYPES[s.spec.type]
                self.agent[(sim.serial, sid)] = _AgentSupply(
                    i, t, SupplyClass.RECEPTACLE if t.is_waste else SupplyClass.CONSUMED,
                    samples=deque(maxlen=per_day * (RECENT_DAYS + MAX_GAP_DAYS))
                    if coarse else None,
                    checkpoints=[] if coarse else None,
                    running=None if coarse else SupplyState(
                        t, SupplyClass.RECEPTACLE if t.is_waste else SupplyClass.CONSUMED,
                        self.catalog))
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
        # central's daily points per supply (its supply_history), the usage spikes it raised
        # (day, ratio to the usual use) and the supplies it knew each day: what it learns
        # changes of use level from (service order point), as a central does
        self.points: dict[tuple[str, str], dict[dt.date, float | None]] = {}
        self.usage_changes: deque[tuple[dt.date, float | None]] = deque()
        self.first_point: dict[tuple[str, str], dt.date] = {}
        self.level_changes: LevelChanges | None = (
            learn_level_changes(0, 0) if self.settings.order_point is OrderPoint.SERVICE
            else None)
        self._active: set[str] = set()
        self._outlooks: dict[tuple[str, str], tuple] = {}
        self._toner_days: dict[str, TonerDays] = {}  # per printer whose bottle says little
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

    def _order_point(self, site_id: str, f: Forecast) -> float:
        """The cover at which the policy must take a line (a line above it only joins
        another's parcel, which central judges from the counted-down forecast)."""
        settings = self.settings
        point = settings.lead_days
        if settings.order_point is OrderPoint.SERVICE:
            ship = self.shipping.get(site_id) or learn_shipping(settings.shipping_days, ())
            point = max(point, order_point_days(f.days_to_empty, f.days_to_empty_low,
                                                None if f.daily_percent is None
                                                else f.daily_percent / 100.0, ship,
                                                settings.service_level, self.level_changes))
        return point

    def _schedule(self, st: _AgentSupply, day: int, f: Forecast, stock: int,
                  site_id: str) -> None:
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
        point = self._order_point(site_id, f)
        gap = (cover - point - MARGIN_DAYS - DROP_SLACK_PCT / rate) / DROP_FACTOR
        st.next_run_day = day + max(1, min(MAX_GAP_DAYS, int(gap)))

    def _window(self, st: _AgentSupply) -> list[Sample]:
        """A coarse or -3 reporter's checkpoints and its samples since `window_day`."""
        assert st.checkpoints is not None and st.samples is not None
        since = self.start_at + dt.timedelta(days=max(-1, st.window_day))
        recent = [x for x in st.samples if x.taken_at >= since]
        return sorted({x.taken_at: x for x in st.checkpoints + recent}.values(),
                      key=lambda x: x.taken_at)

    def observe(self, sim: DeviceSim, day: int, outcome: DayOutcome,
                links: dict[tuple[str, str], SupplyLink]) -> None:
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
                assert st.running is not None
                today = outcome.samples(sid)
                st.running.feed(today)
                # the day's last reading: a replacement shows as a new serial (or a jump) in it
                last = today[-1]
                if st.last is not None and is_replacement(st.last, last):
                    st.changed = True
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

    def _run(self, sim: DeviceSim, day: int, due: list[str], first_count: int,
             last_at: dt.datetime, last_count: int,
             links: dict[tuple[str, str], SupplyLink]) -> None:
        supplies: list[Supply] = []
        analyses: dict[int, SupplyAnalysis] = {}
        forecasts: dict[int, Forecast] = {}
        for sid in due:
            s = sim.supplies[sid]
            st = self.agent[(sim.serial, sid)]
            st.last_run_day = day
            st.changed = False
            oldest = last_at.date() - dt.timedelta(days=FORECAST_DAYS)
            window: list[Sample] = []
            if st.running is not None:
                # the whole history's analysis: its days replace those kept
                a = st.running.analysis(daily_from=oldest + dt.timedelta(days=1))
                st.daily = {d.day: d for d in a.daily}
            else:
                window = self._window(st)
                # the window's recent samples begin the day before the previous run: from
                # that run's day on, this window measures better than the one before it (and
                # the compressed history smears use over the older days)
                recent_from = sim.start + dt.timedelta(days=max(0, st.recent_day))
                st.window_day, st.recent_day = day - 1, day
                a = analyze(window, supply_type=st.type, supply_class=st.supply_class,
                            catalog=self.catalog, percent_per_page=st.percent_per_page,
                            grams_per_page=st.grams_per_page, daily_from=recent_from,
                            life_yield=st.life_yield,
                            # a supply put in fresh at the start is seen from its installation
                            first_life_whole=bool(window)
                            and window[0].taken_at <= self.start_at
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
            self._schedule(st, day, f, link.on_hand_known + link.on_order, sim.site.id)
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
        if not due and self.sink is None:
            # a summary without supplies has no cartridge event either: all central reads
            # of it is when the device last reported
            self.last_report[sim.serial] = last_at + dt.timedelta(microseconds=1)
            return
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
        toner = self._toner_days.setdefault(sim.serial, TonerDays())(
            [list(kept.values()) for kept in toner_days_kept])
        # the forecast reads the last FORECAST_DAYS days; the readings and hours of them all
        # say only whether there is enough history
        recent_from = now.date() - dt.timedelta(days=FORECAST_DAYS - 1)
        fill = waste_fill(window, toner, prior=prior_percent_per_gram(self.catalog.get(part)),
                          now=now, step=level_step(window), daily_from=recent_from)
        if fill is None:
            return None
        gpp = [t.grams_per_page for t in toners]
        if all(g is not None for g in gpp):
            # its drop between runs is watched through pages, at the fill per page
            st.percent_per_page = fill.percent_per_toner_gram * sum(gpp)  # type: ignore[arg-type]
        f = forecast(list(fill.daily), remaining=fill.free_percent, now=now,
                     supply_class=st.supply_class, window_days=FORECAST_DAYS,
                     readings=sum(d.readings for d in toner),
                     span_h=24.0 * sum(d.coverage for d in toner))
        if f.status == "warming_up":
            # its reason may name a day before the last FORECAST_DAYS
            every = waste_fill(window, toner, prior=prior_percent_per_gram(self.catalog.get(part)),
                               now=now, step=level_step(window))
            assert every is not None
            f = forecast(list(every.daily), remaining=every.free_percent, now=now,
                         supply_class=st.supply_class, window_days=FORECAST_DAYS)
        return f

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
        learning = self.level_changes is not None
        day = summary.period_end.date()
        for p in summary.supplies:
            sid = self.keys[(serial, str(p.index))]
            self.central[(serial, sid)] = _CentralSupply(
                p.days_to_empty, p.days_to_empty_low, p.daily_percent, p.spike,
                summary.period_end)
            if learning:  # central's supply history, as far back as a spike's ratio reads
                points = self.points.setdefault((serial, sid), {})
                points[day] = p.remaining_percent
                self.first_point.setdefault((serial, sid), day)
                while len(points) > USUAL_FROM_DAYS + 2:  # in day order: the oldest first
                    del points[next(iter(points))]

    def plan(self, day: int, now: dt.datetime,
             links: dict[tuple[str, str], SupplyLink]) -> list[Parcel]:
        if self.level_changes is not None:
            self._learn_changes(now)
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
        for order in plan(outlooks, [], self.settings, now, self.shipping,
                          self.level_changes).orders:
            lines = [Line(line.device_serial, self.keys[(line.device_serial, line.supply_key)],
                          line.quantity) for line in order.lines]
            parcels.append(Parcel(order.site_id, day, -1, lines))
        return parcels

    def delivered(self, parcel: Parcel) -> None:
        """A parcel arrived: its days on the way teach its site's shipping time."""
        times = self.shipped.setdefault(parcel.site_id, [])
        times.append(float(parcel.arrive_day - parcel.created_day))
        del times[:-SHIPPING_MEMORY]
        self.shipping[parcel.site_id] = learn_shipping(self.settings.shipping_days, times)

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
                    if self.level_changes is not None:
                        self._usage_change(alert.device_serial, alert.supply_key or "", now)
        self._active = active

    def _usage_change(self, serial: str, sid: str, now: dt.datetime) -> None:
        """A usage spike began: recorded with its ratio to the supply's usual use, as
        central records it (asr_central.service.replenish)."""
        c = self.central[(serial, sid)]
        points = sorted(self.points.get((serial, sid), {}).items())
        self.usage_changes.append((now.date(), change_ratio(c.daily_percent, points,
                                                            now.date())))

    def _learn_changes(self, now: dt.datetime) -> None:
        """Changes of use level learned from the last CHANGES_LOOKBACK's spikes and
        supply-days reported, as central learns them from its records."""
        first = (now - CHANGES_LOOKBACK).date()
        while self.usage_changes and self.usage_changes[0][0] < first:
            self.usage_changes.popleft()
        # each supply's days from its first daily point to its last, as central counts them
        # (asr_central.storage.policy_inputs.supply_days_since)
        watched = 0
        for key, since in self.first_point.items():
            last = next(reversed(self.points[key]))
            if last >= first:
                watched += (last - max(since, first)).days + 1
        self.level_changes = learn_level_changes(
            len(self.usage_changes), watched, [r for _, r in self.usage_changes])

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

    def match_premature(self) -> tuple[int, int]:
        """Premature installs the agent's consumption code flagged (within a day of them),
        and its false flags: those within a day of no premature install (each one a
        customer told of a waste that was not)."""
        flagged = false = 0
        for sim in self.sims:
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
            for sid, times in flags.items():
                early = [i.day for i in sim.installs if i.premature and i.supply_id == sid]
                false += sum(1 for t in times if not any(abs(t - d) <= 1.0 for d in early))
        return flagged, false
