"""The running agent against simulated printers and a real central server: jobs run,
samples land, summaries arrive, levels fall into forecasts; clean shutdown; SIGHUP."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import yaml

from asr_agent.app.config import load_config
from asr_agent.app.daemon import AgentDaemon
from asr_dev.simulated_printers import SimulatedFleet, SimulatedPrinter
from tests.conftest import REPO, free_port
from tests.support_central import central, enrolled_agent  # noqa: F401  (fixture)

T0 = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # a Monday morning, in the past (central refuses the future)


class WarpClock:
    """Simulated time: every real second is `factor` simulated seconds."""

    def __init__(self, start: datetime, factor: float) -> None:
        self.start, self.factor, self.real0 = start, factor, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=(time.monotonic() - self.real0) * self.factor)


def write_config(tmp_path: Path, printers: list[SimulatedPrinter], *, central_url: str | None,
                 status_port: int | None = None, poll_min: float = 0.01) -> Path:
    config = {
        "site": {"id": "site-1", "contact": {"name": "Facilities", "email": "facilities@site.example"}},
        "snmp": {"credentials": {"lab": {"version": "2c", "community": "public"}},
                 "timeout_s": 0.5, "retries": 1},
        "targets": {"hosts": [{"host": p.host, "port": p.port, "credentials": ["lab"]} for p in printers]},
        "poll": {"interval_min": poll_min, "jitter_s": 0},
        "central": {"url": central_url, "summary_interval_min": 60},
        "store": {"data_dir": str(tmp_path / "data")},
        "forecast": {"min_span_h": 12},
        "status_page": {"port": status_port or free_port(kind=socket.SOCK_STREAM), "bind": ["127.0.0.1"]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def two_printers() -> list[SimulatedPrinter]:
    return [
        SimulatedPrinter("lobby", "xerox_altalink_c8135", "XRX-T-001", "127.0.0.1", free_port(),
                         use_pct_per_day={1: 3.0, 2: 1.5}),
        SimulatedPrinter("office", "hp_laserjet_m507", "HP-T-002", "127.0.0.1", free_port(),
                         use_pct_per_day={1: 2.0}),
    ]


def test_daemon_polls_stores_summarizes_and_delivers(tmp_path: Path, central) -> None:  # noqa: F811
    printers = two_printers()
    config_path = write_config(tmp_path, printers, central_url=central.url)
    cfg = load_config(config_path)
    paths = cfg.paths(config_file=config_path)
    _, identity = enrolled_agent(central, paths.key_dir)
    clock = WarpClock(T0, 3600.0)  # one real second = one simulated hour

    async def scenario() -> dict:
        with SimulatedFleet(printers) as fleet:
            fleet.start(clock())
            daemon = AgentDaemon(cfg, paths, config_path=config_path, clock=clock, loopback_only=True)
            await daemon.start()
            try:
                deadline = time.monotonic() + 40
                while time.monotonic() < deadline:
                    fleet.advance(clock())
                    await asyncio.sleep(0.3)
                    if len(central.summaries(identity.agent_id)) >= 6 and any(
                            i.forecast.status == "ok"
                            for i in daemon.insights.get("XRX-T-001", {}).values()):
                        break
                async with httpx.AsyncClient() as client:  # the page is served by this loop
                    status = (await client.get(daemon.status_urls[0] + "api/status.json")).json()
                lock = paths.data_dir / "agent.lock"
                assert lock.exists()
            finally:
                await daemon.stop()
            assert not lock.exists()
            return status

    status = asyncio.run(scenario())
    serials = {d["serial"] for d in status["devices"]}
    assert serials == {"XRX-T-001", "HP-T-002"}
    received = central.summaries(identity.agent_id)
    assert len(received) >= 6
    assert len({r["sequence"] for r in received}) == len(received)  # each delivered once
    xerox = next(d for d in status["devices"] if d["serial"] == "XRX-T-001")
    black = next(s for s in xerox["supplies"] if s["index"] == 1)
    assert black["forecast_status"] == "ok"
    # 3 % of capacity a working day from the recording's level: days to empty is finite
    # and in the right range (weekday-aware, so between the flat and the 5/7 estimates).
    assert black["days_to_empty"] is not None and 5 < black["days_to_empty"] < 60
    assert {j["id"] for j in status["jobs"]} >= {"poll", "discover"}


def _agent(config: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "asr_agent.cli", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            cwd=REPO)


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_sighup_keeps_old_config_when_new_one_is_broken(tmp_path: Path) -> None:
    printers = two_printers()[:1]
    status_port = free_port(kind=socket.SOCK_STREAM)
    config = write_config(tmp_path, printers, central_url=None, status_port=status_port, poll_min=0.02)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with SimulatedFleet(printers) as fleet:
        fleet.start(datetime.now(UTC))
        agent = _agent(config, env)
        try:
            url = f"http://127.0.0.1:{status_port}/api/status.json"

            def devices() -> int:
                try:
                    return len(httpx.get(url, timeout=1).json()["devices"])
                except httpx.HTTPError:
                    return 0

            assert _wait_for(lambda: devices() == 1), "the agent never polled the printer"
            good = config.read_text()
            config.write_text(good + "unknown_section: 1\n")
            agent.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            assert agent.poll() is None, "a broken config on SIGHUP must not stop the agent"
            assert devices() == 1
            agent.send_signal(signal.SIGTERM)
            out, _ = agent.communicate(timeout=30)
        finally:
            if agent.poll() is None:
                agent.kill()
    assert agent.returncode == 0, out
    assert "new config refused" in out and "unknown_section" in out
    assert "agent stopped" in out
    assert not (tmp_path / "data" / "agent.lock").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{status_port}/healthz", timeout=1)


def test_serve_stops_when_its_event_is_set(tmp_path: Path) -> None:
    """The Windows service's entry point: no signals, a stop event instead."""
    import threading

    from asr_agent.app.daemon import serve

    printers = two_printers()[:1]
    config = write_config(tmp_path, printers, central_url=None)
    stop = threading.Event()
    result: list[int] = []
    with SimulatedFleet(printers) as fleet:
        fleet.start(datetime.now(UTC))
        runner = threading.Thread(target=lambda: result.append(serve(str(config), stop)))
        runner.start()
        assert _wait_for(lambda: (tmp_path / "data" / "asr-agent.sqlite3").exists() and
                         (tmp_path / "data" / "agent.lock").exists())
        stop.set()
        runner.join(30)
    assert result == [0] and not runner.is_alive()
    assert not (tmp_path / "data" / "agent.lock").exists()
