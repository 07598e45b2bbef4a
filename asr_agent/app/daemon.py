"""The running agent: the scheduler that decides when things happen. The work itself is
in the jobs (asr_agent.app.jobs), one a module:

    discover (at start, then daily) ──► targets                     jobs/discover.py
    poll (every 15 min ± jitter) ─────► readings ─► store ─► state  jobs/poll.py
    summarize (after each poll round, per device per period) ─► outbox   jobs/summarize.py
    deliver (after summarize, enrolled only) ─► outbox drained to central  jobs/deliver.py
    maintain (daily): store compaction;  update check (daily, when a channel is chosen)

Every job is coalesced and runs one instance at a time; the store, the SNMP client and
the HTTP client are opened once here, handed to the jobs, and closed at shutdown. The
clock is injected so the demo can run weeks of printing in minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from filelock import FileLock, Timeout

from asr_agent import __version__
from asr_agent.adapters import self_update
from asr_agent.adapters.logs import event, setup_logging
from asr_agent.adapters.paths import AgentPaths
from asr_agent.adapters.snmp import SnmpClient
from asr_agent.adapters.store import Store
from asr_agent.adapters.updater import Updater
from asr_agent.app.config import AgentConfig, default_config, load_config
from asr_agent.app.jobs.discover import discover
from asr_agent.app.jobs.poll import PollJob, Target
from asr_agent.app.jobs.summarize import SummarizeJob, SupplyOutlook
from asr_agent.app.metrics import AgentMetrics
from asr_agent.app.status.app import create_status_app
from asr_agent.app.status.password import guard_options
from asr_agent.app.status.server import StatusServer, check_binds
from asr_agent.app.status.snapshot import AgentFacts, DaemonStatusSource, JobFacts, TargetFacts, UplinkFacts
from asr_agent.domain.catalog import SupplyCatalog, load_catalog
from asr_core.errors import AsrError, ConfigError
from asr_core.records import Reading
from asr_core.secret import url_password
from asr_core.wire import OrderStatus

if TYPE_CHECKING:
    from asr_agent.adapters.uplink import AgentIdentity, Uplink
    from asr_agent.app.jobs.deliver import DeliverJob

log = logging.getLogger("asr.daemon")

Clock = Callable[[], datetime]
T = TypeVar("T")
STOP_DEADLINE_S = 20.0
# Written by enrollment (asr_agent.adapters.uplink.IDENTITY_FILE); looked for here so that
# an agent that is not enrolled never imports the uplink's HTTP and signing stack: ~18 MiB
# of RSS measured by bench/agent_daemon.py (57.9 against 44.9 MiB after the first round).
IDENTITY_FILE = "identity.json"


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobRecord:
    last_run: datetime | None = None
    last_outcome: str | None = None


def _secret_values(cfg: AgentConfig) -> list[str]:
    values: list[str] = []
    for cred in cfg.snmp.credentials.values():
        for secret in (cred.community, cred.auth_key, cred.priv_key):
            if secret is not None:
                values.append(secret.reveal())
    if cfg.status_page.password is not None:
        values.append(cfg.status_page.password.reveal())
    # A password inside a URL is a secret too, wherever an error message repeats the URL.
    values += [p for p in (url_password(cfg.central.url), url_password(cfg.central.proxy),
                           url_password(cfg.update.url)) if p]
    return values


def sd_notify(message: str) -> None:
    """Tell systemd (Type=notify) about readiness; silent when not under systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(message.encode(), address)


class AgentDaemon:
    """Owns the agent's long-lived resources and its scheduled jobs."""

    def __init__(self, cfg: AgentConfig, paths: AgentPaths, *, config_path: Path | None = None,
                 clock: Clock = utc_now, loopback_only: bool = False,
                 status_port: int | None = None,
                 uplink_sleep: Callable[[float], None] = time.sleep) -> None:
        self.cfg = cfg
        self.paths = paths
        self.config_path = config_path
        self.clock = clock
        # How the uplink waits between retries; tests pass one that does not block.
        self.uplink_sleep = uplink_sleep
        self.loopback_only = loopback_only
        self.status_port = status_port
        self.metrics = AgentMetrics()
        self.targets: dict[tuple[str, int], Target] = {}
        self.jobs: dict[str, JobRecord] = {}
        self.started_at: datetime | None = None
        self.stopping = asyncio.Event()
        self.exit_code = 0  # RESTART_EXIT_CODE after an update: the service manager restarts us
        self._scheduler: AsyncIOScheduler | None = None
        self._store: Store | None = None
        self._snmp: SnmpClient | None = None
        self._uplink: Uplink | None = None
        self._status_server: StatusServer | None = None
        self._lock_file: FileLock | None = None
        self._catalog: SupplyCatalog | None = None
        self._poll: PollJob | None = None
        self._summarize: SummarizeJob | None = None
        self._deliver: DeliverJob | None = None
        # One thread for the store (and the work that reads it): one SQLite connection and
        # page cache instead of one per worker of the loop's default executor.
        self._worker: ThreadPoolExecutor | None = None

    # --- life cycle ---------------------------------------------------------------------

    @property
    def store(self) -> Store | None:
        return self._store

    @property
    def uplink(self) -> Uplink | None:
        return self._uplink

    @property
    def insights(self) -> dict[str, dict[int, SupplyOutlook]]:
        """Each polled printer's supplies as last analysed (for the status page)."""
        return self._summarize.insights if self._summarize is not None else {}

    @property
    def order_status(self) -> dict[tuple[str, int], OrderStatus]:
        """Central's last answer on open orders, by (serial, supply index)."""
        return self._deliver.order_status if self._deliver is not None else {}

    @property
    def status_urls(self) -> list[str]:
        return self._status_server.urls if self._status_server is not None else []

    async def start(self) -> None:
        data_dir = self.paths.data_dir
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock_file = FileLock(str(data_dir / "agent.lock"))
        try:
            self._lock_file.acquire(timeout=0)
        except Timeout:
            raise AsrError(f"another asr-agent already runs on {data_dir} (lock {data_dir / 'agent.lock'})") from None
        self.started_at = self.clock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="asr-store")
        self._store = await self._in_worker(Store.in_dir, data_dir)
        self._catalog = load_catalog(self.cfg.consumption.supply_catalog)
        self._snmp = SnmpClient(timeout=self.cfg.snmp.timeout_s, retries=self.cfg.snmp.retries)
        self._poll = PollJob(self._snmp, self._store, self._in_worker, self.metrics, self.clock)
        self._summarize = SummarizeJob(self._store, self._catalog, self.clock)
        self._rebuild_targets()
        self._open_uplink()
        if self.cfg.status_page.enabled:
            await self._start_status_page()
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone=UTC)
        self._schedule_jobs(first_run=True)
        self._scheduler.start()
        self._count_update_trial()
        event(log, logging.INFO, "agent started", version=__version__,
              config=self.config_path or "built-in defaults", data=data_dir,
              log=self.cfg.logging.file or "stderr/journal",
              status=" ".join(self.status_urls) or "off", targets=len(self.targets))
        sd_notify("READY=1\nSTATUS=polling printers")

    async def stop(self, deadline_s: float = STOP_DEADLINE_S) -> None:
        """Let running jobs finish (up to the deadline), then close everything opened."""
        sd_notify("STOPPING=1")
        if self._scheduler is not None:
            self._scheduler.pause()
            running = [t for t in asyncio.all_tasks() if t.get_name().startswith("asr-job-")]
            if running:
                _, late = await asyncio.wait(running, timeout=deadline_s)
                for task in late:
                    task.cancel()
                    log.warning("job %s cut at the shutdown deadline", task.get_name())
                if late:
                    await asyncio.wait(late, timeout=2)
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        if self._status_server is not None:
            await self._status_server.stop()
            self._status_server = None
        if self._uplink is not None:
            self._uplink.close()
            self._uplink = None
            self._deliver = None
        if self._snmp is not None:
            self._snmp.close()
            self._snmp = None
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._lock_file is not None:
            self._lock_file.release()
            with contextlib.suppress(OSError):
                Path(self._lock_file.lock_file).unlink()
            self._lock_file = None
        event(log, logging.INFO, "agent stopped")

    async def run_until_signalled(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stopping.set)
        with contextlib.suppress(NotImplementedError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        await self.start()
        try:
            await self.stopping.wait()
        finally:
            await self.stop()

    def reload(self) -> bool:
        """SIGHUP: take a new config if it is valid; keep the old one otherwise."""
        if self.config_path is None:
            log.warning("reload asked, but the agent runs on built-in defaults: nothing to reload")
            return False
        try:
            new = load_config(self.config_path)
        except ConfigError as exc:
            log.error("new config refused, the old one stays in force: %s", exc)
            return False
        self.cfg = new
        setup_logging(level=new.logging.level, log_file=new.logging.file,
                      secrets=_secret_values(new))
        self._rebuild_targets()
        if self._uplink is not None:
            self._uplink.close()
        self._open_uplink()
        if self._scheduler is not None:
            self._schedule_jobs(first_run=False)
        event(log, logging.INFO, "config reloaded", config=self.config_path, targets=len(self.targets))
        return True

    # --- wiring -------------------------------------------------------------------------

    def _rebuild_targets(self) -> None:
        """Explicit hosts from the config, plus printers known from discovery and the store."""
        old = self.targets
        fresh: dict[tuple[str, int], Target] = {}
        for host in self.cfg.targets.hosts:
            key = (host.host, host.port)
            fresh[key] = old.get(key) or Target(host.host, host.port, tuple(host.credentials))
            fresh[key].credentials = tuple(host.credentials)
        for key, target in old.items():
            if key not in fresh and target.serial is not None and self._known_range(target.host):
                fresh[key] = target
        self.targets = fresh

    def _known_range(self, host: str) -> bool:
        address = ipaddress.ip_address(host)
        return any(address in ipaddress.ip_network(r.cidr, strict=False) for r in self.cfg.targets.ranges)

    def identity(self) -> AgentIdentity | None:
        """This agent's AgentIdentity at central, or None when it is not enrolled."""
        if not (self.paths.key_dir / IDENTITY_FILE).exists():
            return None
        from asr_agent.adapters.uplink import AgentIdentity  # enrolled only: see IDENTITY_FILE

        return AgentIdentity.load(self.paths.key_dir)

    async def _in_worker(self, func: Callable[..., T], *args: object) -> T:
        assert self._worker is not None
        return await asyncio.get_running_loop().run_in_executor(self._worker, func, *args)

    async def in_store_thread(self, func: Callable[..., T], *args: object) -> T:
        """Run `func` on the thread that owns the store's connection (the status page's reads)."""
        return await self._in_worker(func, *args)

    def _open_uplink(self) -> None:
        # Central's last order answer outlives a reload; everything else is built anew.
        last = self._deliver.order_status if self._deliver is not None else {}
        self._uplink = None
        self._deliver = None
        identity = self.identity()
        url = self.cfg.central.url or (identity.central_url if identity else None)
        if identity is None or url is None or self._store is None:
            return
        # Enrolled only: see IDENTITY_FILE.
        from asr_agent.adapters.uplink import Uplink, UplinkSettings
        from asr_agent.app.jobs.deliver import DeliverJob

        cfg_central = replace(self.cfg.central, url=url)
        self._uplink = Uplink(UplinkSettings.from_config(cfg_central), self._store,
                              sleep=self.uplink_sleep)
        self._deliver = DeliverJob(self._uplink, self._store, self.metrics, self.clock)
        self._deliver.order_status = last

    async def _start_status_page(self) -> None:
        page = self.cfg.status_page
        check_binds(page.bind, allow_remote=page.allow_remote, tls=page.tls_cert is not None,
                    password=page.password is not None)
        source = DaemonStatusSource(DaemonStatusView(self))
        remote = guard_options(page.bind, page.password)  # password and Host rules beyond loopback
        app = create_status_app(source, metrics=self.metrics, poll_now=self.poll_now, **remote)
        port = self.status_port if self.status_port is not None else page.port
        self._status_server = StatusServer(app, page.bind, port,
                                           tls_cert=str(page.tls_cert) if page.tls_cert else None,
                                           tls_key=str(page.tls_key) if page.tls_key else None)
        await self._status_server.start()

    def _schedule_jobs(self, *, first_run: bool) -> None:
        assert self._scheduler is not None
        now = datetime.now(UTC)
        poll = self.cfg.poll
        jobs = [
            ("discover", self.discover, timedelta(hours=self.cfg.discovery.interval_h), 0),
            ("poll", self.poll_round, timedelta(minutes=poll.interval_min), poll.jitter_s),
            ("maintain", self.maintain_store, timedelta(hours=24), 600),
        ]
        if self.cfg.update.channel != "off":
            jobs.append(("update", self.check_update, timedelta(hours=self.cfg.update.check_interval_h), 600))
        for job_id, func, every, jitter in jobs:
            first = now + timedelta(seconds=1) if first_run else None
            self._scheduler.add_job(
                self._wrapped(job_id, func), "interval", seconds=every.total_seconds(),
                jitter=jitter or None, id=job_id, name=job_id, replace_existing=True,
                next_run_time=first)
        if self.cfg.update.channel == "off" and self._scheduler.get_job("update"):
            self._scheduler.remove_job("update")

    def _wrapped(self, job_id: str, func: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                task.set_name(f"asr-job-{job_id}")
            record = self.jobs.setdefault(job_id, JobRecord())
            record.last_run = self.clock()
            try:
                await func()
                record.last_outcome = "ok"
            except asyncio.CancelledError:
                record.last_outcome = "cut at shutdown"
                raise
            except Exception as exc:  # one failed run must not stop the schedule
                record.last_outcome = f"error: {exc}"
                log.exception("job %s failed", job_id)

        return run

    def next_runs(self) -> dict[str, datetime | None]:
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    # --- jobs ---------------------------------------------------------------------------

    async def discover(self) -> None:
        assert self._snmp is not None and self._poll is not None
        await discover(self.cfg, self.targets, self._snmp, loopback_only=self.loopback_only)
        self._poll.count_requests()

    async def poll_now(self) -> None:
        if self._scheduler is not None and self._scheduler.get_job("poll"):
            self._scheduler.modify_job("poll", next_run_time=datetime.now(UTC))

    async def poll_round(self) -> None:
        """Poll, then summarize and deliver what the round read."""
        assert self._poll is not None and self._summarize is not None
        readings = await self._poll.run(self.cfg, list(self.targets.values()))
        self._summarize.forget_all_but({t.serial for t in self.targets.values()})
        await self.summarize_and_send(readings)
        if readings and (self.paths.data_dir / "update").is_dir():
            self_update.confirm(self.paths.data_dir, __version__)  # a good round ends a trial

    async def summarize_and_send(self, readings: list[Reading]) -> None:
        assert self._summarize is not None
        await self._in_worker(self._summarize.run, self.cfg, readings, self.identity(), self.paths.key_dir)
        if self._deliver is not None:
            await self._in_worker(self._deliver.run, self.cfg, self.identity(), self.paths.key_dir)

    async def maintain_store(self) -> None:
        """Daily: thin old samples and drop those past retention (see Store.compact)."""
        store, db = self.cfg.store, self._store
        assert db is not None  # opened by start(), before any job is scheduled
        result = await self._in_worker(lambda: db.compact(
            now=self.clock(), compact_after_days=int(store.compact_after_days),
            sample_retention_days=int(store.sample_retention_days)))
        event(log, logging.INFO, "store compacted", result=result)

    def _updater(self) -> Updater | None:
        """The update channel's client, or None where this is not a packaged install."""
        root = self_update.install_root()
        if root is None:
            return None
        return Updater(channel=self.cfg.update.channel, url=self.cfg.update.url,
                       state_dir=self.paths.data_dir, install_root=root)

    def _count_update_trial(self) -> None:
        """A version on trial that keeps failing to start is rolled back (self_update)."""
        if self_update.read_trial(self.paths.data_dir) is None:
            return
        updater = self._updater()
        if updater is not None and self_update.on_start(updater, self.paths.data_dir, __version__):
            self.restart_for_update()

    def restart_for_update(self) -> None:
        self.exit_code = self_update.RESTART_EXIT_CODE
        self.stopping.set()

    async def check_update(self) -> None:
        updater = self._updater()
        if updater is None:
            log.info("update channel %s: not a packaged install, nothing to update", self.cfg.update.channel)
            return
        if await asyncio.to_thread(self_update.scheduled_update, updater, self.paths.data_dir):
            self.restart_for_update()


class DaemonStatusView:
    """The status page's StatusView of a running daemon: read-only facts, nothing else."""

    def __init__(self, daemon: AgentDaemon) -> None:
        self._daemon = daemon

    @property
    def store(self) -> Store | None:
        return self._daemon.store

    def now(self) -> datetime:
        return self._daemon.clock()

    def agent(self) -> AgentFacts:
        d = self._daemon
        return AgentFacts(site_id=d.cfg.site.id, config_path=str(d.config_path) if d.config_path else None,
                          data_dir=str(d.paths.data_dir),
                          log_path=str(d.cfg.logging.file) if d.cfg.logging.file else None,
                          started_at=d.started_at, central_url=d.cfg.central.url,
                          central_proxy=d.cfg.central.proxy, enrolled=d.identity() is not None)

    def targets(self) -> list[TargetFacts]:
        # One step: the event loop may replace entries meanwhile.
        return [TargetFacts(t.host, t.port, t.serial,
                            t.last_reading.page_count if t.last_reading else None, t.silent)
                for t in list(self._daemon.targets.values())]

    def outlooks(self, serial: str) -> dict[int, SupplyOutlook]:
        return self._daemon.insights.get(serial, {})

    def order_status(self, serial: str, supply_index: int) -> OrderStatus | None:
        return self._daemon.order_status.get((serial, supply_index))

    def uplink(self) -> UplinkFacts | None:
        up = self._daemon.uplink
        if up is None:
            return None
        return UplinkFacts(up.last_success, up.last_error, up.clock_skew_s, up.clock_off)

    def jobs(self) -> dict[str, JobFacts]:
        d = self._daemon
        next_runs = d.next_runs()
        records = dict(d.jobs)
        return {job_id: JobFacts(next_runs.get(job_id),
                                 records[job_id].last_run if job_id in records else None,
                                 records[job_id].last_outcome if job_id in records else None)
                for job_id in set(next_runs) | set(records)}

    async def read(self, func: Callable[..., T], *args: object) -> T:
        result: T = await self._daemon.in_store_thread(func, *args)
        return result


def _prepare(config_path: Path | None) -> tuple[AgentConfig, AgentPaths]:
    cfg = load_config(config_path) if config_path is not None else default_config()
    setup_logging(level=cfg.logging.level, log_file=cfg.logging.file, secrets=_secret_values(cfg))
    return cfg, cfg.paths(config_file=config_path)


def run_daemon(config_path: Path | None, *, clock: Clock = utc_now) -> int:
    """`asr-agent run`: load the config, set up logging, run until SIGTERM/SIGINT."""
    cfg, paths = _prepare(config_path)
    daemon = AgentDaemon(cfg, paths, config_path=config_path, clock=clock)
    asyncio.run(daemon.run_until_signalled())
    return daemon.exit_code


def serve(config_path: str | Path | None, stop: threading.Event) -> int:
    """The Windows service's entry: run until `stop` is set (the SCM sends no signals)."""
    path = Path(config_path) if config_path else None
    cfg, paths = _prepare(path)

    exit_code = [0]

    async def main() -> None:
        daemon = AgentDaemon(cfg, paths, config_path=path)
        await daemon.start()
        try:
            while not stop.is_set() and not daemon.stopping.is_set():
                await asyncio.sleep(0.5)
        finally:
            await daemon.stop()
            exit_code[0] = daemon.exit_code

    asyncio.run(main())
    return exit_code[0]
