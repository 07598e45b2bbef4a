"""One list of serial placeholders: the printer's serial, a cartridge's CRUM serial and
discovery's identity all drop the same words, so one printer gets one key everywhere."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from asr_agent.adapters.snmp import SnmpCredential
from asr_agent.adapters.snmp.sweep import Sweep, SweepAnswer
from asr_agent.app.discovery import IDENTITY_PREFIX, identity_of
from asr_agent.domain import oids, serials
from asr_agent.domain.consumption import usable_serial
from asr_agent.domain.printer_mib import parse_reading
from asr_dev.snmpsim_process import SnmpSim, SnmpSimUnavailable
from conftest import free_port, require

RECORDINGS = Path(__file__).parent / "recordings"
AT = datetime(2026, 1, 1, tzinfo=UTC)


def reading(serial: str, description: str = "Black Toner"):
    raw = {
        oids.SYS_OBJECT_ID: "1.3.6.1.4.1.253.8.62.1.35.3.4.1.1",
        oids.SYS_DESCR: b"Xerox AltaLink C8135",
        oids.PRT_GENERAL_SERIAL_NUMBER + ".1": serial.encode(),
        oids.PRT_MARKER_SUPPLIES_DESCRIPTION + ".1.1": description.encode(),
        oids.PRT_MARKER_SUPPLIES_LEVEL + ".1.1": 50,
        oids.PRT_MARKER_SUPPLIES_MAX_CAPACITY + ".1.1": 100,
    }
    return parse_reading(raw, host="127.0.0.1", port=161, taken_at=AT)


@pytest.mark.parametrize("word", ["null", "NULL", "000000", "0"])
def test_a_placeholder_printer_serial_is_no_serial(word: str) -> None:
    assert reading(word).device.serial is None


@pytest.mark.parametrize("word", ["null", "0000000"])
def test_a_placeholder_cartridge_serial_is_no_serial(word: str) -> None:
    [supply] = reading("X1", f"Black Toner, PN 006R01509;SN{word}").supplies
    assert (supply.part_number, supply.cartridge_serial) == ("006R01509", None)


@given(st.one_of(st.sampled_from(sorted(serials.PLACEHOLDERS)).map(str.upper),
                 st.text(alphabet="0123456789ABCDEFXYZ-/", min_size=1, max_size=20)))
def test_printer_and_cartridge_serials_follow_the_same_rule(text: str) -> None:
    device_serial = reading(text).device.serial
    assert device_serial == usable_serial(text) == serials.usable(text)


def test_discovery_keys_a_printer_with_a_placeholder_serial_by_hash(tmp_path: Path) -> None:
    shutil.copy(RECORDINGS / "placeholder_serial.snmprec", tmp_path / "public.snmprec")
    endpoint = ("127.0.0.1", free_port())
    sim = SnmpSim(tmp_path, [endpoint])
    try:
        sim.start()
    except SnmpSimUnavailable as exc:
        require(False, str(exc))

    async def go() -> list[SweepAnswer]:
        sweep = Sweep([endpoint[0]], port=endpoint[1], communities=[SnmpCredential.v2c("public")],
                      rate=0, timeout=1, retries=1)
        return [a async for a in sweep.answers()]

    try:
        [answer] = asyncio.run(go())
    finally:
        sim.stop()
    assert answer.serial is None
    assert identity_of(answer).startswith(IDENTITY_PREFIX)
