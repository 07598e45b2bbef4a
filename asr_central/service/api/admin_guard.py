"""Admin token checks: a constant-time compare, and failed attempts logged with the client
address and throttled per address, so a token cannot be guessed at thousands a second.

The limiter (the `limits` library, moving window) keeps its counts in the storage it is
given: the app gives it central's database (storage.shared_state.RateLimitStorage), so every
worker counts the same failures and a restart forgets none; in memory by default. Requests
over the limit are refused 429 with Retry-After before the token is compared, a right token
included: otherwise the throttle would still answer guesses.
"""

from __future__ import annotations

import hmac
import logging
import math
import time

from limits import RateLimitItem, parse, strategies
from limits.storage import MemoryStorage, Storage

__all__ = ["FAILED_ATTEMPTS", "AdminGuard", "Throttled"]

log = logging.getLogger("asr_central.api")

# Failed admin attempts one client address may make: a person mistyping a token stays far
# below, a guessing script stops at a handful a minute.
FAILED_ATTEMPTS = "10/minute"


class Throttled(Exception):
    """Too many failed attempts from this address; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"retry after {retry_after} s")


class AdminGuard:
    """Checks `Authorization: Bearer` values against the admin token, for one app."""

    def __init__(self, limit: str = FAILED_ATTEMPTS, *,
                 storage: Storage | None = None) -> None:
        """`storage` must support the moving window (`limits`' MovingWindowSupport)."""
        self._limit: RateLimitItem = parse(limit)
        self._limiter = strategies.MovingWindowRateLimiter(
            storage if storage is not None else MemoryStorage())

    def check(self, given: str | None, token: str, client: str, what: str) -> bool:
        """True if `given` is `token`. Throttled if `client` failed too often lately;
        a failure is logged and counted against `client`."""
        if not self._limiter.test(self._limit, "admin", client):
            reset = self._limiter.get_window_stats(self._limit, "admin", client).reset_time
            wait = max(1, math.ceil(reset - time.time()))
            log.warning("admin request from %s throttled (%s): too many failed attempts, "
                        "retry in %d s", client, what, wait)
            raise Throttled(wait)
        if given is not None and hmac.compare_digest(given.encode(), token.encode()):
            return True
        self._limiter.hit(self._limit, "admin", client)
        log.warning("admin token %s from %s (%s)", "wrong" if given else "missing", client, what)
        return False
