"""Alerts from device and supply facts, one behaviour per test."""

from __future__ import annotations

from datetime import date, datetime, timezone

from asr_central.domain.alerts import (
    AlertKind, DeviceFacts, ReplacementFacts, Severity, SupplyFacts, evaluate, held_line_alerts,
    is_condition, replacement_alerts,
)
from asr_central.domain.policy import HeldLine, HoldReason, PolicySettings

TODAY = date(2027, 3, 10)
SETTINGS = PolicySettings()


def device(serial: str = "XRX-1", *, days_ago: float | None = 0.5, site: str | None = "lyon",
           contact: str | None = "facilities", registered: bool = True) -> DeviceFacts:
    last = None
    if days_ago is not None:
        last = datetime.fromordinal(TODAY.toordinal()).replace(tzinfo=timezone.utc)
        last = datetime.fromtimestamp(last.timestamp() - days_ago * 86400, timezone.utc)
    return DeviceFacts(serial, site, contact, last, registered)


def replacement(*, premature: bool = False, shipped_to: str | None = None,
                matched: bool = True, grams: float | None = None) -> ReplacementFacts:
    return ReplacementFacts("XRX-1", "black", datetime(2027, 3, 9, 14, tzinfo=timezone.utc),
                            "CRT-0042", premature, grams, 45.0 if premature else 0.0,
                            shipped_to, matched)


def kinds(alerts) -> list[tuple[AlertKind, Severity]]:
    return [(a.kind, a.severity) for a in alerts]


def test_device_reporting_recently_raises_nothing() -> None:
    assert evaluate([device(days_ago=1)], [], SETTINGS, TODAY) == []


def test_device_silent_four_days_is_a_warning() -> None:
    alerts = evaluate([device(days_ago=4.5)], [], SETTINGS, TODAY)
    assert kinds(alerts) == [(AlertKind.DEVICE_SILENT, Severity.WARNING)]
    assert "4.5 days" in alerts[0].message


def test_device_silent_ten_days_is_an_error() -> None:
    alerts = evaluate([device(days_ago=10)], [], SETTINGS, TODAY)
    assert kinds(alerts) == [(AlertKind.DEVICE_SILENT, Severity.ERROR)]
    assert "no longer ordered" in alerts[0].message


def test_silence_thresholds_are_configurable() -> None:
    strict = PolicySettings(silent_warning_days=1, silent_error_days=2)
    assert kinds(evaluate([device(days_ago=2.5)], [], strict, TODAY)) == [
        (AlertKind.DEVICE_SILENT, Severity.ERROR)]


def test_warning_and_error_share_one_key_so_the_alert_escalates_in_place() -> None:
    warn = evaluate([device(days_ago=5)], [], SETTINGS, TODAY)[0]
    err = evaluate([device(days_ago=11)], [], SETTINGS, TODAY)[0]
    assert warn.key == err.key


def test_same_facts_next_run_same_key() -> None:
    first = evaluate([device(days_ago=5)], [SupplyFacts("XRX-1", "black", spike=True)],
                     SETTINGS, TODAY)
    again = evaluate([device(days_ago=6)], [SupplyFacts("XRX-1", "black", spike=True)],
                     SETTINGS, date(2027, 3, 11))
    assert [a.key for a in first] == [a.key for a in again]


def test_usage_spike_from_the_agent_flag() -> None:
    alerts = evaluate([], [SupplyFacts("XRX-1", "black", spike=True)], SETTINGS, TODAY)
    assert kinds(alerts) == [(AlertKind.USAGE_SPIKE, Severity.WARNING)]
    assert alerts[0].supply_key == "black"


def test_usage_spike_from_the_ratio() -> None:
    alerts = evaluate([], [SupplyFacts("XRX-1", "cyan", spike_ratio=3.2)], SETTINGS, TODAY)
    assert kinds(alerts) == [(AlertKind.USAGE_SPIKE, Severity.WARNING)]
    assert "3.2x" in alerts[0].message


def test_normal_usage_is_no_spike() -> None:
    assert evaluate([], [SupplyFacts("XRX-1", "cyan", spike_ratio=1.3)], SETTINGS, TODAY) == []


def test_device_without_contact_is_reported() -> None:
    alerts = evaluate([device(contact=None)], [], SETTINGS, TODAY)
    assert kinds(alerts) == [(AlertKind.REGISTRY_MISSING, Severity.WARNING)]
    assert "has no contact" in alerts[0].message


def test_device_without_site_and_contact_names_both() -> None:
    alerts = evaluate([device(site=None, contact=None)], [], SETTINGS, TODAY)
    assert "has no site and no contact" in alerts[0].message


def test_unregistered_device_is_reported() -> None:
    alerts = evaluate([device(registered=False, site=None, contact=None)], [], SETTINGS, TODAY)
    assert "is not in the registry" in alerts[0].message


def test_premature_replacement_names_grams_wasted() -> None:
    alerts = replacement_alerts([replacement(premature=True, grams=112.4)])
    assert kinds(alerts) == [(AlertKind.PREMATURE_REPLACEMENT, Severity.WARNING)]
    assert "112 g" in alerts[0].message and "45 %" in alerts[0].message
    assert not is_condition(alerts[0].kind)


def test_replacement_with_the_shipped_cartridge_raises_nothing() -> None:
    assert replacement_alerts([replacement(shipped_to="XRX-1")]) == []


def test_cartridge_shipped_for_another_device_is_flagged() -> None:
    alerts = replacement_alerts([replacement(shipped_to="XRX-2")])
    assert kinds(alerts) == [(AlertKind.CARTRIDGE_MISROUTED, Severity.WARNING)]
    assert "XRX-2" in alerts[0].message and "CRT-0042" in alerts[0].message


def test_replacement_with_no_delivery_is_flagged() -> None:
    alerts = replacement_alerts([replacement(matched=False)])
    assert kinds(alerts) == [(AlertKind.REPLACEMENT_WITHOUT_DELIVERY, Severity.WARNING)]


def test_two_replacements_get_two_keys() -> None:
    a = replacement(premature=True)
    b = ReplacementFacts("XRX-1", "black", datetime(2027, 3, 10, 9, tzinfo=timezone.utc),
                         None, True, None, 50.0, None, True)
    keys = {x.key for x in replacement_alerts([a, b])}
    assert len(keys) == 2


def test_held_line_raises_an_error_naming_why() -> None:
    alerts = held_line_alerts([HeldLine("XRX-1", "black", HoldReason.DEVICE_SILENT, 2, 3.0, 12.0)],
                              TODAY)
    assert kinds(alerts) == [(AlertKind.ORDER_HELD, Severity.ERROR)]
    assert "silent" in alerts[0].message
