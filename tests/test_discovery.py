"""Discovery against real snmpsim printers scattered over an otherwise silent loopback /20."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from asr_agent.domain.device_state import DeviceState, Health, PollOutcome, StatePolicy, observe
from asr_agent.app.discovery import DiscoveryResult, V3Target, discover, plan_targets
from asr_agent.adapters.snmp.client import SnmpCredential
from asr_agent.adapters.snmp.sweep import Sweep
from asr_dev.snmpsim_process import SnmpSim, SnmpSimUnavailable, V3User
from tests.conftest import REPO, free_port, require

RECORDINGS = Path(__file__).parent / "recordings" / "discovery"
RANGE = "127.20.0.0/20"
V3 = V3User("asrdisco", auth_key="disco-auth-key-1", priv_key="disco-priv-key-1")
FAST = {"rate": 0, "timeout": 0.3, "retries": 0, "loopback_only": True}

XEROX = ("127.20.3.7", "127.20.9.9")       # one printer answering on two addresses
FUJIFILM = "127.20.5.200"                  # answers the second community only
HP = "127.20.14.31"
BROTHER = "127.20.2.2"                     # no serial, no Printer-MIB: hrDeviceType only
SWITCH = "127.20.1.1"                      # answers, but is not a printer
V3_PRINTER = "127.20.12.34"


@dataclass
class Fleet:
    port: int
    sims: dict[str, SnmpSim]

    def credentials(self) -> dict[str, SnmpCredential]:
        return {"office": SnmpCredential.v2c("public"), "branch": SnmpCredential.v2c("branch7")}

    def v3_target(self) -> V3Target:
        cred = SnmpCredential.v3(V3.user, V3.auth_key, V3.priv_key, context_name="public")
        return V3Target(V3_PRINTER, cred, self.port, name="secure")


def _start(sim: SnmpSim) -> SnmpSim:
    try:
        return sim.start()
    except SnmpSimUnavailable as exc:
        require(False, str(exc))
        raise


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    port = free_port()
    layout = {
        "xerox": (RECORDINGS / "xerox", list(XEROX), {}),
        "fujifilm": (RECORDINGS / "fujifilm", [FUJIFILM], {}),
        "hp": (RECORDINGS / "hp", [HP], {}),
        "brother": (RECORDINGS / "brother", [BROTHER], {}),
        "switch": (RECORDINGS / "switch", [SWITCH], {}),
        "v3": (RECORDINGS / "v3printer", [V3_PRINTER], {"v3_user": V3, "v3_only": True}),
    }
    sims = {name: SnmpSim(data, [(h, port) for h in hosts], **extra)
            for name, (data, hosts, extra) in layout.items()}
    try:
        # Started side by side: each responder spends most of its start-up importing.
        with ThreadPoolExecutor(len(sims)) as pool:
            list(pool.map(_start, sims.values()))
        yield Fleet(port, sims)
    finally:
        for sim in sims.values():
            sim.stop()


@pytest.fixture(scope="module")
def swept(fleet: Fleet) -> DiscoveryResult:
    return asyncio.run(discover([RANGE], port=fleet.port, credentials=fleet.credentials(),
                                v3_targets=[fleet.v3_target()], **FAST))


def by_identity(result: DiscoveryResult) -> dict[str, object]:
    return {p.identity: p for p in result.printers}


def test_sweep_finds_exactly_the_printers_with_their_serials(swept: DiscoveryResult) -> None:
    found = by_identity(swept)
    serials = {p.serial for p in swept.printers}
    assert serials == {"XVC7030-3391028", "TC300811724", "CNB9K42211", "XAB8155-7710342", None}
    assert len(found) == 5
    assert swept.refused == [] and swept.problems == []


def test_the_non_printer_is_counted_not_returned(swept: DiscoveryResult) -> None:
    assert swept.non_printers == 1
    assert all(SWITCH not in [h for h, _ in p.addresses] for p in swept.printers)


def test_every_address_of_the_range_is_swept_and_the_rest_are_silent(swept: DiscoveryResult) -> None:
    hosts = ipaddress.ip_network(RANGE).num_addresses - 2
    assert swept.swept == hosts
    answering = 2 + 1 + 1 + 1 + 1 + 1  # xerox twice, fujifilm, hp, brother, switch, v3
    assert swept.silent == hosts - answering


def test_one_printer_on_two_addresses_is_reported_once(swept: DiscoveryResult) -> None:
    [xerox] = [p for p in swept.printers if p.serial == "XVC7030-3391028"]
    assert [h for h, _ in xerox.addresses] == list(XEROX)
    assert xerox.host == XEROX[0]


def test_vendor_model_and_asr_compatibility_come_from_identification(swept: DiscoveryResult) -> None:
    table = {p.serial: (p.vendor, p.asr_compatible) for p in swept.printers}
    assert table["XVC7030-3391028"] == ("xerox", True)
    assert table["TC300811724"] == ("fujifilm", True)
    assert table["XAB8155-7710342"] == ("xerox", True)
    assert table["CNB9K42211"] == ("hp", False)
    assert table[None] == ("brother", False)


def test_silent_addresses_get_the_next_community(swept: DiscoveryResult) -> None:
    [fuji] = [p for p in swept.printers if p.serial == "TC300811724"]
    assert (fuji.host, fuji.credential, fuji.printer_mib) == (FUJIFILM, "branch", True)


def test_the_v3_only_printer_is_probed_with_its_user(swept: DiscoveryResult) -> None:
    [secure] = [p for p in swept.printers if p.serial == "XAB8155-7710342"]
    assert (secure.host, secure.credential, secure.printer_mib) == (V3_PRINTER, "secure", True)


def test_a_printer_without_serial_gets_a_stable_hash_identity(swept: DiscoveryResult) -> None:
    [brother] = [p for p in swept.printers if p.serial is None]
    assert brother.identity.startswith("h:") and len(brother.identity) == 22
    assert brother.host == BROTHER and brother.printer_mib is False
    # Same device, asked again on its own: same identity.
    again = asyncio.run(discover([BROTHER], port=brother.port, **FAST))
    assert [p.identity for p in again.printers] == [brother.identity]


def test_excluded_addresses_are_not_asked(fleet: Fleet) -> None:
    result = asyncio.run(discover(["127.20.0.0/22"], port=fleet.port, exclude=[XEROX[0], SWITCH],
                                  **FAST))
    assert [p.addresses for p in result.printers] == [((BROTHER, fleet.port),)]
    assert result.non_printers == 0
    assert result.swept == 1022 - 2


def test_in_flight_state_stays_under_its_bound(fleet: Fleet) -> None:
    async def go() -> tuple[set[str], int]:
        sweep = Sweep(ipaddress.ip_network("127.20.0.0/22").hosts(), port=fleet.port,
                      communities=[SnmpCredential.v2c("public")], rate=0, timeout=0.2,
                      max_in_flight=256)
        hosts = {a.host async for a in sweep.answers()}
        return hosts, sweep.stats.peak_in_flight

    hosts, peak = asyncio.run(go())
    assert hosts == {XEROX[0], BROTHER, SWITCH}
    assert peak <= 256


def test_the_rate_limit_spaces_packets(fleet: Fleet) -> None:
    started = time.monotonic()
    result = asyncio.run(discover(["127.20.15.0/26"], port=fleet.port, rate=500, timeout=0.1,
                                  retries=0, loopback_only=True))
    elapsed = time.monotonic() - started
    assert result.swept == 62
    # 62 packets at 500/s with a 25-packet burst need at least (62 - 25) / 500 s.
    assert elapsed >= (62 - 25) / 500


def test_refusals_say_why_and_nothing_outside_loopback_is_sent() -> None:
    plan = plan_targets(["192.0.2.0/24", "127.0.0.0/8", "224.0.0.1", "not a host!", "127.9.0.0/30"],
                        loopback_only=True)
    reasons = dict(r.split(": ", 1) for r in plan.refused)
    assert "restricted to loopback" in reasons["192.0.2.0/24"]
    assert "--force" in reasons["127.0.0.0/8"]
    assert "multicast" in reasons["224.0.0.1"] or "loopback" in reasons["224.0.0.1"]
    assert "not an IP address" in reasons["not a host!"]
    assert [str(a) for a in plan] == ["127.9.0.1", "127.9.0.2"]


def test_force_lifts_the_size_limit_but_not_the_loopback_guard() -> None:
    plan = plan_targets(["127.0.0.0/15", "10.0.0.0/15"], force=True, loopback_only=True)
    assert len(plan) == 2 ** 17 - 2
    assert [r.split(":")[0] for r in plan.refused] == ["10.0.0.0/15"]


def test_overlapping_ranges_are_swept_once_without_their_edge_addresses() -> None:
    plan = plan_targets(["127.5.0.0/24", "127.5.0.128/25", "127.5.1.0/24", "127.5.0.255"])
    addresses = list(plan)
    assert len(addresses) == len(set(addresses)) == len(plan)
    assert ipaddress.ip_address("127.5.0.0") not in addresses
    assert ipaddress.ip_address("127.5.0.255") in addresses  # named explicitly as a host


def test_a_printer_that_stops_answering_sleeps_then_is_unreachable_then_returns(
        tmp_path: Path) -> None:
    port = free_port()
    host = "127.20.7.77"
    sim = _start(SnmpSim(RECORDINGS / "hp", [(host, port)]))
    policy = StatePolicy(asleep_after_misses=1, unreachable_after_misses=2,
                         unreachable_after=timedelta(hours=24))
    health = Health()
    states = []
    clock = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
    alarms = []

    def poll() -> None:
        nonlocal health, clock
        result = asyncio.run(discover([host], port=port, **FAST))
        outcome = PollOutcome.ANSWERED if result.printers else PollOutcome.MISSED
        clock += timedelta(minutes=15)
        health, transition = observe(health, outcome, clock, policy)
        if transition is not None:
            alarms.append((transition.raise_alarm, transition.clear_alarm))
        states.append(health.state)

    try:
        poll()
        sim.stop()
        poll()
        poll()
        sim.start()
        poll()
    finally:
        sim.stop()
    assert states == [DeviceState.OK, DeviceState.ASLEEP, DeviceState.UNREACHABLE, DeviceState.OK]
    assert alarms == [(False, False), (True, False), (False, True)]


def test_cli_prints_the_printers_as_json(fleet: Fleet) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asr_agent.cli", "discover", RANGE, "--port",
         str(fleet.port), "--community", "public", "--community", "branch7", "--rate", "0",
         "--timeout", "0.3", "--retries", "0", "--json", "--loopback-only"],
        capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "\r" not in proc.stderr  # no progress bar when not on a terminal
    printers = json.loads(proc.stdout)
    by_serial = {p["serial"]: p for p in printers}
    assert set(by_serial) == {"XVC7030-3391028", "TC300811724", "CNB9K42211", None}
    fuji = by_serial["TC300811724"]
    for key in ("host", "port", "serial", "vendor", "model", "sys_object_id", "sys_descr",
                "asr_compatible"):
        assert key in fuji
    assert (fuji["host"], fuji["port"], fuji["vendor"], fuji["asr_compatible"]) == (
        FUJIFILM, fleet.port, "fujifilm", True)
    assert fuji["model"] == "Apeos C3570"
    assert fuji["sys_object_id"] == "1.3.6.1.4.1.297.1.11.93.2.1.3.9"
    assert [a["host"] for a in by_serial["XVC7030-3391028"]["addresses"]] == list(XEROX)
    assert "branch7" not in proc.stdout  # community strings never printed


def test_cli_refuses_a_range_over_a_slash_16_and_says_why() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "asr_agent.cli", "discover", "127.0.0.0/15", "--loopback-only",
         "--json"], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 1
    assert "refused 127.0.0.0/15" in proc.stderr and "--force" in proc.stderr
    assert json.loads(proc.stdout) == []


def test_configured_ranges_hosts_credentials_and_exclusions_are_swept(fleet: Fleet) -> None:
    from asr_agent.app.config import parse_config
    from asr_agent.app.discovery import discover_configured

    cfg = parse_config(f"""
site: {{id: test-site}}
snmp:
  retries: 0
  credentials:
    office: {{version: 2c, community: public}}
    branch: {{version: 2c, community: branch7}}
    secure: {{version: "3", user: {V3.user}, auth_protocol: SHA, auth_key: {V3.auth_key},
              priv_protocol: AES, priv_key: {V3.priv_key}, context: public}}
targets:
  ranges:
    - {{cidr: 127.20.0.0/22, credentials: [office], port: {fleet.port}}}
    - {{cidr: 127.20.4.0/22, credentials: [office, branch], port: {fleet.port}}}
    - {{cidr: 127.20.8.0/22, credentials: [secure], port: {fleet.port}}}
  hosts:
    - {{host: {V3_PRINTER}, credentials: [secure], port: {fleet.port}}}
  exclude: [{SWITCH}]
discovery: {{rate_pps: 100000, timeout_s: 0.3}}
""")
    result = asyncio.run(discover_configured(cfg, loopback_only=True))
    assert {(p.host, p.credential) for p in result.printers} == {
        (XEROX[0], "office"), (BROTHER, "office"), (FUJIFILM, "branch"), (V3_PRINTER, "secure")}
    assert result.non_printers == 0  # the switch is excluded
    [why] = result.refused
    assert why.startswith("127.20.8.0/22: only SNMPv3 credentials")
    assert result.swept == (1022 - 1) + 1022 + 1  # the switch excluded, the v3 host added
