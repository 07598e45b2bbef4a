"""The central service's HTTP API: enrollment, key changes, signed summary ingest, admin
endpoints, and the routers that add the registry, orders, alerts and devices.

`create_app(db_url, admin_token=...)` builds a FastAPI app (OpenAPI at /openapi.json).

Routers: every module in `EXTENSIONS`, imported by name below (a missing one fails at
import). Its `router` (an APIRouter) is included, and its optional
`on_summary(conn, summary, summary_id, now)`
runs inside the ingest transaction for each newly accepted summary, in the batch's order once
the whole batch is written (so it sees device and supply state as the batch left them; in the
database's group commit; an exception rolls back that request's batch alone), and its optional
`after_ingest(app, now)` runs in a worker thread after a batch that stored at least one new
summary is committed (at most once per `ingest.AFTER_INGEST_GAP_S`: the commits in between
are folded into the next call). The policy run, retention and the notifier are the leader's
duties (asr_central.service.leader): of several workers on one database, one runs them. They use the dependencies in `asr_central.service.deps` and
the typed state in `asr_central.service.state`.

POST /v1/summaries, the hot path, is `asr_central.service.api.ingest`: `CentralApp` hands it over
before FastAPI's middleware and routing (no middleware is added to this app; one that must
see ingest requests would have to wrap the app instead).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.types import Receive, Scope, Send

from asr_core.signing import key_id_for
from asr_central import __version__
from asr_central.service.api import errors
from asr_central.service.api import ingest as ingest_api
from asr_central.service.api.admin_guard import AdminGuard
from asr_central.service.api.body_limit import JSON_BODY
from asr_central.service.api.storable import refuse_unstorable
from asr_central.service.api.control import EnvelopeBody, control_message
from asr_central.service.api.ingest import MAX_BATCH, Ingest, SummaryHook
from asr_central.service import retention
from asr_central.service.console import routes as console
from asr_central.service.api import (
    agent_orders, alerts, device_moves, devices, mail, ops, orders, registry,
)
from asr_central.service.deps import AdminDep, DbDep, NowDep, get_db, get_now, require_admin
from asr_central.service.leader import LeaderDuties
from asr_central.service.console.guard import SignInGuard
from asr_central.service.state import CentralState
from asr_central.storage import open_database
from asr_central.storage import agents as agents_store
from asr_central.storage.shared_state import RateLimitStorage
from asr_central.domain.trust import DEFAULT_MAX_CLOCK_SKEW, TimeBounds

log = logging.getLogger("asr_central.api")

# The modules that add routes and ingest hooks (see the module docstring), in this order.
# A module-level name so that a benchmark can leave them out.
EXTENSIONS: tuple[ModuleType, ...] = (
    registry, orders, alerts, agent_orders, retention, devices, device_moves, mail, ops,
)

Clock = Callable[[], datetime]

__all__ = ["create_app", "get_db", "get_now", "require_admin", "EXTENSIONS", "MAX_BATCH",
           "CentralApp", "SummaryHook", "EnvelopeBody", "CentralState"]


# --- request and response bodies ------------------------------------------------------------

class EnrollRequest(BaseModel):
    token: str = Field(min_length=1, description="one-time enrollment token from the admin")
    public_key: str = Field(description="raw 32-byte Ed25519 public key, base64")
    site_id: str = Field(min_length=1)
    agent_name: str = Field(min_length=1, max_length=200)
    agent_id: str | None = Field(None, description="set when an enrolled agent re-enrolls "
                                                   "(its new key is added, old ones stay valid)")


class EnrollResponse(BaseModel):
    agent_id: str
    key_id: str
    site_id: str


class SummaryBatch(BaseModel):
    envelopes: list[dict[str, Any]] = Field(description="signed envelopes, oldest first",
                                            max_length=MAX_BATCH)


class ItemResultBody(BaseModel):
    status: str
    code: int
    reason: str | None = None
    idempotency_key: str | None = None
    sequence: int | None = None


class BatchResponse(BaseModel):
    results: list[ItemResultBody]


class TokenRequest(BaseModel):
    site_id: str = Field(min_length=1)
    ttl_hours: float = Field(168, gt=0, le=24 * 90)
    note: str | None = None


class TokenResponse(BaseModel):
    token: str
    site_id: str
    expires_at: str


class RevokeRequest(BaseModel):
    reason: str | None = None


class KeyChangeResponse(BaseModel):
    agent_id: str
    key_id: str
    status: str


# --- the ingest route, documented here, served by asr_central.service.api.ingest ------------------

class _PlainRoute(APIRoute):
    """A route documented in the OpenAPI description like the others, served as a plain
    Starlette endpoint `endpoint(request) -> Response`: no dependency solving, body model
    or response model validation. Taken only by requests `CentralApp` does not hand to
    the ingest handler directly (an app mounted under a prefix)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


class CentralApp(FastAPI):
    """FastAPI, with POST /v1/summaries answered before its middleware stack, router and
    dependency machinery, which cost as much per request as verifying and storing a summary."""

    ingest: Ingest | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ingest = self.ingest
        if (ingest is not None and scope["type"] == "http" and scope["path"] == ingest_api.PATH
                and scope["method"] == "POST" and not scope.get("root_path")):
            scope["app"] = self
            await ingest(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _decode_public_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "public_key: not base64") from None
    if len(raw) != 32:
        raise HTTPException(400, f"public_key: {len(raw)} bytes, an Ed25519 key has 32")
    return raw


# --- the app --------------------------------------------------------------------------------

def create_app(db_url: str, *, admin_token: str | None = None, clock: Clock | None = None,
               extra_routers: Sequence[APIRouter] = (),
               summary_hooks: Sequence[SummaryHook] = (),
               max_clock_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW) -> FastAPI:
    db = open_database(db_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        duties.start()  # a follower tries the leadership from the start, not after ingest
        try:
            yield
        finally:
            await asyncio.to_thread(duties.stop)
            db.close()

    app = CentralApp(title="ASR central", version=__version__, lifespan=lifespan,
                     max_body_size=JSON_BODY,
                     # every route's text checked before it reaches the database
                     dependencies=[Depends(refuse_unstorable)],
                     description="Verifies signed agent summaries, forecasts supplies, places "
                                 "consolidated replenishment orders and raises alerts.")
    errors.install(app)
    state = CentralState(db=db, clock=clock or (lambda: datetime.now(UTC)),
                         admin_token=admin_token, summary_hooks=list(summary_hooks),
                         admin_guard=AdminGuard(storage=RateLimitStorage(db)),
                         sign_in_guard=SignInGuard(counts=RateLimitStorage(db)))
    app.state = state  # type: ignore[assignment]  # typed: see asr_central.service.state
    duties = state.duties = LeaderDuties(app)
    hooks = state.summary_hooks
    batch_hooks: list[ingest_api.BatchHook] = []
    ingest = app.ingest = ingest_api.Ingest(app, db, state.clock, hooks, batch_hooks)
    ingest.bounds = TimeBounds(max_skew=max_clock_skew)
    ingest.observe = state.metrics.count

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive and serving; the database is /readyz's business (a liveness
        probe failing with the database would restart every worker during its outage)."""
        return {"status": "ok", "version": __version__}

    @app.post("/v1/enroll", response_model=EnrollResponse, status_code=201, tags=["agents"])
    def enroll(body: EnrollRequest, db: DbDep, now: NowDep) -> EnrollResponse:
        raw = _decode_public_key(body.public_key)
        key_id = key_id_for(raw)
        try:
            with db.transaction() as conn:
                if body.agent_id is None:
                    agent_id = agents_store.create_agent(conn, body.site_id, body.agent_name, now)
                else:
                    agent = agents_store.get_agent(conn, body.agent_id)
                    if agent is None:
                        raise agents_store.EnrollmentRefused(
                            f"agent {body.agent_id} is unknown here: enroll as a new agent", 404)
                    if agent.revoked_at is not None:
                        raise agents_store.EnrollmentRefused(
                            f"agent {body.agent_id} was revoked: enroll as a new agent", 403)
                    if agent.site_id != body.site_id:
                        # a token adds a key to an agent of its own site only: one of site B
                        # must never let its holder sign for site A
                        raise agents_store.EnrollmentRefused(
                            f"agent {body.agent_id} belongs to site {agent.site_id!r}, not "
                            f"{body.site_id!r}: a token of one site cannot add a key to an "
                            "agent of another; enroll as a new agent of your site", 403)
                    agent_id = agent.agent_id
                agents_store.consume_token(conn, body.token, body.site_id, agent_id, now)
                agents_store.add_key(conn, agent_id, key_id, raw, now)
        except agents_store.EnrollmentRefused as exc:
            log.warning("enrollment refused for site %s: %s", body.site_id, exc)
            raise HTTPException(exc.code, str(exc)) from None
        log.info("agent %s enrolled for site %s with key %s", agent_id, body.site_id, key_id)
        return EnrollResponse(agent_id=agent_id, key_id=key_id, site_id=body.site_id)

    @app.post("/v1/keys", response_model=KeyChangeResponse, status_code=201, tags=["agents"])
    def add_key(body: EnvelopeBody, db: DbDep, now: NowDep) -> KeyChangeResponse:
        """Rotation: a new public key, in a message signed by a current key of the agent."""
        with db.transaction() as conn:
            agent, data = control_message(conn, body, "add_key")
            raw = _decode_public_key(str(data.get("public_key", "")))
            try:
                agents_store.add_key(conn, agent.agent_id, key_id_for(raw), raw, now)
            except agents_store.EnrollmentRefused as exc:
                raise HTTPException(exc.code, str(exc)) from None
        return KeyChangeResponse(agent_id=agent.agent_id, key_id=key_id_for(raw), status="active")

    @app.post("/v1/keys/retire", response_model=KeyChangeResponse, tags=["agents"])
    def retire_key(body: EnvelopeBody, db: DbDep, now: NowDep) -> KeyChangeResponse:
        """The agent's queue holds nothing signed with `key_id` any more: stop accepting it."""
        with db.transaction() as conn:
            agent, data = control_message(conn, body, "retire_key")
            key_id = str(data.get("key_id", ""))
            if key_id == body.key_id:
                raise HTTPException(400, "a key cannot retire itself: sign with the new key")
            if not agents_store.retire_key(conn, agent.agent_id, key_id, now):
                raise HTTPException(404, f"key {key_id} is not a key of agent {agent.agent_id}")
        return KeyChangeResponse(agent_id=agent.agent_id, key_id=key_id, status="retired")

    app.router.add_api_route(
        ingest_api.PATH, ingest.endpoint, methods=["POST"], response_model=BatchResponse,
        tags=["agents"], route_class_override=_PlainRoute, name="ingest", summary="Ingest",
        max_body_size=ingest_api.MAX_BODY,
        description=f"Signed summaries, oldest first, at most {MAX_BATCH} per request. The "
                    "answer, sent once the accepted ones are stored durably, holds one verdict "
                    "per envelope, in order: 201 accepted; 409 duplicate (stored before: safe "
                    "to forget) or rejected replay; 401 unknown agent or key; 403 revoked or "
                    "retired key, revoked agent, wrong site or agent, device of another site "
                    "(other_site); 422 bad signature, or times beyond the clock bounds "
                    "(future, past); 400 malformed.",
        openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
            "schema": SummaryBatch.model_json_schema()}}}},
        responses={422: {"description": "Validation Error", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/HTTPValidationError"}}}}})

    # --- admin ------------------------------------------------------------------------------

    @app.post("/v1/admin/enrollment-tokens", response_model=TokenResponse, status_code=201,
              tags=["admin"])
    def create_token(body: TokenRequest, _: AdminDep, db: DbDep, now: NowDep) -> TokenResponse:
        with db.transaction() as conn:
            token, expires = agents_store.create_token(
                conn, body.site_id, now, ttl=timedelta(hours=body.ttl_hours), note=body.note)
        return TokenResponse(token=token, site_id=body.site_id, expires_at=expires)

    @app.get("/v1/admin/agents", tags=["admin"])
    def list_agents(_: AdminDep, db: DbDep, site_id: str | None = None) -> list[dict[str, Any]]:
        conn = db.connection()
        out = []
        for a in agents_store.list_agents(conn, site_id):
            keys = agents_store.agent_keys(conn, a.agent_id)
            out.append({"agent_id": a.agent_id, "site_id": a.site_id, "name": a.name,
                        "created_at": a.created_at, "revoked_at": a.revoked_at,
                        "keys": [{"key_id": k.key_id, "created_at": k.created_at,
                                  "retired_at": k.retired_at, "revoked_at": k.revoked_at}
                                 for k in keys]})
        return out

    @app.post("/v1/admin/agents/{agent_id}/revoke", tags=["admin"])
    def revoke_agent(agent_id: str, _: AdminDep, db: DbDep, now: NowDep,
                     body: RevokeRequest | None = None) -> dict[str, str]:
        with db.transaction() as conn:
            if not agents_store.revoke_agent(conn, agent_id, now, body.reason if body else None):
                raise HTTPException(404, f"agent {agent_id} is unknown")
        log.warning("agent %s revoked by an admin", agent_id)
        return {"agent_id": agent_id, "status": "revoked"}

    @app.post("/v1/admin/keys/{key_id}/revoke", tags=["admin"])
    def revoke_key(key_id: str, _: AdminDep, db: DbDep, now: NowDep) -> dict[str, str]:
        with db.transaction() as conn:
            if not agents_store.revoke_key(conn, key_id, now):
                raise HTTPException(404, f"key {key_id} is unknown")
        log.warning("key %s revoked by an admin", key_id)
        return {"key_id": key_id, "status": "revoked"}

    for router in extra_routers:
        app.include_router(router)
    for module in EXTENSIONS:
        if hasattr(module, "router"):
            app.include_router(module.router)
        if hasattr(module, "on_summary"):
            hooks.append(module.on_summary)
        if hasattr(module, "after_ingest"):
            batch_hooks.append(module.after_ingest)
    # The console's HTML pages under /console (not part of the OpenAPI description).
    app.include_router(console.router)

    return app
