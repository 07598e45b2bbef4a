"""The closed loop: simulated printers report, the product's own agent and central code turn the
readings into forecasts and orders, and parcels come back as units on hand.

    printers (model.py) ─► readings ─► agent consumption + forecast ─► summary (wire)
        ▲                                                                    │
        │ parcels after the shipping delay                                   ▼
    units on hand ◄──── orders ◄──── policy (ASR) or threshold ◄──── central ingest

Everything between "readings" and "orders" is the product's code, called in process; this
module only feeds it and carries its answers back. The threshold baseline is the one rule
written here, because it is not a product rule but the practice ASR is compared with.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from asr_central.simulate import pipeline
from asr_central.simulate.fleet import Fleet
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


def _shipping_delay(seed: int, site_id: str, day: int, lo: int, hi: int) -> int:
    # drawn from (seed, site, day), not from a shared stream, so both policies meet the
    # same carrier on the same day whatever else they ordered
    return random.Random(f"{seed}:ship:{site_id}:{day}").randint(lo, hi)


def simulate(fleet: Fleet, policy: str = "asr", *, threshold_pct: float = 20.0,
             keep_history: bool = False) -> SimResult:
    if policy not in POLICIES:
        raise ValueError(f"policy {policy!r}: expected one of {', '.join(POLICIES)}")
    start = fleet.start
    days = fleet.days
    sims = [DeviceSim(site, spec, seed=fleet.seed, start=start, days=days)
            for site, spec in fleet.devices()]
    by_serial = {d.serial: d for d in sims}
    links = {(d.serial, sid): SupplyLink() for d in sims for sid in d.supplies}
    history = {d.serial: DeviceHistory(levels={sid: [] for sid in d.supplies})
               for d in sims} if keep_history else None
    agent = pipeline.Pipeline(fleet, sims)
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
    flagged = agent.match_premature()
    return SimResult(policy, fleet, sims, parcels, on_hand_by_day, agent.silent_alerts,
                     agent.spike_alerts, flagged, history, agent.placeholders)


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
