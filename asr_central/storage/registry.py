"""The registry: sites, contacts (name, e-mail, shipping address), devices (serial → site and
contact) and the supply catalog; stored through `asr_central.storage.sqlite.db`, importable from YAML.

Registry YAML (every key but the ids optional; unknown keys are refused):

    contacts:
      - {id: facilities-lyon, name: Claire Martin, email: facilities@lyon.example,
         shipping_address: "12 rue Garibaldi, 69003 Lyon",
         language: fr, mail_opt_out: false,   # mail in French (or en); false: mail is sent
         time_zone: Europe/Paris}   # their mail's days and digest hour (default mail.time_zone)
    sites:
      - {id: lyon-hq, name: Lyon HQ, contact: facilities-lyon}   # contact: the site's default
    devices:
      - {serial: XRX-LY-001, site: lyon-hq, contact: facilities-lyon, model: VersaLink C405,
         location: "2nd floor, accounting"}   # printed beside the serial on parcels and mail
    catalog:
      - {part_number: 106R03528, description: Black toner, kind: consumable, color: black,
         capacity_g: 250}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from asr_core.errors import ConfigError
from asr_core.yaml_source import compose
from asr_central.domain.mail import time_zone_named
from asr_central.storage.text import unstorable
from asr_central.storage.times import stamp
from asr_central.storage.base import Connection, Row

__all__ = [
    "LANGUAGES", "CatalogItem", "Contact", "RegistryDevice", "RegistryDocument", "Site", "Assignment",
    "assignments", "delete_device", "get_contact", "get_device", "get_site",
    "import_registry_file", "list_catalog", "list_contacts", "list_devices", "list_sites",
    "parse_registry_yaml", "save_document", "upsert_catalog_item", "upsert_contact",
    "upsert_device", "upsert_site",
]


# The languages mail and packing slips are written in; French is the leaflet's.
LANGUAGES = ("fr", "en")


@dataclass(frozen=True, slots=True)
class Contact:
    contact_id: str
    name: str
    email: str
    shipping_address: str = ""
    phone: str | None = None
    language: str = "fr"  # of the mail it receives: one of LANGUAGES
    mail_opt_out: bool = False
    time_zone: str | None = None  # an IANA name; None: central's mail.time_zone


@dataclass(frozen=True, slots=True)
class Site:
    site_id: str
    name: str = ""
    default_contact_id: str | None = None


@dataclass(frozen=True, slots=True)
class RegistryDevice:
    serial: str
    site_id: str | None
    contact_id: str | None = None  # None: the site's default contact
    model: str | None = None
    note: str | None = None
    location: str | None = None  # where on the site it stands, for parcels and mail


@dataclass(frozen=True, slots=True)
class CatalogItem:
    part_number: str
    supply_kind: str  # consumable | waste
    description: str = ""
    color: str | None = None
    capacity_g: float | None = None
    yield_pages: int | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    """Where a device's supplies ship: its site and the contact that receives them."""

    site_id: str | None
    contact_id: str | None


@dataclass(frozen=True, slots=True)
class RegistryDocument:
    contacts: tuple[Contact, ...] = ()
    sites: tuple[Site, ...] = ()
    devices: tuple[RegistryDevice, ...] = ()
    catalog: tuple[CatalogItem, ...] = ()




# ------------------------------------------------------------------------------ writes

def upsert_contact(conn: Connection, c: Contact, now: datetime) -> None:
    conn.execute(
        "INSERT INTO contacts (contact_id, name, email, shipping_address, phone, language, "
        "mail_opt_out, time_zone, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (contact_id) DO UPDATE SET name=excluded.name, email=excluded.email, "
        "shipping_address=excluded.shipping_address, phone=excluded.phone, "
        "language=excluded.language, mail_opt_out=excluded.mail_opt_out, "
        "time_zone=excluded.time_zone, updated_at=excluded.updated_at",
        (c.contact_id, c.name, c.email, c.shipping_address, c.phone, c.language,
         int(c.mail_opt_out), c.time_zone, stamp(now)))


def upsert_site(conn: Connection, s: Site, now: datetime) -> None:
    conn.execute(
        "INSERT INTO sites (site_id, name, default_contact_id, updated_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (site_id) DO UPDATE SET name=excluded.name, "
        "default_contact_id=excluded.default_contact_id, updated_at=excluded.updated_at",
        (s.site_id, s.name, s.default_contact_id, stamp(now)))


def upsert_device(conn: Connection, d: RegistryDevice, now: datetime) -> None:
    conn.execute(
        "INSERT INTO registry_devices (serial, site_id, contact_id, model, note, location, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (serial) DO UPDATE SET "
        "site_id=excluded.site_id, contact_id=excluded.contact_id, model=excluded.model, "
        "note=excluded.note, location=excluded.location, updated_at=excluded.updated_at",
        (d.serial, d.site_id, d.contact_id, d.model, d.note, d.location, stamp(now)))


def upsert_catalog_item(conn: Connection, item: CatalogItem, now: datetime) -> None:
    conn.execute(
        "INSERT INTO supply_catalog (part_number, description, supply_kind, color, capacity_g, "
        "yield_pages, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (part_number) DO "
        "UPDATE SET description=excluded.description, supply_kind=excluded.supply_kind, "
        "color=excluded.color, capacity_g=excluded.capacity_g, "
        "yield_pages=excluded.yield_pages, updated_at=excluded.updated_at",
        (item.part_number, item.description, item.supply_kind, item.color, item.capacity_g,
         item.yield_pages, stamp(now)))


def delete_device(conn: Connection, serial: str) -> bool:
    return conn.execute("DELETE FROM registry_devices WHERE serial = ?", (serial,)).rowcount > 0


def save_document(conn: Connection, doc: RegistryDocument, now: datetime
                  ) -> dict[str, int]:
    """Upsert everything in `doc` (contacts first: sites and devices refer to them)."""
    for c in doc.contacts:
        upsert_contact(conn, c, now)
    for s in doc.sites:
        upsert_site(conn, s, now)
    for d in doc.devices:
        upsert_device(conn, d, now)
    for item in doc.catalog:
        upsert_catalog_item(conn, item, now)
    return {"contacts": len(doc.contacts), "sites": len(doc.sites),
            "devices": len(doc.devices), "catalog": len(doc.catalog)}


# ------------------------------------------------------------------------------ reads

def _contact(row: Row) -> Contact:
    return Contact(row["contact_id"], row["name"], row["email"], row["shipping_address"],
                   row["phone"], row["language"], bool(row["mail_opt_out"]), row["time_zone"])


def _site(row: Row) -> Site:
    return Site(row["site_id"], row["name"], row["default_contact_id"])


def _device(row: Row) -> RegistryDevice:
    return RegistryDevice(row["serial"], row["site_id"], row["contact_id"], row["model"],
                          row["note"], row["location"])


def _item(row: Row) -> CatalogItem:
    return CatalogItem(row["part_number"], row["supply_kind"], row["description"], row["color"],
                       row["capacity_g"], row["yield_pages"])


def list_contacts(conn: Connection) -> list[Contact]:
    return [_contact(r) for r in conn.execute("SELECT * FROM contacts ORDER BY contact_id")]


def list_sites(conn: Connection) -> list[Site]:
    return [_site(r) for r in conn.execute("SELECT * FROM sites ORDER BY site_id")]


def list_devices(conn: Connection, site_id: str | None = None) -> list[RegistryDevice]:
    if site_id is None:
        rows = conn.execute("SELECT * FROM registry_devices ORDER BY serial")
    else:
        rows = conn.execute("SELECT * FROM registry_devices WHERE site_id = ? ORDER BY serial",
                            (site_id,))
    return [_device(r) for r in rows]


def list_catalog(conn: Connection) -> list[CatalogItem]:
    return [_item(r) for r in conn.execute("SELECT * FROM supply_catalog ORDER BY part_number")]


def get_contact(conn: Connection, contact_id: str) -> Contact | None:
    row = conn.execute("SELECT * FROM contacts WHERE contact_id = ?", (contact_id,)).fetchone()
    return _contact(row) if row else None


def get_site(conn: Connection, site_id: str) -> Site | None:
    row = conn.execute("SELECT * FROM sites WHERE site_id = ?", (site_id,)).fetchone()
    return _site(row) if row else None


def get_device(conn: Connection, serial: str) -> RegistryDevice | None:
    row = conn.execute("SELECT * FROM registry_devices WHERE serial = ?", (serial,)).fetchone()
    return _device(row) if row else None


def assignments(conn: Connection) -> dict[str, Assignment]:
    """serial → (site, contact) for every registered device, the site's default contact
    standing in for a device that names none."""
    rows = conn.execute(
        "SELECT d.serial, d.site_id, COALESCE(d.contact_id, s.default_contact_id) AS contact_id "
        "FROM registry_devices d LEFT JOIN sites s ON s.site_id = d.site_id")
    return {r["serial"]: Assignment(r["site_id"], r["contact_id"]) for r in rows}


def sites_with_default_contact(conn: Connection) -> dict[str, str | None]:
    return {r[0]: r[1] for r in conn.execute("SELECT site_id, default_contact_id FROM sites")}


def contact_ids_by_email(conn: Connection) -> dict[str, str]:
    return {r[0].lower(): r[1] for r in conn.execute("SELECT email, contact_id FROM contacts")}


# ------------------------------------------------------------------------------ YAML import

_SECTIONS: dict[str, dict[str, tuple[type, ...]]] = {
    "contacts": {"id": (str,), "name": (str,), "email": (str,), "shipping_address": (str,),
                 "phone": (str,), "language": (str,), "mail_opt_out": (bool,),
                 "time_zone": (str,)},
    "sites": {"id": (str,), "name": (str,), "contact": (str,)},
    "devices": {"serial": (str, int), "site": (str,), "contact": (str,), "model": (str,),
                "note": (str,), "location": (str,)},
    "catalog": {"part_number": (str, int), "description": (str,), "kind": (str,),
                "color": (str,), "capacity_g": (int, float), "yield_pages": (int,)},
}
# Far above any real cartridge or drum, far below what SQLite's 64-bit integers (and a
# sensible order quantity) hold; `.inf` and `.nan` fail the comparison too.
_MAX_CAPACITY_G = 1_000_000
_MAX_YIELD_PAGES = 100_000_000
_REQUIRED = {"contacts": ("id", "name", "email"), "sites": ("id",),
             "devices": ("serial", "site"), "catalog": ("part_number", "kind")}


def import_registry_file(conn: Connection, path: str | Path, now: datetime
                         ) -> dict[str, int]:
    """Parse, check against what is already stored, and upsert a registry YAML file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the registry file: {exc}", path=str(p)) from None
    known_sites = {s.site_id for s in list_sites(conn)}
    known_contacts = {c.contact_id for c in list_contacts(conn)}
    doc = parse_registry_yaml(text, str(p), known_sites=known_sites,
                              known_contacts=known_contacts)
    return save_document(conn, doc, now)


def parse_registry_yaml(text: str, path: str = "<registry>", *,
                        known_sites: Iterable[str] = (),
                        known_contacts: Iterable[str] = ()) -> RegistryDocument:
    """A registry document from YAML text; errors name the file, line and key."""
    root = compose(text, path)
    if root is None:
        return RegistryDocument()
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError("expected a mapping with contacts, sites, devices, catalog", path=path,
                          line=root.start_mark.line + 1)

    constructor = yaml.SafeLoader("")

    def fail(node: yaml.Node, key: str, message: str) -> None:
        raise ConfigError(message, path=path, line=node.start_mark.line + 1, key=key)

    entries: dict[str, list[tuple[yaml.Node, dict[str, tuple[yaml.Node, Any]]]]] = {
        name: [] for name in _SECTIONS}
    seen_sections: set[str] = set()
    for key_node, value_node in root.value:
        section = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
        if section not in _SECTIONS:
            fail(key_node, str(section),
                 f"unknown section; expected one of {', '.join(_SECTIONS)}")
        if section in seen_sections:
            fail(key_node, section, "section written twice; merge them")
        seen_sections.add(section)
        if isinstance(value_node, yaml.ScalarNode) and value_node.value in ("", "~", "null"):
            continue
        if not isinstance(value_node, yaml.SequenceNode):
            fail(value_node, section, "expected a list of entries")
        allowed = _SECTIONS[section]
        for i, item in enumerate(value_node.value):
            where = f"{section}[{i}]"
            if not isinstance(item, yaml.MappingNode):
                fail(item, where, "expected a mapping")
            fields: dict[str, tuple[yaml.Node, Any]] = {}
            for k, v in item.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else "?"
                if name not in allowed:
                    fail(k, f"{where}.{name}",
                         f"unknown key; allowed: {', '.join(allowed)}")
                if name in fields:
                    fail(k, f"{where}.{name}", "key written twice; keep one")
                value = constructor.construct_object(v, deep=True)
                if value is None:
                    continue
                if (isinstance(value, bool) != (bool in allowed[name])
                        or not isinstance(value, allowed[name])):
                    fail(v, f"{where}.{name}",
                         f"expected {' or '.join(t.__name__ for t in allowed[name])}, "
                         f"got {type(value).__name__} {value!r}")
                why = unstorable(value) if isinstance(value, str) else None
                if why is not None:
                    fail(v, f"{where}.{name}", f"the text {why}")
                if isinstance(value, str) and not value.strip() and name in _REQUIRED[section]:
                    fail(v, f"{where}.{name}", "must not be empty")
                fields[name] = (v, value)
            for name in _REQUIRED[section]:
                if name not in fields:
                    fail(item, f"{where}.{name}", "required key is missing")
            entries[section].append((item, fields))

    def val(fields: dict[str, tuple[yaml.Node, Any]], name: str) -> Any:
        return fields[name][1] if name in fields else None

    contacts: list[Contact] = []
    contact_ids = set(known_contacts)
    for i, (_node, f) in enumerate(entries["contacts"]):
        cid = val(f, "id")
        if cid in {c.contact_id for c in contacts}:
            fail(f["id"][0], f"contacts[{i}].id", f"duplicate contact id {cid!r}")
        email = val(f, "email")
        if "@" not in email or email.startswith("@") or email.endswith("@"):
            fail(f["email"][0], f"contacts[{i}].email", f"{email!r} is not an e-mail address")
        language = val(f, "language") or "fr"
        if language not in LANGUAGES:
            fail(f["language"][0], f"contacts[{i}].language",
                 f"{language!r}: expected one of {', '.join(LANGUAGES)}")
        zone = val(f, "time_zone")
        if zone is not None:
            try:
                time_zone_named(zone)
            except ValueError as exc:
                fail(f["time_zone"][0], f"contacts[{i}].time_zone", str(exc))
        contacts.append(Contact(cid, val(f, "name"), email, val(f, "shipping_address") or "",
                                val(f, "phone"), language, bool(val(f, "mail_opt_out")), zone))
        contact_ids.add(cid)

    def check_contact(f: dict[str, tuple[yaml.Node, Any]], key: str) -> None:
        cid = val(f, "contact")
        if cid is not None and cid not in contact_ids:
            fail(f["contact"][0], key,
                 f"contact {cid!r} is not defined; add it under contacts or fix the id")

    sites: list[Site] = []
    site_ids = set(known_sites)
    for i, (_node, f) in enumerate(entries["sites"]):
        sid = val(f, "id")
        if sid in {s.site_id for s in sites}:
            fail(f["id"][0], f"sites[{i}].id", f"duplicate site id {sid!r}")
        check_contact(f, f"sites[{i}].contact")
        sites.append(Site(sid, val(f, "name") or "", val(f, "contact")))
        site_ids.add(sid)

    devices: list[RegistryDevice] = []
    serials: set[str] = set()
    for i, (_node, f) in enumerate(entries["devices"]):
        serial = str(val(f, "serial"))
        if serial in serials:
            fail(f["serial"][0], f"devices[{i}].serial", f"duplicate device serial {serial!r}")
        serials.add(serial)
        site = val(f, "site")
        if site not in site_ids:
            fail(f["site"][0], f"devices[{i}].site",
                 f"site {site!r} is not defined; add it under sites or fix the id")
        check_contact(f, f"devices[{i}].contact")
        devices.append(RegistryDevice(serial, site, val(f, "contact"), val(f, "model"),
                                      val(f, "note"), val(f, "location")))

    catalog: list[CatalogItem] = []
    for i, (_node, f) in enumerate(entries["catalog"]):
        kind = val(f, "kind")
        if kind not in ("consumable", "waste"):
            fail(f["kind"][0], f"catalog[{i}].kind", f"{kind!r}: expected consumable or waste")
        capacity = val(f, "capacity_g")
        if capacity is not None and not 0 < capacity <= _MAX_CAPACITY_G:
            fail(f["capacity_g"][0], f"catalog[{i}].capacity_g",
                 f"must be more than 0 and at most {_MAX_CAPACITY_G:,} (got {capacity!r})")
        pages = val(f, "yield_pages")
        if pages is not None and not 0 < pages <= _MAX_YIELD_PAGES:
            fail(f["yield_pages"][0], f"catalog[{i}].yield_pages",
                 f"must be more than 0 and at most {_MAX_YIELD_PAGES:,} (got {pages!r})")
        catalog.append(CatalogItem(str(val(f, "part_number")), kind, val(f, "description") or "",
                                   val(f, "color"),
                                   float(capacity) if capacity is not None else None,
                                   val(f, "yield_pages")))
    return RegistryDocument(tuple(contacts), tuple(sites), tuple(devices), tuple(catalog))


def as_dict(record: Contact | Site | RegistryDevice | CatalogItem) -> dict[str, Any]:
    return asdict(record)
