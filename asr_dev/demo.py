"""`asr-agent demo`: the whole system on one machine, in time-lapse.

Simulated Xerox, FUJIFILM and HP printers answer SNMP on loopback with levels that fall
as they print; an embedded central service (SQLite) knows the site and its contact; the
agent is enrolled and runs with short intervals. Simulated time runs `warp` times faster
than the wall clock (one hour a second by default), so within a few minutes the status
page shows falling levels, forecasts, and central places a consolidated order.
Nothing but loopback is ever touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml

from asr_dev.simulated_printers import SimulatedFleet, SimulatedPrinter

log = logging.getLogger("asr.demo")

SITE = "demo-hq"
CONTACT = "facilities"
CONTACT_EMAIL = "facilities@demo.example"
CONSOLE_USER = "operator"


class WarpClock:
    """Simulated time: starts at `start` and runs `factor` times faster than the wall clock."""

    def __init__(self, start: datetime, factor: float) -> None:
        self.start, self.factor, self._real0 = start, factor, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self._real0) * self.factor)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def demo_printers() -> list[SimulatedPrinter]:
    """Two Xerox MFPs and a FUJIFILM at one site for one contact, plus a monitored HP.

    Start levels and rates are chosen so that some supplies come due within the first
    simulated week and others a little later, to show consolidation and pull-forward.
    """
    udp = socket.SOCK_DGRAM
    return [
        SimulatedPrinter("lobby MFP", "xerox_altalink_c8135", "XRX-DEMO-001", "127.0.0.1", _free_port(udp),
                         use_pct_per_day={1: 2.2, 2: 1.0, 3: 0.9, 4: 0.8, 10: 1.5},
                         start_pct={1: 30.0, 2: 30.0, 3: 62.0, 4: 75.0, 10: 45.0}),
        SimulatedPrinter("2nd floor MFP", "xerox_altalink_c8135", "XRX-DEMO-002", "127.0.0.1", _free_port(udp),
                         use_pct_per_day={1: 1.8, 2: 0.6, 3: 0.6, 4: 0.6, 10: 1.0},
                         start_pct={1: 26.0, 2: 70.0, 3: 68.0, 4: 80.0, 10: 60.0}),
        SimulatedPrinter("print room", "fujifilm_apeos_c5570", "FF-DEMO-003", "127.0.0.1", _free_port(udp),
                         use_pct_per_day={30: 2.5, 31: 2.5, 2: 0.9, 3: 0.9, 4: 0.9},
                         start_pct={30: 38.0, 31: 90.0}),
        SimulatedPrinter("reception (HP)", "hp_laserjet_m507", "HP-DEMO-004", "127.0.0.1", _free_port(udp),
                         use_pct_per_day={1: 3.0}, start_pct={1: 35.0}),
    ]


@dataclass
class EmbeddedCentral:
    """The central app on a loopback port, in this process's event loop."""

    db_path: Path
    clock: Callable[[], datetime]
    port: int = 0
    admin_token: str = ""
    console_password: str = ""  # the demo operator's, made at start and printed
    _server: Any = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        import uvicorn

        from asr_central.service.app import create_app

        self.admin_token = self.admin_token or secrets.token_urlsafe(24)
        self.port = self.port or _free_port(socket.SOCK_STREAM)
        app = create_app(f"sqlite:///{self.db_path}", admin_token=self.admin_token, clock=self.clock)
        self._add_console_operator(app)
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False, lifespan="on")
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.02)

    def _add_console_operator(self, app: Any) -> None:
        """An operator account for the console, with a fresh random password (printed)."""
        from asr_central.service.console.passwords import hash_password
        from asr_central.storage import users

        self.console_password = self.console_password or secrets.token_urlsafe(12)
        with app.state.db.transaction() as conn:
            if users.get_user(conn, CONSOLE_USER) is None:
                users.add_user(conn, CONSOLE_USER, hash_password(self.console_password),
                               "operator", self.clock())
            else:  # a --workdir kept from an earlier run: the password printed now works
                users.set_password(conn, CONSOLE_USER, hash_password(self.console_password),
                                   self.clock())

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=10)

    async def admin(self, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(base_url=self.url, trust_env=False, timeout=10) as client:
            answer = await client.request(method, path, headers={"Authorization": f"Bearer {self.admin_token}"},
                                          **kwargs)
            answer.raise_for_status()
            return answer.json() if answer.content else None

    async def register(self, printers: list[SimulatedPrinter]) -> None:
        await self.admin("PUT", f"/v1/registry/contacts/{CONTACT}", json={
            "name": "Facilities desk", "email": CONTACT_EMAIL,
            "shipping_address": "1 Demo Street, Goods-in, Lyon"})
        await self.admin("PUT", f"/v1/registry/sites/{SITE}", json={"name": "Demo HQ", "contact": CONTACT})
        for p in printers:
            await self.admin("PUT", f"/v1/registry/devices/{p.serial}",
                             json={"site": SITE, "contact": CONTACT, "note": p.name})

    async def enrollment_token(self) -> str:
        answer = await self.admin("POST", "/v1/admin/enrollment-tokens", json={"site_id": SITE})
        return str(answer["token"])

    async def orders(self) -> list[dict[str, Any]]:
        return list(await self.admin("GET", "/v1/orders"))


def write_agent_config(workdir: Path, printers: list[SimulatedPrinter], central_url: str,
                       status_port: int, poll_seconds: float) -> Path:
    config = {
        "site": {"id": SITE, "name": "Demo HQ",
                 "contact": {"name": "Facilities desk", "email": CONTACT_EMAIL}},
        "snmp": {"credentials": {"demo": {"version": "2c", "community": "public"}},
                 "timeout_s": 1.0, "retries": 1},
        "targets": {"hosts": [{"host": p.host, "port": p.port, "credentials": ["demo"]} for p in printers]},
        "poll": {"interval_min": poll_seconds / 60, "jitter_s": 0},
        "central": {"url": central_url, "summary_interval_min": 120},
        "store": {"data_dir": str(workdir / "agent-data")},
        "status_page": {"port": status_port, "bind": ["127.0.0.1", "::1"]},
    }
    path = workdir / "agent.yaml"
    path.write_text("# Written by asr-agent demo: the agent's config for this run.\n"
                    + yaml.safe_dump(config, sort_keys=False))
    return path


async def enroll(cfg: Any, config_path: Path, central_url: str, token: str) -> str:
    from asr_agent.adapters import keys as signing
    from asr_agent.adapters.uplink import AgentIdentity, UplinkSettings, build_client
    from asr_agent.adapters.uplink import enroll as enroll_agent

    key_dir = cfg.paths(config_file=config_path).key_dir
    key = signing.load_or_create(key_dir)
    settings = UplinkSettings.from_config(cfg.central)

    def call() -> str:
        with build_client(settings) as client:
            answer = enroll_agent(client, token=token, key=key, site_id=cfg.site.id, agent_name="demo-agent")
        identity = AgentIdentity(agent_id=answer["agent_id"], site_id=cfg.site.id,
                                 central_url=central_url, key_id=key.key_id)
        identity.save(key_dir)
        return identity.agent_id

    return await asyncio.to_thread(call)


def _describe_order(order: dict[str, Any]) -> str:
    lines = order.get("lines", [])
    devices = sorted({line.get("device_serial", "?") for line in lines})
    parts = ", ".join(f"{line.get('quantity', '?')}× {line.get('color') or line.get('supply_type') or 'supply'}"
                      f" for {line.get('device_serial', '?')}" for line in lines)
    return (f"order {order['order_id']} for {order.get('site_id')} / "
            f"{order.get('contact_id')}: {len(lines)} line(s) across {len(devices)} printer(s): {parts}")


def _first_level(printer: SimulatedPrinter) -> str:
    """The level of the printer's first consumed supply, for the progress line."""
    index = next(iter(printer.use_pct_per_day))
    capacity = printer.capacities.get(index, 0)
    return f"{100 * printer.levels.get(index, 0) / capacity:.0f}%" if capacity > 0 else "?"


async def run_demo(*, minutes: float | None, warp: float, status_port: int, poll_seconds: float,
                   workdir: Path | None, out: Callable[[str], None] = print) -> dict[str, Any]:
    from asr_agent.app.config import load_config
    from asr_agent.app.daemon import AgentDaemon
    from asr_agent.adapters.logs import setup_logging

    tmp = tempfile.TemporaryDirectory(prefix="asr-demo-") if workdir is None else None
    root = Path(tmp.name) if tmp else Path(workdir)  # type: ignore[arg-type]
    root.mkdir(parents=True, exist_ok=True)
    clock = WarpClock(datetime.now(UTC).replace(microsecond=0), warp)
    printers = demo_printers()
    fleet = SimulatedFleet(printers, root / "printers")
    central = EmbeddedCentral(root / "central.sqlite3", clock)
    daemon: AgentDaemon | None = None
    result: dict[str, Any] = {"orders": [], "status_url": None}
    setup_logging(level="warning")
    try:
        fleet.start(clock())
        await central.start()
        await central.register(printers)
        config_path = write_agent_config(root, printers, central.url, status_port, poll_seconds)
        cfg = load_config(config_path)
        agent_id = await enroll(cfg, config_path, central.url, await central.enrollment_token())
        daemon = AgentDaemon(cfg, cfg.paths(config_file=config_path), config_path=config_path,
                             clock=clock, loopback_only=True)
        await daemon.start()
        result["status_url"] = daemon.status_urls[0]
        out(f"ASR demo — simulated time runs {warp:g}× faster than the clock "
            f"({warp / 3600:g} simulated hour(s) per second).")
        out(f"  printers : {len(printers)} simulated on loopback "
            + ", ".join(f"{p.serial}@{p.host}:{p.port}" for p in printers))
        out(f"  central  : {central.url}  (admin token {central.admin_token}; orders at /v1/orders)")
        out(f"  console  : {central.url}/console/  (sign in as {CONSOLE_USER} / "
            f"{central.console_password})")
        out(f"  agent    : enrolled as {agent_id}; data in {root}")
        out(f"  status   : {' '.join(daemon.status_urls)}")
        out("Ctrl-C stops everything." if minutes is None else f"Stops after {minutes:g} minute(s).")
        seen: dict[str, int] = {}  # order id -> lines already reported
        deadline = None if minutes is None else time.monotonic() + minutes * 60
        last_report = 0.0
        while deadline is None or time.monotonic() < deadline:
            fleet.advance(clock())
            await asyncio.sleep(0.5)
            if time.monotonic() - last_report >= 10:
                last_report = time.monotonic()
                orders = await central.orders()
                for order in orders:
                    key = str(order["order_id"])
                    lines = len(order.get("lines", []))
                    if seen.get(key) != lines:
                        verb = "placed" if key not in seen else "added to"
                        seen[key] = lines
                        out(f"[{clock():%Y-%m-%d %H:%M} simulated] central {verb} {_describe_order(order)}")
                result["orders"] = orders
                levels = ", ".join(f"{p.serial} {_first_level(p)}" for p in printers)
                assert daemon.store is not None  # the daemon has started
                out(f"[{clock():%Y-%m-%d %H:%M} simulated] {levels}; outbox {daemon.store.outbox_depth()}")
    except asyncio.CancelledError:
        pass
    finally:
        if daemon is not None:
            await daemon.stop()
        with contextlib.suppress(Exception):
            result["orders"] = await central.orders()
        await central.stop()
        fleet.stop()
        if tmp is not None:
            tmp.cleanup()
        out(f"Demo stopped: {len(result['orders'])} order(s) placed.")
    return result
