"""The status page's password, for a page served beyond loopback: HTTP Basic on every
request, checked against an argon2 hash, failed attempts logged and throttled per client.

The config holds either the argon2 hash (`asr-agent status-password` prints one) or
`env:VAR` naming the plain password, hashed here at start; the page keeps only the hash.
Hashing and verification are argon2-cffi's (constant-time compare included), the throttle
is the `limits` library's moving window, in memory. A browser sends the password with
every request; the first success is remembered as a keyed digest so that page views do
not each pay argon2's cost; any other password goes to argon2 and counts against the
throttle, which is consulted before either check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import math
import secrets
import socket
import time
from collections.abc import Sequence
from typing import Any

from typing import TYPE_CHECKING

import anyio
from anyio import to_thread
from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from asr_core.secret import Secret

if TYPE_CHECKING:
    from limits import RateLimitItem

__all__ = ["FAILED_ATTEMPTS", "PasswordGuard", "guard_options", "is_password_hash", "password_hash"]

log = logging.getLogger("asr.status")

# Failed attempts one client address may make, and all clients together (each costs an
# argon2 verification: time and 64 MiB): a person mistyping stays far below.
FAILED_ATTEMPTS = "5/minute"
FAILED_ATTEMPTS_ALL = "30/minute"

_REALM = 'Basic realm="ASR agent status", charset="UTF-8"'


def is_password_hash(value: str) -> bool:
    """Whether `value` is an argon2 hash in PHC form (`$argon2id$v=19$m=...`)."""
    # argon2 and limits are imported where used: a page on loopback never loads them
    from argon2 import extract_parameters
    from argon2.exceptions import InvalidHashError

    try:
        extract_parameters(value)
    except (InvalidHashError, ValueError):
        return False
    return True


def password_hash(value: str) -> str:
    """The argon2 hash for a configured value: a hash as is, a plain password hashed."""
    from argon2 import PasswordHasher

    return value if is_password_hash(value) else PasswordHasher().hash(value)


def guard_options(binds: Sequence[str], password: Secret | None) -> dict[str, Any]:
    """`create_status_app` options for a page on `binds`: none on loopback; beyond it the
    password's hash, and this machine's own names beside its addresses as Host."""
    if password is None or all(ipaddress.ip_address(a).is_loopback for a in binds):
        return {}
    names = frozenset({socket.gethostname().lower(), socket.getfqdn().lower()})
    return {"password_hash": password_hash(password.reveal()), "allowed_host_names": names}


def _basic_password(header: str | None) -> str | None:
    """The password of an `Authorization: Basic` header (any user name), or None."""
    if header is None:
        return None
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return password if sep else None


class PasswordGuard:
    """Answer only requests carrying the right password (HTTP Basic, any user name)."""

    def __init__(self, app: ASGIApp, password_hash: str, *, limit: str = FAILED_ATTEMPTS,
                 limit_all: str = FAILED_ATTEMPTS_ALL) -> None:
        from argon2 import PasswordHasher
        from limits import parse, storage, strategies

        self.app = app
        self._hash = password_hash
        self._hasher = PasswordHasher()
        self._limits: list[tuple[RateLimitItem, str | None]] = [(parse(limit), None), (parse(limit_all), "all")]
        self._limiter = strategies.MovingWindowRateLimiter(storage.MemoryStorage())
        self._key = secrets.token_bytes(32)
        self._known: bytes | None = None  # keyed digest of the password argon2 last accepted
        self._lock: anyio.Lock | None = None  # made in the server's event loop

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()

    def _verify(self, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher.verify(self._hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def _throttled(self, client: str) -> int | None:
        """Seconds `client` must wait, or None when it may try."""
        for item, who in self._limits:
            if not self._limiter.test(item, "status-password", who or client):
                reset = self._limiter.get_window_stats(item, "status-password", who or client).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        password = _basic_password(Headers(scope=scope).get("authorization"))
        # the throttle first, the right password included: otherwise it would go on
        # answering guesses, if only by the cheap compare below
        wait = self._throttled(client)
        if wait is None and password is not None and self._known is not None and hmac.compare_digest(
                self._digest(password), self._known):
            await self.app(scope, receive, send)
            return
        if wait is None and password is not None:
            if self._lock is None:
                self._lock = anyio.Lock()
            # one argon2 verification at a time (each takes 64 MiB), the throttle asked
            # again once it is this request's turn
            async with self._lock:
                wait = self._throttled(client)
                ok = wait is None and await to_thread.run_sync(self._verify, password)
                if ok:
                    self._known = self._digest(password)
                elif wait is None:
                    for item, who in self._limits:
                        self._limiter.hit(item, "status-password", who or client)
                    log.warning("status page: wrong password from %s", client)
            if ok:
                await self.app(scope, receive, send)
                return
        if wait is not None:
            log.warning("status page: request from %s throttled: too many wrong passwords, "
                        "retry in %d s", client, wait)
            await PlainTextResponse("too many wrong passwords; try again later\n", status_code=429,
                                    headers={"Retry-After": str(wait)})(scope, receive, send)
            return
        # no password at all is a browser's first request, not a guess: asked, not counted
        await PlainTextResponse("this status page needs its password\n", status_code=401,
                                headers={"WWW-Authenticate": _REALM})(scope, receive, send)
