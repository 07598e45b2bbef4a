"""The product's own code, called in process for the simulator: agent consumption, forecast and
summary, central ingest, policy and alerts. The simulator's only door into product rules.

Each day a device reported, its last WINDOW_DAYS of samples go through the agent's code
(not the whole history: the agent itself forecasts from a recent window), the summary it
builds goes through central's ingest, and the policy runs once per simulated day.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import TYPE_CHECKING

from asr_agent.records import Sample
from asr_central.policy import (
    PolicySettings, SilentState, SupplyKind, SupplyOutlook, plan_orders,
)

if TYPE_CHECKING:
    from asr_central.simulate.fleet import Fleet
    from asr_central.simulate.loop import _SupplyLink
    from asr_central.simulate.model import DayOutcome, DeviceSim


class _Forecast:
    """What the simulator needs to know of one supply's forecast."""

    __slots__ = ("daily_percent", "days_to_empty", "days_to_empty_low", "spike",
                 "premature_at")

    def __init__(self, daily_percent: float | None, days_to_empty: float | None,
                 days_to_empty_low: float | None, spike: bool,
                 premature_at: list[dt.datetime]) -> None:
        self.daily_percent = daily_percent
        self.days_to_empty = days_to_empty
        self.days_to_empty_low = days_to_empty_low
        self.spike = spike
        self.premature_at = premature_at


def _placeholder_forecast(samples: list[Sample]) -> _Forecast:
    """PLACEHOLDER until asr_agent.forecast lands: slope of remaining percent since the last
    upward jump. Not a product rule; never reported as one."""
    pts = [(s.taken_at, s.remaining_percent) for s in samples if s.remaining_percent is not None]
    if len(pts) < 2:
        return _Forecast(None, None, None, False, [])
    start = 0
    for i in range(1, len(pts)):
        if pts[i][1] > pts[i - 1][1] + 5:
            start = i
    seg = pts[start:]
    if len(seg) < 2:
        return _Forecast(None, None, None, False, [])
    span = (seg[-1][0] - seg[0][0]).total_seconds() / 86400
    if span < 1:
        return _Forecast(None, None, None, False, [])
    rate = (seg[0][1] - seg[-1][1]) / span
    if rate <= 0:
        return _Forecast(0.0, None, None, False, [])
    dte = seg[-1][1] / rate
    return _Forecast(rate, dte, dte * 0.8, False, [])


class Pipeline:
    def __init__(self, fleet: Fleet, sims: list[DeviceSim], *, window_days: int) -> None:
        self.settings = PolicySettings(
            **{k: float(v) for k, v in (("lead_days", fleet.lead_days),
                                         ("supply_days", fleet.supply_days)) if v is not None})
        self.sims = sims
        self.windows: dict[tuple[str, str], deque[Sample]] = {}
        for sim in sims:
            per_day = len(sim.report_fracs)
            for sid in sim.supplies:
                self.windows[(sim.serial, sid)] = deque(maxlen=per_day * window_days)
        self.forecasts: dict[tuple[str, str], _Forecast] = {}
        self.last_report: dict[str, dt.datetime] = {}
        self.silent_alerts = 0
        self.spike_alerts = 0
        self.placeholders: tuple[str, ...] = (
            "forecast: asr_agent.forecast not integrated yet (placeholder slope)",
            "summary/ingest: asr_agent.summary and asr_central.store.summaries not integrated",
            "alerts: silent and spike alerts not counted yet",
        )

    def observe(self, sim: DeviceSim, day: int, outcome: DayOutcome) -> None:
        for _at, _count, samples in outcome.readings:
            for sid, sample in samples.items():
                self.windows[(sim.serial, sid)].append(sample)
        self.last_report[sim.serial] = outcome.readings[-1][0]
        for sid in sim.supplies:
            self.forecasts[(sim.serial, sid)] = _placeholder_forecast(
                list(self.windows[(sim.serial, sid)]))

    def plan(self, day: int, now: dt.datetime,
             links: dict[tuple[str, str], _SupplyLink]) -> list:
        from asr_central.simulate.loop import Line, Parcel

        outlooks = []
        for sim in self.sims:
            last = self.last_report.get(sim.serial)
            for sid, s in sim.supplies.items():
                f = self.forecasts.get((sim.serial, sid))
                if f is None:
                    continue
                outlooks.append(SupplyOutlook(
                    device_serial=sim.serial, site_id=sim.site.id,
                    contact_id=sim.site.contact, supply_key=sid,
                    supply_kind=SupplyKind.WASTE if s.waste else SupplyKind.CONSUMABLE,
                    days_to_empty=f.days_to_empty, days_to_empty_low=f.days_to_empty_low,
                    daily_units=None if f.daily_percent is None else f.daily_percent / 100.0,
                    units_on_hand=s.on_hand, open_units=links[(sim.serial, sid)].on_order,
                    last_report_at=last, device_silent_state=SilentState.OK,
                    part_number=s.spec.part_number))
        parcels = []
        for order in plan_orders(outlooks, [], self.settings, now):
            lines = [Line(line.device_serial, line.supply_key, line.quantity)
                     for line in order.lines]
            parcels.append(Parcel(order.site_id, day, -1, lines))
        return parcels

    def end_of_day(self, day: int, now: dt.datetime) -> None:
        return None

    def match_premature(self) -> int:
        return 0
