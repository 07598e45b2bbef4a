"""One odd printer never stops the others: values outside their SNMP type's range are
logged against that printer and supply and left out, the rest of its reading is kept, and
the healthy printers beside it are stored, summarized and delivered."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from asr_agent.app.config import load_config
from asr_agent.app.daemon import AgentDaemon
from asr_core.records import Device, LevelState, Reading, Supply, SupplyClass, SupplyType, SupplyUnit
from asr_dev.simulated_printers import SimulatedFleet
from asr_agent.adapters.store import Store
from tests.agent_harness import (
    CAPACITY_OID, LEVEL_OID, ODD_SERIAL, PAGES_OID, agent_config, asr_log, healthy_printer,
    odd_recording, serve_recording,
)
from tests.support_central import central, enrolled_agent  # noqa: F401  (fixture)
from tests.test_daemon import T0, WarpClock

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

# Supply 1: a level of 2^31 as a Gauge32 (one past Integer32); supply 2: a level of
# 2^64-1 as a digit string; supply 3: a capacity of 2^64-1 as a Counter64; and a Counter64
# page counter of 2^64-1 (legal: kept exactly, and sent as its digits).
ODD_VALUES = {
    f"{LEVEL_OID}.1": f"66|{2**31}",
    f"{LEVEL_OID}.2": f"4|{2**64 - 1}",
    f"{CAPACITY_OID}.3": f"70|{2**64 - 1}",
    PAGES_OID: f"70|{2**64 - 1}",
}


def test_odd_printer_is_logged_and_kept_and_the_healthy_one_delivered(
        tmp_path: Path, snmpsim, central) -> None:  # noqa: F811
    odd_port = serve_recording(snmpsim, tmp_path, "odd", odd_recording(ODD_VALUES))
    healthy = healthy_printer()
    config_path = agent_config(tmp_path, [("127.0.0.1", odd_port), (healthy.host, healthy.port)],
                               central_url=central.url)
    cfg = load_config(config_path)
    paths = cfg.paths(config_file=config_path)
    _, identity = enrolled_agent(central, paths.key_dir)
    clock = WarpClock(T0, 3600.0)  # one real second is one simulated hour

    async def scenario() -> None:
        with SimulatedFleet([healthy]) as fleet:
            fleet.start(clock())
            daemon = AgentDaemon(cfg, paths, config_path=config_path, clock=clock, loopback_only=True)
            await daemon.start()
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    fleet.advance(clock())
                    await asyncio.sleep(0.3)
                    serials = {r["device_serial"] for r in central.query("SELECT device_serial FROM summaries")}
                    if {"HP-T-002", ODD_SERIAL} <= serials:
                        break
            finally:
                await daemon.stop()

    with asr_log() as log:
        asyncio.run(scenario())

    with Store.in_dir(paths.data_dir) as store:
        assert store.samples_for("HP-T-002", 1), "the healthy printer was not stored"
        odd = {s.index: s for s in store.supplies_of(ODD_SERIAL)}
        assert set(odd) == set(range(1, 13)), "the odd printer's supplies were not all stored"
        for index in (1, 2):
            latest = odd[index].latest
            assert latest is not None and latest.level is None and latest.level_state is LevelState.UNKNOWN
        assert odd[3].latest is not None and odd[3].latest.max_capacity is None
        assert odd[4].latest is not None and odd[4].latest.level == 480  # the rest is kept
        assert odd[4].latest.page_count == 2**64 - 1  # a legal Counter64, kept exactly
    warnings = log.lines(logging.WARNING)
    for index, oid, value in ((1, f"{LEVEL_OID}.1", 2**31), (2, f"{LEVEL_OID}.2", 2**64 - 1),
                              (3, f"{CAPACITY_OID}.3", 2**64 - 1)):
        named = [w for w in warnings if f"supply {index} " in w and oid in w and str(value) in w
                 and f"serial={ODD_SERIAL}" in w and f"address=127.0.0.1:{odd_port}" in w]
        assert len(named) == 1, (index, warnings)  # once, not every round
    delivered = {r["device_serial"] for r in central.summaries(identity.agent_id)}
    assert "HP-T-002" in delivered
    assert ODD_SERIAL in delivered  # its summary carries what was in range
    [odd_summary] = [json.loads(r["payload"]) for r in central.summaries(identity.agent_id)
                     if r["device_serial"] == ODD_SERIAL][:1]
    assert odd_summary["page_counters"]["end"] == str(2**64 - 1)  # past 2^53-1: its digits, exact
    assert {s["index"]: s["level"] for s in odd_summary["supplies"]}[4] == 480
    device = central.admin("GET", f"/v1/devices/{ODD_SERIAL}")
    assert device.json()["page_count"] == 2**64 - 1


def test_a_counter64_page_counter_of_2_64_minus_1_is_stored_without_loss(
        tmp_path: Path, snmpsim, capsys) -> None:
    from asr_agent.cli import main

    port = serve_recording(snmpsim, tmp_path, "odd", odd_recording({PAGES_OID: f"70|{2**64 - 1}"}))
    store_dir = tmp_path / "agent-data"
    assert main(["poll", f"127.0.0.1:{port}", "--store", "--data-dir", str(store_dir)]) == 0
    capsys.readouterr()
    with Store.in_dir(store_dir) as store:
        assert [s.page_count for s in store.samples_for(ODD_SERIAL, 1)] == [2**64 - 1]


@settings(max_examples=60, deadline=None)
@given(pages=st.integers(0, 2**64 - 1))
def test_every_counter64_value_round_trips_through_the_store(tmp_path_factory, pages: int) -> None:
    path = tmp_path_factory.mktemp("store") / "s.sqlite3"
    taken = datetime(2027, 1, 4, tzinfo=UTC)
    supply = Supply(1, "Black Toner", SupplyType.TONER, SupplyClass.CONSUMED, "black", SupplyUnit.PERCENT,
                    100, 40, 40.0, LevelState.OK)
    reading = Reading("127.0.0.1", 161, taken, Device("1.3.6.1.4.1.253", "Xerox", "XRX-1", "xerox", None, True),
                      (supply,), page_count=pages)
    with Store(path) as store:
        store.record_reading(reading)
        assert [s.page_count for s in store.samples_for("XRX-1", 1)] == [pages]


# What an SNMP agent can put in these columns: any INTEGER/Counter64/Gauge32 value, or digits
# in an OCTET STRING (of any length: Python refuses more than 4,300 digits as a number).
_ANY_NUMBER = st.one_of(st.integers(-(2**70), 2**70), st.integers(-(2**70), 2**70).map(lambda n: str(n).encode()),
                        st.just(b"9" * 5000))


@settings(max_examples=100, deadline=None)
@given(level=_ANY_NUMBER, capacity=_ANY_NUMBER, pages=_ANY_NUMBER)
def test_any_number_in_level_capacity_or_page_counter_is_stored_or_left_out(
        tmp_path_factory, level: object, capacity: object, pages: object) -> None:
    from asr_agent.domain.printer_mib import parse_reading

    raw = {f"{LEVEL_OID}.1": level, f"{CAPACITY_OID}.1": capacity, PAGES_OID: pages,
           "1.3.6.1.2.1.43.11.1.1.6.1.1": b"Black Toner", "1.3.6.1.2.1.43.11.1.1.5.1.1": 3,
           "1.3.6.1.2.1.43.11.1.1.9.1.2": 50, "1.3.6.1.2.1.43.11.1.1.6.1.2": b"Cyan Toner",
           "1.3.6.1.2.1.43.5.1.1.17.1": b"XRX-1", "1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.253.8.62.1"}
    reading = parse_reading(raw, host="127.0.0.1", port=161, taken_at=datetime(2027, 1, 4, tzinfo=UTC))
    black = reading.supplies[0]
    assert black.raw_level is None or -3 <= black.raw_level <= 2**31 - 1
    assert black.raw_capacity is None or -2 <= black.raw_capacity <= 2**31 - 1
    assert reading.page_count is None or 0 <= reading.page_count <= 2**64 - 1
    with Store(tmp_path_factory.mktemp("store") / "s.sqlite3") as store:
        store.record_reading(reading)  # never raises: what is out of range was left out
        stored = store.samples_for("XRX-1", 1)[0]
        assert (stored.level, stored.page_count) == (black.level, reading.page_count)
        assert store.samples_for("XRX-1", 2)[0].level == 50  # the rest of the reading is kept


def test_a_printer_whose_summary_fails_does_not_cost_the_others_theirs(
        tmp_path: Path, central, monkeypatch) -> None:  # noqa: F811
    """The fault is injected (the analysis of one printer raises): no real input is left
    that makes building a summary fail, and the daemon must hold whatever comes next."""
    import asr_agent.app.insight
    from asr_dev.simulated_printers import SimulatedPrinter
    from tests.conftest import free_port

    broken = SimulatedPrinter("lobby", "xerox_altalink_c8135", "XRX-BROKEN", "127.0.0.1", free_port(),
                              use_pct_per_day={1: 3.0})
    healthy = healthy_printer()
    real = asr_agent.app.insight.device_insights

    def analysis(store, serial, **kwargs):
        if serial == "XRX-BROKEN":
            raise RuntimeError("injected: this printer's analysis fails")
        return real(store, serial, **kwargs)

    monkeypatch.setattr(asr_agent.app.insight, "device_insights", analysis)
    config_path = agent_config(tmp_path, [(broken.host, broken.port), (healthy.host, healthy.port)],
                               central_url=central.url)
    cfg = load_config(config_path)
    paths = cfg.paths(config_file=config_path)
    _, identity = enrolled_agent(central, paths.key_dir)
    clock = WarpClock(T0, 3600.0)

    async def scenario() -> None:
        with SimulatedFleet([broken, healthy]) as fleet:
            fleet.start(clock())
            daemon = AgentDaemon(cfg, paths, config_path=config_path, clock=clock, loopback_only=True)
            await daemon.start()
            try:
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline and len(central.summaries(identity.agent_id)) < 2:
                    fleet.advance(clock())
                    await asyncio.sleep(0.3)
            finally:
                await daemon.stop()

    with asr_log() as log:
        asyncio.run(scenario())

    assert {r["device_serial"] for r in central.summaries(identity.agent_id)} == {"HP-T-002"}
    assert len(central.summaries(identity.agent_id)) >= 2
    errors = log.lines(logging.ERROR)
    assert any("summary of printer XRX-BROKEN" in line and "the other printers go on" in line for line in errors)
