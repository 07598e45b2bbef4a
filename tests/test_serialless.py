"""A printer without a serial number (prtGeneralSerialNumber absent or empty, as on RFC
1759-era devices) is one device everywhere in the agent: discovery's identity is the key its
readings are stored, analysed and shown under, wherever it answers from.

Real parts throughout: simulated printers served by snmpsim on loopback, the daemon's own
jobs, a real store, the status page's snapshot."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from asr_agent.cli import main
from asr_agent.app.config import load_config
from asr_agent.app.daemon import AgentDaemon
from asr_agent.app.discovery import discover, hashed_identity
from asr_dev.simulated_printers import SimulatedFleet, SimulatedPrinter, recording
from asr_agent.app.status.model import DeviceView
from asr_agent.app.daemon import DaemonStatusView
from asr_agent.app.status.snapshot import DaemonStatusSource
from tests.conftest import free_port

T0 = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)  # a Monday morning
RANGE = "127.31.0.0/30"                      # discovery sweeps .1 and .2
FIRST, SECOND = "127.31.0.1", "127.31.0.2"   # where the serial-less printer answers
STATIC = "127.31.1.1"                        # a configured host, outside the range
RECORDING = "xerox_altalink_c8135"


class ManualClock:
    """The daemon's clock, moved by the test: each poll round is hours of printing."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def serialless(host: str, port: int, *, serial: str | None = None,
               start_pct: dict[int, float] | None = None) -> SimulatedPrinter:
    return SimulatedPrinter("old", RECORDING, serial, host, port, use_pct_per_day={1: 3.0},
                            start_pct=start_pct or {})


def write_config(tmp_path: Path, *, ranges: list[dict[str, Any]] | None = None,
                 hosts: list[dict[str, Any]] | None = None) -> Path:
    config = {
        "site": {"id": "site-1"},
        "snmp": {"credentials": {"lab": {"version": "2c", "community": "public"}},
                 "timeout_s": 0.3, "retries": 0},
        "targets": {"ranges": ranges or [], "hosts": hosts or []},
        "discovery": {"timeout_s": 0.3, "rate_pps": 1000},
        # The scheduler runs each job once at start; the test drives the rounds after that.
        "poll": {"interval_min": 600, "jitter_s": 0},
        "forecast": {"min_span_h": 12},
        "store": {"data_dir": str(tmp_path / "data")},
        "status_page": {"enabled": False},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def answers(oid: str, name: str = RECORDING) -> str:
    """What the recording `name` serves at `oid`."""
    return next(line.split("|", 2)[2] for line in recording(name).splitlines()
                if line.startswith(oid + "|"))


async def started(config_path: Path, clock: ManualClock) -> AgentDaemon:
    """A running daemon whose start-up jobs (discover, poll, maintain) are done."""
    cfg = load_config(config_path)
    daemon = AgentDaemon(cfg, cfg.paths(config_file=config_path), config_path=config_path,
                         clock=clock, loopback_only=True)
    await daemon.start()
    for _ in range(100):
        if all(daemon.jobs.get(j) and daemon.jobs[j].last_outcome for j in ("discover", "poll", "maintain")):
            break
        await asyncio.sleep(0.1)
    assert {j: r.last_outcome for j, r in daemon.jobs.items()} == {
        "discover": "ok", "poll": "ok", "maintain": "ok"}
    return daemon


async def rounds(daemon: AgentDaemon, clock: ManualClock, n: int,
                 fleet: SimulatedFleet | None = None) -> None:
    """`n` poll rounds three hours apart; `fleet`, if any, prints meanwhile."""
    for _ in range(n):
        clock.now += timedelta(hours=3)
        if fleet is not None:
            fleet.advance(clock.now)
        await daemon.poll_round()


async def shown(daemon: AgentDaemon) -> dict[str, DeviceView]:
    snapshot = await DaemonStatusSource(DaemonStatusView(daemon)).snapshot_async()
    return {d.serial: d for d in snapshot.devices}


def test_discovered_serialless_printer_is_one_device_under_its_identity(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, ranges=[{"cidr": RANGE, "port": port, "credentials": ["lab"]}])
    clock = ManualClock(T0)
    first = serialless(FIRST, port)

    async def scenario(fleet: SimulatedFleet) -> None:
        found = await discover([RANGE], port=port, timeout=0.3, loopback_only=True)
        [printer] = found.printers
        assert printer.serial is None and printer.identity.startswith("h:")
        identity = printer.identity
        daemon = await started(config, clock)
        try:
            await rounds(daemon, clock, 24, fleet)  # three days of office printing
            store = daemon.store
            assert [d.serial for d in store.devices()] == [identity]  # no "addr:" twin
            assert daemon.insights[identity]  # analysed under the same key
            devices = await shown(daemon)
            assert list(devices) == [identity]
            view = devices[identity]
            assert (view.address, view.state, view.vendor) == (f"{FIRST}:{port}", "ok", "xerox")
            assert view.page_count is not None and view.page_count > 0  # the target's reading joined
            black = next(s for s in view.supplies if s.index == 1)
            assert black.forecast_status == "ok"
            assert black.days_to_empty is not None and 5 < black.days_to_empty < 60

            # It stops answering: the missed poll is recorded against the same device.
            fleet.stop()
            await rounds(daemon, clock, 1)
            assert [(d.serial, d.state) for d in store.devices()] == [(identity, "asleep")]
            assert (await shown(daemon))[identity].state == "asleep"

            # The same printer answers from another address (DHCP moved it), levels as it left.
            levels = {i: 100 * level / first.capacities[i] for i, level in first.levels.items()
                      if first.capacities.get(i)}
            with SimulatedFleet([serialless(SECOND, port, start_pct=levels)]) as moved:
                moved.start(clock.now)
                await daemon.discover()
                assert [t.serial for t in daemon.targets.values()] == [identity]
                await rounds(daemon, clock, 2, moved)
            assert [(d.serial, d.host, d.state) for d in store.devices()] == [(identity, SECOND, "ok")]
            devices = await shown(daemon)
            assert list(devices) == [identity]
            assert (devices[identity].address, devices[identity].state) == (f"{SECOND}:{port}", "ok")
            black = next(s for s in devices[identity].supplies if s.index == 1)
            assert black.forecast_status == "ok"  # the history from before the move still counts
        finally:
            await daemon.stop()

    with SimulatedFleet([first]) as fleet:
        fleet.start(clock.now)
        asyncio.run(scenario(fleet))


def test_configured_host_without_serial_is_stored_and_shown(tmp_path: Path, capsys) -> None:
    port = free_port()
    config = write_config(tmp_path, hosts=[{"host": STATIC, "port": port, "credentials": ["lab"]}])
    clock = ManualClock(T0)
    # No discovery names it: the key is the hash of what its answer says (a poll does not
    # read hrDeviceDescr).
    identity = hashed_identity(answers("1.3.6.1.2.1.1.2.0"), answers("1.3.6.1.2.1.1.1.0"), None)

    async def scenario(fleet: SimulatedFleet) -> None:
        daemon = await started(config, clock)
        try:
            await rounds(daemon, clock, 2, fleet)
            assert [d.serial for d in daemon.store.devices()] == [identity]
            assert 1 in daemon.insights[identity]
            view = (await shown(daemon))[identity]
            assert (view.address, view.state) == (f"{STATIC}:{port}", "ok")
            assert view.page_count is not None
        finally:
            await daemon.stop()

    data = str(tmp_path / "data")
    with SimulatedFleet([serialless(STATIC, port, serial="")]) as fleet:  # the serial served empty
        fleet.start(clock.now)
        asyncio.run(scenario(fleet))
        # The one-shot `asr-agent poll --store` keys it the way the daemon does.
        assert main(["poll", f"{STATIC}:{port}", "--store", "--data-dir", data]) == 0
    capsys.readouterr()
    assert main(["status", "--data-dir", data, "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert [d["serial"] for d in devices] == [identity]


def test_a_serial_missing_from_one_answer_keeps_the_printer_another_model_is_another(
        tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, hosts=[{"host": STATIC, "port": port, "credentials": ["lab"]}])
    clock = ManualClock(T0)
    other = "hp_laserjet_m507"
    newcomer = hashed_identity(answers("1.3.6.1.2.1.1.2.0", other),
                               answers("1.3.6.1.2.1.1.1.0", other), None)

    async def scenario() -> None:
        with SimulatedFleet([serialless(STATIC, port, serial="XRX-1")]) as known:
            known.start(clock.now)
            daemon = await started(config, clock)
        try:
            # the same model answers without its serial (a reboot half done): the same printer
            with SimulatedFleet([serialless(STATIC, port)]) as glitch:
                glitch.start(clock.now)
                await rounds(daemon, clock, 1, glitch)
            assert [d.serial for d in daemon.store.devices()] == ["XRX-1"]
            # another model, without a serial, takes the address: another printer
            newcomer_printer = SimulatedPrinter("new", other, None, STATIC, port)
            with SimulatedFleet([newcomer_printer]) as swapped:
                swapped.start(clock.now)
                await rounds(daemon, clock, 2, swapped)
            assert sorted(d.serial for d in daemon.store.devices()) == sorted(["XRX-1", newcomer])
            assert [t.serial for t in daemon.targets.values()] == [newcomer]
        finally:
            await daemon.stop()

    asyncio.run(scenario())
