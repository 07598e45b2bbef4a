"""The fleet in the console: sites, their printers with supply bars, days to empty, silent
and alert badges, filtered by site, contact and state, searched by serial, a page at a
time; a printer's page with its supply history and forecast charts; the alerts, each
linked to its printer, acknowledged by staff."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from asr_central.service.console import auth
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.charts import supply_charts
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import PageNumber, Pager, page, redirect
from asr_central.service.deps import state_of
from asr_central.storage import alerts as alerts_store
from asr_central.storage import audit, fleet
from asr_central.storage import orders as orders_store
from asr_central.storage import registry as registry_store
from asr_central.storage import summaries as summaries_store
from asr_central.storage import supply_history
from asr_central.storage.supply_history import HISTORY_DAYS
from asr_central.storage.times import stamp

router = APIRouter(route_class=ConsoleRoute)


class _AnyPath(Convertor[str]):
    """A path parameter of any characters a serial may hold, line breaks included:
    Starlette's `path` is `.*`, which stops at one, so a serial with a line feed fell
    through to the generic JSON 404 instead of reaching the page and its checks."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("anypath", _AnyPath())

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]

FLEET_PAGE = 50
ALERTS_PAGE = 50


def _silent_before(request: Request) -> str:
    """Printers whose last report is older than this are badged silent (the policy's
    warning threshold, so the badge and the silent alert agree)."""
    state = state_of(request.app)
    return stamp(state.clock() - timedelta(days=state.policy_settings.silent_warning_days))


def _blank(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def fleet_page(request: Request, who: ViewerDep, site: str | None = None,
               contact: str | None = None, state: str | None = None, q: str | None = None,
               p: PageNumber = 1) -> Response:
    conn = state_of(request.app).db.connection()
    site, contact, state, q = _blank(site), _blank(contact), _blank(state), _blank(q)
    if state is not None and state not in fleet.STATES:
        state = None
    silent_before = _silent_before(request)
    chosen = fleet.FleetFilter(site_ids=who.sites, site_id=site, contact_id=contact,
                               state=state, serial_contains=q, silent_before=silent_before)
    number = max(1, p)
    rows, total = fleet.printer_page(conn, chosen, offset=(number - 1) * FLEET_PAGE,
                                     limit=FLEET_PAGE)
    kept = {k: v for k, v in (("site", site), ("contact", contact), ("state", state),
                              ("q", q)) if v}
    return page("fleet.html", viewer=who, rows=rows, sites=fleet.sites(conn, who.sites),
                contacts=fleet.contacts_of(conn, who.sites), states=fleet.STATES,
                chosen=chosen, silent_before=silent_before,
                pager=Pager(number, FLEET_PAGE, total),
                query=(urlencode(kept) + "&") if kept else "")


def printer_page(request: Request, who: ViewerDep, serial: str,
                 done: str | None = None) -> Response:
    conn = state_of(request.app).db.connection()
    info = fleet.printer_info(conn, [serial]).get(serial)
    if info is None or not who.sees_site(info.site_id):
        # a customer guessing another site's serial hears what an unknown one gets
        raise HTTPException(404, f"printer {serial} is not known here")
    rows, _ = fleet.printer_page(conn, fleet.FleetFilter(site_ids=who.sites, serial=serial),
                                 limit=1)
    row = rows[0] if rows else None
    alerts, _ = fleet.alert_page(conn, site_ids=who.sites, include_acknowledged=True,
                                 device_serial=serial, limit=ALERTS_PAGE)
    orders = [o for o in orders_store.list_orders(conn, device_serial=serial, limit=100)
              if who.sees_site(o.site_id)]
    editing = who.may("registry_edit")
    since = (state_of(request.app).clock() - timedelta(days=HISTORY_DAYS)).date().isoformat()
    charts = supply_charts(supply_history.history(conn, serial, since),
                           [dict(r) for r in summaries_store.supply_latest(conn, serial)])
    return page("printer.html", viewer=who, info=info, row=row, alerts=alerts, charts=charts,
                orders=orders, changes=fleet.cartridge_changes(conn, serial),
                silent_before=_silent_before(request),
                entry=registry_store.get_device(conn, serial) if editing else None,
                sites=registry_store.list_sites(conn) if editing else [],
                contacts=registry_store.list_contacts(conn) if editing else [],
                notice="Registry entry saved." if done == "saved" else None)


def alerts_page(request: Request, who: ViewerDep, all: bool = False, p: PageNumber = 1,
                done: str | None = None) -> Response:
    conn = state_of(request.app).db.connection()
    number = max(1, p)
    rows, total = fleet.alert_page(conn, site_ids=who.sites, include_acknowledged=all,
                                   offset=(number - 1) * ALERTS_PAGE, limit=ALERTS_PAGE)
    return page("alerts.html", viewer=who, rows=rows, show_all=all,
                pager=Pager(number, ALERTS_PAGE, total), query="all=1&" if all else "",
                notice="Alert acknowledged." if done == "acknowledged" else None)


def acknowledge(request: Request, who: ViewerDep,
                alert_key: Annotated[str, Form(max_length=2000)] = "",
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    auth.authorize(request, who, "alert_acknowledge", csrf, alert_key)
    state = state_of(request.app)
    now = state.clock()
    with state.db.transaction() as conn:
        alert = fleet.get_alert(conn, alert_key)
        if alert is None or not who.sees_site(alert.site_id):
            raise HTTPException(404, "no such alert: it may have been resolved; reload the list")
        changed = alerts_store.acknowledge(conn, alert_key, now)
        audit.record(conn, now, who.username, "alert_acknowledge", target=alert_key,
                     detail=None if changed else "already acknowledged", address=who.address)
    return redirect(f"{PREFIX}/alerts?done=acknowledged")


router.add_api_route(f"{PREFIX}/fleet", fleet_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/printers/{{serial:anypath}}", printer_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/alerts", alerts_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/alerts/acknowledge", acknowledge, methods=["POST"])
