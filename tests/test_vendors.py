"""Vendor knowledge as data, checked against real walks: a model for every vendor, each
vendor's part-number forms, "imaging kit" as a drum, error bits named for the marking
technology, and a waste bottle at -3 shown as some room left.

The walks are the shared corpus (read in place; served by snmpsim from a temporary copy,
as snmpsim does not follow links) and tests/recordings/vendors/, whose header line names
its source. Part-number forms no public walk we found carries (Kyocera's `TK-8527C` as the
whole description, Epson's `SJIC35P-BK`, HP's `W1480A`/`CF259A`, Brother's `TN-`/`DR-`,
Lexmark's) are parsed from the supply descriptions those printers are documented to send.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from asr_agent.adapters.snmp import SnmpClient, SnmpCredential
from asr_agent.app.commands.status import render
from asr_agent.app.poller import poll_printer
from asr_agent.domain import oids, vendors
from asr_agent.domain.printer_mib import parse_reading
from asr_core.records import Reading, SupplyType
from tests.status_fixtures import StaticSource, running_status_server, sample_snapshot
from conftest import serving

RECORDINGS = Path(__file__).parent / "recordings" / "vendors"
AT = datetime(2026, 1, 1, tzinfo=UTC)

# Shared corpus walk -> (vendor, model). One or more walks per vendor table.
MODELS = {
    "brother_hl5370dw__librenms.snmprec": ("brother", "HL-5370DW"),
    "brother_nc8300h__librenms.snmprec": ("brother", "MFC-L2710DW"),
    "canon_lbp6670__librenms.snmprec": ("canon", "LBP6670"),
    "dell_s5830dn_lexmarkoem__librenms.snmprec": ("dell", "S5830dn"),
    "epson_builtin_inkjet__librenms.snmprec": ("epson", "WF-C5790BA"),
    "fujifilm_apeos_c7580__librenms.snmprec": ("fujifilm", "Apeos C7580"),
    "hp_jetdirect__librenms.snmprec": ("hp", "Color LaserJet M452nw"),
    "hp_laserjet_m130nw__librenms.snmprec": ("hp", "LaserJet MFP M130nw"),
    "hp_laserjet_m252dw__librenms.snmprec": ("hp", "Color LaserJet Pro M252dw"),
    "hp_laserjet_m880__librenms.snmprec": ("hp", "Color LaserJet flow MFP M880"),
    "konica_bizhub_25e__librenms.snmprec": ("konica_minolta", "bizhub 25e"),
    "konica_bizhub_c3110__librenms.snmprec": ("konica_minolta", "bizhub C3110"),
    "oki_okilan9450g__librenms.snmprec": ("oki", "MC873"),
    "ricoh_aficio_mpc3002__librenms.snmprec": ("ricoh", "Aficio MP C3002"),
    "samsung_m4080fx__librenms.snmprec": ("samsung", "M4080FX"),
    "sharp_mx3570n__librenms.snmprec": ("sharp", "MX-3570N"),
    "utax_kyocera_oem__librenms.snmprec": ("kyocera", "P-4532DN"),
    "xerox_altalink_c8045__librenms.snmprec": ("xerox", "AltaLink C8045"),
}


def community(name: str) -> str:
    return name.split(".")[0]


@pytest.fixture(scope="module")
def walks(shared_walks: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    data = tmp_path_factory.mktemp("vendor-walks")
    for name in MODELS:
        shutil.copyfile(shared_walks / name, data / f"{community(name)}.snmprec")
    for path in RECORDINGS.glob("*.snmprec"):
        shutil.copyfile(path, data / path.name)
    with serving(data) as endpoint:
        yield endpoint


def poll(endpoint: tuple[str, int], name: str, version: str = "2c", twice: bool = False) -> Reading:
    cred = SnmpCredential(version=version, community=SnmpCredential.v2c(name).community)

    async def go() -> Reading:
        async with SnmpClient(timeout=2, retries=1) as client:
            reading = await poll_printer(client, *endpoint, cred)
            if twice:  # the steady poll reads only the changing columns
                reading = await poll_printer(client, *endpoint, cred, previous=reading)
            return reading
    return asyncio.run(go())


def test_every_vendor_table_has_a_walk() -> None:
    walked = {vendor for vendor, _ in MODELS.values()}
    # Fuji Xerox's and Lexmark's own tables share their rules with FUJIFILM's and Dell's.
    assert {t.name for t in vendors.TABLES} - walked == {"fujixerox", "lexmark"}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_vendors_walk_shows_its_model(walks: tuple[str, int], name: str) -> None:
    device = poll(walks, community(name)).device
    assert (device.vendor, device.model) == MODELS[name]


@pytest.mark.parametrize("version", ["2c", "1"])
def test_the_model_stays_on_the_steady_poll_and_over_v1(walks: tuple[str, int], version: str) -> None:
    device = poll(walks, community("hp_laserjet_m880__librenms.snmprec"), version, twice=True).device
    assert device.model == "Color LaserJet flow MFP M880"


# -- part numbers ----------------------------------------------------------------------------

_OBJECT_IDS = {
    "kyocera": "1.3.6.1.4.1.1347.41", "epson": "1.3.6.1.4.1.1248.1.1.2.1.3.5.69.69.80.83.50",
    "hp": "1.3.6.1.4.1.11.2.3.9.1", "brother": "1.3.6.1.4.1.2435.2.3.9.1",
    "lexmark": "1.3.6.1.4.1.641.2.1.2.1.139.1", "dell": "1.3.6.1.4.1.674.10898.2.100.100.51.1094474004",
    "canon": "1.3.6.1.4.1.1602.4.2", "samsung": "1.3.6.1.4.1.236.11.5.1",
}


def one_supply(vendor: str, description: str, supply_type: int | None = None):
    raw: dict[str, object] = {
        oids.SYS_OBJECT_ID: _OBJECT_IDS[vendor], oids.SYS_DESCR: b"",
        oids.PRT_MARKER_SUPPLIES_DESCRIPTION + ".1.1": description.encode(),
        oids.PRT_MARKER_SUPPLIES_MAX_CAPACITY + ".1.1": 100,
        oids.PRT_MARKER_SUPPLIES_LEVEL + ".1.1": 40,
    }
    if supply_type is not None:
        raw[oids.PRT_MARKER_SUPPLIES_TYPE + ".1.1"] = supply_type
    [supply] = parse_reading(raw, host="127.0.0.1", port=161, taken_at=AT).supplies
    return supply


@pytest.mark.parametrize(("vendor", "description", "part", "color", "supply_type"), [
    # Kyocera sends the part number as the whole description; its last letter is the colour.
    ("kyocera", "TK-8527C", "TK-8527C", "cyan", SupplyType.TONER),
    ("kyocera", "TK-3160", "TK-3160", None, SupplyType.TONER),
    ("epson", "SJIC35P-BK", "SJIC35P-BK", "black", SupplyType.INK_CARTRIDGE),
    ("epson", "Black Ink Supply Unit T9441/T9451/T9461", "T9441", "black", SupplyType.INK),
    ("hp", "Black Cartridge HP W1480A", "W1480A", "black", SupplyType.TONER_CARTRIDGE),
    ("hp", "Black Cartridge HP CF259A", "CF259A", "black", SupplyType.TONER_CARTRIDGE),
    ("brother", "TN-2420", "TN-2420", None, SupplyType.TONER_CARTRIDGE),
    ("brother", "DR-2400", "DR-2400", None, SupplyType.OPC),
    ("lexmark", "Black Cartridge 56F2000", "56F2000", "black", SupplyType.TONER_CARTRIDGE),
    ("lexmark", "Black Toner C242XK0", "C242XK0", "black", SupplyType.TONER),
    ("dell", "Imaging Kit 56F0Z00", "56F0Z00", None, SupplyType.OPC),
    ("canon", "Canon Cartridge 719/719H", "719", None, SupplyType.TONER_CARTRIDGE),
    ("samsung", "Black Toner Cartridge CLT-K506L", "CLT-K506L", "black", SupplyType.TONER_CARTRIDGE),
])
def test_each_vendors_part_number_form_is_read(vendor: str, description: str, part: str,
                                               color: str | None, supply_type: SupplyType) -> None:
    supply = one_supply(vendor, description, int(supply_type) if "Ink" in description else None)
    assert (supply.part_number, supply.color, supply.type) == (part, color, supply_type)
    assert supply.description == description  # the description itself is kept as sent


def test_part_numbers_from_the_walks(walks: tuple[str, int]) -> None:
    got = {name: [s.part_number for s in poll(walks, community(name)).supplies] for name in (
        "hp_jetdirect__librenms.snmprec", "epson_builtin_inkjet__librenms.snmprec",
        "utax_kyocera_oem__librenms.snmprec", "hp_laserjet_m130nw__librenms.snmprec")}
    assert got == {
        "hp_jetdirect__librenms.snmprec": ["CF410A", "CF411A", "CF413A", "CF412A"],
        "epson_builtin_inkjet__librenms.snmprec": ["T9441", "T9442", "T9443", "T9444"],
        "utax_kyocera_oem__librenms.snmprec": ["PK-3010S", None],
        "hp_laserjet_m130nw__librenms.snmprec": ["CF217A", "CF219A"],
    }


def test_a_vendors_form_is_not_read_in_another_vendors_description() -> None:
    # "T9441" is Epson's; on an HP it is no part number of HP's form.
    assert one_supply("hp", "Black Ink T9441", 5).part_number is None


@pytest.mark.parametrize("vendor", ["lexmark", "dell"])
def test_an_imaging_kit_is_a_drum(vendor: str) -> None:
    supply = one_supply(vendor, "Imaging Kit")
    assert supply.type is SupplyType.OPC


# -- error bits and levels in words -------------------------------------------------------------

@pytest.mark.parametrize("version", ["2c", "1"])
def test_an_inkjets_low_bit_is_low_ink(walks: tuple[str, int], version: str) -> None:
    reading = poll(walks, "epson_low_ink", version)
    assert reading.error_state == {"low_ink"}


def test_a_lasers_low_bit_stays_low_toner(walks: tuple[str, int]) -> None:
    assert poll(walks, community("sharp_mx3570n__librenms.snmprec")).error_state == {"low_toner"}


def _status_device(supplies: list[tuple[str, str]]) -> dict[str, object]:
    return {"serial": "X1", "vendor": "kyocera", "model": "P-4532DN", "state": "ok", "host": "127.0.0.1",
            "port": 161, "supplies": [
                {"index": i, "description": d, "supply_class": c, "level_state": "some_remaining",
                 "remaining_percent": None, "remaining_estimated": False, "forecast_status": "ok",
                 "days_to_empty": None, "daily_grams": None, "flags": [], "forecast_reason": None}
                for i, (d, c) in enumerate(supplies, 1)]}


def test_a_waste_bottle_at_minus_3_reads_some_room_left_in_the_status_command() -> None:
    text = render([_status_device([("PK-3010S", "consumed"), ("Waste Toner Box", "receptacle")])])
    toner, waste = text.splitlines()[2:4]
    assert "some left" in toner and "room" not in toner
    assert "some room left" in waste


def test_a_waste_bottle_at_minus_3_reads_some_room_left_on_the_status_page() -> None:
    snap = sample_snapshot()
    xerox = snap.devices[0]
    waste = dataclasses.replace(xerox.supplies[2], remaining_percent=None, level_state="some_remaining",
                                days_to_empty=None)
    snap = dataclasses.replace(snap, devices=(dataclasses.replace(xerox, supplies=(waste,)),))
    with running_status_server(StaticSource(snap)) as server:
        base = server.urls[0].rstrip("/")
        overview = httpx.get(base + "/").text
        device = httpx.get(f"{base}/devices/{xerox.serial}").text
    assert "some room left" in overview
    assert "some room left" in device


# -- hostile text -------------------------------------------------------------------------------

@given(vendor=st.sampled_from(sorted(_OBJECT_IDS)), descr=st.text(), hr=st.text(), name=st.text())
def test_any_text_gives_a_clean_model_or_none(vendor: str, descr: str, hr: str, name: str) -> None:
    info = vendors.identify(_OBJECT_IDS[vendor], descr, hr_device_descr=hr, printer_name=name)
    assert info.vendor == vendor
    assert info.model is None or (info.model == info.model.strip() and 0 < len(info.model) <= 255)


@pytest.mark.parametrize("vendor", sorted(_OBJECT_IDS))
def test_a_whitespace_flood_is_matched_quickly(vendor: str) -> None:
    # An SNMP message holds ~64 KiB: a description that is mostly whitespace must not make
    # the tables' patterns backtrack for minutes.
    flood = "Brother HP EPSON Lexmark " + " \t" * 30_000 + "x"
    started = time.perf_counter()
    vendors.identify(_OBJECT_IDS[vendor], flood, hr_device_descr=flood, printer_name=flood)
    assert time.perf_counter() - started < 1.0
