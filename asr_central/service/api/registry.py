"""Registry API: sites, contacts, devices and the supply catalog, read, edited one record at
a time, or imported whole from the same YAML as `asr-central registry import`."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, HTTPException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from asr_core.errors import ConfigError
from asr_central.domain.mail import time_zone_named
from asr_central.service.api.body_limit import REGISTRY_BODY
from asr_central.service.deps import AdminDep, DbDep, NowDep
from asr_central.storage import registry as store

router = APIRouter(prefix="/v1/registry", tags=["registry"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ContactBody(_Body):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    shipping_address: str = ""
    phone: str | None = None
    language: Literal["fr", "en"] = Field("fr", description="the language of its mail")
    mail_opt_out: bool = False
    time_zone: str | None = Field(None, description="an IANA name such as Europe/Paris: the "
                                  "days and digest hour of its mail (default: mail.time_zone)")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            time_zone_named(value)  # its ValueError is the 422's message
        return value


class SiteBody(_Body):
    name: str = ""
    contact: str | None = Field(None, description="the site's default contact id")


class DeviceBody(_Body):
    site: str = Field(min_length=1)
    contact: str | None = Field(None, description="contact id; default: the site's contact")
    model: str | None = None
    note: str | None = None
    location: str | None = Field(None, description="where it stands, for parcels and mail")


class CatalogBody(_Body):
    kind: Literal["consumable", "waste"]
    description: str = ""
    color: str | None = None
    capacity_g: float | None = Field(None, gt=0)
    yield_pages: int | None = Field(None, gt=0)


def _dump(records: list[Any]) -> list[dict[str, Any]]:
    return [store.as_dict(r) for r in records]


@router.get("")
def get_registry(_: AdminDep, db: DbDep) -> dict[str, list[dict[str, Any]]]:
    conn = db.connection()
    return {"contacts": _dump(store.list_contacts(conn)), "sites": _dump(store.list_sites(conn)),
            "devices": _dump(store.list_devices(conn)), "catalog": _dump(store.list_catalog(conn))}


@router.put("/contacts/{contact_id}")
def put_contact(contact_id: str, body: ContactBody, _: AdminDep, db: DbDep,
                now: NowDep) -> dict[str, Any]:
    record = store.Contact(contact_id, body.name, body.email, body.shipping_address, body.phone,
                           body.language, body.mail_opt_out, body.time_zone)
    with db.transaction() as conn:
        store.upsert_contact(conn, record, now)
    return store.as_dict(record)


@router.put("/sites/{site_id}")
def put_site(site_id: str, body: SiteBody, _: AdminDep, db: DbDep, now: NowDep) -> dict[str, Any]:
    record = store.Site(site_id, body.name, body.contact)
    with db.transaction() as conn:
        if body.contact is not None and store.get_contact(conn, body.contact) is None:
            raise HTTPException(422, f"contact {body.contact!r} does not exist; create it first "
                                     "(PUT /v1/registry/contacts/{id})")
        store.upsert_site(conn, record, now)
    return store.as_dict(record)


@router.put("/devices/{serial}")
def put_device(serial: str, body: DeviceBody, _: AdminDep, db: DbDep,
               now: NowDep) -> dict[str, Any]:
    record = store.RegistryDevice(serial, body.site, body.contact, body.model, body.note,
                                  body.location)
    with db.transaction() as conn:
        if store.get_site(conn, body.site) is None:
            raise HTTPException(422, f"site {body.site!r} does not exist; create it first "
                                     "(PUT /v1/registry/sites/{id})")
        if body.contact is not None and store.get_contact(conn, body.contact) is None:
            raise HTTPException(422, f"contact {body.contact!r} does not exist; create it first")
        store.upsert_device(conn, record, now)
    return store.as_dict(record)


@router.delete("/devices/{serial}", status_code=204)
def delete_device(serial: str, _: AdminDep, db: DbDep) -> None:
    with db.transaction() as conn:
        if not store.delete_device(conn, serial):
            raise HTTPException(404, f"device {serial} is not in the registry")


@router.put("/catalog/{part_number}")
def put_catalog_item(part_number: str, body: CatalogBody, _: AdminDep,
                     db: DbDep, now: NowDep) -> dict[str, Any]:
    record = store.CatalogItem(part_number, body.kind, body.description, body.color,
                               body.capacity_g, body.yield_pages)
    with db.transaction() as conn:
        store.upsert_catalog_item(conn, record, now)
    return store.as_dict(record)


@router.post("/import", max_body_size=REGISTRY_BODY)
def import_yaml(_: AdminDep, db: DbDep, now: NowDep,
                text: str = Body(media_type="application/yaml",
                                 description="a registry YAML document")) -> dict[str, int]:
    with db.transaction() as conn:
        known_sites = {s.site_id for s in store.list_sites(conn)}
        known_contacts = {c.contact_id for c in store.list_contacts(conn)}
        try:
            doc = store.parse_registry_yaml(text, "<upload>", known_sites=known_sites,
                                            known_contacts=known_contacts)
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        return store.save_document(conn, doc, now)
