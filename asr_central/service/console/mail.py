"""The mail preview in the console: the contacts, a page at a time, and the kinds of
message; the chosen message as that contact would receive it (subject, text part, and the
HTML part in a sandboxed frame: its own document, where nothing runs). Staff only: a
customer sees no other contact, and no message before it is sent."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.responses import Response

from asr_central.service.console import auth
from asr_central.service.console.auth import Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.render import PageNumber, Pager, page
from asr_central.service.deps import state_of
from asr_central.service.mail.preview import preview_message
from asr_central.service.mail.samples import PREVIEW_KINDS
from asr_central.storage import registry

__all__ = ["router", "CONTACTS_PAGE"]

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]
CONTACTS_PAGE = 50


def mail_page(request: Request, who: ViewerDep,
              contact: Annotated[str | None, Query(max_length=200)] = None,
              kind: Annotated[str, Query(max_length=100)] = "digest",
              p: PageNumber = 1) -> Response:
    auth.read_permit(request, who, "mail_preview")
    if kind not in PREVIEW_KINDS:
        raise HTTPException(404, f"{kind!r} is not a kind of message: choose one of "
                                 f"{', '.join(PREVIEW_KINDS)}")
    state = state_of(request.app)
    conn = state.db.connection()
    contacts = registry.list_contacts(conn)
    pager = Pager(p, CONTACTS_PAGE, len(contacts))
    chosen = rendered = None
    if contact is not None:
        chosen = registry.get_contact(conn, contact)
        if chosen is None:
            raise HTTPException(404, f"contact {contact!r} is not in the registry: "
                                     "choose one from the list")
        rendered = preview_message(conn, chosen, kind, state.clock().date())
    keep = {"contact": contact, "kind": kind} if contact is not None else {"kind": kind}
    return page("mail.html", viewer=who, pager=pager, query=urlencode(keep) + "&",
                kinds=PREVIEW_KINDS, kind=kind, chosen=chosen, message=rendered,
                contacts=contacts[pager.offset:pager.offset + pager.size])


router.add_api_route(f"{auth.PREFIX}/mail", mail_page, methods=["GET"])
