"""The ordering policy, one rule per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timezone

import pytest

from asr_central.domain.policy import (
    HoldReason, LineReason, OpenOrder, PolicySettings, SilentState, SupplyKind, SupplyOutlook,
    plan, plan_orders, silent_days, silent_state,
)

TODAY = date(2027, 3, 10)
REPORTED = datetime(2027, 3, 10, 6, 0, tzinfo=timezone.utc)
SETTINGS = PolicySettings()  # lead 21, supply 30, pull forward 10, silent 4/10


def outlook(serial: str = "XRX-1", supply: str = "black", *, dte: float | None = 15.0,
            low: float | None = None, rate: float | None = 0.05, on_hand: int = 0,
            open_units: int = 0, site: str | None = "lyon", contact: str | None = "facilities",
            kind: SupplyKind = SupplyKind.CONSUMABLE, reported: datetime | None = REPORTED,
            silent: SilentState = SilentState.OK) -> SupplyOutlook:
    return SupplyOutlook(
        device_serial=serial, site_id=site, contact_id=contact, supply_key=supply,
        supply_kind=kind, days_to_empty=dte, days_to_empty_low=dte if low is None else low,
        daily_units=rate, units_on_hand=on_hand, open_units=open_units,
        last_report_at=reported, device_silent_state=silent, part_number="106R03528")


def single_line(outlooks: list[SupplyOutlook], settings: PolicySettings = SETTINGS,
                today: date = TODAY):
    orders = plan_orders(outlooks, [], settings, today)
    assert len(orders) == 1, orders
    assert len(orders[0].lines) == 1, orders[0].lines
    return orders[0].lines[0]


def test_supply_due_within_lead_time_is_ordered() -> None:
    line = single_line([outlook(dte=20.5)])
    assert (line.device_serial, line.supply_key, line.reason) == ("XRX-1", "black", LineReason.DUE)


def test_supply_not_due_beyond_lead_time_is_not_ordered() -> None:
    assert plan_orders([outlook(dte=21.5)], [], SETTINGS, TODAY) == []


def test_due_exactly_at_lead_time() -> None:
    assert len(plan_orders([outlook(dte=21.0)], [], SETTINGS, TODAY)) == 1


def test_interval_low_bound_decides_not_the_central_estimate() -> None:
    # central estimate 30 days out, but the interval reaches down to 18: order now
    line = single_line([outlook(dte=30.0, low=18.0)])
    assert line.cover_days == pytest.approx(18.0)  # reported this morning: no time elapsed
    assert plan_orders([outlook(dte=18.0, low=25.0)], [], SETTINGS, TODAY) == []


def test_quantity_covers_supply_days_of_forecast_use() -> None:
    # 0.2 units a day for 30 days = 6 units
    assert single_line([outlook(dte=4.0, rate=0.2)]).quantity == 6


def test_quantity_rounds_up_partial_units() -> None:
    assert single_line([outlook(dte=4.0, rate=0.11)]).quantity == 4  # 3.3 -> 4


def test_quantity_net_of_units_on_hand_and_open() -> None:
    # 6 needed; 1 delivered not installed, 1 ordered not delivered: cover 4+10=14 days
    line = single_line([outlook(dte=4.0, rate=0.2, on_hand=1, open_units=1)])
    assert line.quantity == 4


def test_quantity_is_at_least_one_unit() -> None:
    # 0.01 units a day over 30 days is 0.3 of a cartridge: still one unit
    assert single_line([outlook(dte=10.0, rate=0.01)]).quantity == 1


def test_unknown_rate_orders_one_unit() -> None:
    assert single_line([outlook(dte=10.0, rate=None)]).quantity == 1


def test_no_line_when_units_on_hand_cover_it() -> None:
    # light use: the spare on the shelf lasts 100 days beyond the 5 left in the printer
    assert plan_orders([outlook(dte=5.0, rate=0.01, on_hand=1)], [], SETTINGS, TODAY) == []


def test_no_forecast_no_order() -> None:
    assert plan_orders([outlook(dte=None, low=None)], [], SETTINGS, TODAY) == []


def test_due_lines_of_one_site_and_contact_share_one_order() -> None:
    orders = plan_orders([outlook("A", "black", dte=5), outlook("B", "cyan", dte=12),
                          outlook("C", "black", dte=20)], [], SETTINGS, TODAY)
    assert len(orders) == 1
    assert [(l.device_serial, l.supply_key) for l in orders[0].lines] == [
        ("A", "black"), ("B", "cyan"), ("C", "black")]
    assert (orders[0].site_id, orders[0].contact_id) == ("lyon", "facilities")


def test_line_coming_due_within_pull_forward_window_joins_the_order() -> None:
    orders = plan_orders([outlook("A", dte=10), outlook("B", dte=27)], [], SETTINGS, TODAY)
    assert len(orders) == 1
    reasons = {l.device_serial: l.reason for l in orders[0].lines}
    assert reasons == {"A": LineReason.DUE, "B": LineReason.PULL_FORWARD}


def test_line_beyond_pull_forward_window_waits() -> None:
    orders = plan_orders([outlook("A", dte=10), outlook("B", dte=32)], [], SETTINGS, TODAY)
    assert [l.device_serial for l in orders[0].lines] == ["A"]


def test_default_pull_forward_window_is_ten_days() -> None:
    assert SETTINGS.pull_forward_days == 10.0
    orders = plan_orders([outlook("A", dte=10), outlook("B", dte=30.5)], [], SETTINGS, TODAY)
    assert [l.device_serial for l in orders[0].lines] == ["A", "B"]


def test_pull_forward_window_is_configurable() -> None:
    wide = replace(SETTINGS, pull_forward_days=14)
    orders = plan_orders([outlook("A", dte=10), outlook("B", dte=32)], [], wide, TODAY)
    assert [l.device_serial for l in orders[0].lines] == ["A", "B"]


def test_group_with_only_lines_coming_due_places_no_order() -> None:
    assert plan_orders([outlook("A", dte=25), outlook("B", dte=27)], [], SETTINGS, TODAY) == []


def test_pull_forward_does_not_cross_groups() -> None:
    orders = plan_orders([outlook("A", dte=10, site="lyon"), outlook("B", dte=25, site="paris")],
                         [], SETTINGS, TODAY)
    assert [(o.site_id, [l.device_serial for l in o.lines]) for o in orders] == [("lyon", ["A"])]


def test_two_contacts_at_one_site_get_two_orders() -> None:
    orders = plan_orders([outlook("A", dte=5, contact="finance"),
                          outlook("B", dte=5, contact="facilities")], [], SETTINGS, TODAY)
    assert [(o.site_id, o.contact_id, o.lines[0].device_serial) for o in orders] == [
        ("lyon", "facilities", "B"), ("lyon", "finance", "A")]


def test_duplicate_guard_no_new_line_while_open_order_covers_the_lead_time() -> None:
    # 6 units on order at 0.2/day cover 4 + 30 = 34 days > 21
    assert plan_orders([outlook(dte=4.0, rate=0.2, open_units=6)], [], SETTINGS, TODAY) == []


def test_duplicate_guard_delivered_not_installed_counts_as_open() -> None:
    assert plan_orders([outlook(dte=4.0, rate=0.2, on_hand=6)], [], SETTINGS, TODAY) == []


def test_consumption_since_the_order_requires_a_new_line() -> None:
    # use tripled since the 6 units were ordered: they now cover 4 + 10 = 14 days
    line = single_line([outlook(dte=4.0, rate=0.6, open_units=6)])
    assert line.quantity == 18 - 6
    assert line.reason is LineReason.DUE


def test_waste_bottle_ordered_on_days_to_full() -> None:
    line = single_line([outlook(supply="waste", kind=SupplyKind.WASTE, dte=9.0, rate=0.02)])
    assert (line.supply_key, line.supply_kind, line.quantity) == ("waste", SupplyKind.WASTE, 1)


def test_waste_bottle_not_due_while_far_from_full() -> None:
    assert plan_orders([outlook(supply="waste", kind=SupplyKind.WASTE, dte=60.0, rate=0.01)],
                       [], SETTINGS, TODAY) == []


def test_short_silence_keeps_ordering_from_the_last_forecast() -> None:
    # 24 days to empty as of 5 days ago: 19 days now, inside the lead time
    reported = datetime(2027, 3, 5, 0, 0, tzinfo=timezone.utc)
    line = single_line([outlook(dte=24.0, reported=reported)])
    assert line.cover_days == pytest.approx(19.0)


def test_silent_device_beyond_error_threshold_is_held_not_ordered() -> None:
    reported = datetime(2027, 2, 20, 0, 0, tzinfo=timezone.utc)  # 18 days ago
    result = plan([outlook(dte=30.0, reported=reported)], [], SETTINGS, TODAY)
    assert result.orders == ()
    assert [(h.device_serial, h.reason, h.silent_days) for h in result.held] == [
        ("XRX-1", HoldReason.DEVICE_SILENT, 18.0)]


def test_silent_state_from_the_caller_holds_too() -> None:
    result = plan([outlook(dte=5.0, silent=SilentState.ERROR)], [], SETTINGS, TODAY)
    assert result.orders == () and result.held[0].reason is HoldReason.DEVICE_SILENT


def test_silent_device_does_not_block_its_group() -> None:
    reported = datetime(2027, 2, 20, tzinfo=timezone.utc)
    orders = plan_orders([outlook("A", dte=30.0, reported=reported), outlook("B", dte=5.0)],
                         [], SETTINGS, TODAY)
    assert [l.device_serial for l in orders[0].lines] == ["B"]


def test_device_without_site_or_contact_is_held() -> None:
    result = plan([outlook(dte=5.0, contact=None)], [], SETTINGS, TODAY)
    assert result.orders == ()
    assert result.held[0].reason is HoldReason.NO_SITE_OR_CONTACT


def test_new_lines_amend_the_unshipped_order_of_their_group() -> None:
    orders = plan_orders([outlook(dte=5.0)], [OpenOrder("ord-7", "lyon", "facilities")],
                         SETTINGS, TODAY)
    assert orders[0].amends == "ord-7"


def test_silence_thresholds() -> None:
    assert silent_days(datetime(2027, 3, 6, 12, tzinfo=timezone.utc), TODAY) == 3.5
    assert silent_state(3.9, SETTINGS) is SilentState.OK
    assert silent_state(4.0, SETTINGS) is SilentState.WARNING
    assert silent_state(10.0, SETTINGS) is SilentState.ERROR
    assert silent_state(None, SETTINGS) is SilentState.OK


def test_settings_reject_negative_days() -> None:
    with pytest.raises(ValueError, match="lead_days"):
        PolicySettings(lead_days=-1)


def test_same_input_same_orders() -> None:
    outlooks = [outlook(f"D{i}", dte=float(i % 40), rate=0.01 * (i % 7 + 1),
                        site=f"s{i % 5}") for i in range(200)]
    assert plan_orders(outlooks, [], SETTINGS, TODAY) == plan_orders(
        list(reversed(outlooks)), [], SETTINGS, TODAY)
