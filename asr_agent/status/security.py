"""Defences of the local status page: loopback Host names only (DNS rebinding), no
framing, no CORS, no caching, and a CSRF token on every action.

Kept apart from the page itself so the rules can be read (and tested) in one place.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})

SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make browsers send `Origin: null` on our own forms
    "Cache-Control": "no-store",
}


def host_name(host_header: str) -> str:
    """The name part of a Host header: `[::1]:8765` -> `::1`, `localhost:80` -> `localhost`."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def is_loopback_host(host_header: str, extra_names: frozenset[str] = frozenset()) -> bool:
    name = host_name(host_header)
    if name in LOOPBACK_NAMES or name in extra_names:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class HostGuard:
    """Refuse any request whose Host header is not a loopback name (or an allowed one).

    A browser tricked by DNS rebinding sends the attacker's name in Host; answering only
    loopback names makes the page useless to such a page.
    """

    def __init__(self, app: ASGIApp, allowed_names: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.allowed_names = allowed_names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if not is_loopback_host(host, self.allowed_names):
                response = PlainTextResponse(
                    "refused: this status page answers only to loopback host names\n",
                    status_code=421,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add the fixed defensive headers to every response (and never any CORS header)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict) -> None:  # type: ignore[type-arg]
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if not k.lower().startswith(b"access-control-")]
                present = {k.lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name.lower().encode() not in present:
                        headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
