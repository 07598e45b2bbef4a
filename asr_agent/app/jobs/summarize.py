"""The summarize job: after each poll round, each printer's supplies analysed (at most
once a summary period: a supply whose estimate has not settled is analysed from months
of samples; the others carry their analysis and read only new samples) and, once its
period is over and the agent is enrolled, a signed summary queued in the outbox. Runs on
the store's thread; one printer's fault is logged against it and the others go on."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from asr_agent.adapters.store import Store
from asr_core.codes import Code
from asr_agent.app import insight
from asr_agent.app.config import AgentConfig
from asr_agent.app.insight import Settings, SupplyInsight
from asr_agent.app.jobs import Clock
from asr_agent.domain.catalog import SupplyCatalog
from asr_agent.domain.forecast import Forecast
from asr_agent.domain.summary import build_summary
from asr_core.records import Reading
from asr_core.wire import DeviceState as WireState

if TYPE_CHECKING:
    from asr_agent.adapters.keys import AgentKey
    from asr_agent.adapters.uplink import AgentIdentity

__all__ = ["SummarizeJob", "SupplyOutlook", "outlook"]

log = logging.getLogger("asr.daemon")


@dataclass(frozen=True, slots=True)
class SupplyOutlook:
    """What the status page shows of a supply's last analysis until the next one: its
    flag codes (with `usage_spike` from the forecast) and its forecast. The analysis itself
    (samples, per-day use, cartridge lives) is not kept: ~8 KiB a printer."""

    flags: tuple[Code, ...]
    forecast: Forecast


def outlook(supply: SupplyInsight) -> SupplyOutlook:
    """The SupplyOutlook of a SupplyInsight."""
    flags = {f.kind for f in supply.analysis.flags}
    if supply.forecast.spike:
        flags.add(Code.USAGE_SPIKE)
    return SupplyOutlook(tuple(sorted(flags)), supply.forecast)


class SummarizeJob:
    """Analyses and summaries per printer, and what the status page keeps of them."""

    def __init__(self, store: Store, catalog: SupplyCatalog | None, clock: Clock) -> None:
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.last_summary_end: dict[str, datetime] = {}
        self.insights: dict[str, dict[int, SupplyOutlook]] = {}
        self.insight_at: dict[str, datetime] = {}  # when each device was last analysed
        self.running = insight.RunningAnalyses()  # so each analysis reads only new samples

    def forget_all_but(self, serials: set[str | None]) -> None:
        """Drop what is kept of printers no longer polled (config reloaded)."""
        for serial in [s for s in self.insights if s not in serials]:
            del self.insights[serial]
            self.insight_at.pop(serial, None)
        self.running.forget_all_but(serials)

    def run(self, cfg: AgentConfig, readings: list[Reading], identity: AgentIdentity | None,
            key_dir: Path) -> None:
        now = self.clock()
        settings = Settings.from_config(cfg)
        key = None
        if identity is not None:
            # Imported only by an enrolled agent: the signing stack costs ~10 MiB of RSS
            # (bench/agent_daemon.py), which an agent that only shows its printers never pays.
            from asr_agent.adapters.keys import load_or_create

            key = load_or_create(key_dir)
        period = timedelta(minutes=cfg.central.summary_interval_min)
        for reading in readings:
            try:
                self._one(cfg, reading, now, settings, identity, key, period)
            except Exception:  # one printer's fault must never cost the others their summary
                log.exception("summary of printer %s (%s:%s) failed; the other printers go on",
                              reading.device.serial, reading.host, reading.port)

    def _one(self, cfg: AgentConfig, reading: Reading, now: datetime, settings: Settings,
             identity: AgentIdentity | None, key: AgentKey | None, period: timedelta) -> None:
        serial = reading.device.serial
        if serial is None:
            return
        start = self.last_summary_end.get(serial)
        due = start is not None and now - start >= period
        analysed = self.insight_at.get(serial)
        if not due and analysed is not None and now - analysed < period:
            return  # analysis reads months of samples: once per summary period is enough
        insights = insight.device_insights(self.store, serial, now=now, settings=settings,
                                           catalog=self.catalog, running=self.running)
        # Kept for the status page until the next analysis: flags and forecast only.
        self.insights[serial] = {i: outlook(s) for i, s in insights.items()}
        self.insight_at[serial] = now
        if start is None:
            self.last_summary_end[serial] = now
            return  # the first period starts at the first reading
        if identity is None or key is None or not due:
            return
        from asr_agent.adapters.uplink import queue_summary  # enrolled only: see run()

        state = self.store.device(serial)
        summary = build_summary(
            agent_id=identity.agent_id, site_id=cfg.site.id,
            contact=cfg.site.contact.email if cfg.site.contact else None,
            reading=reading, period_start=start, period_end=now,
            sequence=self.store.next_sequence(),
            device_state=WireState(state.state) if state else WireState.OK,
            analyses={i: s.analysis for i, s in insights.items()},
            forecasts={i: s.forecast for i, s in insights.items()},
            mask_ip_addresses=cfg.central.mask_ip_addresses)
        queue_summary(self.store, summary, key)
        self.last_summary_end[serial] = now
