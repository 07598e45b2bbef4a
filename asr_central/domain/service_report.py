"""How well each site was kept supplied, next to what the policy promised it: the share of
replenishment cycles (order lines) that ended without the supply running out, against the
service order point's `service_level`, and the shipping time the site's deliveries taught
(the figure that order point waits on). Pure: counts in, rows out."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from asr_central.domain.policy import OrderPoint, PolicySettings, ShippingTime, learn_shipping

__all__ = ["BELOW_TARGET_CHANCE", "SiteService", "poisson_tail", "site_service"]

BELOW_TARGET_CHANCE = 0.05


@dataclass(frozen=True, slots=True)
class SiteService:
    site_id: str
    lines: int
    ran_out: int
    kept: float | None  # share of cycles without a stockout; None with no cycle
    target: float | None  # the service level promised (service order point only)
    below_target: bool
    shipping: ShippingTime  # learned from `deliveries` orders and the configured range
    deliveries: int


def site_service(cycles: Mapping[str, tuple[int, int]], delivered: Mapping[str, Sequence[float]],
                 settings: PolicySettings) -> list[SiteService]:
    """One row per site with cycles or deliveries, by site. `cycles`: site → (lines, of
    which ran out); `delivered`: site → days its delivered orders took, oldest first.

    Below target only when that many stockouts would be rare were the target met: fewer
    than BELOW_TARGET_CHANCE of sites meeting it see as many (stockouts as a Poisson count
    at (1 - target) × cycles). A site with 40 cycles and one stockout is at 97.5 %, which
    a 99.5 % target gives one site in six (0.2 expected); two happen to 1.8 % of them."""
    target = settings.service_level if settings.order_point is OrderPoint.SERVICE else None
    out = []
    for site in sorted(set(cycles) | set(delivered)):
        lines, ran_out = cycles.get(site, (0, 0))
        days = list(delivered.get(site, ()))
        kept = (lines - ran_out) / lines if lines else None
        below = (target is not None and ran_out > 0
                 and poisson_tail(ran_out, (1.0 - target) * lines) < BELOW_TARGET_CHANCE)
        out.append(SiteService(site, lines, ran_out, kept, target, below,
                               learn_shipping(settings.shipping_days, days), len(days)))
    return out


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X Poisson with `mean`: one minus the first k terms, each taken in logs
    (a fleet's mean of a thousand stockouts would underflow e^-mean)."""
    if k <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    log_mean = math.log(mean)
    below = math.fsum(math.exp(i * log_mean - mean - math.lgamma(i + 1)) for i in range(k))
    return min(1.0, max(0.0, 1.0 - below))
