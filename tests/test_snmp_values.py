"""One converter for SNMP values: the client and the discovery sweep read the same device
the same way (IpAddress as dotted text, the end of the MIB as END_OF_MIB), over snmpsim."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from asr_agent.adapters.snmp import END_OF_MIB, SnmpClient, SnmpCredential
from asr_agent.adapters.snmp.sweep import Sweep, SweepAnswer
from asr_agent.domain import oids
from conftest import serving

RECORDINGS = Path(__file__).parent / "recordings"
SERIAL = oids.PRT_GENERAL_SERIAL_NUMBER + ".1"
HR_DEVICE_DESCR = oids.HR_DEVICE_DESCR + ".1"


@pytest.fixture(scope="module")
def device(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("values")
    shutil.copy(RECORDINGS / "ip_address.snmprec", data / "public.snmprec")
    shutil.copy(RECORDINGS / "not_a_printer.snmprec", data / "server.snmprec")
    with serving(data) as endpoint:
        yield endpoint


def client_get(endpoint: tuple[str, int], version: str, oid_list: list[str], kind: str = "get",
               community: str = "public"):
    async def go():
        async with SnmpClient(timeout=2, retries=1) as client:
            cred = SnmpCredential(version=version, community=SnmpCredential.v2c(community).community)
            call = client.get if kind == "get" else client.next
            return await call(endpoint[0], endpoint[1], cred, oid_list)
    return asyncio.run(go())


def sweep_answer(endpoint: tuple[str, int], version: str, community: str = "public") -> SweepAnswer:
    async def go() -> list[SweepAnswer]:
        cred = SnmpCredential(version=version, community=SnmpCredential.v2c(community).community)
        sweep = Sweep([endpoint[0]], port=endpoint[1], communities=[cred], rate=0, timeout=1, retries=1)
        return [a async for a in sweep.answers()]
    answers = asyncio.run(go())
    assert len(answers) == 1
    return answers[0]


@pytest.mark.parametrize("version", ["2c", "1"])
def test_an_ip_address_reads_as_dotted_text_through_client_and_sweep(device, version: str) -> None:
    got = dict(client_get(device, version, [SERIAL, HR_DEVICE_DESCR]))
    assert got == {SERIAL: "10.20.30.40", HR_DEVICE_DESCR: "10.20.30.40"}
    answer = sweep_answer(device, version)
    assert (answer.serial, answer.hr_device_descr) == ("10.20.30.40", "10.20.30.40")
    assert answer.printer_mib is True


@pytest.mark.parametrize("version", ["2c", "1"])
def test_past_the_end_of_the_mib_is_the_end_for_client_and_sweep_alike(device, version: str) -> None:
    # The server has no Printer-MIB: the client's GETNEXT from its last object gives
    # END_OF_MIB, and the sweep's check for a supplies table reads the same as "none".
    start = "1.3.6.1.6.3.10.2.1.3.0"  # snmpEngineMaxMessageSize.0, the walk's last object
    [(_, value)] = client_get(device, version, [start], kind="next", community="server")
    assert value is END_OF_MIB
    answer = sweep_answer(device, version, community="server")
    assert answer.sys_descr == "Linux fileserver 6.1.0 x86_64"
    assert answer.printer_mib is False
