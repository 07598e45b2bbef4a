"""The deliver job: after summarize, the outbox kept within its bound and drained to
central, keys retired once nothing signed with them waits, and central's order status
fetched for the status page. Runs on the store's thread, only for an enrolled agent
(the daemon builds the uplink only then)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from asr_agent.adapters.keys import load_or_create
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import AgentIdentity, Uplink, bound_outbox
from asr_agent.app.config import AgentConfig
from asr_agent.app.jobs import Clock
from asr_agent.app.metrics import AgentMetrics
from asr_core.errors import AsrError
from asr_core.wire import OrderStatus

__all__ = ["DeliverJob"]

log = logging.getLogger("asr.daemon")


class DeliverJob:
    """Sends what summarize queued; keeps central's last order status answer."""

    def __init__(self, uplink: Uplink, store: Store, metrics: AgentMetrics, clock: Clock) -> None:
        self.uplink = uplink
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.order_status: dict[tuple[str, int], OrderStatus] = {}  # (serial, supply index) ->

    def run(self, cfg: AgentConfig, identity: AgentIdentity | None, key_dir: Path) -> None:
        dropped = bound_outbox(self.store, self.clock(), cfg.outbox.max_age_days)
        if dropped:
            log.warning("outbox over its bound: %d old summaries dropped (cartridge events kept)", dropped)
        report = self.uplink.drain()
        if report.accepted:
            self.metrics.summaries_sent.inc(report.accepted)
        if report.remaining == 0 and identity is not None and identity.retiring_key_ids:
            with contextlib.suppress(AsrError):
                self.uplink.retire_drained_keys(identity, load_or_create(key_dir), key_dir)
        if identity is not None:
            # Display data for the status page; a failure keeps the last answer. Signed with
            # the wall clock on purpose: central checks the request's freshness in real time.
            try:
                self.order_status = self.uplink.order_status(identity, load_or_create(key_dir))
            except AsrError as exc:
                log.info("order status not refreshed: %s", exc)
