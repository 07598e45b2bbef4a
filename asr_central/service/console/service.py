"""The service page: per site, the share of last year's replenishment cycles (order lines)
that ended without the supply running out, next to the service level the service order
point promises, and the shipping time the site's deliveries taught it
(docs/order-point.md). Staff see every site, a customer their own."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from asr_central.domain.policy import SHIPPING_MEMORY, OrderPoint
from asr_central.domain.service_report import site_service
from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import page
from asr_central.service.deps import state_of
from asr_central.service.replenish import SHIPPING_LOOKBACK
from asr_central.storage import orders as orders_store
from asr_central.storage import service_record

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]

SERVICE_WINDOW = timedelta(days=365)


def service_page(request: Request, who: ViewerDep) -> Response:
    state = state_of(request.app)
    conn = state.db.connection()
    now = state.clock()
    cycles = {c.site_id: (c.lines, c.ran_out) for c in service_record.site_cycles(
        conn, now - SERVICE_WINDOW, now, who.sites)}
    delivered = orders_store.delivery_days(conn, now - SHIPPING_LOOKBACK, SHIPPING_MEMORY)
    if who.sites is not None:
        delivered = {site: days for site, days in delivered.items() if site in who.sites}
    settings = state.policy_settings
    return page("service.html", viewer=who, rows=site_service(cycles, delivered, settings),
                settings=settings, service=settings.order_point is OrderPoint.SERVICE,
                window_days=SERVICE_WINDOW.days)


router.add_api_route(f"{PREFIX}/service", service_page, methods=["GET"])
