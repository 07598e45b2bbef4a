"""The product's own code, called in process for the simulator: agent consumption and forecast,
the agent's summary builder, the wire format, central's policy and alert rules. The simulator's only door into product rules.

Each day a device reported, each supply's recent samples go through the agent's
`consumption.analyze` (a short window: yesterday and today, longer for coarse and -3
reporters whose estimate needs the last step), the daily use it measures is kept per day,
and `forecast.forecast` runs over the last FORECAST_DAYS of it, as the agent would from its
store. The device's summary (asr_agent.summary) goes out and back through the wire
format's dict form, and
central's view of each supply is what the decoded summary says. The policy runs once per
simulated day over every supply; the alert rules run once per day over every device.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from asr_agent import wire
from asr_agent.catalog import CatalogEntry, SupplyCatalog
from asr_agent.consumption import (
    PREMATURE_REPLACEMENT, DailyUse, SupplyAnalysis, analyze, is_replacement,
)
from asr_agent.forecast import Forecast, forecast
from asr_agent.records import Device, Reading, Sample, Supply, SupplyClass, SupplyType
from asr_agent.summary import build_summary
from asr_central.alerts import AlertKind, DeviceFacts, SupplyFacts, evaluate
from asr_central.policy import (
    PolicySettings, SilentState, SupplyKind, SupplyOutlook, plan, silent_days, silent_state,
)
from asr_central.simulate.model import GRAMS_PER_PAGE

if TYPE_CHECKING:
    from asr_central.simulate.fleet import Fleet
    from asr_central.simulate.loop import Parcel, _SupplyLink
    from asr_central.simulate.model import DayOutcome, DeviceSim

FORECAST_DAYS = 28  # days of daily use the forecast sees
SHORT_WINDOW_DAYS = 2  # percent and tenths-of-grams reporters: yesterday and today
RECENT_DAYS = 3  # coarse and -3 reporters: recent samples kept whole, older ones compressed
# Scheduling of the agent's analysis (a cost saving of the simulator, not a product rule):
# a supply whose last forecast leaves it well clear of the policy's horizon is analysed
# again only after REFRESH_DAYS, at once when a reading shows a replacement, and every day
# once its counted-down cover comes within the horizon plus REFRESH_MARGIN_DAYS.
REFRESH_DAYS = 3
REFRESH_MARGIN_DAYS = 10.0

_TYPES = {"toner": SupplyType.TONER, "ink": SupplyType.INK,
          "waste_toner": SupplyType.WASTE_TONER, "waste_ink": SupplyType.WASTE_INK}


@dataclass(slots=True)
class _AgentSupply:
    """What the agent keeps about one supply between runs."""

    index: int
    type: SupplyType
    supply_class: SupplyClass
    samples: deque[Sample]
    daily: dict[dt.date, DailyUse] = field(default_factory=dict)
    percent_per_page: float | None = None
    grams_per_page: float | None = None
    last_run_day: int = -10**6
    # coarse and -3 reporters: the samples their page-counter estimate needs from further
    # back (first and last of each of the last two cartridges, first at each level step)
    checkpoints: list[Sample] | None = None
    changed: bool = True  # a reading since the last run looks like a replacement


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
            del cps[:lives[-2]]
        return
    prev = st.samples[-1] if st.samples else cps[-1]
    if sample.remaining_percent != prev.remaining_percent or sample.level_state != prev.level_state:
        cps.append(sample)  # first sample at a new level step


def _life_starts(cps: list[Sample]) -> list[int]:
    out = [0]
    for i in range(1, len(cps)):
        if is_replacement(cps[i - 1], cps[i]):
            out.append(i)
    return out


def fleet_catalog(sims: list[DeviceSim]) -> SupplyCatalog:
    """The catalog the simulated printers' parts would have: grams and ISO-like yield.

    A toner's rated yield is its grams at GRAMS_PER_PAGE. A waste bottle's rated yield
    (pages until full) is taken at the mean waste per page of the printers that use that
    part, as a maker rates a bottle for its printer models.
    """
    waste_per_page: dict[str, list[float]] = {}
    for sim in sims:
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
            entries[s.part_number] = CatalogEntry(
                s.part_number, _TYPES[s.spec.type], s.spec.color, s.capacity, yield_pages)
    return SupplyCatalog(entries)


class Pipeline:
    def __init__(self, fleet: Fleet, sims: list[DeviceSim]) -> None:
        self.settings = PolicySettings(
            **{k: float(v) for k, v in (("lead_days", fleet.lead_days),
                                         ("supply_days", fleet.supply_days),
                                         ("pull_forward_days", fleet.pull_forward_days))
               if v is not None})
        self.sims = sims
        self.catalog = fleet_catalog(sims)
        self.agent: dict[tuple[str, str], _AgentSupply] = {}
        self.keys: dict[tuple[str, str], str] = {}  # (serial, policy key) -> supply id
        for sim in sims:
            per_day = len(sim.report_fracs)
            coarse = sim.report_mode in ("coarse", "some_remaining")
            days = RECENT_DAYS + REFRESH_DAYS if coarse else SHORT_WINDOW_DAYS + REFRESH_DAYS
            for i, (sid, s) in enumerate(sim.supplies.items(), start=1):
                t = _TYPES[s.spec.type]
                self.agent[(sim.serial, sid)] = _AgentSupply(
                    i, t, SupplyClass.RECEPTACLE if t.is_waste else SupplyClass.CONSUMED,
                    deque(maxlen=per_day * days), checkpoints=[] if coarse else None)
                self.keys[(sim.serial, str(i))] = sid
        self.central: dict[tuple[str, str], _CentralSupply] = {}
        self.last_report: dict[str, dt.datetime] = {}
        self.sequence: dict[str, int] = {}
        self.premature: set[tuple[str, str, dt.datetime]] = set()
        self.silent_alerts = 0
        self.spike_alerts = 0
        self._active: set[str] = set()
        self.placeholders: tuple[str, ...] = (
            "central ingest: summaries go through the wire dict form (to_dict/from_dict) "
            "but are not signed, verified, encoded nor stored through "
            "asr_central.store.summaries; measured in process that full path costs about "
            "1.1 ms per summary (encode 0.26, sign 0.14, verify 0.29, decode 0.19, "
            "store in in-memory SQLite 0.20), about 6 minutes for a 1,000-device year",
        )

    # --- agent side ---------------------------------------------------------------------

    def _due_for_run(self, serial: str, sid: str, st: _AgentSupply, day: int, now: dt.datetime,
                     stock: int) -> bool:
        if st.changed or day - st.last_run_day >= REFRESH_DAYS:
            return True
        c = self.central.get((serial, sid))
        if c is None or c.days_to_empty is None or not c.daily_percent:
            return True
        low = c.days_to_empty_low if c.days_to_empty_low is not None else c.days_to_empty
        cover = low - (now - c.as_of).total_seconds() / 86400.0 + stock * 100.0 / c.daily_percent
        horizon = self.settings.lead_days + self.settings.pull_forward_days
        return cover <= horizon + REFRESH_MARGIN_DAYS

    def observe(self, sim: DeviceSim, day: int, outcome: DayOutcome,
                links: dict[tuple[str, str], _SupplyLink]) -> None:
        for _at, _count, samples in outcome.readings:
            for sid, sample in samples.items():
                st = self.agent[(sim.serial, sid)]
                replaced = bool(st.samples) and is_replacement(st.samples[-1], sample)
                if replaced:
                    st.changed = True
                if st.checkpoints is not None:
                    _checkpoint(st, sample, replaced)
                st.samples.append(sample)
        first_at, first_count, _ = outcome.readings[0]
        last_at, last_count, _ = outcome.readings[-1]
        supplies: list[Supply] = []
        analyses: dict[int, SupplyAnalysis] = {}
        forecasts: dict[int, Forecast] = {}
        for sid, s in sim.supplies.items():
            st = self.agent[(sim.serial, sid)]
            if not self._due_for_run(sim.serial, sid, st, day, last_at,
                                     s.on_hand + links[(sim.serial, sid)].on_order):
                continue
            st.last_run_day = day
            st.changed = False
            window = (list(st.samples) if st.checkpoints is None else
                      sorted({x.taken_at: x for x in st.checkpoints + list(st.samples)}.values(),
                             key=lambda x: x.taken_at))
            a = analyze(window, supply_type=st.type, supply_class=st.supply_class,
                        catalog=self.catalog, percent_per_page=st.percent_per_page,
                        grams_per_page=st.grams_per_page)
            if a.percent_per_page is not None:
                st.percent_per_page, st.grams_per_page = a.percent_per_page, a.grams_per_page
            recent_from = st.samples[0].taken_at.date() + dt.timedelta(days=1)
            for d in a.daily:
                # compressed history smears use over old days: keep only the recent ones
                if st.checkpoints is None or d.day >= recent_from:
                    st.daily[d.day] = d
            oldest = last_at.date() - dt.timedelta(days=FORECAST_DAYS)
            for d in [d for d in st.daily if d <= oldest]:
                del st.daily[d]
            for flag in a.flags:
                if flag.kind == PREMATURE_REPLACEMENT:
                    self.premature.add((sim.serial, sid, flag.at))
            f = forecast(sorted(st.daily.values(), key=lambda d: d.day),
                         remaining=a.remaining_percent, now=last_at,
                         supply_class=st.supply_class, window_days=FORECAST_DAYS)
            last = st.samples[-1]
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
        self._ingest(wire.Summary.from_dict(summary.to_dict()))

    # --- central side -------------------------------------------------------------------

    def _ingest(self, summary: wire.Summary) -> None:
        serial = summary.device.serial
        self.last_report[serial] = summary.period_end
        # a supply not analysed today is left out of the summary, so central keeps its
        # previous forecast and counts it down from that forecast's time
        for p in summary.supplies:
            sid = self.keys[(serial, str(p.index))]
            self.central[(serial, sid)] = _CentralSupply(
                p.days_to_empty, p.days_to_empty_low, p.daily_percent, p.spike,
                summary.period_end)

    def plan(self, day: int, now: dt.datetime,
             links: dict[tuple[str, str], _SupplyLink]) -> list[Parcel]:
        from asr_central.simulate.loop import Line, Parcel

        outlooks = []
        for sim in self.sims:
            last = self.last_report.get(sim.serial)
            state = silent_state(silent_days(last, now), self.settings)
            for sid, s in sim.supplies.items():
                c = self.central.get((sim.serial, sid))
                if c is None:
                    continue
                outlooks.append(SupplyOutlook(
                    device_serial=sim.serial, site_id=sim.site.id,
                    contact_id=sim.site.contact, supply_key=str(self.agent[(sim.serial, sid)].index),
                    supply_kind=SupplyKind.WASTE if s.waste else SupplyKind.CONSUMABLE,
                    days_to_empty=c.days_to_empty, days_to_empty_low=c.days_to_empty_low,
                    daily_units=None if c.daily_percent is None else c.daily_percent / 100.0,
                    units_on_hand=s.on_hand, open_units=links[(sim.serial, sid)].on_order,
                    last_report_at=c.as_of, device_silent_state=state,
                    part_number=s.part_number))
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
        self._active = active

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
