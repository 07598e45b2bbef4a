"""Prometheus metrics of the agent: counters the daemon bumps as it works, and gauges
read from the status snapshot at scrape time (so they never go stale).

Written out in the Prometheus text format (version 0.0.4) by `render`, here rather than
with prometheus_client: the agent has five counters and a histogram, and the client
library's registry, exposition servers and multiprocess support cost ~2.5 MiB resident
and most of a scrape's CPU at a few thousand supply gauges.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence

from asr_agent.status.model import StatusSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STATE_VALUE = {"ok": 1.0, "asleep": 0.5, "unreachable": 0.0}


def _number(value: float) -> str:
    value = float(value)
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def _label_value(value: str) -> str:
    if "\\" not in value and "\n" not in value and '"' not in value:
        return value
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_label_value(v)}"' for n, v in zip(names, values, strict=True)) + "}"


def _header(out: list[str], name: str, help_text: str, kind: str) -> None:
    out.append(f"# HELP {name} {help_text.replace(chr(92), chr(92) * 2).replace(chr(10), chr(92) + 'n')}")
    out.append(f"# TYPE {name} {kind}")


class Counter:
    """A monotonic count, optionally split by label values (`labels(...)` gives the child)."""

    def __init__(self, name: str, help_text: str, label_names: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(label_names)
        self.created = time.time()
        self.value = 0.0
        self._children: dict[tuple[str, ...], Counter] = {}

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount

    def labels(self, *values: str) -> Counter:
        if len(values) != len(self.label_names):
            raise ValueError(f"{self.name} takes labels {self.label_names}")
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = Counter(self.name, self.help)
        return child

    def render(self, out: list[str]) -> None:
        series = list(self._children.items()) if self.label_names else [((), self)]
        _header(out, f"{self.name}_total", self.help, "counter")
        for values, c in series:
            out.append(f"{self.name}_total{_labels(self.label_names, values)} {_number(c.value)}")
        _header(out, f"{self.name}_created", self.help, "gauge")
        for values, c in series:
            out.append(f"{self.name}_created{_labels(self.label_names, values)} {_number(c.created)}")


class Histogram:
    """Observations counted into cumulative buckets, with their count and sum."""

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help_text
        self.bounds = tuple(sorted(buckets))
        self.counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.created = time.time()

    def observe(self, value: float) -> None:
        self.sum += value
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
                return
        self.counts[-1] += 1

    @property
    def count(self) -> int:
        return sum(self.counts)

    def render(self, out: list[str]) -> None:
        _header(out, self.name, self.help, "histogram")
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {_number(running)}')
        out.append(f"{self.name}_count {_number(running)}")
        out.append(f"{self.name}_sum {_number(self.sum)}")
        _header(out, f"{self.name}_created", self.help, "gauge")
        out.append(f"{self.name}_created {_number(self.created)}")


def _gauge(out: list[str], name: str, help_text: str, label_names: Sequence[str],
           samples: Iterable[tuple[Sequence[str], float]]) -> None:
    _header(out, name, help_text, "gauge")
    for values, value in samples:
        out.append(f"{name}{_labels(label_names, values)} {_number(value)}")


class AgentMetrics:
    """The agent's counters and histogram; `render` adds the snapshot's gauges."""

    def __init__(self) -> None:
        self.poll_duration = Histogram(
            "asr_poll_duration_seconds", "Time to poll one printer over SNMP",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.snmp_errors = Counter("asr_snmp_errors", "SNMP polls that failed, by kind", ["kind"])
        self.polls = Counter("asr_polls", "Printer polls attempted")
        self.snmp_requests = Counter("asr_snmp_requests", "SNMP requests sent (retransmissions excluded)")
        self.summaries_sent = Counter("asr_summaries_delivered", "Summaries acknowledged by central")

    def render(self, snap: StatusSnapshot) -> bytes:
        """Every metric in the Prometheus text format, gauges taken from `snap`."""
        out: list[str] = []
        for metric in (self.poll_duration, self.snmp_errors, self.polls, self.snmp_requests,
                       self.summaries_sent):
            metric.render(out)
        # Label sets written once per supply and shared by both supply gauges: a scrape at
        # 500 printers writes ~7000 of these lines.
        levels: list[str] = []
        days: list[str] = []
        for device in snap.devices:
            serial = f'serial="{_label_value(device.serial)}"'
            for s in device.supplies:
                if s.remaining_percent is None and s.days_to_empty is None:
                    continue
                labels = (f'{{{serial},supply="{s.index}",type="{_label_value(s.type)}",'
                          f'color="{_label_value(s.color or "")}"}} ')
                if s.remaining_percent is not None:
                    levels.append(f"asr_supply_remaining_percent{labels}{_number(s.remaining_percent)}")
                if s.days_to_empty is not None:
                    days.append(f"asr_supply_days_to_empty{labels}{_number(s.days_to_empty)}")
        _header(out, "asr_supply_remaining_percent",
                "Share of the supply left (free space for waste bottles)", "gauge")
        out += levels
        _header(out, "asr_supply_days_to_empty", "Forecast days until empty (full for waste bottles)", "gauge")
        out += days
        _gauge(out, "asr_device_state", "1 ok, 0.5 asleep, 0 unreachable", ("serial", "model"),
               (((d.serial, d.model or ""), _STATE_VALUE.get(d.state, 0.0)) for d in snap.devices))
        _gauge(out, "asr_outbox_depth", "Summaries waiting for delivery to central", (),
               [((), snap.uplink.outbox_depth)])
        _gauge(out, "asr_devices", "Printers known to the agent", (), [((), len(snap.devices))])
        out.append("")
        return "\n".join(out).encode()
