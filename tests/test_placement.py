"""Which supplies central replenishes, and for whom (asr_central.domain.placement)."""

from __future__ import annotations

from asr_central.domain.placement import Assigned, Placement, Reported, place, supply_kind
from asr_central.domain.policy import SupplyKind

SITES = {"lyon": "c-lyon", "paris": None}
EMAILS = {"anne@example.org": "c-anne", "c-lyon@example.org": "c-lyon"}


def test_the_registry_places_a_device_before_its_reports() -> None:
    got = place([Reported("X1", "paris", "anne@example.org")], {"X1": Assigned("lyon", "c-lyon")},
                SITES, EMAILS)
    assert got == {"X1": Placement("lyon", "c-lyon", True)}


def test_an_unregistered_device_takes_the_contact_its_agent_names_by_id_or_any_cased_email() -> None:
    got = place([Reported("X1", "lyon", "ANNE@example.org"), Reported("X2", "lyon", "c-anne"),
                 Reported("X3", "lyon", None)], {}, SITES, EMAILS)
    assert got == {"X1": Placement("lyon", "c-anne", True), "X2": Placement("lyon", "c-anne", True),
                   "X3": Placement("lyon", "c-lyon", True)}


def test_a_device_of_a_site_unknown_to_the_registry_has_no_place() -> None:
    got = place([Reported("X1", "nowhere", None), Reported("X2", "paris", "nobody@example.org")],
                {}, SITES, EMAILS)
    assert got == {"X1": Placement(None, None, False), "X2": Placement("paris", None, True)}


def test_a_waste_bottle_is_known_by_its_type_or_its_class() -> None:
    assert supply_kind("waste_toner", "other") is SupplyKind.WASTE
    assert supply_kind("other", "receptacle") is SupplyKind.WASTE
    assert supply_kind("toner", "consumed") is SupplyKind.CONSUMABLE
    assert supply_kind("no such type", "no such class") is SupplyKind.CONSUMABLE
