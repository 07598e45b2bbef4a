"""The registry in the console: its sites, contacts, devices and catalog counted, and an
admin's YAML import, checked by the same parser as `asr-central registry import`, whose
first error is shown in place (the line marked in the text, which stays in the form) and
nothing is saved."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import Response

from asr_core.errors import ConfigError
from asr_central.service.api.body_limit import REGISTRY_BODY
from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import page, redirect
from asr_central.service.deps import state_of
from asr_central.storage import audit
from asr_central.storage import registry as store

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]


def _registry_page(request: Request, who: Viewer, *, http_status: int = 200, text: str = "",
                   error: ConfigError | None = None,
                   saved: dict[str, int] | None = None) -> Response:
    conn = state_of(request.app).db.connection()
    counts = {"contacts": len(store.list_contacts(conn)), "sites": len(store.list_sites(conn)),
              "devices": len(store.list_devices(conn)), "catalog": len(store.list_catalog(conn))}
    return page("registry.html", http_status, viewer=who, counts=counts, text=text,
                error=error, lines=text.splitlines() if error is not None else [],
                saved=saved)


def registry_page(request: Request, who: ViewerDep) -> Response:
    auth.read_permit(request, who, "registry_read")
    return _registry_page(request, who)


def import_yaml(request: Request, who: ViewerDep,
                csrf: Annotated[str, Form(max_length=200)] = "",
                document: Annotated[str, Form(max_length=REGISTRY_BODY)] = "") -> Response:
    auth.authorize(request, who, "registry_import", csrf)
    state = state_of(request.app)
    now = state.clock()
    error: ConfigError | None = None
    with state.db.transaction() as conn:
        try:
            doc = store.parse_registry_yaml(
                document, "<form>", known_sites={s.site_id for s in store.list_sites(conn)},
                known_contacts={c.contact_id for c in store.list_contacts(conn)})
        except ConfigError as exc:
            error = exc
            audit.record(conn, now, who.username, "registry_import", outcome="failed",
                         detail=str(exc), address=who.address)
        else:
            saved = store.save_document(conn, doc, now)
            audit.record(conn, now, who.username, "registry_import",
                         detail=", ".join(f"{n} {k}" for k, n in saved.items()),
                         address=who.address)
    if error is not None:
        return _registry_page(request, who, http_status=422, text=document, error=error)
    return _registry_page(request, who, saved=saved)


def edit_device(request: Request, who: ViewerDep,
                csrf: Annotated[str, Form(max_length=200)] = "",
                serial: Annotated[str, Form(min_length=1, max_length=200)] = "",
                site_id: Annotated[str, Form(min_length=1, max_length=200)] = "",
                contact_id: Annotated[str, Form(max_length=200)] = "",
                model: Annotated[str, Form(max_length=200)] = "",
                note: Annotated[str, Form(max_length=2000)] = "") -> Response:
    """A printer's registry entry (site, contact, model, where it stands), from its page."""
    auth.authorize(request, who, "registry_edit", csrf, f"printer {serial}")
    state = state_of(request.app)
    now = state.clock()
    record = store.RegistryDevice(serial, site_id, contact_id or None, model.strip() or None,
                                  note.strip() or None)
    with state.db.transaction() as conn:
        if store.get_site(conn, site_id) is None:
            raise HTTPException(422, f"site {site_id!r} is not in the registry: add it first")
        if record.contact_id is not None and store.get_contact(conn, record.contact_id) is None:
            raise HTTPException(422, f"contact {record.contact_id!r} is not in the registry: "
                                     "add it first")
        before = store.get_device(conn, serial)
        store.upsert_device(conn, record, now)
        audit.record(conn, now, who.username, "registry_device", target=f"printer {serial}",
                     detail=f"{_describe(before)} -> {_describe(record)}", address=who.address)
    return redirect(f"{PREFIX}/printers/{quote(serial, safe='')}?done=saved")


def _describe(d: store.RegistryDevice | None) -> str:
    if d is None:
        return "(not registered)"
    return (f"site {d.site_id}, contact {d.contact_id or '(site default)'}, "
            f"model {d.model or '-'}, note {d.note or '-'}")


router.add_api_route(f"{PREFIX}/registry", registry_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/registry/devices", edit_device, methods=["POST"])
router.add_api_route(f"{PREFIX}/registry/import", import_yaml, methods=["POST"],
                     max_body_size=REGISTRY_BODY)
