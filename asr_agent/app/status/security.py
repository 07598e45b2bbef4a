"""Defences of the local status page: loopback Host names only (DNS rebinding), no
framing, no CORS, no caching, and a CSRF token on every action.

Kept apart from the page itself so the rules can be read (and tested) in one place.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
import secrets

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


# RFC 9110 Host: `[IPv6]` or an IPv4 address or a name, then at most `:port`. Anything
# else (text after the bracket, a second colon, a path, spaces) is not a Host we answer.
_HOST = re.compile(r"(?:\[(?P<v6>[0-9a-f:.]+)\]|(?P<name>[a-z0-9._-]+))(?::(?P<port>[0-9]{1,5}))?")


def parse_host(host_header: str) -> tuple[str, int | None] | None:
    """The name and port of a Host header, or None when it is not one.

    `[::1]:8765` -> ("::1", 8765), `LOCALHOST` -> ("localhost", None); `[::1]evil.example`,
    `[::1].evil.example:80` and `localhost:99999` -> None.
    """
    if not host_header.isascii():  # before lower(): "K" (Kelvin) lowers to "k"
        return None
    match = _HOST.fullmatch(host_header.lower())
    if match is None:
        return None
    port = int(match["port"]) if match["port"] is not None else None
    if port is not None and not 1 <= port <= 65535:
        return None
    if match["v6"] is not None:
        try:
            return str(ipaddress.IPv6Address(match["v6"])), port
        except ValueError:
            return None
    return match["name"], port


def host_name(host_header: str) -> str | None:
    """The name part of a Host header: `[::1]:8765` -> `::1`, `localhost:80` -> `localhost`."""
    parsed = parse_host(host_header)
    return parsed[0] if parsed is not None else None


def is_loopback_host(host_header: str, extra_names: frozenset[str] = frozenset(), *,
                     ip_literals: bool = False) -> bool:
    """Whether a Host header names this machine by a loopback name or address.

    `extra_names` are further names to answer to; `ip_literals` accepts any IP address
    (a page served beyond loopback is reached by its address, and DNS rebinding, which
    this check defends against, always comes by a name).
    """
    parsed = parse_host(host_header)
    if parsed is None:
        return False
    name = parsed[0]
    if name in LOOPBACK_NAMES or name in extra_names:
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    # a bare name must be dotted IPv4 here; IPv6 comes only in brackets (parse_host)
    return ip_literals or address.is_loopback


def is_loopback_origin(origin: str, extra_names: frozenset[str] = frozenset(), *,
                       ip_literals: bool = False) -> bool:
    """Whether an Origin header is http(s) on a host `is_loopback_host` accepts."""
    scheme, sep, host = origin.partition("://")
    return (sep == "://" and scheme.lower() in ("http", "https")
            and is_loopback_host(host, extra_names, ip_literals=ip_literals))


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())


class HostGuard:
    """Refuse any request whose Host header is not a loopback name (or an allowed one).

    A browser tricked by DNS rebinding sends the attacker's name in Host; answering only
    loopback names makes the page useless to such a page.
    """

    def __init__(self, app: ASGIApp, allowed_names: frozenset[str] = frozenset(), *,
                 ip_literals: bool = False) -> None:
        self.app = app
        self.allowed_names = allowed_names
        self.ip_literals = ip_literals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = Headers(scope=scope).get("host", "")
            if not is_loopback_host(host, self.allowed_names, ip_literals=self.ip_literals):
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

        async def send_with_headers(message: Message) -> None:
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
