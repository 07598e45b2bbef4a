"""Orders in the console: today's packing queue (one card per parcel: where it goes, and
per line the printer it is for), ship with the cartridge serials entered or scanned,
deliver, cancel; every order's history; the CSV export. The storage's lifecycle functions
do the work, as for the orders API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from starlette.responses import Response

from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import PageNumber, Pager, page, redirect
from asr_central.service.deps import state_of
from asr_central.storage import audit, fleet, order_pages, registry
from asr_central.storage import orders as store

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]
CsrfField = Annotated[str, Form(max_length=200)]
# An order id as the database holds it (a larger one is not an id, and would overflow).
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]

QUEUE_SIZE = 50  # parcels per page of the queue
HISTORY_PAGE = 50


def _parcels(conn: Any, views: list[store.OrderView]) -> list[dict[str, Any]]:
    """Each order with its contact (where the parcel goes) and its lines' printers."""
    printers = fleet.printer_info(conn, {line.device_serial for o in views for line in o.lines})
    contacts = {cid: registry.get_contact(conn, cid) for cid in {o.contact_id for o in views}}
    return [{"order": o, "contact": contacts.get(o.contact_id),
             "lines": [(line, printers.get(line.device_serial)) for line in o.lines]}
            for o in views]


def _queue(request: Request, who: Viewer, p: int = 1, *, status: int = 200,
           error: str | None = None, notice: str | None = None) -> Response:
    conn = state_of(request.app).db.connection()
    created, total = order_pages.page_of_orders(
        conn, statuses=("created",), site_ids=who.sites, offset=(max(1, p) - 1) * QUEUE_SIZE,
        limit=QUEUE_SIZE)
    shipped, _ = order_pages.page_of_orders(conn, statuses=("shipped",), site_ids=who.sites,
                                            limit=QUEUE_SIZE)
    return page("orders.html", status, viewer=who, parcels=_parcels(conn, created),
                in_transit=_parcels(conn, shipped), pager=Pager(max(1, p), QUEUE_SIZE, total),
                error=error, notice=notice)


def queue(request: Request, who: ViewerDep, p: PageNumber = 1,
          done: str | None = None) -> Response:
    notice = None
    if done is not None:
        step, _, order_id = done.partition("-")
        if step in ("shipped", "delivered", "cancelled") and order_id.isdigit():
            notice = f"Order {order_id} {step}."
    return _queue(request, who, p, notice=notice)


def _visible_order(request: Request, who: Viewer, order_id: int) -> store.OrderView:
    """The order, if this person may see it; a customer guessing another site's order id
    is told it does not exist, as for an id that does not."""
    try:
        view = store.get_order(state_of(request.app).db.connection(), order_id)
    except store.OrderNotFound:
        view = None
    if view is None or not who.sees_site(view.site_id):
        raise HTTPException(404, f"order {order_id} does not exist")
    return view


def order_page(request: Request, who: ViewerDep, order_id: OrderId) -> Response:
    view = _visible_order(request, who, order_id)
    conn = state_of(request.app).db.connection()
    return page("order.html", viewer=who, parcel=_parcels(conn, [view])[0])


def history(request: Request, who: ViewerDep, status: str | None = None,
            p: PageNumber = 1) -> Response:
    if status is not None and status not in store.ORDER_STATUSES:
        status = None
    conn = state_of(request.app).db.connection()
    pager_number = max(1, p)
    views, total = order_pages.page_of_orders(
        conn, statuses=None if status is None else (status,), site_ids=who.sites,
        offset=(pager_number - 1) * HISTORY_PAGE, limit=HISTORY_PAGE, newest_first=True)
    return page("history.html", viewer=who, parcels=_parcels(conn, views), status=status,
                statuses=store.ORDER_STATUSES, pager=Pager(pager_number, HISTORY_PAGE, total),
                query=f"status={status}&" if status else "")


def export(request: Request, who: ViewerDep, status: str | None = None) -> Response:
    auth.read_permit(request, who, "orders_export")
    if status is not None and status not in store.ORDER_STATUSES:
        raise HTTPException(422, f"status {status!r} is not one of "
                                 f"{', '.join(store.ORDER_STATUSES)}")
    rows = store.export_rows(state_of(request.app).db.connection(), status=status)
    return Response(store.export_csv(rows), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="orders.csv"',
                             "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


def _act(request: Request, who: Viewer, order_id: int, action: str, done: str,
         work: Any) -> Response:
    """One lifecycle step, audited in its own transaction; a refusal (a serial shipped
    before, an order in the wrong state) is shown on the queue, nothing changed."""
    _visible_order(request, who, order_id)
    state = state_of(request.app)
    now = state.clock()
    try:
        with state.db.transaction() as conn:
            view = work(conn, now)
            audit.record(conn, now, who.username, action, target=f"order {order_id}",
                         detail=_detail(view), address=who.address)
    except (store.OrderConflict, store.OrderNotFound) as exc:
        with state.db.transaction() as conn:
            audit.record(conn, now, who.username, action, target=f"order {order_id}",
                         outcome="failed", detail=str(exc), address=who.address)
        return _queue(request, who, status=409, error=str(exc))
    return redirect(f"{PREFIX}/orders?done={done}-{order_id}")


def _detail(view: store.OrderView) -> str:
    serials = [s for line in view.lines for s in line.cartridge_serials]
    parts = [f"now {view.status}"]
    if serials:
        parts.append("cartridges " + " ".join(serials))
    if view.tracking:
        parts.append(f"tracking {view.tracking}")
    return ", ".join(parts)


def ship(request: Request, who: ViewerDep, order_id: OrderId, csrf: CsrfField = "",
         line: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies defaults
         serials: Annotated[list[str], Form(max_length=20_000)] = [],  # noqa: B006
         tracking: Annotated[str, Form(max_length=200)] = "") -> Response:
    auth.authorize(request, who, "order_ship", csrf, f"order {order_id}")
    if len(line) != len(serials):
        raise HTTPException(422, "each line of the form needs its serials field; reload the "
                                 "page and try again")
    packed = {line_id: text.split() for line_id, text in zip(line, serials)}
    return _act(request, who, order_id, "order_ship", "shipped",
                lambda conn, now: store.mark_shipped(conn, order_id, now, serials=packed,
                                                     tracking=tracking.strip() or None))


def deliver(request: Request, who: ViewerDep, order_id: OrderId,
            csrf: CsrfField = "") -> Response:
    auth.authorize(request, who, "order_deliver", csrf, f"order {order_id}")
    return _act(request, who, order_id, "order_deliver", "delivered",
                lambda conn, now: store.mark_delivered(conn, order_id, now))


def cancel(request: Request, who: ViewerDep, order_id: OrderId,
           csrf: CsrfField = "") -> Response:
    auth.authorize(request, who, "order_cancel", csrf, f"order {order_id}")
    return _act(request, who, order_id, "order_cancel", "cancelled",
                lambda conn, now: store.cancel(conn, order_id, now))


router.add_api_route(f"{PREFIX}/orders", queue, methods=["GET"])
router.add_api_route(f"{PREFIX}/orders/history", history, methods=["GET"])
router.add_api_route(f"{PREFIX}/orders.csv", export, methods=["GET"])
router.add_api_route(f"{PREFIX}/orders/{{order_id}}", order_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/orders/{{order_id}}/ship", ship, methods=["POST"])
router.add_api_route(f"{PREFIX}/orders/{{order_id}}/deliver", deliver, methods=["POST"])
router.add_api_route(f"{PREFIX}/orders/{{order_id}}/cancel", cancel, methods=["POST"])
