"""The closed loop: simulated printers report, the product's own agent and central code turn the
readings into forecasts and orders, and parcels come back as units on hand.

    printers (model.py) ─► readings ─► agent consumption + forecast ─► summary (wire)
        ▲                                                                    │
        │ parcels after the shipping delay                                   ▼
    units on hand ◄──── orders ◄──── policy (ASR) or threshold ◄──── central ingest

Everything between "readings" and "orders" is the product's code, called in process; this
module only feeds it and carries its answers back. The threshold baseline is the one rule
written here, because it is not a product rule but the practice ASR is compared with.

Sites never meet: orders consolidate per site and contact, the carrier's delay is drawn per
(seed, site, day), alerts are per device, each printer draws from its own generator. So
`jobs` > 1 runs groups of sites in worker processes and merges their results into exactly
the single-process result; the one thing they share, the catalog (a waste bottle's yield is
rated over every printer using it), is made once from the whole fleet and handed to each.
Under the service order point sites do meet: central learns how often and how much use
changes level from the whole fleet's spikes, day by day (asr_central.domain.level_change),
so such a fleet runs in one process whatever `jobs` says.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import multiprocessing
import random
import threading
from dataclasses import dataclass, field

from asr_agent.domain.catalog import SupplyCatalog
from asr_core.wire import Summary
from asr_central.simulate import pipeline
from asr_central.simulate.fleet import Fleet, SiteSpec
from asr_central.simulate.model import DeviceSim
from asr_central.simulate.records import Line, Parcel, SupplyLink

POLICIES = ("asr", "threshold")


@dataclass(slots=True)
class DeviceHistory:
    """Per-day traces kept for the HTML report."""

    levels: dict[str, list[float]] = field(default_factory=dict)  # end-of-day percent
    orders: list[tuple[int, str, int]] = field(default_factory=list)  # day, supply, units
    deliveries: list[tuple[int, str, int]] = field(default_factory=list)
    installs: list[tuple[float, str, bool]] = field(default_factory=list)
    stockouts: list[tuple[int, str]] = field(default_factory=list)  # day, supply (part of day)


@dataclass(slots=True)
class SimResult:
    policy: str
    fleet: Fleet
    devices: list[DeviceSim]
    parcels: list[Parcel]
    units_on_hand_by_day: list[int]
    silent_alerts: int
    spike_alerts: int
    premature_flagged: int
    history: dict[str, DeviceHistory] | None
    placeholders: tuple[str, ...]
    # spike alerts begun during a spike event / outside one; spike events, of which flagged
    spike_split: tuple[int, int, int, int] = (0, 0, 0, 0)
    premature_false_flags: int = 0  # premature-replacement flags on no premature install


def _shipping_delay(seed: int, site_id: str, day: int, lo: int, hi: int) -> int:
    # drawn from (seed, site, day), not from a shared stream, so both policies meet the
    # same carrier on the same day whatever else they ordered
    return random.Random(f"{seed}:ship:{site_id}:{day}").randint(lo, hi)


def simulate(fleet: Fleet, policy: str = "asr", *, threshold_pct: float = 20.0,
             keep_history: bool = False, jobs: int = 1,
             summaries: list[Summary] | None = None) -> SimResult:
    """Run the fleet through the year; `jobs` > 1 shares its sites among that many worker
    processes, with the same result to the last bit (module docstring). `summaries`, if
    given, gets every summary the agent side builds, in order (one process only)."""
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}: expected one of {', '.join(POLICIES)}")
    if jobs < 1:
        raise ValueError(f"jobs {jobs}: expected at least 1")
    if summaries is not None and jobs > 1:
        raise ValueError("summaries are captured in one process: run with jobs=1")
    if policy == "asr" and fleet.order_point == "service":
        jobs = 1  # the fleet learns changes of level from all its sites (module docstring)
    groups = _shard(fleet.sites, jobs)
    if len(groups) <= 1:
        return _simulate(fleet, policy, threshold_pct, keep_history, None, summaries)
    catalog = pipeline.fleet_catalog(_sims(fleet))
    parts = [fleet.model_copy(update={"sites": group}) for group in groups]
    with concurrent.futures.ProcessPoolExecutor(len(parts), mp_context=_context()) as pool:
        results = list(pool.map(_simulate, parts, [policy] * len(parts),
                                [threshold_pct] * len(parts), [keep_history] * len(parts),
                                [catalog] * len(parts)))
    return _merge(fleet, policy, results)


def _context() -> multiprocessing.context.BaseContext:
    """fork starts a worker without importing the package again, but forking a process that
    runs other threads can copy a lock one of them holds: then a fresh interpreter."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _sims(fleet: Fleet) -> list[DeviceSim]:
    return [DeviceSim(site, spec, seed=fleet.seed, start=fleet.start, days=fleet.days)
            for site, spec in fleet.devices()]


def _shard(sites: tuple[SiteSpec, ...], jobs: int) -> list[tuple[SiteSpec, ...]]:
    """Sites in up to `jobs` groups of about equal work (supplies), each in fleet order."""
    n = min(jobs, len(sites))
    load = [0] * n
    member: list[list[int]] = [[] for _ in range(n)]
    work = [sum(len(d.supplies) for d in site.devices) for site in sites]
    for i in sorted(range(len(sites)), key=lambda i: -work[i]):  # largest first, to the least loaded
        g = load.index(min(load))
        load[g] += work[i]
        member[g].append(i)
    return [tuple(sites[i] for i in sorted(m)) for m in member if m]


def _merge(fleet: Fleet, policy: str, results: list[SimResult]) -> SimResult:
    """The single-process result from the results of groups of sites."""
    by_serial = {d.serial: d for r in results for d in r.devices}
    devices = [by_serial[spec.serial] for _, spec in fleet.devices()]
    rank = {d.serial: i for i, d in enumerate(devices)}
    if policy == "asr":
        # a day's orders come out of the policy sorted by site (one contact per site)
        def order(p: Parcel) -> tuple:
            return (p.created_day, p.site_id)
    else:
        # the threshold rule walks the printers in fleet order, a parcel per printer
        def order(p: Parcel) -> tuple:
            return (p.created_day, rank[p.lines[0].serial])
    parcels = sorted((p for r in results for p in r.parcels), key=order)
    on_hand = [sum(day) for day in zip(*(r.units_on_hand_by_day for r in results))]
    history = None
    if results[0].history is not None:
        merged = {k: v for r in results for k, v in r.history.items()}  # type: ignore[union-attr]
        history = {d.serial: merged[d.serial] for d in devices}
    return SimResult(policy, fleet, devices, parcels, on_hand,
                     sum(r.silent_alerts for r in results), sum(r.spike_alerts for r in results),
                     sum(r.premature_flagged for r in results), history, results[0].placeholders,
                     tuple(sum(x) for x in zip(*(r.spike_split for r in results))),
                     sum(r.premature_false_flags for r in results))


def _simulate(fleet: Fleet, policy: str, threshold_pct: float, keep_history: bool,
              catalog: SupplyCatalog | None, sink: list[Summary] | None = None) -> SimResult:
    start = fleet.start
    days = fleet.days
    sims = _sims(fleet)
    by_serial = {d.serial: d for d in sims}
    links = {(d.serial, sid): SupplyLink() for d in sims for sid in d.supplies}
    history = {d.serial: DeviceHistory(levels={sid: [] for sid in d.supplies})
               for d in sims} if keep_history else None
    agent = pipeline.Pipeline(fleet, sims, catalog, sink)
    lo, hi = fleet.shipping_days

    arrivals: dict[int, list[Parcel]] = {}
    parcels: list[Parcel] = []
    on_hand_by_day: list[int] = []

    for day in range(days):
        date = start + dt.timedelta(days=day)
        for parcel in arrivals.pop(day, ()):
            for line in parcel.lines:
                sim = by_serial[line.serial]
                sim.supplies[line.supply_id].on_hand += line.quantity
                link = links[(line.serial, line.supply_id)]
                link.on_order -= line.quantity
                link.delivered += line.quantity
                if history is not None:
                    history[line.serial].deliveries.append((day, line.supply_id, line.quantity))
            agent.delivered(parcel)

        for sim in sims:
            installs_before = len(sim.installs)
            sim.morning(day)
            outcome = sim.step(day, date)
            if outcome.reported:
                agent.observe(sim, day, outcome, links)
            if history is not None:
                h = history[sim.serial]
                for sid, s in sim.supplies.items():
                    h.levels[sid].append(s.pct)
                    if s.out_since is not None:
                        h.stockouts.append((day, sid))
                for ins in sim.installs[installs_before:]:
                    h.installs.append((ins.day, ins.supply_id, ins.premature))

        end_of_day = dt.datetime.combine(date, dt.time(23, 59))
        if policy == "asr":
            new = agent.plan(day, end_of_day, links)
        else:
            new = _threshold_orders(sims, links, threshold_pct, day)
        for parcel in new:
            parcel.arrive_day = day + _shipping_delay(fleet.seed, parcel.site_id, day, lo, hi)
            parcels.append(parcel)
            arrivals.setdefault(parcel.arrive_day, []).append(parcel)
            for line in parcel.lines:
                links[(line.serial, line.supply_id)].on_order += line.quantity
                if history is not None:
                    history[line.serial].orders.append((day, line.supply_id, line.quantity))
        agent.end_of_day(day, end_of_day)
        on_hand_by_day.append(sum(s.on_hand for d in sims for s in d.supplies.values()))

    for sim in sims:
        sim.close_stockouts(float(days))
    flagged, false_flags = agent.match_premature()
    return SimResult(policy, fleet, sims, parcels, on_hand_by_day, agent.silent_alerts,
                     agent.spike_alerts, flagged, history, agent.placeholders, agent.spike_split(),
                     false_flags)


def _threshold_orders(sims: list[DeviceSim], links: dict[tuple[str, str], SupplyLink],
                      threshold_pct: float, day: int) -> list[Parcel]:
    """Today's practice: one unit per supply at or below the threshold with nothing open."""
    out = []
    for sim in sims:
        lines = []
        for sid in sim.supplies:
            link = links[(sim.serial, sid)]
            if link.last_pct is None or link.last_pct > threshold_pct:
                continue
            if link.on_order > 0 or link.on_hand_known > 0:
                continue  # an open order: created, shipped, or delivered and not installed
            lines.append(Line(sim.serial, sid, 1))
        if lines:
            out.append(Parcel(sim.site.id, day, -1, lines))
    return out


__all__ = ["POLICIES", "Line", "Parcel", "SimResult", "simulate"]
