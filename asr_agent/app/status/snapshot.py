"""Builds the status page's snapshot from a narrow view of the running agent: the store
(read-only), the outlooks of the last analysis, the jobs' runs and the uplink's health.

The page sees the daemon only through `StatusView`, so it can be built from a plain
object (tests, a demo) and the daemon's inner attributes stay its own."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar

from asr_agent import __version__
from asr_core.codes import Code
from asr_core.secret import redact_url, url_password
from asr_agent.app.status.model import (
    AgentView, DeviceView, JobView, LevelPoint, ParkedView, StatusSnapshot, SupplyHistory, SupplyView,
    UplinkView,
)

if TYPE_CHECKING:
    from asr_agent.adapters.store import OutboxItem, Store
    from asr_agent.app.jobs.summarize import SupplyOutlook
    from asr_core.wire import OrderStatus

T = TypeVar("T")

HISTORY_SHOWN = timedelta(days=60)
# Central unreachable this long with summaries waiting makes /healthz say 503.
UPLINK_STALE = timedelta(hours=24)
PARKED_SHOWN = 20


def _iso(moment: datetime | float | None) -> str | None:
    if moment is None:
        return None
    if isinstance(moment, (int, float)):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """Who and where this agent is, as the page's header shows it."""

    site_id: str
    config_path: str | None
    data_dir: str
    log_path: str | None
    started_at: datetime | None
    central_url: str | None
    central_proxy: str | None
    enrolled: bool


@dataclass(frozen=True, slots=True)
class TargetFacts:
    """One polled address: what it is known by, its last page count, why it never answered."""

    host: str
    port: int
    serial: str | None
    page_count: int | None
    silent: str | None


@dataclass(frozen=True, slots=True)
class UplinkFacts:
    last_success: float | None  # epoch seconds
    last_error: str | None
    clock_skew_s: float | None
    clock_off: bool


@dataclass(frozen=True, slots=True)
class JobFacts:
    next_run: datetime | None
    last_run: datetime | None
    last_outcome: str | None


class StatusView(Protocol):
    """What the status page reads of the running agent, and nothing more."""

    @property
    def store(self) -> Store | None: ...

    def now(self) -> datetime: ...

    def agent(self) -> AgentFacts: ...

    def targets(self) -> Sequence[TargetFacts]: ...

    def outlooks(self, serial: str) -> Mapping[int, SupplyOutlook]: ...

    def order_status(self, serial: str, supply_index: int) -> OrderStatus | None: ...

    def uplink(self) -> UplinkFacts | None: ...

    def jobs(self) -> Mapping[str, JobFacts]: ...

    async def read(self, func: Callable[..., T], *args: object) -> T:
        """Run `func` where the store may be read (the daemon's store thread)."""
        ...


def _masked(text: str | None, agent: AgentFacts) -> str | None:
    """An error as the page shows it: a URL password an HTTP library repeated is masked."""
    if text is None:
        return None
    for url in (agent.central_url, agent.central_proxy):
        password = url_password(url)
        if password:
            text = text.replace(password, "<secret>")
    return text


def _parked(item: OutboxItem) -> ParkedView:
    return ParkedView(seq=item.seq, kind=item.kind, reason=item.last_error, refused_at=_iso(item.failed_at),
                      device_serial=_payload_serial(item.payload))


def _payload_serial(payload: bytes) -> str | None:
    """The device serial inside a queued envelope, for a person to find the printer; None
    when the row is not a readable summary (it may be why central refused it)."""
    try:
        summary = json.loads(base64.b64decode(json.loads(payload)["payload"], validate=True))
        serial = summary["device"]["serial"]
    except (ValueError, KeyError, TypeError):
        return None
    return serial if isinstance(serial, str) else None


class DaemonStatusSource:
    """The status page's source over a StatusView of the running agent."""

    def __init__(self, view: StatusView) -> None:
        self.view = view

    async def snapshot_async(self) -> StatusSnapshot:
        return await self.view.read(self.snapshot)

    async def history_async(self, serial: str) -> list[SupplyHistory]:
        return await self.view.read(self.history, serial)

    def snapshot(self) -> StatusSnapshot:
        v = self.view
        store = v.store
        agent = v.agent()
        devices: list[DeviceView] = []
        targets = tuple(v.targets())
        addresses = {t.serial: f"{t.host}:{t.port}" for t in targets if t.serial}
        page_counts = {t.serial: t.page_count for t in targets if t.serial}
        stored = store.all_supplies() if store is not None else {}
        for dev in store.devices() if store is not None else []:
            insights = v.outlooks(dev.serial)
            supplies = []
            for s in stored.get(dev.serial, ()):
                insight = insights.get(s.index)
                latest = s.latest
                fc = insight.forecast if insight else None
                supplies.append(SupplyView(
                    index=s.index, description=s.description, type=s.type.wire_name,
                    supply_class=s.supply_class.wire_name, color=s.color,
                    remaining_percent=latest.remaining_percent if latest else None,
                    level_state=latest.level_state.value if latest else "unknown",
                    days_to_empty=fc.days_to_empty if fc else None,
                    days_to_empty_low=fc.days_to_empty_low if fc else None,
                    days_to_empty_high=fc.days_to_empty_high if fc else None,
                    daily_grams=fc.daily_grams if fc else None,
                    forecast_status=fc.status if fc else None,
                    forecast_reason=fc.reason if fc else None,
                    part_number=s.part_number,
                    order_status=(o.describe() if (o := v.order_status(dev.serial, s.index)) else None),
                    flags=insight.flags if insight else ()))
            flags = sorted({f for s in supplies for f in s.flags if f != Code.USAGE_SPIKE})
            devices.append(DeviceView(
                serial=dev.serial, vendor=dev.vendor, model=dev.model,
                address=addresses.get(dev.serial) or (f"{dev.host}:{dev.port}" if dev.host else None),
                state=dev.state, asr_compatible=dev.asr_compatible, last_poll=_iso(dev.last_seen),
                page_count=page_counts.get(dev.serial),
                supplies=tuple(supplies), flags=tuple(flags)))
        uplink = v.uplink()
        depth = store.outbox_depth() if store is not None else 0
        parked = store.parked_count() if store is not None else 0
        skew = uplink.clock_skew_s if uplink else None
        uplink_view = UplinkView(
            central_url=redact_url(agent.central_url) if agent.central_url else None, enrolled=agent.enrolled,
            last_success=_iso(uplink.last_success) if uplink else None,
            last_error=_masked(uplink.last_error, agent) if uplink else None, last_error_at=None,
            outbox_depth=depth, parked=parked,
            parked_items=tuple(_parked(item) for item in store.refused(PARKED_SHOWN))
            if parked and store is not None else (),
            clock_skew_s=skew)
        records = dict(v.jobs())
        jobs = tuple(JobView(job_id, _iso(r.next_run), _iso(r.last_run), r.last_outcome)
                     for job_id, r in sorted(records.items()))
        now = v.now()
        problems = self._problems(store, depth, uplink, agent, records, now)
        warnings = [f"printer {t.host}:{t.port} has never answered: {t.silent}"
                    for t in sorted(targets, key=lambda t: (t.host, t.port)) if t.silent]
        if parked:
            warnings.append(f"{parked} summar{'y' if parked == 1 else 'ies'} refused by central and parked "
                            "(kept on disk, not resent): see the uplink table; `asr-agent outbox` resends or drops them")
        if skew is not None and uplink is not None and uplink.clock_off:
            warnings.append(f"this agent's clock is {skew:+.0f} s off central's: set the system clock "
                            "(NTP); central refuses summaries from the future")
        return StatusSnapshot(
            generated_at=_iso(now) or "",
            agent=AgentView(version=__version__, site_id=agent.site_id, config_path=agent.config_path,
                            data_dir=agent.data_dir, log_path=agent.log_path,
                            started_at=_iso(agent.started_at)),
            uplink=uplink_view, devices=tuple(devices), jobs=jobs,
            healthy=not problems, problems=tuple(problems), warnings=tuple(warnings))

    @staticmethod
    def _problems(store: Store | None, depth: int, uplink: UplinkFacts | None, agent: AgentFacts,
                  jobs: Mapping[str, JobFacts], now: datetime) -> list[str]:
        problems = []
        if store is None:
            problems.append("store closed")
        if uplink is not None and depth and uplink.last_error:
            last = uplink.last_success
            stale = last is None or (now.timestamp() - last) > UPLINK_STALE.total_seconds()
            if stale and agent.started_at is not None and (
                    now.astimezone(UTC) - agent.started_at.astimezone(UTC)) > UPLINK_STALE:
                problems.append(f"central unreachable: {_masked(uplink.last_error, agent)}")
        for job_id, record in jobs.items():
            if record.last_outcome and record.last_outcome.startswith("error"):
                problems.append(f"job {job_id} failed: {record.last_outcome[7:]}")
        return problems

    def history(self, serial: str) -> list[SupplyHistory]:
        v = self.view
        store = v.store
        if store is None:
            return []
        now = v.now()
        outlooks = v.outlooks(serial)
        out = []
        for s in store.supplies_of(serial):
            samples = store.samples_for(serial, s.index, since=now - HISTORY_SHOWN)
            points = tuple(LevelPoint(_iso(x.taken_at) or "", x.remaining_percent)
                           for x in samples if x.remaining_percent is not None)
            insight = outlooks.get(s.index)
            forecast: tuple[LevelPoint, ...] = ()
            if insight and insight.forecast.empty_at is not None and points:
                forecast = (LevelPoint(_iso(insight.forecast.empty_at) or "", 0.0),)
            out.append(SupplyHistory(s.index, points, forecast))
        return out
