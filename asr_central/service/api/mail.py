"""The dealer's mail tools: a preview of each message as any contact would read it, the
outbox, and the packing slip printed for each parcel (linked from the order's JSON)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from asr_central.domain.mail import MailKind
from asr_central.service.deps import AdminDep, DbDep, NowDep
from asr_central.service.mail.preview import preview_message
from asr_central.service.mail.render import render_packing_slip
from asr_central.service.mail.samples import PREVIEW_KINDS
from asr_central.service.mail.sender import contact_zones, event_facts
from asr_central.storage import mail as mail_store
from asr_central.storage import orders as order_store
from asr_central.storage import registry
from asr_central.storage.base import UnitOfWork

router = APIRouter(tags=["mail"])

__all__ = ["router", "packing_slip_path"]

# Browsers and mail clients must not guess another type, nor let the slip run scripts.
_HTML_HEADERS = {"X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}


def packing_slip_path(order_id: int) -> str:
    return f"/v1/admin/orders/{order_id}/packing-slip"


def _contact(conn: UnitOfWork, contact_id: str) -> registry.Contact:
    contact = registry.get_contact(conn, contact_id)
    if contact is None:
        raise HTTPException(404, f"contact {contact_id!r} is not in the registry; "
                                 "GET /v1/registry lists the contacts")
    return contact


@router.get("/v1/admin/mail/preview/{contact_id}", response_model=None)
def preview(contact_id: str, _: AdminDep, db: DbDep, now: NowDep, kind: str = "digest",
            part: str = "json") -> dict[str, Any] | Response:
    """A message of `kind` as `contact_id` would receive it (its language, one of its
    printers); `part=html` or `part=text` returns that part alone."""
    if kind not in PREVIEW_KINDS:
        raise HTTPException(422, f"kind {kind!r} is not one of {', '.join(PREVIEW_KINDS)}")
    if part not in ("json", "html", "text"):
        raise HTTPException(422, f"part {part!r} is not one of json, html, text")
    conn = db.connection()
    contact = _contact(conn, contact_id)
    rendered = preview_message(conn, contact, kind, now.date())
    if part == "html":
        return HTMLResponse(rendered.html, headers=_HTML_HEADERS)
    if part == "text":
        return PlainTextResponse(rendered.text)
    return {"contact_id": contact.contact_id, "to": contact.email,
            "language": contact.language, "opted_out": contact.mail_opt_out, "kind": kind,
            "subject": rendered.subject, "text": rendered.text, "html": rendered.html}


@router.get("/v1/admin/mail/outbox")
def outbox(_: AdminDep, db: DbDep, state: str | None = None) -> list[dict[str, Any]]:
    """Messages and where they stand: queued (with attempts and the next try), sent,
    failed (the server's last answer), dropped (opted out)."""
    if state is not None and state not in mail_store.OUTBOX_STATES:
        raise HTTPException(422, f"state {state!r} is not one of "
                                 f"{', '.join(mail_store.OUTBOX_STATES)}")
    return [vars_of(m) for m in mail_store.list_outbox(db.connection(), state)]


def vars_of(row: mail_store.OutboxRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in row.__slots__}


@router.get("/v1/admin/orders/{order_id}/packing-slip", response_class=HTMLResponse)
def packing_slip(order_id: int, _: AdminDep, db: DbDep) -> HTMLResponse:
    """The printable slip for the order's parcel, in its contact's language."""
    conn = db.connection()
    try:
        order = order_store.get_order(conn, order_id)
    except order_store.OrderNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    contact = registry.get_contact(conn, order.contact_id)
    # the contact's own dates where the registry gives their time zone (mail.time_zone is
    # the mail job's setting, not the API's)
    zone = contact_zones(conn, UTC).get(order.contact_id, UTC)
    facts = event_facts(conn, MailKind.ORDER_SHIPPED, order_id=order_id, zone=zone)
    facts["shipped_at"] = order.shipped_at
    site = registry.get_site(conn, order.site_id)
    lang = contact.language if contact is not None else "fr"
    who = {"name": contact.name if contact else order.contact_id,
           "shipping_address": contact.shipping_address if contact else ""}
    html = render_packing_slip(lang, facts, who, site.name if site and site.name else
                               order.site_id)
    return HTMLResponse(html, headers=_HTML_HEADERS)
