"""Orders API: list and filter, the lifecycle steps (shipped with cartridge serials,
delivered, cancelled), JSON and CSV export, and the replenishment run — on demand here, and
after ingest by the leader of the workers (asr_central.service.leader), at most once per
policy interval."""

from __future__ import annotations

import dataclasses
import logging
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from asr_central.service import notify
from asr_central.service.api.mail import packing_slip_path
from asr_central.service.deps import AdminDep, DbDep, NowDep, state_of
from asr_central.storage.base import Database
from asr_central.domain.policy import PolicySettings
from asr_central.service.replenish import run_policy
from asr_central.storage import orders as store

log = logging.getLogger("asr_central.orders")

router = APIRouter(tags=["orders"])

class ShipBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serials: dict[int, list[str]] = Field(
        default_factory=dict, description="line id → cartridge serials packed for it")
    tracking: str | None = None


class RunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    today: date | None = Field(None, description="policy day (default: today, UTC)")
    lead_days: float | None = Field(None, ge=0)
    supply_days: float | None = Field(None, ge=0)
    pull_forward_days: float | None = Field(None, ge=0)
    silent_warning_days: float | None = Field(None, ge=0)
    silent_error_days: float | None = Field(None, ge=0)


def _filters(status: str | None, site_id: str | None, contact_id: str | None,
             device_serial: str | None) -> dict[str, Any]:
    if status is not None and status not in store.ORDER_STATUSES:
        raise HTTPException(422, f"status {status!r} is not one of "
                                 f"{', '.join(store.ORDER_STATUSES)}")
    return {"status": status, "site_id": site_id, "contact_id": contact_id,
            "device_serial": device_serial}


def _with_links(order: dict[str, Any]) -> dict[str, Any]:
    """The order's JSON with where its packing slip is printed from."""
    return order | {"packing_slip": packing_slip_path(order["order_id"])}


@router.get("/v1/orders")
def list_orders(_: AdminDep, db: DbDep, status: str | None = None, site_id: str | None = None,
                contact_id: str | None = None,
                device_serial: str | None = None) -> list[dict[str, Any]]:
    orders = store.list_orders(db.connection(),
                               **_filters(status, site_id, contact_id, device_serial))
    return [_with_links(o.to_dict()) for o in orders]


@router.get("/v1/orders.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def export_csv(_: AdminDep, db: DbDep, status: str | None = None, site_id: str | None = None,
               contact_id: str | None = None, device_serial: str | None = None) -> Response:
    rows = store.export_rows(db.connection(),
                             **_filters(status, site_id, contact_id, device_serial))
    return Response(store.export_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="orders.csv"'})


def _order_call(fn: Any, db: Database, *args: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        with db.transaction() as conn:
            return _with_links(fn(conn, *args, **kwargs).to_dict())
    except store.OrderNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except store.OrderConflict as exc:
        raise HTTPException(409, str(exc)) from None


@router.get("/v1/orders/{order_id}")
def get_order(order_id: int, _: AdminDep, db: DbDep) -> dict[str, Any]:
    try:
        return _with_links(store.get_order(db.connection(), order_id).to_dict())
    except store.OrderNotFound as exc:
        raise HTTPException(404, str(exc)) from None


@router.post("/v1/orders/{order_id}/ship")
def ship(order_id: int, _: AdminDep, db: DbDep, now: NowDep,
         body: ShipBody | None = None) -> dict[str, Any]:
    body = body or ShipBody()
    return _order_call(store.mark_shipped, db, order_id, now, serials=body.serials,
                       tracking=body.tracking)


@router.post("/v1/orders/{order_id}/deliver")
def deliver(order_id: int, _: AdminDep, db: DbDep, now: NowDep) -> dict[str, Any]:
    return _order_call(store.mark_delivered, db, order_id, now)


@router.post("/v1/orders/{order_id}/cancel")
def cancel(order_id: int, _: AdminDep, db: DbDep, now: NowDep) -> dict[str, Any]:
    return _order_call(store.cancel, db, order_id, now)


def _settings(app: FastAPI) -> PolicySettings:
    return state_of(app).policy_settings


@router.post("/v1/admin/run-policy", tags=["admin"])
def run_now(_: AdminDep, db: DbDep, now: NowDep, request: Request,
            body: RunBody | None = None) -> dict[str, Any]:
    """Run the policy now, with the service's settings unless the body overrides some."""
    body = body or RunBody()
    overrides = {k: v for k, v in body.model_dump(exclude={"today"}).items() if v is not None}
    try:
        settings = dataclasses.replace(_settings(request.app), **overrides)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    when = None if body.today is not None else now
    with state_of(request.app).metrics.policy_run.time():
        result = run_policy(db, body.today, settings=settings, now=when).to_dict()
    notify.poke(request.app)
    return result


def after_ingest(app: FastAPI, now: datetime) -> None:
    """Hook the app calls after a batch stored at least one new summary: the leader's loop
    plans it when the policy is due (asr_central.service.leader); a follower's loop only
    tries the leadership."""
    duties = state_of(app).duties
    if duties is not None:
        duties.wake()
