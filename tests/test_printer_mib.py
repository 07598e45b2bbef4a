"""Printer-MIB parsing as a specification: raw varbinds in, typed supplies out."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from recordings.walkfile import read_snmprec

from asr_agent.domain.printer_mib import parse_reading
from asr_core.records import LevelState, SupplyClass, SupplyType, SupplyUnit

RECORDINGS = Path(__file__).parent / "recordings"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
S = "1.3.6.1.2.1.43.11.1.1"


def parse(raw: dict[str, object]):
    return parse_reading(raw, host="127.0.0.1", port=161, taken_at=T0)


def row(index: int, **cols: object) -> dict[str, object]:
    numbers = {"colorant": 3, "cls": 4, "type": 5, "descr": 6, "unit": 7, "cap": 8, "level": 9}
    return {f"{S}.{numbers[name]}.1.{index}": value for name, value in cols.items()}


def only(raw: dict[str, object]):
    (supply,) = parse(raw).supplies
    return supply


def test_tenths_of_grams_toner_gives_fill_percentage() -> None:
    s = only(row(1, cls=3, type=3, descr=b"Black Toner", unit=13, cap=5300, level=1060))
    assert (s.unit, s.max_capacity, s.level, s.remaining_percent) == (SupplyUnit.TENTHS_OF_GRAMS, 5300, 1060, 20.0)
    assert s.level_state is LevelState.OK and s.supply_class is SupplyClass.CONSUMED


def test_sentinels_are_states_never_numbers() -> None:
    for raw_level, state in ((-1, LevelState.UNLIMITED), (-2, LevelState.UNKNOWN), (-3, LevelState.SOME_REMAINING)):
        s = only(row(1, descr=b"Toner", cap=100, level=raw_level))
        assert (s.level, s.remaining_percent, s.level_state, s.raw_level) == (None, None, state, raw_level)


def test_capacity_zero_or_negative_gives_no_percentage() -> None:
    for cap in (0, -1, -2):
        s = only(row(1, descr=b"Drum", unit=7, cap=cap, level=500))
        assert (s.max_capacity, s.level, s.remaining_percent) == (None, 500, None)


def test_level_above_capacity_is_clamped_and_flagged() -> None:
    reading = parse(row(4, descr=b"Cyan Toner", unit=13, cap=3000, level=4500))
    (s,) = reading.supplies
    assert (s.level, s.remaining_percent, s.level_clamped, s.raw_level) == (3000, 100.0, True, 4500)
    assert any("above capacity" in w for w in reading.warnings)


def test_percent_unit_without_capacity_holds_100() -> None:
    s = only(row(1, descr=b"Black Cartridge", unit=19, cap=-2, level=37))
    assert (s.max_capacity, s.remaining_percent) == (100, 37.0)


def test_receptacle_percentage_is_free_space_so_zero_means_replace() -> None:
    full_bin = only(row(10, cls=4, type=4, descr=b"Waste Toner Container", cap=100, level=0))
    empty_bin = only(row(10, cls=4, type=4, descr=b"Waste Toner Container", cap=100, level=100))
    assert full_bin.remaining_percent == 0.0 and empty_bin.remaining_percent == 100.0


def test_missing_class_inferred_from_waste_type() -> None:
    s = only(row(12, type=4, descr=b"Collector", cap=200, level=50))
    assert (s.supply_class, s.class_inferred, s.remaining_percent) == (SupplyClass.RECEPTACLE, True, 25.0)


def test_missing_class_and_type_inferred_from_description() -> None:
    s = only(row(10, descr=b"Waste Toner Container, PN 008R13061;SNunknown", cap=100, level=5))
    assert (s.type, s.supply_class, s.class_inferred) == (SupplyType.WASTE_TONER, SupplyClass.RECEPTACLE, True)


def test_colour_joined_through_colorant_index_not_position() -> None:
    raw = {
        **row(1, colorant=4, descr=b"Toner A"), **row(2, colorant=1, descr=b"Toner B"),
        "1.3.6.1.2.1.43.12.1.1.4.1.1": b"cyan", "1.3.6.1.2.1.43.12.1.1.4.1.4": b"Black",
    }
    assert [s.color for s in parse(raw).supplies] == ["black", "cyan"]


def test_colour_falls_back_to_description_keywords() -> None:
    raw = {**row(1, colorant=0, descr=b"Yellow Toner [Y] Cartridge"), **row(2, descr=b"Toner [M]"),
           **row(3, descr=b"Drum Cartridge (R1)")}
    assert [s.color for s in parse(raw).supplies] == ["yellow", "magenta", None]


def test_non_contiguous_indexes_are_kept() -> None:
    raw = {**row(2, descr=b"Yellow Toner"), **row(30, descr=b"Black Toner 1"), **row(31, descr=b"Black Toner 2")}
    assert [s.index for s in parse(raw).supplies] == [2, 30, 31]


def test_xerox_part_number_and_crum_serial() -> None:
    s = only(row(1, descr=b"Black Toner, PN 006R01509;SN48178080E0000481"))
    assert (s.description, s.part_number, s.cartridge_serial) == ("Black Toner", "006R01509", "48178080E0000481")


def test_unknown_part_number_and_serial_are_none() -> None:
    s = only(row(9, descr=b"Fuser, PN unknown;SNunknown"))
    assert (s.description, s.part_number, s.cartridge_serial) == ("Fuser", None, None)


def test_samsung_crum_serial() -> None:
    assert only(row(1, descr=b"Black Toner Cartridge S/N:CRUM-19120312345")).cartridge_serial == "CRUM-19120312345"
    empty = only(row(1, descr=b"Black Toner Cartridge S/N:CRUM-"))
    assert (empty.description, empty.cartridge_serial) == ("Black Toner Cartridge", None)


def test_hp_multiline_hex_description_is_decoded() -> None:
    raw = b"Magenta Cartridg\n65 20 38 32 37 41 20 48 50 20 43 46 33 30 33 41 20\n00 "
    assert only(row(3, descr=raw)).description == "Magenta Cartridge 827A HP CF303A"


def test_hex_encoded_and_nul_padded_descriptions() -> None:
    assert only(row(1, descr=b"426C61636B20546F6E6572")).description == "Black Toner"
    assert only(row(1, descr=b"Drum\x00\x00\x00")).description == "Drum"


def test_garbled_level_is_a_warning_not_a_crash() -> None:
    reading = parse(row(1, descr=b"Toner", cap=100, level=b"\xff\xfe"))
    assert reading.supplies[0].level_state is LevelState.UNKNOWN
    assert any("not a number" in w for w in reading.warnings)


def test_undefined_enum_values_are_warnings() -> None:
    reading = parse(row(1, cls=99, type=999, unit=5, descr=b"Toner", cap=100, level=10))
    s = reading.supplies[0]
    assert (s.unit, s.type, s.class_inferred) == (None, SupplyType.TONER, True)
    assert sum("is not defined" in w for w in reading.warnings) == 3


def test_device_identity_counter_and_status() -> None:
    reading = parse({
        "1.3.6.1.2.1.1.1.0": b"FUJIFILM Apeos C7580", "1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.297.1.11.93.2.1.2.3.5",
        "1.3.6.1.2.1.43.5.1.1.17.1": b"TC101642170085\x00", "1.3.6.1.2.1.43.10.2.1.4.1.1": 845213,
        "1.3.6.1.2.1.25.3.5.1.1.1": 4, "1.3.6.1.2.1.25.3.2.1.5.1": 3,
        "1.3.6.1.2.1.25.3.5.1.2.1": bytes([0x28, 0x02]), **row(1, descr=b"Black Toner"),
    })
    d = reading.device
    assert (d.vendor, d.model, d.serial, d.asr_compatible) == ("fujifilm", "Apeos C7580", "TC101642170085", True)
    assert (reading.page_count, reading.printer_status, reading.device_status) == (845213, "printing", "warning")
    assert reading.error_state == {"low_toner", "door_open", "overdue_prevent_maint"}


def test_one_byte_error_state() -> None:
    reading = parse({"1.3.6.1.2.1.25.3.5.1.2.1": b"\x80", **row(1, descr=b"Toner")})
    assert reading.error_state == {"low_paper"}


def test_xerox_r_sysdescr_is_asr_compatible() -> None:
    reading = parse({"1.3.6.1.2.1.1.1.0": b"Xerox(R) C325 Color MFP; SS CXTGV", **row(1, descr=b"Toner")})
    assert (reading.device.vendor, reading.device.asr_compatible) == ("xerox", True)


def test_other_vendors_are_monitored_only() -> None:
    reading = parse({"1.3.6.1.2.1.1.2.0": "1.3.6.1.4.1.11.2.3.9.1", **row(1, descr=b"Toner")})
    assert (reading.device.vendor, reading.device.asr_compatible) == ("hp", False)


def test_quirks_recording_parses_every_row() -> None:
    reading = parse(read_snmprec(RECORDINGS / "quirks.snmprec"))
    by_index = {s.index: s for s in reading.supplies}
    assert sorted(by_index) == [3, 5, 8, 9, 12, 13, 20, 21, 22, 25]
    assert by_index[3].level_clamped and by_index[3].color == "black"
    assert by_index[22].description == "Black Toner \u2013 spare"
    assert reading.page_count == 1234 and reading.device.serial == "QK0001"
    assert all(s.remaining_percent is None or 0 <= s.remaining_percent <= 100 for s in reading.supplies)
