"""The central service's HTTP API: enrollment, key changes, signed summary ingest, admin
endpoints, and the hook through which registry/policy/alerts modules plug in.

`create_app(db_url, admin_token=...)` builds a FastAPI app (OpenAPI at /openapi.json).

Extensions: every module named in `EXTENSIONS` that exists is imported; its `router`
(an APIRouter) is included, and its optional `on_summary(conn, summary, summary_id, now)`
runs inside the ingest transaction for each newly accepted summary (in the database's
writer thread; an exception rolls back that request's batch alone), and its optional
`after_ingest(app, now)` runs in a worker thread after a batch that stored at least one new
summary is committed (calls for batches committed while it runs are folded into one). They
use the dependencies below: `get_db`, `get_now`, `require_admin`.

Per-envelope verdicts of POST /v1/summaries (the batch itself answers 200):
    201 accepted · 409 duplicate (idempotency key seen: delivered before, safe to ack)
    409 rejected "replay" (sequence already used by another summary)
    401 unknown agent or key · 403 revoked agent or key, retired key, wrong site/agent
    422 bad signature · 400 malformed envelope or payload
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import importlib
import json
import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from asr_agent.errors import SigningError
from asr_agent.signing import key_id_for, verify
from asr_agent.wire import (
    Envelope, ItemResult, ItemStatus, Summary, WireError, decode_summary,
)
from asr_central import __version__
from asr_central.db import Database, open_database
from asr_central.store import agents as agents_store
from asr_central.store import summaries as summaries_store

log = logging.getLogger("asr_central.api")

# Optional modules that add routes and ingest hooks (see the module docstring).
EXTENSIONS: tuple[str, ...] = (
    "asr_central.api.registry", "asr_central.api.orders", "asr_central.api.alerts",
    "asr_central.api.agent_orders",
)
MAX_BATCH = 500
_VERIFY_SLICE = 32  # envelopes verified between two yields to the event loop

Clock = Callable[[], datetime]
SummaryHook = Callable[[sqlite3.Connection, Summary, int, datetime], None]

__all__ = ["create_app", "get_db", "get_now", "require_admin", "EXTENSIONS", "MAX_BATCH"]


# --- dependencies ---------------------------------------------------------------------------

# Dependencies are `async def` so that FastAPI calls them on the event loop: a sync one costs
# a round trip through the threadpool for every request that uses it.

async def get_db(request: Request) -> Database:
    return request.app.state.db  # type: ignore[no-any-return]


async def get_now(request: Request) -> datetime:
    return request.app.state.clock()  # type: ignore[no-any-return]


async def require_admin(request: Request,
                  authorization: Annotated[str | None, Header()] = None) -> None:
    expected: str | None = request.app.state.admin_token
    if expected is None:
        raise HTTPException(503, "the admin API is disabled: start the service with "
                                 "--admin-token-file or ASR_CENTRAL_ADMIN_TOKEN")
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(401, "admin token missing or wrong (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})


DbDep = Annotated[Database, Depends(get_db)]
NowDep = Annotated[datetime, Depends(get_now)]
AdminDep = Annotated[None, Depends(require_admin)]


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


class EnvelopeBody(BaseModel):
    agent_id: str
    key_id: str
    alg: str = "ed25519"
    payload: str = Field(description="canonical JSON bytes, base64")
    signature: str = Field(description="Ed25519 signature over the payload bytes, base64")


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


# --- the ingest body, read without FastAPI's body model ---------------------------------------

class _PlainRoute(APIRoute):
    """A route documented in the OpenAPI description like the others, served as a plain
    Starlette endpoint `endpoint(request) -> Response`: no dependency solving, body model
    or response model validation, which cost more per request than storing a summary.
    For the ingest hot path only; its endpoint checks the body itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint  # type: ignore[return-value]


class _BadBatch(Exception):
    """The body is not a batch: answered as FastAPI answers a body that fails its model."""

    def __init__(self, detail: Any, status: int = 422) -> None:
        self.detail = detail
        self.status = status
        super().__init__(str(detail))


def _invalid(kind: str, loc: tuple[str | int, ...], msg: str) -> _BadBatch:
    return _BadBatch([{"type": kind, "loc": ["body", *loc], "msg": msg}])


def _batch(body: bytes, content_type: str | None) -> list[dict[str, Any]]:
    """The envelopes of a POST /v1/summaries body (the SummaryBatch model), or _BadBatch."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media != "application/json" and not (media.startswith("application/")
                                            and media.endswith("+json")):
        raise _invalid("model_attributes_type", (),
                       "Input should be a JSON object (Content-Type: application/json)")
    if not body:
        raise _invalid("missing", (), "Field required")
    try:
        data = json.loads(body)
    except UnicodeDecodeError:
        raise _BadBatch("There was an error parsing the body", 400) from None
    except json.JSONDecodeError as exc:
        raise _invalid("json_invalid", (exc.pos,), f"JSON decode error: {exc.msg}") from None
    if not isinstance(data, dict):
        raise _invalid("model_attributes_type", (),
                       "Input should be a valid dictionary or object to extract fields from")
    if "envelopes" not in data:
        raise _invalid("missing", ("envelopes",), "Field required")
    envelopes = data["envelopes"]
    if not isinstance(envelopes, list):
        raise _invalid("list_type", ("envelopes",), "Input should be a valid list")
    if len(envelopes) > MAX_BATCH:
        raise _invalid("too_long", ("envelopes",), f"List should have at most {MAX_BATCH} "
                       f"items after validation, not {len(envelopes)}")
    for i, item in enumerate(envelopes):
        if not isinstance(item, dict):
            raise _invalid("dict_type", ("envelopes", i), "Input should be a valid dictionary")
    return envelopes


# --- verification ---------------------------------------------------------------------------

class _Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def _public_key(raw: bytes) -> bytes:
    """The stored key as `signing.verify` takes it (raw bytes: libsodium needs no parsing)."""
    return raw


_Signer = tuple[agents_store.AgentRow, bytes]


def _signer(conn: sqlite3.Connection, agent_id: str, key_id: str) -> _Signer:
    """The agent and the public key it may sign with, or _Refused with the status to answer."""
    agent, key = agents_store.get_signer(conn, agent_id, key_id)
    if agent is None:
        raise _Refused(401, f"unknown_agent: {agent_id} is not enrolled here")
    if agent.revoked_at is not None:
        raise _Refused(403, f"agent_revoked: {agent_id} was revoked at {agent.revoked_at}")
    if key is None:
        raise _Refused(401, f"unknown_key: {key_id} is not a key of agent {agent_id}")
    if key.revoked_at is not None:
        raise _Refused(403, f"key_revoked: {key_id} was revoked at {key.revoked_at}")
    if key.retired_at is not None:
        raise _Refused(403, f"key_retired: {key_id} was retired at {key.retired_at}")
    return agent, _public_key(key.public_key)


def _verified(env: Envelope, signer: _Signer) -> bytes:
    try:
        return verify(env, signer[1])
    except SigningError as exc:
        raise _Refused(422, f"bad_signature: {exc}") from None


def _authenticate(conn: sqlite3.Connection, env: Envelope
                  ) -> tuple[agents_store.AgentRow, bytes]:
    """The agent and the verified payload, or _Refused with the status to answer."""
    signer = _signer(conn, env.agent_id, env.key_id)
    return signer[0], _verified(env, signer)


def _control_message(conn: sqlite3.Connection, body: EnvelopeBody, action: str
                     ) -> tuple[agents_store.AgentRow, dict[str, Any]]:
    try:
        env = Envelope.from_dict(body.model_dump())
        agent, payload = _authenticate(conn, env)
        data = json.loads(payload)
    except WireError as exc:
        raise HTTPException(400, f"malformed: {exc}") from None
    except _Refused as exc:
        raise HTTPException(exc.code, exc.reason) from None
    except ValueError as exc:
        raise HTTPException(400, f"malformed: payload is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("action") != action:
        raise HTTPException(400, f"malformed: payload action must be {action!r}")
    if data.get("agent_id") != env.agent_id:
        raise HTTPException(403, "agent_mismatch: payload agent_id differs from the envelope's")
    return agent, data


def _decode_public_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(400, "public_key: not base64") from None
    if len(raw) != 32:
        raise HTTPException(400, f"public_key: {len(raw)} bytes, an Ed25519 key has 32")
    return raw


def _store_verified(conn: sqlite3.Connection, verified: list[tuple[int, Envelope, Summary]],
                    hooks: Sequence[SummaryHook], now: datetime
                    ) -> list[tuple[int, ItemResult]]:
    """Store a batch's verified summaries (in the writer thread, inside its group)."""
    out: list[tuple[int, ItemResult]] = []
    for i, env, summary in verified:
        stored = summaries_store.store_summary(conn, summary, env, now)
        key, seq = summary.idempotency_key, summary.sequence
        if stored.outcome == "accepted":
            assert stored.summary_id is not None
            for hook in hooks:
                hook(conn, summary, stored.summary_id, now)
            out.append((i, ItemResult(ItemStatus.ACCEPTED, 201, None, key, seq)))
        elif stored.outcome == "duplicate":
            out.append((i, ItemResult(ItemStatus.DUPLICATE, 409,
                                      f"duplicate: {stored.detail}", key, seq)))
        else:
            out.append((i, ItemResult(ItemStatus.REJECTED, 409,
                                      f"replay: {stored.detail}", key, seq)))
    return out


class _AfterIngest:
    """Runs the after-ingest hooks off the event loop, once for however many batches were
    stored meanwhile (a hook such as the policy run is debounced on its own anyway)."""

    def __init__(self, app: FastAPI, hooks: Sequence[Callable[[FastAPI, datetime], None]]
                 ) -> None:
        self._app = app
        self._hooks = hooks
        self._lock = threading.Lock()
        self._due: datetime | None = None
        self._scheduled = False

    def notify(self, now: datetime) -> None:
        with self._lock:
            self._due = now
            if self._scheduled:
                return
            self._scheduled = True
        asyncio.get_running_loop().run_in_executor(None, self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                now, self._due = self._due, None
                if now is None:
                    self._scheduled = False
                    return
            for hook in self._hooks:
                try:
                    hook(self._app, now)
                except Exception:  # a failing hook must not stop the others or later runs
                    log.exception("after-ingest hook %s failed",
                                  getattr(hook, "__qualname__", hook))


# --- the app --------------------------------------------------------------------------------

def create_app(db_url: str, *, admin_token: str | None = None, clock: Clock | None = None,
               extra_routers: Sequence[APIRouter] = (),
               summary_hooks: Sequence[SummaryHook] = ()) -> FastAPI:
    db = open_database(db_url)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        db.close()

    app = FastAPI(title="ASR central", version=__version__, lifespan=lifespan,
                  description="Verifies signed agent summaries, forecasts supplies, places "
                              "consolidated replenishment orders and raises alerts.")
    app.state.db = db
    app.state.admin_token = admin_token
    app.state.clock = clock or (lambda: datetime.now(UTC))
    hooks: list[SummaryHook] = list(summary_hooks)
    app.state.summary_hooks = hooks
    batch_hooks: list[Callable[[FastAPI, datetime], None]] = []
    after_ingest = _AfterIngest(app, batch_hooks)

    @app.get("/healthz", tags=["ops"])
    def healthz(db: DbDep) -> dict[str, str]:
        db.connection().execute("SELECT 1").fetchone()
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
            agent, data = _control_message(conn, body, "add_key")
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
            agent, data = _control_message(conn, body, "retire_key")
            key_id = str(data.get("key_id", ""))
            if key_id == body.key_id:
                raise HTTPException(400, "a key cannot retire itself: sign with the new key")
            if not agents_store.retire_key(conn, agent.agent_id, key_id, now):
                raise HTTPException(404, f"key {key_id} is not a key of agent {agent.agent_id}")
        return KeyChangeResponse(agent_id=agent.agent_id, key_id=key_id, status="retired")

    async def ingest(request: Request) -> Response:
        # A plain endpoint (see _PlainRoute): the body is read and parsed once, here.
        # Async on purpose: a sync endpoint costs a threadpool round trip per request and
        # gave every thread its own connection, whose writers then queued in SQLite's
        # sleep-and-retry busy handler. Verification runs here (it holds the GIL either
        # way); storage is group-committed with the requests queued meanwhile.
        try:
            envelopes = _batch(await request.body(), request.headers.get("content-type"))
        except _BadBatch as exc:
            return JSONResponse({"detail": exc.detail}, status_code=exc.status)
        db: Database = app.state.db
        now: datetime = app.state.clock()
        results: list[ItemResult | None] = [None] * len(envelopes)
        verified: list[tuple[int, Envelope, Summary]] = []
        conn = db.connection()
        # A batch comes from one agent, signed with one key: look it up once.
        signers: dict[tuple[str, str], _Signer | _Refused] = {}
        for i, raw in enumerate(envelopes):
            if i and i % _VERIFY_SLICE == 0:
                await asyncio.sleep(0)  # a large batch must not hold other requests up
            try:
                env = Envelope.from_dict(raw, f"envelopes[{i}]")
                signer = signers.get((env.agent_id, env.key_id))
                if signer is None:
                    try:
                        signer = _signer(conn, env.agent_id, env.key_id)
                    except _Refused as exc:
                        signer = exc
                    signers[env.agent_id, env.key_id] = signer
                if isinstance(signer, _Refused):
                    raise signer
                agent = signer[0]
                summary = decode_summary(_verified(env, signer))
                if summary.agent_id != env.agent_id:
                    raise _Refused(403, "agent_mismatch: summary agent_id differs from the signer")
                if summary.site_id != agent.site_id:
                    raise _Refused(403, f"site_mismatch: agent is enrolled for site "
                                        f"{agent.site_id!r}, summary says {summary.site_id!r}")
            except WireError as exc:
                results[i] = ItemResult(ItemStatus.REJECTED, 400, f"malformed: {exc}")
                continue
            except _Refused as exc:
                results[i] = ItemResult(ItemStatus.REJECTED, exc.code, exc.reason)
                continue
            verified.append((i, env, summary))
        if verified:
            # Answered only once the group holding this batch is committed and on disk.
            stored = await db.write(lambda wconn: _store_verified(wconn, verified, hooks, now))
            for i, result in stored:
                results[i] = result
            if batch_hooks and any(r.status is ItemStatus.ACCEPTED for _, r in stored):
                after_ingest.notify(now)
        for r in results:
            assert r is not None
            if r.status is ItemStatus.REJECTED:
                log.warning("summary rejected (%d): %s", r.code, r.reason)
        # Plain dicts: validating our own answer through the response model cost more than
        # storing a summary. The model still documents it in the OpenAPI description.
        return JSONResponse({"results": [r.to_dict() for r in results if r]})

    app.router.add_api_route(
        "/v1/summaries", ingest, methods=["POST"], response_model=BatchResponse,
        tags=["agents"], route_class_override=_PlainRoute, summary="Ingest",
        description=f"Signed summaries, oldest first, at most {MAX_BATCH} per request. The "
                    "answer, sent once the accepted ones are stored durably, holds one verdict "
                    "per envelope, in order: 201 accepted; 409 duplicate (stored before: safe "
                    "to forget) or rejected replay; 401 unknown agent or key; 403 revoked or "
                    "retired key, revoked agent, wrong site or agent; 422 bad signature; 400 "
                    "malformed.",
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
    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # extension not built yet
            raise
        if hasattr(module, "router"):
            app.include_router(module.router)
        if hasattr(module, "on_summary"):
            hooks.append(module.on_summary)
        if hasattr(module, "after_ingest"):
            batch_hooks.append(module.after_ingest)

    return app
