"""The poll job: every target asked for its supplies, each on its own (one printer's
fault is logged against it and the round goes on), readings keyed and stored, device
state followed. A target that has never answered, and a value a printer sent outside its
type's range, are logged once, when they start."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from asr_agent.adapters.logs import event
from asr_agent.adapters.snmp import SnmpClient
from asr_agent.adapters.store import Store
from asr_agent.app.config import AgentConfig, to_snmp_credential
from asr_agent.app.jobs import Clock, InStoreThread
from asr_agent.app.metrics import AgentMetrics
from asr_agent.app.poller import poll_printer
from asr_agent.domain.device_state import Health, PollOutcome, StatePolicy, observe
from asr_agent.domain.identity import identified
from asr_core.errors import AsrError, NotAPrinter, SnmpError, SnmpTimeout
from asr_core.records import Reading

__all__ = ["POLL_CONCURRENCY", "PollJob", "Target"]

log = logging.getLogger("asr.daemon")

POLL_CONCURRENCY = 32


@dataclass
class Target:
    """Where and how to poll one printer. `serial` is its key everywhere: the serial number,
    or for a printer without one the "h:" identity discovery or its first answer gave it."""

    host: str
    port: int
    credentials: tuple[str, ...]
    serial: str | None = None
    working_credential: str | None = None
    last_reading: Reading | None = None
    health: Health = field(default_factory=Health)
    # Why a target has not answered once since the agent started (a wrong community gives
    # only timeouts); None once it answers. Shown as a warning, logged when it changes.
    silent: str | None = None


class PollJob:
    """One poll round over the targets; the SNMP client and the store stay the daemon's."""

    def __init__(self, snmp: SnmpClient, store: Store, in_store: InStoreThread,
                 metrics: AgentMetrics, clock: Clock) -> None:
        self.snmp = snmp
        self.store = store
        self.in_store = in_store
        self.metrics = metrics
        self.clock = clock
        self._requests_counted = 0

    async def run(self, cfg: AgentConfig, targets: list[Target]) -> list[Reading]:
        """The readings of the targets that answered, stored."""
        limit = asyncio.Semaphore(POLL_CONCURRENCY)

        async def one(target: Target) -> Reading | None:
            async with limit:
                try:
                    return await self._poll_target(cfg, target)
                except Exception:  # one printer's fault must never cost the others their poll
                    self.metrics.snmp_errors.labels("internal").inc()
                    log.exception("poll of %s:%s (serial %s) failed; the other printers go on",
                                  target.host, target.port, target.serial or "unknown")
                    return None

        return [r for r in await asyncio.gather(*(one(t) for t in targets)) if r is not None]

    async def _poll_target(self, cfg: AgentConfig, target: Target) -> Reading | None:
        names = ([target.working_credential] if target.working_credential else []) + [
            n for n in target.credentials if n != target.working_credential]
        started = time.perf_counter()
        self.metrics.polls.inc()
        reading: Reading | None = None
        missed = False
        failures: list[str] = []
        for name in names:
            if name not in cfg.snmp.credentials:
                log.error("target %s:%s names credential %r, which the config does not define",
                          target.host, target.port, name)
                continue
            try:
                reading = await poll_printer(self.snmp, target.host, target.port,
                                             to_snmp_credential(name, cfg), now=self.clock(),
                                             previous=target.last_reading)
                target.working_credential = name
                break
            except SnmpTimeout:
                missed = True
                failures.append(f"credential {name!r}: no answer")
                self.metrics.snmp_errors.labels("timeout").inc()
            except NotAPrinter as exc:
                self.metrics.snmp_errors.labels("not_a_printer").inc()
                log.warning("%s:%s is not a printer: %s", target.host, target.port, exc)
                return None
            except SnmpError as exc:
                failures.append(f"credential {name!r}: {exc}")
                self.metrics.snmp_errors.labels(type(exc).__name__).inc()
                log.warning("poll of %s:%s failed: %s", target.host, target.port, exc)
        self.metrics.poll_duration.observe(time.perf_counter() - started)
        _note_silence(target, reading, failures, missed)
        self.count_requests()
        outcome = PollOutcome.ANSWERED if reading is not None else (
            PollOutcome.MISSED if missed else None)
        if outcome is None:
            return None
        if reading is not None:
            # One key from here on (store, device state, analysis, summaries, status page): a
            # printer answering without a serial keeps the key this target knows it by (its
            # serial, or the identity discovery or a first answer gave it) while it says it is
            # the same model; another model at this address is another printer
            last = target.last_reading
            same = last is None or (last.device.sys_object_id, last.device.sys_descr) == (
                reading.device.sys_object_id, reading.device.sys_descr)
            reading = identified(reading, target.serial if same else None)
            target.serial = reading.device.serial
        await self._record_health(cfg, target, outcome)
        if reading is None:
            return None
        _log_reading_warnings(target, reading)
        target.last_reading = reading
        await self.in_store(self.store.record_reading, reading)
        return reading

    def count_requests(self) -> None:
        # The client counts every request it sends; polls run concurrently, so the metric
        # takes what was sent since it last looked rather than a per-poll difference.
        sent = self.snmp.requests
        self.metrics.snmp_requests.inc(sent - self._requests_counted)
        self._requests_counted = sent

    async def _record_health(self, cfg: AgentConfig, target: Target, outcome: PollOutcome) -> None:
        policy = StatePolicy.from_config(cfg.device_state)
        target.health, transition = observe(target.health, outcome, self.clock(), policy)
        if transition is None or target.serial is None:
            return
        serial, state, misses = target.serial, transition.new.value, target.health.consecutive_misses
        with contextlib.suppress(AsrError):
            await self.in_store(lambda: self.store.set_device_state(serial, state, consecutive_misses=misses))
        level = logging.WARNING if transition.raise_alarm else logging.INFO
        event(log, level, f"printer {transition.new.value}", serial=target.serial,
              address=f"{target.host}:{target.port}", reason=transition.reason)


def _note_silence(target: Target, reading: Reading | None, failures: list[str], timed_out: bool) -> None:
    """A configured printer that has never answered is a warning, logged when it starts
    and when it ends, never every round: timeouts alone say nothing otherwise."""
    if (reading is not None or target.last_reading is not None or target.health.last_answer is not None
            or target.serial is not None):  # a known printer: its device state says when it is silent
        if target.silent is not None:
            event(log, logging.INFO, "printer answers at last", address=f"{target.host}:{target.port}")
        target.silent = None
        return
    if not failures:
        return
    hint = ("check its SNMP community or v3 user (a wrong one gets no answer at all), its "
            "address, and that it is powered and reachable") if timed_out else "check its SNMP credentials"
    why = f"{'; '.join(failures)}; {hint}"
    if why != target.silent:
        event(log, logging.WARNING, "printer has never answered", address=f"{target.host}:{target.port}",
              reason=why)
    target.silent = why


def _log_reading_warnings(target: Target, reading: Reading) -> None:
    """What the parser left out or doubted, against this printer; once while it lasts,
    not every round."""
    before = set(target.last_reading.warnings) if target.last_reading is not None else set()
    for warning in reading.warnings:
        if warning not in before:
            event(log, logging.WARNING, f"odd value from printer: {warning}",
                  serial=reading.device.serial, address=f"{target.host}:{target.port}")
