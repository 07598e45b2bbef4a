"""What operators and their tools ask beyond /healthz (the process is alive, in app.py):
may it take traffic (/readyz), and its Prometheus metrics (/metrics).

/readyz is the one a load balancer asks: the database answers and its schema is the one
this version runs (no migration pending, none newer).

/metrics wants its own bearer token (`metrics.token`), not the admin one and not
"loopback only": central usually sits behind a TLS proxy on the same host, where every
request arrives from loopback, and the counts it shows (agents' traffic, the packing
queue) are the dealer's business. A scrape token can be handed to the monitoring system
without the power to revoke agents; failed attempts are throttled per address like the
admin API's. Without a token configured, /metrics is off (503 saying how to turn it on).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client.core import Metric

from asr_core.errors import StoreError
from asr_central.service.api.admin_guard import Throttled
from asr_central.service.deps import state_of
from asr_central.service.metrics import CONTENT_TYPE, storage_gauges
from asr_central.storage import orders as orders_store
from asr_central.storage.schema import schema_status

__all__ = ["router"]

log = logging.getLogger("asr_central.api")
router = APIRouter(tags=["ops"])


@router.get("/readyz", responses={503: {"description": "not ready: the reason says why"}})
def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers and no migration is pending or newer."""
    db = state_of(request.app).db
    try:
        db.ping()
        status = schema_status(db)
    except StoreError as exc:
        return _not_ready(f"the database does not answer: {exc}")
    except Exception as exc:  # noqa: BLE001 - any driver error means the same: not ready
        log.warning("readiness check failed: %s", exc)
        return _not_ready(f"the database does not answer: {type(exc).__name__}")
    problem = status.problem()
    if problem is not None:
        return _not_ready(problem)
    return JSONResponse({"status": "ready", "schema_version": status.version})


def _not_ready(reason: str) -> JSONResponse:
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {CONTENT_TYPE: {}}}, 401: {}, 503: {}})
def metrics(request: Request, authorization: Annotated[str | None, Header()] = None) -> Response:
    """Prometheus text format; `Authorization: Bearer <metrics.token>`."""
    state = state_of(request.app)
    expected = state.metrics_token
    if expected is None:
        raise HTTPException(503, "metrics are off: set metrics.token in the config file "
                                 "(a scrape token, not the admin one)")
    scheme, _, given = (authorization or "").partition(" ")
    client = request.client.host if request.client else "unknown"
    try:
        ok = state.admin_guard.check(given if scheme.lower() == "bearer" else None, expected,
                                     client, "GET /metrics")
    except Throttled as exc:
        raise HTTPException(429, f"too many failed attempts from this address: retry in "
                                 f"{exc.retry_after} s",
                            headers={"Retry-After": str(exc.retry_after)}) from None
    if not ok:
        raise HTTPException(401, "metrics token missing or wrong (Authorization: Bearer …)",
                            headers={"WWW-Authenticate": "Bearer"})
    db = state.db

    def gauges() -> Iterator[Metric]:
        yield from storage_gauges(orders_store.waiting_to_ship(db.connection()))

    # One process serves alone and leads; with several workers the election sets it.
    is_leader = getattr(state, "is_leader", None)
    body = state.metrics.render(gauges, is_leader=True if is_leader is None else bool(is_leader))
    return Response(body, media_type=CONTENT_TYPE)
