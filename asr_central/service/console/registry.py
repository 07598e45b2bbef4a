"""The registry in the console: its sites, contacts, devices and catalog counted, and an
admin's YAML import, checked by the same parser as `asr-central registry import`, whose
first error is shown in place (the line marked in the text, which stays in the form) and
nothing is saved."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from asr_core.errors import ConfigError
from asr_central.service.api.body_limit import REGISTRY_BODY
from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import page
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


router.add_api_route(f"{PREFIX}/registry", registry_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/registry/import", import_yaml, methods=["POST"],
                     max_body_size=REGISTRY_BODY)
