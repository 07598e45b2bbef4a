"""Who is asking, and may they: the session cookie, the roles' permissions, the CSRF check
every form action passes, and the audit row written when one is refused.

Cookies: the session id is random (storage.sessions), HttpOnly, SameSite=Strict, Secure when
the request came over TLS, path /console; a new id at every sign-in (no fixation). The CSRF
token is the session's own, sent in each form and compared in constant time."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from fastapi import HTTPException, Request
from starlette.responses import Response

from asr_central.service.deps import state_of
from asr_central.storage import audit, sessions, users
from asr_central.storage.users import User

__all__ = ["COOKIE", "PREFIX", "SESSION_TTL", "PERMISSIONS", "Viewer", "address_of",
           "signed_in", "viewer", "authorize", "set_session_cookie", "clear_session_cookie",
           "safe_next"]

log = logging.getLogger("asr_central.console")

PREFIX = "/console"
COOKIE = "asr_console"
SESSION_TTL = timedelta(hours=12)  # one working day: a session never outlives the shift

_EVERYONE = frozenset(users.ROLES)
_STAFF = frozenset({"admin", "operator"})
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": _EVERYONE,
    "sign_out": _EVERYONE,
    "order_ship": _STAFF,
    "order_deliver": _STAFF,
    "order_cancel": _STAFF,
    "orders_export": frozenset({"admin", "operator", "viewer"}),
    "alert_acknowledge": _STAFF,
    "audit_read": frozenset({"admin"}),
    "agents_read": frozenset({"admin", "operator", "viewer"}),
    "agent_revoke": frozenset({"admin"}),
    "enrollment_token": frozenset({"admin"}),
    "registry_read": frozenset({"admin", "operator", "viewer"}),
    "registry_import": frozenset({"admin"}),
    "registry_edit": frozenset({"admin"}),
    "mail_preview": _STAFF,
}


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person behind a request."""

    user: User
    session_id: str
    csrf_token: str
    address: str

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def sites(self) -> frozenset[str] | None:
        """The sites this person may see; None: every site."""
        return self.user.sites if self.user.role == "customer" else None

    def may(self, permission: str) -> bool:
        return self.user.role in PERMISSIONS[permission]

    def sees_site(self, site_id: str | None) -> bool:
        scope = self.sites
        return scope is None or (site_id is not None and site_id in scope)


def address_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def signed_in(request: Request) -> Viewer | None:
    """The request's session, if its cookie names a live one of an enabled account."""
    session_id = request.cookies.get(COOKIE)
    if not session_id:
        return None
    state = state_of(request.app)
    conn = state.db.connection()
    session = sessions.find_session(conn, session_id, state.clock())
    if session is None:
        return None
    user = users.get_user(conn, session.username)
    if user is None or not user.active:
        return None
    return Viewer(user, session_id, session.csrf_token, address_of(request))


def viewer(request: Request) -> Viewer:
    """Dependency of every console page: the signed-in person, or off to sign in."""
    found = signed_in(request)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(303, "sign in first",
                            headers={"Location": f"{PREFIX}/sign-in?next={quote(target)}"})
    return found


def _refuse(request: Request, who: Viewer, action: str, target: str | None, why: str,
            status: int) -> HTTPException:
    state = state_of(request.app)
    with state.db.transaction() as conn:
        audit.record(conn, state.clock(), who.username, action, target=target,
                     outcome="refused", detail=why, address=who.address)
    log.warning("console: %s refused to %s from %s (%s)", action, who.username, who.address,
                why)
    return HTTPException(status, why)


def authorize(request: Request, who: Viewer, action: str, csrf: str | None,
              target: str | None = None, permission: str | None = None) -> None:
    """Before any form action: the form's CSRF token is the session's, and the role may
    do `permission` (default: `action`). Refusals are audited and answered 403."""
    if not csrf or not hmac.compare_digest(csrf.encode(), who.csrf_token.encode()):
        raise _refuse(request, who, action, target, "the form's security token is missing "
                      "or stale: reload the page and try again", 403)
    if not who.may(permission or action):
        raise _refuse(request, who, action, target,
                      f"a {who.role} account may not do this ({action})", 403)


def read_permit(request: Request, who: Viewer, permission: str) -> None:
    """Before a page only some roles may read."""
    if not who.may(permission):
        raise _refuse(request, who, permission, request.url.path,
                      f"a {who.role} account may not see this page", 403)


def set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(COOKIE, session_id, max_age=int(SESSION_TTL.total_seconds()),
                        path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a console path only (never another site)."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//") \
            and "\\" not in target and "://" not in target:
        return target
    return PREFIX + "/"
