"""What the agent knows about each supply of a device right now: its consumption
analysis and its forecast, computed from the store's samples.

The one place that joins the store to the pure consumption and forecast modules, so
the daemon, its status page and `asr-agent status` all say the same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from asr_agent.domain.catalog import SupplyCatalog
from asr_agent.domain.consumption import PREMATURE_THRESHOLD_PCT, SupplyAnalysis, analyze
from asr_agent.domain.forecast import Forecast, forecast
from asr_agent.domain.running import SupplyState, Unsettled
from asr_agent.domain.waste import (
    level_step, prior_percent_per_gram, says_little, toner_days, waste_fill,
)
from asr_core.records import SupplyClass
from asr_agent.adapters.store import Store, StoredSupply

if TYPE_CHECKING:  # the config module imports the store; the settings only read it
    from asr_agent.app.config import AgentConfig

# Enough history for a weekly profile and a completed cartridge or two, and no more:
# the analysis runs at every summary, so its input stays bounded.
HISTORY = timedelta(days=120)


@dataclass(frozen=True, slots=True)
class Settings:
    premature_threshold_pct: float = PREMATURE_THRESHOLD_PCT
    min_span_h: float = 24.0
    min_readings: int = 2
    tz: tzinfo = UTC  # which calendar day a moment belongs to (the site's, for weekday profiles)

    @classmethod
    def from_config(cls, cfg: AgentConfig) -> Settings:
        return cls(premature_threshold_pct=cfg.consumption.premature_threshold_pct,
                   min_span_h=cfg.forecast.min_span_h,
                   min_readings=cfg.forecast.min_readings, tz=cfg.site.tz())


@dataclass(frozen=True, slots=True)
class SupplyInsight:
    supply: StoredSupply
    analysis: SupplyAnalysis
    forecast: Forecast



@dataclass(slots=True)
class _Held:
    key: tuple[object, ...]  # what the state was made with
    state: SupplyState
    since: datetime  # the history it holds starts here
    last_at: datetime  # and runs to its last sample


class RunningAnalyses:
    """Each supply's analysis carried from summary to summary (asr_agent.domain.running),
    so that a summary reads only the samples stored since the last one.

    A state begins with the store's last HISTORY of samples and grows from there; once
    it holds twice HISTORY it begins again from the last HISTORY, so the analysis always
    covers between one and two HISTORYs. Only settled states are kept (a few running
    figures and the days measured); a supply whose estimate may still change (coarse
    steps, "some remaining", use read from pages) is analysed from the store each time,
    as without this, so its samples are never held in memory.
    """

    def __init__(self) -> None:
        self._held: dict[tuple[str, int], _Held] = {}

    def __len__(self) -> int:
        """Supplies whose analysis is carried."""
        return len(self._held)

    def forget_all_but(self, serials: set[str | None]) -> None:
        for k in [k for k in self._held if k[0] not in serials]:
            del self._held[k]

    def analysis(self, store: Store, supply: StoredSupply, *, now: datetime,
                 settings: Settings, catalog: SupplyCatalog | None) -> SupplyAnalysis:
        where = (supply.serial, supply.index)
        key = (supply.type, supply.supply_class, id(catalog), settings.premature_threshold_pct,
               settings.tz)
        held = self._held.pop(where, None)
        if held is not None and held.key == key and now - held.since < 2 * HISTORY:
            new = [s for s in store.samples_for(supply.serial, supply.index, since=held.last_at)
                   if s.taken_at > held.last_at]
            try:
                held.state.feed(new)
            except Unsettled:
                held = None
            else:
                if new:
                    held.last_at = new[-1].taken_at
        else:
            held = None
        if held is None:
            since = now - HISTORY
            samples = store.samples_for(supply.serial, supply.index, since=since)
            state = SupplyState.of(samples, **_settings(supply, settings, catalog))
            held = _Held(key, state, since, samples[-1].taken_at if samples else since)
        if held.state.settled:
            self._held[where] = held
        return held.state.analysis()


def _settings(supply: StoredSupply, settings: Settings, catalog: SupplyCatalog | None
              ) -> dict[str, object]:
    return dict(supply_type=supply.type, supply_class=supply.supply_class, catalog=catalog,
                premature_threshold_pct=settings.premature_threshold_pct, tz=settings.tz)


def supply_insight(store: Store, supply: StoredSupply, *, now: datetime, settings: Settings,
                   catalog: SupplyCatalog | None,
                   running: RunningAnalyses | None = None) -> SupplyInsight:
    """`running`: the analyses carried from earlier calls (else the store's last HISTORY is
    analysed afresh)."""
    if running is not None:
        analysis = running.analysis(store, supply, now=now, settings=settings, catalog=catalog)
    else:
        samples = store.samples_for(supply.serial, supply.index, since=now - HISTORY)
        analysis = analyze(samples, **_settings(supply, settings, catalog))  # type: ignore[arg-type]
    # The analysis' remaining share: the reported one, or estimated from the page counter
    # between the steps of a coarse reporter.
    fc = forecast(analysis.daily, remaining=analysis.remaining_percent, now=now.astimezone(settings.tz),
                  supply_class=supply.supply_class or SupplyClass.CONSUMED,
                  min_span_h=settings.min_span_h, min_readings=settings.min_readings,
                  readings=analysis.readings, span_h=analysis.span_h)
    return SupplyInsight(supply, analysis, fc)


def device_insights(store: Store, serial: str, *, now: datetime, settings: Settings,
                    catalog: SupplyCatalog | None, indexes: Iterable[int] | None = None,
                    running: RunningAnalyses | None = None) -> dict[int, SupplyInsight]:
    """Every supply of one device (or those of `indexes`); a waste bottle that says little
    (coarse steps, "some remaining") is forecast from the device's toner use."""
    wanted = set(indexes) if indexes is not None else None
    supplies = store.supplies_of(serial)
    out = {s.index: supply_insight(store, s, now=now, settings=settings, catalog=catalog,
                                   running=running)
           for s in supplies if wanted is None or s.index in wanted}
    bottles = [i for i in out.values() if says_little(i.analysis, i.supply.supply_class)]
    if bottles:
        toners = {s.index: out.get(s.index) or supply_insight(
                      store, s, now=now, settings=settings, catalog=catalog, running=running)
                  for s in supplies if s.supply_class == SupplyClass.CONSUMED}
        for b in bottles:
            fc = _waste_forecast(store, b, list(toners.values()), now=now, settings=settings,
                                 catalog=catalog)
            if fc is not None:
                out[b.supply.index] = SupplyInsight(b.supply, b.analysis, fc)
    return out


def _waste_forecast(store: Store, bottle: SupplyInsight, toners: list[SupplyInsight], *,
                    now: datetime, settings: Settings,
                    catalog: SupplyCatalog | None) -> Forecast | None:
    if not toners:
        return None
    samples = store.samples_for(bottle.supply.serial, bottle.supply.index, since=now - HISTORY)
    part = bottle.supply.part_number or (samples[-1].part_number if samples else None)
    prior = prior_percent_per_gram(catalog.get(part)) if catalog is not None else None
    local = now.astimezone(settings.tz)
    fill = waste_fill(samples, toner_days([t.analysis.daily for t in toners]), prior=prior,
                      now=local, step=level_step(samples))
    if fill is None:
        return None
    return forecast(fill.daily, remaining=fill.free_percent, now=local,
                    supply_class=SupplyClass.RECEPTACLE, min_span_h=settings.min_span_h,
                    min_readings=settings.min_readings, readings=bottle.analysis.readings,
                    span_h=bottle.analysis.span_h)
