"""Agents in the console: the enrolled agents with their sites, keys, printers and when
central last heard from them, their version and clock skew; an admin revokes one or creates a site's enrollment token
(shown once: only its hash is kept). Customers do not see this page."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.responses import Response

from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import page, redirect
from asr_central.service.deps import state_of
from asr_central.storage import agents as agents_store
from asr_central.storage import audit, fleet, registry

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]
CsrfField = Annotated[str, Form(max_length=200)]


def _agents_page(request: Request, who: Viewer, *, http_status: int = 200,
                 token: tuple[str, str, str] | None = None, notice: str | None = None,
                 error: str | None = None) -> Response:
    conn = state_of(request.app).db.connection()
    activity = fleet.agent_activity(conn)
    heard = agents_store.contacts(conn)
    rows = [(a, len(agents_store.agent_keys(conn, a.agent_id)), activity.get(a.agent_id),
             heard.get(a.agent_id)) for a in agents_store.list_agents(conn)]
    return page("agents.html", http_status, viewer=who, rows=rows, token=token,
                sites=registry.list_sites(conn), notice=notice, error=error)


def agents_page(request: Request, who: ViewerDep, done: str | None = None) -> Response:
    auth.read_permit(request, who, "agents_read")
    return _agents_page(request, who, notice="Agent revoked." if done == "revoked" else None)


def revoke(request: Request, who: ViewerDep, agent_id: str, csrf: CsrfField = "",
           reason: Annotated[str, Form(max_length=500)] = "") -> Response:
    auth.authorize(request, who, "agent_revoke", csrf, f"agent {agent_id}")
    state = state_of(request.app)
    now = state.clock()
    with state.db.transaction() as conn:
        if not agents_store.revoke_agent(conn, agent_id, now, reason.strip() or None):
            raise HTTPException(404, f"agent {agent_id} is unknown")
        audit.record(conn, now, who.username, "agent_revoke", target=f"agent {agent_id}",
                     detail=reason.strip() or None, address=who.address)
    return redirect(f"{PREFIX}/agents?done=revoked")


def create_token(request: Request, who: ViewerDep, csrf: CsrfField = "",
                 site_id: Annotated[str, Form(max_length=200)] = "",
                 ttl_hours: Annotated[float, Form(gt=0, le=24 * 90)] = 168) -> Response:
    auth.authorize(request, who, "enrollment_token", csrf, f"site {site_id}")
    state = state_of(request.app)
    now = state.clock()
    with state.db.transaction() as conn:
        if registry.get_site(conn, site_id) is None:
            error = f"site {site_id!r} is not in the registry: add it first"
            audit.record(conn, now, who.username, "enrollment_token", target=f"site {site_id}",
                         outcome="failed", detail=error, address=who.address)
        else:
            error = None
            token, expires = agents_store.create_token(conn, site_id, now,
                                                       ttl=timedelta(hours=ttl_hours))
            # the token itself is never written down: whoever reads the log cannot enroll
            audit.record(conn, now, who.username, "enrollment_token", target=f"site {site_id}",
                         detail=f"expires {expires}", address=who.address)
    if error is not None:
        return _agents_page(request, who, http_status=422, error=error)
    return _agents_page(request, who, token=(token, site_id, expires))


router.add_api_route(f"{PREFIX}/agents", agents_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/agents/{{agent_id}}/revoke", revoke, methods=["POST"])
router.add_api_route(f"{PREFIX}/agents/enrollment-token", create_token, methods=["POST"])
