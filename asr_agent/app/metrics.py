"""Prometheus metrics of the agent: counters the daemon bumps as it works, and gauges
read from the status snapshot at scrape time (so they never go stale).

Exposed with prometheus_client, the reference implementation of the text format. The
agent keeps its own registry (never the global one, so tests and reloads stay clean);
the supply gauges are built per scrape from the snapshot the page already reads.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from asr_agent.app.status.model import StatusSnapshot

CONTENT_TYPE = CONTENT_TYPE_LATEST
_STATE_VALUE = {"ok": 1.0, "asleep": 0.5, "unreachable": 0.0}
_SUPPLY_LABELS = ("serial", "supply", "type", "color")


class AgentMetrics:
    """The agent's counters and histogram; `render` adds the snapshot's gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.poll_duration = Histogram(
            "asr_poll_duration_seconds", "Time to poll one printer over SNMP",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry)
        self.snmp_errors = Counter(
            "asr_snmp_errors", "SNMP polls that failed, by kind", ["kind"], registry=self.registry)
        self.polls = Counter("asr_polls", "Printer polls attempted", registry=self.registry)
        self.snmp_requests = Counter(
            "asr_snmp_requests", "SNMP requests sent (retransmissions excluded)", registry=self.registry)
        self.summaries_sent = Counter(
            "asr_summaries_delivered", "Summaries acknowledged by central", registry=self.registry)

    def render(self, snap: StatusSnapshot) -> bytes:
        """Every metric in the Prometheus text format, gauges taken from `snap`."""
        return generate_latest(_Scrape(self.registry, snap))


class _Scrape:
    """One scrape's view: the registry's metrics, then the snapshot's gauges."""

    def __init__(self, registry: CollectorRegistry, snap: StatusSnapshot) -> None:
        self._registry = registry
        self._snap = snap

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from snapshot_gauges(self._snap)


def snapshot_gauges(snap: StatusSnapshot) -> Iterator[GaugeMetricFamily]:
    level = GaugeMetricFamily("asr_supply_remaining_percent",
                              "Share of the supply left (free space for waste bottles)",
                              labels=_SUPPLY_LABELS)
    days = GaugeMetricFamily("asr_supply_days_to_empty",
                             "Forecast days until empty (full for waste bottles)", labels=_SUPPLY_LABELS)
    state = GaugeMetricFamily("asr_device_state", "1 ok, 0.5 asleep, 0 unreachable",
                              labels=["serial", "model"])
    for device in snap.devices:
        state.add_metric([device.serial, device.model or ""], _STATE_VALUE.get(device.state, 0.0))
        for s in device.supplies:
            labels = [device.serial, str(s.index), s.type, s.color or ""]
            if s.remaining_percent is not None:
                level.add_metric(labels, s.remaining_percent)
            if s.days_to_empty is not None:
                days.add_metric(labels, s.days_to_empty)
    outbox = GaugeMetricFamily("asr_outbox_depth", "Summaries waiting for delivery to central",
                               value=snap.uplink.outbox_depth)
    devices = GaugeMetricFamily("asr_devices", "Printers known to the agent", value=len(snap.devices))
    parked = GaugeMetricFamily("asr_outbox_parked",
                               "Summaries central refused for good, kept on disk and not resent",
                               value=snap.uplink.parked)
    yield from (level, days, state, outbox, devices, parked)
    if snap.uplink.clock_skew_s is not None:
        yield GaugeMetricFamily("asr_clock_skew_seconds",
                                "This agent's clock minus central's (its Date header), at the last delivery",
                                value=snap.uplink.clock_skew_s)
