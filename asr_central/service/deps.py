"""The dependencies routes declare: the database, the service's clock, the admin check.

They are `async def` so that FastAPI calls them on the event loop: a sync one costs a round
trip through the threadpool for every request that uses it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from asr_central.service.api.admin_guard import Throttled
from asr_central.service.state import CentralState
from asr_central.storage.base import Database

__all__ = ["state_of", "get_db", "get_now", "require_admin", "DbDep", "NowDep", "AdminDep"]


def state_of(app: object) -> CentralState:
    """The app's typed state (see `asr_central.service.state`)."""
    state = app.state  # type: ignore[attr-defined]
    if not isinstance(state, CentralState):
        raise TypeError("the app was not built by asr_central.service.app.create_app")
    return state


async def get_db(request: Request) -> Database:
    return state_of(request.app).db


async def get_now(request: Request) -> datetime:
    return state_of(request.app).clock()


async def require_admin(request: Request,
                        authorization: Annotated[str | None, Header()] = None) -> None:
    state = state_of(request.app)
    expected = state.admin_token
    if expected is None:
        raise HTTPException(503, "the admin API is disabled: set admin.token in the config "
                                 "file (or start the service with --admin-token-file or "
                                 "ASR_CENTRAL_ADMIN_TOKEN)")
    scheme, _, given = (authorization or "").partition(" ")
    client = request.client.host if request.client else "unknown"
    try:
        # in a thread: the counts are in the database, and a failure is a write
        ok = await run_in_threadpool(state.admin_guard.check,
                                     given if scheme.lower() == "bearer" else None, expected,
                                     client, f"{request.method} {request.url.path}")
    except Throttled as exc:
        raise HTTPException(429, "too many failed admin attempts from this address: retry "
                                 f"in {exc.retry_after} s",
                            headers={"Retry-After": str(exc.retry_after)}) from None
    if not ok:
        raise HTTPException(401, "admin token missing or wrong (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})


DbDep = Annotated[Database, Depends(get_db)]
NowDep = Annotated[datetime, Depends(get_now)]
AdminDep = Annotated[None, Depends(require_admin)]
