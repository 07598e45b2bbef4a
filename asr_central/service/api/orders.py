"""Orders API: list and filter, the lifecycle steps (shipped with cartridge serials,
delivered, cancelled), JSON and CSV export, and the replenishment run — on demand and after
ingest, at most once per MIN_RUN_INTERVAL."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from asr_central.service import notify
from asr_central.service.api.mail import packing_slip_path
from asr_central.service.deps import AdminDep, DbDep, NowDep, state_of
from asr_central.storage.base import Database
from asr_central.domain.policy import PolicySettings
from asr_central.service.replenish import AFTER_INGEST_INTERVAL_S, run_policy
from asr_central.storage import orders as store

log = logging.getLogger("asr_central.orders")

router = APIRouter(tags=["orders"])

# After ingest the policy runs at most this often per app (the reasons are at
# replenish.AFTER_INGEST_INTERVAL_S); `app.state.policy_min_interval` overrides it.
MIN_RUN_INTERVAL = AFTER_INGEST_INTERVAL_S


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


class _Debounced:
    """Runs the policy after ingest, at most once per interval (MIN_RUN_INTERVAL): in the
    caller's thread when the interval has passed, else once later in one worker thread,
    which stops when the app's database is closed."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.lock = threading.Lock()
        self.last = 0.0
        self.pending = threading.Event()
        self.worker: threading.Thread | None = None

    def _interval(self) -> float:
        interval = state_of(self.app).policy_min_interval
        return MIN_RUN_INTERVAL if interval is None else float(interval)

    def _db(self) -> Database:
        return state_of(self.app).db

    def trigger(self) -> None:
        with self.lock:
            if time.monotonic() - self.last < self._interval():
                self.pending.set()
                if self.worker is None:
                    self.worker = threading.Thread(target=self._work, name="policy-runner",
                                                   daemon=True)
                    self.worker.start()
                return
            self.last = time.monotonic()
        self._run()

    def _work(self) -> None:
        db = self._db()
        while True:
            self.pending.wait()
            with self.lock:
                wait = self.last + self._interval() - time.monotonic()
            if (wait > 0 and db.wait_closed(wait)) or db.closed:
                return
            with self.lock:
                self.pending.clear()
                self.last = time.monotonic()
            self._run()

    def _run(self) -> None:
        try:
            db = self._db()
            if db.closed:
                return
            state = state_of(self.app)
            with state.metrics.policy_run.time():
                result = run_policy(db, settings=_settings(self.app), now=state.clock())
            notify.poke(self.app)  # hands over to the notifier's own thread: never waits
            if result.orders or result.new_alerts:
                log.info("policy run: %d order(s), %d line(s), %d new alert(s)",
                         len(result.orders), result.lines, len(result.new_alerts))
        except Exception:  # a failed run must not fail ingest; the next batch retries it
            log.exception("policy run after ingest failed")


_RUNNERS_LOCK = threading.Lock()


def after_ingest(app: FastAPI, now: datetime) -> None:
    """Hook the app calls after a batch stored at least one new summary."""
    with _RUNNERS_LOCK:
        state = state_of(app)
        runner = state.policy_runner
        if runner is None:
            runner = state.policy_runner = _Debounced(app)
    runner.trigger()
