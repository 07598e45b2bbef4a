"""Which supplies central replenishes, and for whom: a device's site and contact, and what
kind of supply each one is. Pure: the registry's and the reports' facts are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from asr_central.domain.policy import SupplyKind
from asr_core.records import SupplyClass, SupplyType

__all__ = ["Assigned", "Placement", "Reported", "place", "supply_kind"]


@dataclass(frozen=True, slots=True)
class Assigned:
    """A registry entry: the device's site and contact (the site's default standing in)."""

    site_id: str
    contact_id: str | None


@dataclass(frozen=True, slots=True)
class Reported:
    """What a device's own reports say: the reporting agent's site and the contact named."""

    serial: str
    site_id: str | None
    contact: str | None  # a contact id or an e-mail address, as the agent's config names it


@dataclass(frozen=True, slots=True)
class Placement:
    site_id: str | None
    contact_id: str | None
    registered: bool  # the registry or a known site vouches for it


def place(reported: Iterable[Reported], assigned: Mapping[str, Assigned],
          site_contacts: Mapping[str, str | None],
          contact_by_email: Mapping[str, str]) -> dict[str, Placement]:
    """serial → placement for every device that ever reported: the registry first, else the
    reporting agent's site with the contact it names (by id or e-mail) or that site's
    default contact. Ingest stores a device's reports only from the site that owns it
    (asr_central.domain.trust), so the registry's site is the reporting one; where the
    registry moved a device since, the caller holds its supplies until its new site reports."""
    known_contacts = set(contact_by_email.values())
    out: dict[str, Placement] = {}
    for r in reported:
        a = assigned.get(r.serial)
        if a is not None:
            out[r.serial] = Placement(a.site_id, a.contact_id, True)
            continue
        site = r.site_id if r.site_id in site_contacts else None
        contact = None
        if r.contact:
            contact = r.contact if r.contact in known_contacts else contact_by_email.get(
                r.contact.lower())
        if contact is None and site is not None:
            contact = site_contacts[site]
        out[r.serial] = Placement(site, contact, site is not None)
    return out


def supply_kind(type_name: str, class_name: str) -> SupplyKind:
    """A waste bottle (by its type, or a receptacle by its class) or a consumable."""
    try:
        if SupplyType[type_name.upper()].is_waste:
            return SupplyKind.WASTE
    except KeyError:
        pass
    try:
        if SupplyClass[class_name.upper()] is SupplyClass.RECEPTACLE:
            return SupplyKind.WASTE
    except KeyError:
        pass
    return SupplyKind.CONSUMABLE
