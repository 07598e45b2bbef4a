"""The public walk corpus end to end: each real printer walk served by snmpsim, read by
the real client and poller, and checked against what a person reading the walk expects.

Rows are (index, type, class, colour, level state, remaining percent).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from recordings.walkfile import snmpwalk_to_snmprec

from asr_agent.app.poller import poll_printer
from asr_agent.adapters.snmp import SnmpClient, SnmpCredential
from conftest import serving

pytestmark = pytest.mark.slow  # about 40 polls against one responder: ~10 s on a busy 2-core box


@dataclass(frozen=True)
class Expected:
    vendor: str | None
    asr: bool
    serial: str | None
    pages: int | None
    errors: list[str]
    supplies: list[tuple[int, str, str, str | None, str, float | None]]


EXPECTED = {
    'brother_hl5370dw__librenms.snmprec': Expected(
        vendor='brother', asr=False, serial=None, pages=7792, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', None),
            (2, 'toner', 'consumed', 'black', 'some_remaining', None),
            (3, 'opc', 'consumed', None, 'ok', 68.83),
        ]),
    'brother_nc8300h__librenms.snmprec': Expected(
        vendor='brother', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'some_remaining', None),
            (2, 'opc', 'consumed', None, 'ok', 95.84),
        ]),
    'canon_lbp6670__librenms.snmprec': Expected(
        vendor='canon', asr=False, serial='MKRA012345', pages=None, errors=[],
        supplies=[
            (1, 'toner_cartridge', 'consumed', None, 'ok', 70.0),
        ]),
    'dell_s5830dn_lexmarkoem__librenms.snmprec': Expected(
        vendor='dell', asr=False, serial='7XQ1R92-132-13', pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 49.0),
            (2, 'opc', 'consumed', None, 'ok', 72.0),
            (3, 'other', 'consumed', None, 'ok', 83.0),
            (4, 'other', 'consumed', None, 'ok', 89.0),
        ]),
    'epson_builtin_inkjet__librenms.snmprec': Expected(
        vendor='epson', asr=False, serial='X3B8022793', pages=None, errors=[],
        supplies=[
            (1, 'ink', 'consumed', 'black', 'ok', 1.0),
            (2, 'ink', 'consumed', 'cyan', 'ok', 1.0),
            (3, 'ink', 'consumed', 'magenta', 'ok', 1.0),
            (4, 'ink', 'consumed', 'yellow', 'ok', 1.0),
        ]),
    'fujifilm_apeos_c7580__librenms.snmprec': Expected(
        vendor='fujifilm', asr=True, serial='TC101642170085', pages=None, errors=[],
        supplies=[
            (2, 'toner', 'consumed', 'yellow', 'ok', 100.0),
            (3, 'toner', 'consumed', 'magenta', 'ok', 100.0),
            (4, 'toner', 'consumed', 'cyan', 'ok', 100.0),
            (5, 'waste_toner', 'receptacle', None, 'some_remaining', None),
            (6, 'opc', 'consumed', 'black', 'ok', 99.0),
            (7, 'opc', 'consumed', 'yellow', 'ok', 100.0),
            (8, 'opc', 'consumed', 'magenta', 'ok', 100.0),
            (9, 'opc', 'consumed', 'cyan', 'ok', 100.0),
            (30, 'toner', 'consumed', 'black', 'ok', 100.0),
            (31, 'toner', 'consumed', 'black', 'ok', 90.0),
        ]),
    'hp_jetdirect__librenms.snmprec': Expected(
        vendor='hp', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner_cartridge', 'consumed', 'black', 'ok', 54.0),
            (2, 'toner_cartridge', 'consumed', 'cyan', 'ok', 44.0),
            (3, 'toner_cartridge', 'consumed', 'magenta', 'ok', 76.0),
            (4, 'toner_cartridge', 'consumed', 'yellow', 'ok', 71.0),
        ]),
    'hp_laserjet_m130nw__librenms.snmprec': Expected(
        vendor='hp', asr=False, serial='VNCRC48198', pages=15232, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 28.0),
            (5, 'opc', 'consumed', None, 'ok', 71.0),
        ]),
    'hp_laserjet_m252dw__librenms.snmprec': Expected(
        vendor='hp', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 63.0),
            (2, 'toner', 'consumed', 'cyan', 'ok', 63.0),
            (3, 'toner', 'consumed', 'magenta', 'ok', 88.0),
            (4, 'toner', 'consumed', 'yellow', 'ok', 36.0),
        ]),
    'hp_laserjet_m880__librenms.snmprec': Expected(
        vendor='hp', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner_cartridge', 'consumed', 'black', 'ok', 92.0),
            (2, 'toner_cartridge', 'consumed', 'cyan', 'ok', 16.0),
            (3, 'toner_cartridge', 'consumed', 'magenta', 'ok', 100.0),
            (4, 'toner_cartridge', 'consumed', 'yellow', 'ok', 70.0),
            (5, 'opc', 'consumed', 'black', 'ok', 53.0),
            (6, 'opc', 'consumed', 'cyan', 'ok', 58.0),
            (7, 'opc', 'consumed', 'magenta', 'ok', 58.0),
            (8, 'opc', 'consumed', 'yellow', 'ok', 58.0),
            (9, 'transfer_unit', 'consumed', None, 'ok', 89.0),
            (10, 'fuser', 'consumed', None, 'ok', 84.0),
            (11, 'other', 'consumed', None, 'ok', 99.0),
            (12, 'cleaner_unit', 'other', None, 'ok', 97.0),
            (13, 'staples', 'consumed', None, 'some_remaining', None),
            (14, 'staples', 'consumed', None, 'some_remaining', None),
            (15, 'staples', 'consumed', None, 'some_remaining', None),
        ]),
    'konica_bizhub_25e__librenms.snmprec': Expected(
        vendor='konica_minolta', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 8.0),
            (2, 'opc', 'consumed', None, 'ok', 99.0),
            (3, 'fuser', 'consumed', None, 'ok', 58.0),
            (4, 'transfer_unit', 'consumed', None, 'ok', 58.0),
        ]),
    'konica_bizhub_c3110__librenms.snmprec': Expected(
        vendor='konica_minolta', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'cyan', 'ok', 29.0),
            (2, 'toner', 'consumed', 'magenta', 'ok', 31.0),
            (3, 'toner', 'consumed', 'yellow', 'ok', 58.0),
            (4, 'toner', 'consumed', 'black', 'ok', 83.0),
            (5, 'opc', 'consumed', 'cyan', 'ok', 59.0),
            (6, 'developer', 'consumed', 'cyan', 'ok', 79.0),
            (7, 'opc', 'consumed', 'magenta', 'ok', 97.0),
            (8, 'developer', 'consumed', 'magenta', 'ok', 78.0),
            (9, 'opc', 'consumed', 'yellow', 'ok', 59.0),
            (10, 'developer', 'consumed', 'yellow', 'ok', 78.0),
            (11, 'opc', 'consumed', 'black', 'ok', 20.0),
            (12, 'developer', 'consumed', 'black', 'ok', 71.0),
            (13, 'waste_toner', 'receptacle', None, 'some_remaining', None),
            (14, 'fuser', 'consumed', None, 'ok', 68.0),
            (15, 'transfer_unit', 'consumed', None, 'ok', 41.0),
            (16, 'transfer_unit', 'consumed', None, 'ok', 45.0),
            (17, 'unknown', 'consumed', None, 'ok', 45.0),
        ]),
    'oki_okilan9450g__librenms.snmprec': Expected(
        vendor='oki', asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 59.0),
            (2, 'toner', 'consumed', 'cyan', 'ok', 69.0),
            (3, 'toner', 'consumed', 'magenta', 'ok', 69.0),
            (4, 'toner', 'consumed', 'yellow', 'ok', 69.0),
            (5, 'opc', 'consumed', 'black', 'ok', 94.69),
            (6, 'opc', 'consumed', 'cyan', 'ok', 95.9),
            (7, 'opc', 'consumed', 'magenta', 'ok', 95.9),
            (8, 'opc', 'consumed', 'yellow', 'ok', 95.9),
            (9, 'transfer_unit', 'consumed', None, 'ok', 97.99),
            (10, 'fuser', 'consumed', None, 'ok', 98.84),
        ]),
    'ricoh_aficio_mpc3002__librenms.snmprec': Expected(
        vendor='ricoh', asr=False, serial='W492KB03439', pages=271871, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 40.0),
            (2, 'waste_toner', 'receptacle', None, 'ok', 100.0),
            (3, 'toner', 'consumed', 'cyan', 'ok', 20.0),
            (4, 'toner', 'consumed', 'magenta', 'ok', 50.0),
            (5, 'toner', 'consumed', 'yellow', 'ok', 50.0),
        ]),
    'samsung_m4080fx__librenms.snmprec': Expected(
        vendor='samsung', asr=False, serial=None, pages=22934, errors=['low_paper'],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 88.0),
            (2, 'fuser', 'consumed', None, 'ok', 74.52),
            (3, 'transfer_unit', 'consumed', None, 'ok', 84.71),
            (4, 'other', 'consumed', None, 'ok', 95.64),
            (5, 'other', 'consumed', None, 'ok', 99.96),
            (6, 'other', 'consumed', None, 'ok', 90.53),
            (7, 'other', 'consumed', None, 'ok', 90.53),
        ]),
    'sharp_mx3570n__librenms.snmprec': Expected(
        vendor='sharp', asr=False, serial='6509415X00', pages=121104, errors=['low_toner'],
        supplies=[
            (1, 'toner', 'consumed', 'cyan', 'ok', 55.0),
            (2, 'toner', 'consumed', 'magenta', 'ok', 19.0),
            (3, 'toner', 'consumed', 'yellow', 'ok', 40.0),
            (4, 'toner', 'consumed', 'black', 'ok', 34.0),
            (5, 'waste_toner', 'receptacle', None, 'ok', None),
            (6, 'opc', 'consumed', 'cyan', 'ok', 81.0),
            (7, 'opc', 'consumed', 'magenta', 'ok', 81.0),
            (8, 'opc', 'consumed', 'yellow', 'ok', 81.0),
            (9, 'opc', 'consumed', 'black', 'ok', 95.0),
            (10, 'developer', 'consumed', 'cyan', 'ok', 91.0),
            (11, 'developer', 'consumed', 'magenta', 'ok', 91.0),
            (12, 'developer', 'consumed', 'yellow', 'ok', 91.0),
            (13, 'developer', 'consumed', 'black', 'ok', 74.0),
            (14, 'fuser', 'consumed', None, 'unknown', None),
        ]),
    'utax_kyocera_oem__librenms.snmprec': Expected(
        vendor='kyocera', asr=False, serial=None, pages=427, errors=[],
        supplies=[
            (1, 'toner', 'consumed', None, 'ok', 89.0),
            (2, 'waste_toner', 'receptacle', None, 'some_remaining', None),
        ]),
    'xerox_altalink_c8045__librenms.snmprec': Expected(
        vendor='xerox', asr=True, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 20.0),
            (2, 'toner', 'consumed', 'cyan', 'ok', 66.0),
            (3, 'toner', 'consumed', 'magenta', 'ok', 72.0),
            (4, 'toner', 'consumed', 'yellow', 'ok', 60.0),
            (5, 'opc', 'consumed', None, 'ok', 50.0),
            (6, 'opc', 'consumed', None, 'ok', 92.0),
            (7, 'opc', 'consumed', None, 'ok', 93.0),
            (8, 'opc', 'consumed', None, 'ok', 93.0),
            (9, 'fuser', 'consumed', None, 'ok', 90.0),
            (10, 'waste_toner', 'receptacle', None, 'ok', 5.0),
            (11, 'transfer_unit', 'consumed', None, 'ok', 65.0),
            (12, 'transfer_unit', 'consumed', None, 'ok', 86.0),
        ]),
    'xerox_workcentre_7835_glpi_issue__partial.snmpwalk': Expected(
        vendor=None, asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'unknown', None),
            (2, 'toner', 'consumed', 'cyan', 'unknown', None),
            (3, 'toner', 'consumed', 'magenta', 'unknown', None),
            (4, 'toner', 'consumed', 'yellow', 'unknown', None),
        ]),
    'xerox_workcentre_7xxx_futurice__partial.snmpwalk': Expected(
        vendor=None, asr=False, serial=None, pages=None, errors=[],
        supplies=[
            (1, 'toner', 'consumed', 'black', 'ok', 10.99),
            (2, 'toner', 'consumed', 'yellow', 'ok', 30.0),
            (3, 'toner', 'consumed', 'magenta', 'ok', 65.98),
            (4, 'toner', 'consumed', 'cyan', 'ok', 23.99),
            (5, 'waste_toner', 'receptacle', None, 'ok', 100.0),
            (6, 'opc', 'consumed', 'black', 'ok', 88.0),
            (7, 'opc', 'consumed', 'yellow', 'ok', 100.0),
            (8, 'opc', 'consumed', 'magenta', 'ok', 95.0),
            (9, 'opc', 'consumed', 'cyan', 'ok', 96.0),
            (10, 'transfer_unit', 'consumed', None, 'ok', 100.0),
            (11, 'transfer_unit', 'consumed', None, 'ok', 100.0),
            (12, 'fuser', 'consumed', None, 'ok', 100.0),
            (13, 'developer', 'consumed', 'black', 'ok', 100.0),
            (14, 'developer', 'consumed', 'yellow', 'ok', 100.0),
            (15, 'developer', 'consumed', 'magenta', 'ok', 100.0),
            (16, 'developer', 'consumed', 'cyan', 'ok', 100.0),
            (17, 'transfer_unit', 'consumed', None, 'ok', 100.0),
            (18, 'unknown', 'consumed', None, 'ok', 100.0),
            (19, 'unknown', 'consumed', None, 'ok', 100.0),
            (20, 'unknown', 'consumed', None, 'ok', 100.0),
            (21, 'unknown', 'consumed', None, 'ok', 100.0),
            (22, 'unknown', 'consumed', None, 'unknown', None),
        ]),
}


def community(name: str) -> str:
    return name.split(".")[0]


@pytest.fixture(scope="module")
def corpus(shared_walks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One responder serving every walk from a temporary data directory (snmpsim does not
    follow symlinks): .snmprec copied, .snmpwalk text converted; the community is the
    file name."""
    data = tmp_path_factory.mktemp("walks")
    for name in EXPECTED:
        source = shared_walks / name
        target = data / f"{community(name)}.snmprec"
        if source.suffix == ".snmprec":
            shutil.copyfile(source, target)
        else:
            snmpwalk_to_snmprec(source, target)
    with serving(data) as endpoint:
        yield endpoint


def test_every_walk_in_the_corpus_is_expected(shared_walks: Path) -> None:
    on_disk = {p.name for p in shared_walks.iterdir() if p.suffix in {".snmprec", ".snmpwalk"}}
    assert on_disk == set(EXPECTED), "a walk was added or removed: write its expectations here"


@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_walk_polled_end_to_end(corpus: tuple[str, int], name: str, version: str) -> None:
    host, port = corpus
    cred = SnmpCredential(version=version, community=SnmpCredential.v2c(community(name)).community)

    async def poll():
        async with SnmpClient(timeout=2, retries=1) as client:
            reading = await poll_printer(client, host, port, cred)
            return reading, client.requests

    reading, requests = asyncio.run(poll())
    want = EXPECTED[name]
    device = reading.device
    assert (device.vendor, device.asr_compatible, device.serial) == (want.vendor, want.asr, want.serial)
    assert reading.page_count == want.pages
    assert sorted(reading.error_state) == want.errors
    got = [(s.index, s.type.wire_name, s.supply_class.wire_name, s.color, s.level_state.value,
            s.remaining_percent) for s in reading.supplies]
    assert got == want.supplies
    if version == "2c":
        # The columns read fill 8 rows per answer under snmpsim's 64-varbind cap.
        assert requests <= 1 + (len(want.supplies) - 1) // 8
