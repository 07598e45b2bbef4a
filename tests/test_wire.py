"""The wire format: its JSON Schema, canonical bytes, strict parsing, round trips."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from importlib import resources

import jsonschema
import pytest

from asr_core import wire
from asr_core.records import Device, LevelState, Reading, Supply, SupplyClass, SupplyType, SupplyUnit
from asr_agent.domain.summary import build_summary
from support_central import T0, make_summary

SCHEMA = json.loads(resources.files("asr_core").joinpath("data/summary.schema.json").read_text())


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("with_event", [False, True])
def test_summaries_validate_against_the_committed_schema(with_event: bool) -> None:
    data = make_summary("agt_1", 3, with_event=with_event).to_dict()
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)


def test_schema_refuses_what_the_parser_refuses() -> None:
    data = make_summary("agt_1", 3).to_dict()
    data["community"] = "public"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)
    with pytest.raises(wire.WireError, match="unknown field"):
        wire.Summary.from_dict(data)


@pytest.mark.parametrize(("cls", "definition"), [
    (wire.Summary, None), (wire.DeviceIdentity, "device"), (wire.SupplySummary, "supply"),
    (wire.PageCounters, "page_counters"), (wire.CartridgeEvent, "cartridge_event"),
    (wire.Alert, "alert"),
])
def test_schema_and_dataclasses_name_the_same_fields(cls: type, definition: str | None) -> None:
    node = SCHEMA if definition is None else SCHEMA["$defs"][definition]
    names = {f.name for f in dataclasses.fields(cls)}
    assert set(node["properties"]) == names
    assert set(node["required"]) == names  # every field is always sent, null when unknown


def test_schema_enums_match_the_code() -> None:
    supply = SCHEMA["$defs"]["supply"]["properties"]
    assert supply["type"]["enum"] == [t.wire_name for t in SupplyType]
    assert supply["supply_class"]["enum"] == [c.wire_name for c in SupplyClass]
    assert supply["level_state"]["enum"] == [s.value for s in LevelState]
    assert SCHEMA["properties"]["device_state"]["enum"] == [s.value for s in wire.DeviceState]
    assert SCHEMA["properties"]["schema_version"]["const"] == wire.SCHEMA_VERSION


@pytest.mark.parametrize("with_event", [False, True])
def test_round_trip_through_canonical_bytes(with_event: bool) -> None:
    s = make_summary("agt_1", 7, with_event=with_event)
    assert wire.decode_summary(wire.encode_summary(s)) == s
    assert wire.Summary.from_dict(s.to_dict()) == s


def test_canonical_bytes_follow_rfc_8785() -> None:
    # RFC 8785 section 3.2.2 number examples and key ordering.
    data = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
            "b": "é", "a": None}
    assert wire.canonical_bytes(data) == (
        b'{"a":null,"b":"\xc3\xa9","numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}')


def test_canonical_bytes_are_stable() -> None:
    # the golden's own date: the helper's default moves with the tests' clock needs
    s = make_summary("agt_1", 7, with_event=True,
                     period_start=datetime(2027, 1, 4, tzinfo=timezone.utc))
    shuffled = dict(reversed(list(s.to_dict().items())))
    assert wire.canonical_bytes(shuffled) == wire.encode_summary(s)
    # A change here changes every signature in flight: bump SCHEMA_VERSION instead.
    assert hashlib.sha256(wire.encode_summary(s)).hexdigest() == GOLDEN


GOLDEN = "bcc8c2da722020745d3eb926198a03d392b84453040451af3129342fec6b665c"  # sha256 of the canonical bytes of that summary


def test_times_are_utc_with_z_and_naive_times_are_refused() -> None:
    paris = timezone(timedelta(hours=1))
    assert wire.format_time(datetime(2027, 1, 4, 9, 30, tzinfo=paris)) == "2027-01-04T08:30:00Z"
    with pytest.raises(wire.WireError, match="naive"):
        wire.format_time(datetime(2027, 1, 4))


def test_non_finite_numbers_cannot_be_sent() -> None:
    s = make_summary("agt_1", 1)
    bad = dataclasses.replace(s, supplies=(dataclasses.replace(s.supplies[0],
                                                               days_to_empty=float("inf")),))
    with pytest.raises(wire.WireError, match="days_to_empty"):
        bad.to_dict()


@pytest.mark.parametrize(("path", "value", "match"), [
    (("schema_version",), 2, "not supported"),
    (("sequence",), 0, "1 or more"),
    (("device_state",), "sleeping", "not one of"),
    (("supplies", 0, "level"), "60", "integer"),
    (("supplies", 0, "type"), "plasma", "unknown value"),
    (("period_end",), "2020-01-01T00:00:00Z", "before period_start"),
    # An integer past the largest float: refused by name, not an OverflowError (a 500).
    (("supplies", 0, "daily_grams"), 2 ** 1024 - 1, "daily_grams: expected a finite number"),
    (("supplies", 0, "remaining_percent"), float("nan"), "remaining_percent: expected a finite"),
    (("supplies", 0, "type"), 5, r"supplies\[0\]\.type: expected a name, got 5"),
    (("supplies", 0, "level_state"), ["ok"], "level_state: .* is not one of"),
    (("device",), [], "summary.device: expected an object, got list"),
])
def test_malformed_payloads_are_refused_naming_the_field(path: tuple, value: object, match: str) -> None:
    data = make_summary("agt_1", 1).to_dict()
    node = data
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    with pytest.raises(wire.WireError, match=match):
        wire.Summary.from_dict(data)


def test_data_built_in_code_decodes_as_parsed_json_does() -> None:
    """Subclasses and upper-case wire names miss the quick check and take the long way."""

    class Obj(dict):  # type: ignore[type-arg]
        pass

    s = make_summary("agt_1", 4, with_event=True)
    data = s.to_dict()
    data["supplies"] = [Obj(p, type=p["type"].upper()) for p in data["supplies"]]
    data["device"] = Obj(data["device"])
    assert wire.Summary.from_dict(Obj(data)) == s
    data["supplies"][0]["extra"] = 1
    with pytest.raises(wire.WireError, match=r"supplies\[0\]: unknown field\(s\) extra"):
        wire.Summary.from_dict(data)


def test_envelope_round_trip_and_bad_base64() -> None:
    env = wire.Envelope("agt_1", "ed25519:00", b'{"a":1}', b"\x01" * 64)
    assert wire.Envelope.from_dict(env.to_dict()) == env
    with pytest.raises(wire.WireError, match="base64"):
        wire.Envelope.from_dict({**env.to_dict(), "signature": "not base64!"})


def test_idempotency_key_depends_on_device_and_period_only() -> None:
    a = make_summary("agt_1", 1)
    b = make_summary("agt_1", 99, level=10)
    c = make_summary("agt_1", 1, period_start=T0 + timedelta(hours=4))
    assert a.idempotency_key == b.idempotency_key != c.idempotency_key


def _reading(host: str = "127.0.0.7") -> Reading:
    dev = Device("1.3.6.1.4.1.253.8.62.1", "Xerox VersaLink C405", "XRX-9", "xerox",
                 "VersaLink C405", True)
    toner = Supply(1, "Black Toner Cartridge", SupplyType.TONER, SupplyClass.CONSUMED, "black",
                   SupplyUnit.PERCENT, 100, 42, 42.0, LevelState.OK, "106R03528", "CRUM-1")
    return Reading(host, 161, T0 + timedelta(hours=4), dev, (toner,), page_count=12345)


def test_build_summary_masks_addresses_on_request() -> None:
    kw = dict(agent_id="agt_1", site_id="s", contact=None, reading=_reading(),
              period_start=T0, period_end=T0 + timedelta(hours=4), sequence=1)
    assert build_summary(**kw).device.address == "127.0.0.7"  # type: ignore[arg-type]
    masked = build_summary(**kw, mask_ip_addresses=True)  # type: ignore[arg-type]
    assert masked.device.address is None
    assert b"127.0.0.7" not in wire.encode_summary(masked)


def test_build_summary_without_forecast_reports_unknown_not_zero() -> None:
    s = build_summary(agent_id="agt_1", site_id="s", contact=None, reading=_reading(),
                      period_start=T0, period_end=T0 + timedelta(hours=4), sequence=1)
    supply = s.supplies[0]
    assert (supply.days_to_empty, supply.daily_grams, supply.grams_used) == (None, None, None)
    assert supply.forecast_status == "none"
    assert s.page_counters == wire.PageCounters(None, 12345)


def test_build_summary_from_real_consumption_and_forecast() -> None:
    from asr_agent.domain.consumption import analyze
    from asr_agent.domain.forecast import forecast
    from asr_core.records import Sample

    # 20 days of a toner falling 2 %/day, replaced at 50 % on day 12 (premature).
    samples = []
    level = 90
    for day in range(20):
        if day == 12:
            level = 100
        samples.append(Sample(T0 + timedelta(days=day), level, 100, SupplyUnit.PERCENT,
                              LevelState.OK, float(level), part_number="106R03528"))
        level -= 2 if day != 11 else 0
        if day == 11:
            level = 50
    start, end = T0 + timedelta(days=11, hours=12), T0 + timedelta(days=12, hours=12)
    whole = analyze(samples, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED)
    fc = forecast(whole.daily, remaining=samples[-1].remaining_percent, now=samples[-1].taken_at)
    reading = _reading()
    s = build_summary(agent_id="agt_1", site_id="s", contact=None, reading=reading,
                      period_start=start, period_end=end, sequence=5,
                      analyses={1: whole}, forecasts={1: fc})
    assert [e.premature for e in s.cartridge_events] == [True]
    assert s.cartridge_events[0].replaced_at == T0 + timedelta(days=12)
    assert s.alerts == ()  # central reads the event's `premature`, not an alert list
    assert s.supplies[0].forecast_status == "ok"
    assert s.supplies[0].days_to_empty is not None and s.supplies[0].days_to_empty > 0
    jsonschema.validate(s.to_dict(), SCHEMA)
    assert wire.decode_summary(wire.encode_summary(s)) == s


@pytest.mark.parametrize("pages", [0, 2**53 - 1, 2**53, 2**63, 2**64 - 1])
def test_a_counter64_page_counter_is_signed_sent_and_read_back_exactly(pages: int) -> None:
    s = dataclasses.replace(make_summary("agt_1", 7), page_counters=wire.PageCounters(0, pages))
    data = json.loads(wire.encode_summary(s))
    assert data["page_counters"]["end"] == (pages if pages <= wire.WIRE_SAFE_INT else str(pages))
    jsonschema.Draft202012Validator(SCHEMA).validate(data)
    assert wire.decode_summary(wire.encode_summary(s)).page_counters.end == pages
    assert wire.check_summary(data).page_counters.end == pages


@pytest.mark.parametrize("sent", ["123", "9007199254740991", "09007199254740993", "-9007199254740993",
                                  "9007199254740993.0", " 9007199254740993", "18446744073709551616",
                                  "1" * 21, "x"])
def test_a_page_counter_string_is_only_the_digits_of_a_counter_past_2_53(sent: str) -> None:
    data = make_summary("agt_1", 7).to_dict()
    data["page_counters"]["end"] = sent
    with pytest.raises(wire.WireError, match=r"summary\.page_counters\.end"):
        wire.check_summary(data)
