"""Central's Prometheus metrics: ingest verdicts and policy run times counted as they
happen, and gauges read at scrape time (orders waiting to ship, leadership), so they never
go stale.

Several workers: each is its own process with its own counters, and a scrape reaches
whichever worker accepts the connection. Per-worker labels would not help (a scrape sees
one worker's series, jumping from one to another); prometheus-client's multiprocess mode
does: with PROMETHEUS_MULTIPROC_DIR set before the workers start, every worker writes its
counters to memory-mapped files there and any worker's scrape sums them all. The
directory must be emptied before the workers start (the service's RuntimeDirectory is);
gauges of storage are read by the worker that answers, from the one database.

A worker that dies leaves its files behind. Its counters must stay (they are counts that
happened), but its leader gauge must not: a killed leader's 1 would be summed with its
successor's, reading 2. The supervisor that restarts workers has no hook to say so, so each
scrape drops the live gauges of processes that no longer exist.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import mark_process_dead

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "CentralMetrics", "forget_dead_workers", "verdict_of"]

CONTENT_TYPE = CONTENT_TYPE_LATEST
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A refusal's reason starts with its code ("site_mismatch: ..."); anything else is labelled
# by its HTTP code, so the label's values stay a short, fixed list.
_REASON_CODE = re.compile(r"^([a-z][a-z_]{1,31})(?::|$)")
# A live gauge's file per process: gauge_livesum_<pid>.db (prometheus-client's naming).
_LIVE_GAUGE_FILE = re.compile(r"^gauge_live[a-z]*_(\d+)\.db$")
# Policy runs take milliseconds on a small fleet and seconds on 100,000 supplies.
_POLICY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def verdict_of(result: Mapping[str, Any]) -> str:
    """The `verdict` label of one ingest result: stored, duplicate, or the refusal's code."""
    status = result.get("status")
    if status == "accepted":
        return "stored"
    if status == "duplicate":
        return "duplicate"
    m = _REASON_CODE.match(str(result.get("reason") or ""))
    return m.group(1) if m else f"refused_{result.get('code')}"


class CentralMetrics:
    """One process's counters and histogram, in its own registry (never the global one,
    so two apps in one test process stay apart)."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
        self.registry = CollectorRegistry(auto_describe=True)
        self.summaries = Counter(
            "asr_central_summaries", "Summaries answered by ingest, by verdict (stored, "
            "duplicate, or the refusal's code)", ["verdict"], registry=self.registry)
        self.policy_run = Histogram(
            "asr_central_policy_run_seconds", "Time of one replenishment policy run",
            buckets=_POLICY_BUCKETS, registry=self.registry)
        # In multiprocess mode the leader gauge is summed over live workers: 1 is healthy,
        # 0 or 2 is an election gone wrong.
        self.leader = Gauge("asr_central_leader", "1 where this process runs the policy, "
                            "retention and notifier (summed over live workers)",
                            multiprocess_mode="livesum", registry=self.registry)

    def count(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Count one ingest answer's verdicts."""
        tally: dict[str, int] = {}
        for r in results:
            verdict = verdict_of(r)
            tally[verdict] = tally.get(verdict, 0) + 1
        for verdict, n in tally.items():
            self.summaries.labels(verdict).inc(n)

    def render(self, gauges: Callable[[], Iterator[Metric]], *, is_leader: bool) -> bytes:
        """Every metric in the Prometheus text format, `gauges()` read now."""
        self.leader.set(1 if is_leader else 0)
        if self.multiprocess_dir is not None:
            from prometheus_client import multiprocess

            forget_dead_workers(self.multiprocess_dir)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, self.multiprocess_dir)
            return generate_latest(_Scrape(registry, gauges))
        return generate_latest(_Scrape(self.registry, gauges))


def forget_dead_workers(directory: str) -> list[int]:
    """Drop the live gauges of worker processes that have ended; the pids dropped.
    POSIX only: elsewhere there is no harmless way to ask whether a pid lives."""
    if os.name != "posix":
        return []
    pids = {int(m.group(1)) for name in map(os.path.basename,
                                            glob.glob(os.path.join(directory, "gauge_live*.db")))
            if (m := _LIVE_GAUGE_FILE.match(name))}
    dead = sorted(pid for pid in pids if not _alive(pid))
    for pid in dead:
        mark_process_dead(pid, directory)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class _Scrape:
    """One scrape's view: the counters, then the gauges read from storage now."""

    def __init__(self, registry: CollectorRegistry, gauges: Callable[[], Iterator[Metric]]) -> None:
        self._registry = registry
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from self._gauges()


def storage_gauges(waiting: int) -> Iterator[Metric]:
    yield GaugeMetricFamily("asr_central_orders_waiting_to_ship",
                            "Orders placed and not shipped yet", value=waiting)
