"""Builds the status page's snapshot from the running daemon: the store (read-only), the
insights of the last poll round, the scheduler's next runs and the uplink's health."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from asr_agent import __version__
from asr_core.secret import redact_url, url_password
from asr_agent.app.status.model import (
    AgentView, DeviceView, JobView, LevelPoint, ParkedView, StatusSnapshot, SupplyHistory, SupplyView,
    UplinkView,
)

if TYPE_CHECKING:
    from asr_agent.app.daemon import AgentDaemon

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


def _masked(text: str | None, cfg: Any) -> str | None:
    """An error as the page shows it: a URL password an HTTP library repeated is masked."""
    if text is None:
        return None
    for url in (cfg.central.url, cfg.central.proxy):
        password = url_password(url)
        if password:
            text = text.replace(password, "<secret>")
    return text


def _parked(item: Any) -> ParkedView:
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
    """The status page's view of a running AgentDaemon."""

    def __init__(self, daemon: AgentDaemon) -> None:
        self.daemon = daemon

    async def snapshot_async(self) -> StatusSnapshot:
        return await self.daemon.in_store_thread(self.snapshot)  # type: ignore[no-any-return]

    async def history_async(self, serial: str) -> list[SupplyHistory]:
        return await self.daemon.in_store_thread(self.history, serial)  # type: ignore[no-any-return]

    def snapshot(self) -> StatusSnapshot:
        d = self.daemon
        store = d.store
        devices: list[DeviceView] = []
        targets = list(d.targets.values())  # one step: the event loop may replace entries meanwhile
        addresses = {t.serial: f"{t.host}:{t.port}" for t in targets if t.serial}
        readings = {t.serial: t.last_reading for t in targets if t.serial}
        stored = store.all_supplies() if store is not None else {}
        for dev in store.devices() if store is not None else []:
            insights = d.insights.get(dev.serial, {})
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
                    order_status=(o.describe() if (o := d.order_status.get((dev.serial, s.index))) else None),
                    flags=insight.flags if insight else ()))
            reading = readings.get(dev.serial)
            flags = sorted({f for s in supplies for f in s.flags if f != "spike"})
            devices.append(DeviceView(
                serial=dev.serial, vendor=dev.vendor, model=dev.model,
                address=addresses.get(dev.serial) or (f"{dev.host}:{dev.port}" if dev.host else None),
                state=dev.state, asr_compatible=dev.asr_compatible, last_poll=_iso(dev.last_seen),
                page_count=reading.page_count if reading else None,
                supplies=tuple(supplies), flags=tuple(flags)))
        uplink = d._uplink
        depth = store.outbox_depth() if store is not None else 0
        parked = store.parked_count() if store is not None else 0
        enrolled = d.identity() is not None
        skew = getattr(uplink, "clock_skew_s", None) if uplink else None
        uplink_view = UplinkView(
            central_url=redact_url(d.cfg.central.url) if d.cfg.central.url else None, enrolled=enrolled,
            last_success=_iso(uplink.last_success) if uplink else None,
            last_error=_masked(uplink.last_error, d.cfg) if uplink else None, last_error_at=None,
            outbox_depth=depth, parked=parked,
            parked_items=tuple(_parked(item) for item in store.refused(PARKED_SHOWN)) if parked else (),
            clock_skew_s=skew)
        next_runs = d.next_runs()
        records = dict(d.jobs)
        jobs = tuple(JobView(job_id, _iso(next_runs.get(job_id)),
                             _iso(records[job_id].last_run) if job_id in records else None,
                             records[job_id].last_outcome if job_id in records else None)
                     for job_id in sorted(set(next_runs) | set(records)))
        problems = self._problems(depth, uplink, enrolled)
        warnings = [f"printer {t.host}:{t.port} has never answered: {t.silent}"
                    for t in sorted(targets, key=lambda t: (t.host, t.port)) if t.silent]
        if parked:
            warnings.append(f"{parked} summar{'y' if parked == 1 else 'ies'} refused by central and parked "
                            "(kept on disk, not resent): see the uplink table")
        if skew is not None and uplink.clock_off:
            warnings.append(f"this agent's clock is {skew:+.0f} s off central's: set the system clock "
                            "(NTP); central refuses summaries from the future")
        return StatusSnapshot(
            generated_at=_iso(d.clock()) or "",
            agent=AgentView(version=__version__, site_id=d.cfg.site.id,
                            config_path=str(d.config_path) if d.config_path else None,
                            data_dir=str(d.paths.data_dir),
                            log_path=str(d.cfg.logging.file) if d.cfg.logging.file else None,
                            started_at=_iso(d.started_at)),
            uplink=uplink_view, devices=tuple(devices), jobs=jobs,
            healthy=not problems, problems=tuple(problems), warnings=tuple(warnings))

    def _problems(self, depth: int, uplink: Any, enrolled: bool) -> list[str]:
        d = self.daemon
        problems = []
        if d.store is None:
            problems.append("store closed")
        if uplink is not None and depth and uplink.last_error:
            last = uplink.last_success
            stale = last is None or (datetime.now(UTC).timestamp() - last) > UPLINK_STALE.total_seconds()
            if stale and d.started_at is not None and (
                    datetime.now(UTC) - d.started_at.astimezone(UTC)) > UPLINK_STALE:
                problems.append(f"central unreachable: {uplink.last_error}")
        for job_id, record in list(d.jobs.items()):
            if record.last_outcome and record.last_outcome.startswith("error"):
                problems.append(f"job {job_id} failed: {record.last_outcome[7:]}")
        return problems

    def history(self, serial: str) -> list[SupplyHistory]:
        d = self.daemon
        if d.store is None:
            return []
        now = d.clock()
        out = []
        for s in d.store.supplies_of(serial):
            samples = d.store.samples_for(serial, s.index, since=now - HISTORY_SHOWN)
            points = tuple(LevelPoint(_iso(x.taken_at) or "", x.remaining_percent)
                           for x in samples if x.remaining_percent is not None)
            insight = d.insights.get(serial, {}).get(s.index)
            forecast: tuple[LevelPoint, ...] = ()
            if insight and insight.forecast.empty_at is not None and points:
                forecast = (LevelPoint(_iso(insight.forecast.empty_at) or "", 0.0),)
            out.append(SupplyHistory(s.index, points, forecast))
        return out
