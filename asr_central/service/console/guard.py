"""Sign-in throttling: failed attempts counted per client address and per account (the
`limits` library's moving window, its counts in central's database, so that every worker
sees the same ones; in memory when no storage is given). Over either limit, sign-in is
refused before the password is checked, a right one included: otherwise the throttle would
still answer guesses."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse, storage, strategies

__all__ = ["PER_ADDRESS", "PER_ACCOUNT", "SignInGuard", "Throttled"]

# A person mistyping stays far below these; a guessing script stops at a handful a minute
# for one account, and cannot spread its guesses over many accounts from one address.
PER_ADDRESS = "20/minute"
PER_ACCOUNT = "5/minute"


class Throttled(Exception):
    """Too many failed sign-ins lately; `retry_after` in whole seconds."""

    def __init__(self, retry_after: int, why: str) -> None:
        self.retry_after = retry_after
        self.why = why
        super().__init__(f"{why}: retry after {retry_after} s")


class SignInGuard:
    def __init__(self, per_address: str = PER_ADDRESS, per_account: str = PER_ACCOUNT, *,
                 counts: storage.Storage | None = None) -> None:
        """`counts` must support the moving window (`limits`' MovingWindowSupport)."""
        self._address: RateLimitItem = parse(per_address)
        self._account: RateLimitItem = parse(per_account)
        self._limiter = strategies.MovingWindowRateLimiter(
            counts if counts is not None else storage.MemoryStorage())

    def _wait(self, item: RateLimitItem, *key: str) -> int:
        reset = self._limiter.get_window_stats(item, *key).reset_time
        return max(1, math.ceil(reset - time.time()))

    def check(self, address: str, username: str) -> None:
        """Raises Throttled if this address or this account failed too often lately."""
        if not self._limiter.test(self._address, "address", address):
            raise Throttled(self._wait(self._address, "address", address),
                            "too many failed sign-ins from this address")
        if not self._limiter.test(self._account, "account", username.casefold()):
            raise Throttled(self._wait(self._account, "account", username.casefold()),
                            "too many failed sign-ins for this account")

    def failed(self, address: str, username: str) -> None:
        self._limiter.hit(self._address, "address", address)
        self._limiter.hit(self._account, "account", username.casefold())
