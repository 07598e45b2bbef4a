"""Sign-in, sign-out, the home page, and the audit log admins read."""

from __future__ import annotations

import hmac
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from starlette.responses import Response

from asr_central.service.console import auth, passwords
from asr_central.service.console.auth import PREFIX, Viewer
from asr_central.service.console.errors import ConsoleRoute
from asr_central.service.console.guard import SignInGuard, Throttled
from asr_central.service.console.render import PageNumber, Pager, page, redirect
from asr_central.service.deps import state_of
from asr_central.storage import audit, sessions, users

log = logging.getLogger("asr_central.console")

router = APIRouter(route_class=ConsoleRoute)

ViewerDep = Annotated[Viewer, Depends(auth.viewer)]

# Sign-in has no session yet: its form carries a token that must match this cookie's
# (double submit), so another site cannot sign a browser into an account of its choosing.
SIGN_IN_COOKIE = "asr_console_signin"
AUDIT_PAGE = 100


def _guard(request: Request) -> SignInGuard:
    return state_of(request.app).sign_in_guard


def _sign_in_form(request: Request, *, status: int = 200, error: str | None = None,
                  username: str = "", next_url: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = page("sign_in.html", status, viewer=None, error=error, username=username,
                    form_token=token, next_url=auth.safe_next(next_url))
    response.set_cookie(SIGN_IN_COOKIE, token, path=PREFIX, httponly=True,
                        samesite="strict", secure=request.url.scheme == "https")
    return response


def sign_in_page(request: Request, next: str | None = None) -> Response:
    if auth.signed_in(request) is not None:
        return redirect(auth.safe_next(next))
    return _sign_in_form(request, next_url=next)


def sign_in(request: Request, username: Annotated[str, Form(max_length=200)] = "",
            password: Annotated[str, Form(max_length=1000)] = "",
            form_token: Annotated[str, Form(max_length=200)] = "",
            next: Annotated[str, Form(max_length=2000)] = "") -> Response:
    state = state_of(request.app)
    address = auth.address_of(request)
    now = state.clock()
    cookie = request.cookies.get(SIGN_IN_COOKIE, "")
    if not form_token or not hmac.compare_digest(form_token.encode(), cookie.encode()):
        return _sign_in_form(request, status=403, username=username, next_url=next,
                             error="The sign-in form was stale. Please sign in again.")
    try:
        _guard(request).check(address, username)
    except Throttled as exc:
        with state.db.transaction() as conn:
            audit.record(conn, now, None, "sign_in", target=username, outcome="refused",
                         detail=exc.why, address=address)
        log.warning("console sign-in as %r from %s throttled: %s", username, address, exc.why)
        response = _sign_in_form(request, status=429, username=username, next_url=next,
                                 error=f"Too many failed sign-ins: {exc.why}. Try again in "
                                       f"{exc.retry_after} seconds.")
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    conn = state.db.connection()
    user = users.get_user(conn, username)
    ok = passwords.verify(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        _guard(request).failed(address, username)
        why = ("wrong password" if user is not None and user.active and not ok else
               "account disabled" if user is not None and ok else "wrong username or password")
        with state.db.transaction() as conn:
            audit.record(conn, now, None, "sign_in", target=username, outcome="failed",
                         detail=why, address=address)
        log.warning("console sign-in as %r from %s failed: %s", username, address, why)
        return _sign_in_form(request, status=401, username=username, next_url=next,
                             error="Wrong username or password.")
    with state.db.transaction() as conn:
        old = request.cookies.get(auth.COOKIE)
        if old:  # whatever id the browser held, it is not the one it gets now
            sessions.end_session(conn, old)
        if passwords.needs_rehash(user.password_hash):
            users.replace_hash(conn, user.username, passwords.hash_password(password), now)
        sessions.purge_expired(conn, now)
        session_id, _ = sessions.create_session(conn, user.username, now, auth.SESSION_TTL,
                                                address)
        audit.record(conn, now, user.username, "sign_in", outcome="ok", address=address)
    log.info("console: %s signed in from %s", user.username, address)
    response = redirect(auth.safe_next(next))
    auth.set_session_cookie(response, request, session_id)
    response.delete_cookie(SIGN_IN_COOKIE, path=PREFIX)
    return response


def sign_out(request: Request, who: ViewerDep,
             csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
    auth.authorize(request, who, "sign_out", csrf)
    state = state_of(request.app)
    with state.db.transaction() as conn:
        sessions.end_session(conn, who.session_id)
        audit.record(conn, state.clock(), who.username, "sign_out", address=who.address)
    response = redirect(f"{PREFIX}/sign-in")
    auth.clear_session_cookie(response, request)
    return response


def home(who: ViewerDep) -> Response:
    return page("home.html", viewer=who)


def audit_log(request: Request, who: ViewerDep, p: PageNumber = 1) -> Response:
    auth.read_permit(request, who, "audit_read")
    conn = state_of(request.app).db.connection()
    pager = Pager(max(1, p), AUDIT_PAGE, audit.count(conn))
    rows = audit.entries(conn, limit=pager.size, offset=pager.offset)
    return page("audit.html", viewer=who, rows=rows, pager=pager)


router.add_api_route(f"{PREFIX}/sign-in", sign_in_page, methods=["GET"])
router.add_api_route(f"{PREFIX}/sign-in", sign_in, methods=["POST"])
router.add_api_route(f"{PREFIX}/sign-out", sign_out, methods=["POST"])
router.add_api_route(f"{PREFIX}/", home, methods=["GET"])
router.add_api_route(f"{PREFIX}/audit", audit_log, methods=["GET"])
