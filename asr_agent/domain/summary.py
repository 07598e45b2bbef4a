"""Builds the wire `Summary` of one device for one period from what the agent knows.

Pure: the latest reading, consumption analyses and forecasts in; a `Summary` out. No I/O.

Inputs, per supply index:
* `analyses`: `consumption.analyze` over the supply's history (cartridge lives, flags);
  replacements whose removal falls in the period become cartridge events. Its flags
  are not sent: central derives its alerts from the supplies' `spike` and the events'
  `premature` (see asr_core.codes), so the summary's `alerts` list stays empty.
* `period_analyses`: `consumption.analyze` over the period's samples only; its
  `grams_used` is the period's use. Absent: grams used is null (unknown, not zero).
* `forecasts`: `forecast.forecast` for the supply; absent: status "none", no figures.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from asr_core.records import Reading
from asr_core.wire import (
    CartridgeEvent, DeviceIdentity, DeviceState, PageCounters, Summary, SupplySummary,
    idempotency_key,
)

if TYPE_CHECKING:
    from asr_agent.domain.consumption import SupplyAnalysis
    from asr_agent.domain.forecast import Forecast

__all__ = ["build_summary", "cartridge_events"]


def _in(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def cartridge_events(index: int, analysis: SupplyAnalysis, start: datetime,
                     end: datetime) -> list[CartridgeEvent]:
    """Replacements of one supply whose removal happened in [start, end)."""
    out: list[CartridgeEvent] = []
    lives = analysis.lives
    for i, life in enumerate(lives):
        if not _in(life.removed_at, start, end):
            continue
        assert life.removed_at is not None
        successor = lives[i + 1] if i + 1 < len(lives) else None
        out.append(CartridgeEvent(
            supply_index=index, replaced_at=life.removed_at, premature=life.premature,
            grams_wasted=life.grams_wasted, removed_percent=life.level_at_removal,
            cartridge_serial=successor.cartridge_serial if successor else None,
            previous_serial=life.cartridge_serial,
            part_number=successor.part_number if successor else life.part_number))
    return out


def build_summary(
    *,
    agent_id: str,
    site_id: str,
    contact: str | None,
    reading: Reading,
    period_start: datetime,
    period_end: datetime,
    sequence: int,
    device_state: DeviceState = DeviceState.OK,
    serial: str | None = None,
    analyses: Mapping[int, SupplyAnalysis] | None = None,
    period_analyses: Mapping[int, SupplyAnalysis] | None = None,
    forecasts: Mapping[int, Forecast] | None = None,
    page_count_start: int | None = None,
    mask_ip_addresses: bool = False,
) -> Summary:
    """`serial` overrides the reading's serial (a device without one keeps the id
    discovery gave it); `reading` is the latest reading at or before `period_end`."""
    device_serial = serial or reading.device.serial
    if not device_serial:
        raise ValueError(f"device at {reading.host}:{reading.port} has no serial and no "
                         "fallback identity: pass serial= from the device registry")
    analyses = analyses or {}
    period_analyses = period_analyses or {}
    forecasts = forecasts or {}

    supplies: list[SupplySummary] = []
    events: list[CartridgeEvent] = []
    for s in sorted(reading.supplies, key=lambda x: x.index):
        fc = forecasts.get(s.index)
        whole = analyses.get(s.index)
        part = period_analyses.get(s.index)
        analysis = part or whole
        basis = analysis.grams_basis if analysis else None
        supplies.append(SupplySummary(
            index=s.index, type=s.type, supply_class=s.supply_class, color=s.color,
            level=s.level, level_state=s.level_state, remaining_percent=s.remaining_percent,
            grams_used=part.grams_used if part else None,
            daily_grams=fc.daily_grams if fc else None,
            daily_percent=fc.daily_percent if fc else None,
            days_to_empty=fc.days_to_empty if fc else None,
            days_to_empty_low=fc.days_to_empty_low if fc else None,
            days_to_empty_high=fc.days_to_empty_high if fc else None,
            forecast_status=fc.status if fc else "none",
            part_number=s.part_number, cartridge_serial=s.cartridge_serial,
            spike=bool(fc and fc.spike),
            grams_estimated=basis is not None and basis != "measured"))
        if whole is not None:
            events.extend(cartridge_events(s.index, whole, period_start, period_end))
    device = DeviceIdentity(
        serial=device_serial, vendor=reading.device.vendor, model=reading.device.model,
        asr_compatible=reading.device.asr_compatible,
        address=None if mask_ip_addresses else reading.host)
    return Summary(
        agent_id=agent_id, site_id=site_id, contact=contact, sequence=sequence,
        idempotency_key=idempotency_key(agent_id, device_serial, period_start, period_end),
        period_start=period_start, period_end=period_end, device=device,
        device_state=device_state, supplies=tuple(supplies),
        page_counters=PageCounters(start=page_count_start, end=reading.page_count),
        cartridge_events=tuple(sorted(events, key=lambda e: (e.replaced_at, e.supply_index))),
        alerts=())
