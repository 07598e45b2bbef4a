"""The ordering policy: which supplies are due, how many units, and which lines ship together.
Pure: outlooks and settings in, orders and held lines out; the caller passes `today`.

Rules (all in units, where one unit is one full cartridge or one empty waste bottle):

* A supply's *cover* is the conservative days to empty (the low end of the forecast
  interval, minus the days elapsed since that forecast was reported) plus the days the
  units on hand and on order will last at the forecast rate. With nothing on hand or on
  order the cover is just the days to empty, so "due when the days to empty fall within
  the lead time" holds as stated; with stock in the pipeline the same test becomes the
  duplicate guard: no new line while what is on order still covers the lead time, and a
  new line as soon as consumption since then has eaten into that cover.
* Due when cover <= the order point: `lead_days` (order_point "fixed", the default), or
  for order_point "service" the forecast use over the shipping time plus a safety margin
  for a target service level (below; docs/order-point.md). Quantity = ceil(units for
  supply_days of forecast use), at least one, minus units on hand and on order; zero or
  less means no line.
* Consolidation: the due lines of every device with the same (site, contact) form one
  order, joined by that group's lines whose cover ends within order point + pull_forward
  days.
  A group that already has an order not yet shipped gets its new lines as an amendment
  of that order rather than a second parcel.
* Service order point, per supply: cover is counted from the point forecast (not the low
  end of its interval), and the supply is due when it falls to
      T + z * sqrt((T * u)^2 + s^2 + b^2 / 12),   T = L + REVIEW_DAYS
  where L and s are the site's shipping time and its spread (`learn_shipping`: the
  configured range as a prior, the site's delivered orders moving it), u the relative
  spread of the forecast's rate (from the interval: point / low - 1 is the 90 %
  interval's margin on the rate, so u = that / 1.645, at most MAX_RATE_SPREAD), b the
  days a level step lasts (LEVEL_STEP_UNITS / rate, at most the days to empty: the level
  anywhere within the step it was read in) and z the normal quantile of service_level.
  Given how often and by how much use changes level (`changes`, learned from central's
  usage spikes: asr_central.domain.level_change), the order point is instead the quantile
  at service_level of that normal spread mixed with a change starting within T (or in the
  days before, which the forecast has not yet followed).
* A device silent for silent_error_days or more, or one without a site or contact, is not
  ordered for blindly: its lines are returned as held, for an alert.
"""

from __future__ import annotations

import enum
import functools
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asr_central.domain.level_change import LevelChanges, mixture_quantile

__all__ = [
    "HeldLine", "HoldReason", "LineReason", "OpenOrder", "Order", "OrderLine", "OrderPoint",
    "Plan", "PolicySettings", "ShippingTime", "SilentState", "SupplyKind", "SupplyOutlook",
    "learn_shipping", "order_point_days", "plan", "plan_orders", "silent_days", "silent_state",
]

# The agent's days-to-empty interval is a 90 % one: its low end is the 5 % quantile, the
# rate raised by 1.645 spreads (asr_agent.domain.forecast).
INTERVAL_Z = 1.645
# Without an interval (a forecast that gives only its point), the rate is taken as this
# uncertain, relative: twice the least the agent's interval allows for drift alone.
UNKNOWN_RATE_SPREAD = 0.15
# An interval wider than this (the rate uncertain by three times itself) says no more: its
# margin is this one's (a low end near zero would otherwise make it endless).
MAX_RATE_SPREAD = 3.0
# The order point's shipping time is counted from the next look at the supply: a fresh
# forecast comes at most a day later (the simulator plans once a day; an agent summarises
# hourly), so a supply just above its order point today may be a day below it tomorrow.
REVIEW_DAYS = 1.0
# The finest step a level is read in: a whole percent of a unit. The reading may sit up to
# a step above the level (a slow waste bottle's last percent lasts ten days), and a forecast
# counted from it does not count down until the next step shows.
LEVEL_STEP_UNITS = 0.01
# The configured shipping range counts as this many orders spread evenly over it: a few
# delivered orders move the estimate, one outlier among them does not (a median).
SHIPPING_PRIOR_ORDERS = 4
# The site's last orders this many are what its shipping time is learned from: a change of
# carrier shows within a few weeks.
SHIPPING_MEMORY = 20
_MAD_TO_SD = 1.4826
_UNIFORM_SD = 1.0 / math.sqrt(12.0)  # a level anywhere within its step: sd of a uniform


class SupplyKind(enum.Enum):
    CONSUMABLE = "consumable"  # toner, ink, drum: days_to_empty means days until empty
    WASTE = "waste"  # waste bottle: days_to_empty means days until full


class OrderPoint(enum.Enum):
    FIXED = "fixed"  # due at lead_days of conservative cover: the leaflet's promise
    SERVICE = "service"  # due at the shipping time's use plus a margin for service_level


class SilentState(enum.Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


class LineReason(enum.Enum):
    DUE = "due"  # cover within the lead time
    PULL_FORWARD = "pull_forward"  # not yet due, shipped with a due line of its group


class HoldReason(enum.Enum):
    DEVICE_SILENT = "device_silent"
    NO_SITE_OR_CONTACT = "no_site_or_contact"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    lead_days: float = 21.0
    supply_days: float = 30.0
    # 10 met the most of the replenishment benchmark's targets with no stockout (7 sent the
    # small office too many parcels, 14 kept too many units on hand): bench/replenishment.py
    pull_forward_days: float = 10.0
    silent_warning_days: float = 4.0
    silent_error_days: float = 10.0
    order_point: OrderPoint = OrderPoint.FIXED
    # the share of replenishment cycles that end before the supply runs out (service mode)
    service_level: float = 0.995
    # the days an order takes from being placed to being delivered, [least, most]: the
    # prior of each site's learned shipping time (service mode)
    shipping_days: tuple[float, float] = (2.0, 5.0)

    def __post_init__(self) -> None:
        for name in ("lead_days", "supply_days", "pull_forward_days", "silent_warning_days",
                     "silent_error_days"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
                raise ValueError(f"policy setting {name}={value!r}: expected a number of days >= 0")
        if not isinstance(self.order_point, OrderPoint):
            raise ValueError(f"policy setting order_point={self.order_point!r}: expected "
                             f"{' or '.join(p.value for p in OrderPoint)}")
        level = self.service_level
        if not isinstance(level, (int, float)) or not 0.5 <= level <= 0.9999:
            raise ValueError(f"policy setting service_level={level!r}: expected a share "
                             "between 0.5 and 0.9999 (0.995 is 99.5 %)")
        lo, hi = self.shipping_days
        if not all(isinstance(v, (int, float)) and not math.isnan(v) for v in (lo, hi)) \
                or not 0 <= lo <= hi:
            raise ValueError(f"policy setting shipping_days=[{lo}, {hi}]: expected [least, most] "
                             "days with 0 <= least <= most")
        if self.silent_error_days < self.silent_warning_days:
            raise ValueError(
                f"policy setting silent_error_days={self.silent_error_days} is below "
                f"silent_warning_days={self.silent_warning_days}: raise it or lower the warning")


@dataclass(frozen=True, slots=True)
class ShippingTime:
    """How long a site's orders take from being placed to being delivered, in days."""

    days: float  # the typical time (a median)
    spread: float  # its standard deviation (from the median absolute deviation)


def learn_shipping(prior: tuple[float, float], observed: Sequence[float]) -> ShippingTime:
    """A site's shipping time from its orders' times (oldest first; the last
    SHIPPING_MEMORY count) pooled with the configured range, taken as
    SHIPPING_PRIOR_ORDERS orders spread evenly over it. Median and scaled median absolute
    deviation of the pool: with no orders the range's middle and about its uniform spread;
    a few orders outweigh the prior, one outlier moves the median by one rank only."""
    lo, hi = prior
    n = SHIPPING_PRIOR_ORDERS
    pool = [lo + (hi - lo) * (i + 0.5) / n for i in range(n)]
    pool += [max(0.0, float(x)) for x in observed[-SHIPPING_MEMORY:] if not math.isnan(x)]
    mid = statistics.median(pool)
    mad = statistics.median([abs(x - mid) for x in pool])
    return ShippingTime(mid, _MAD_TO_SD * mad)


@functools.lru_cache(maxsize=8)
def _service_z(level: float) -> float:
    return statistics.NormalDist().inv_cdf(level)


def order_point_days(days_to_empty: float | None, days_to_empty_low: float | None,
                     daily_units: float | None, shipping: ShippingTime,
                     service_level: float, changes: LevelChanges | None = None) -> float:
    """The service order point in days of cover (module docstring): the shipping time and
    the next look, plus z spreads of what that time holds: its use uncertain by the
    forecast's rate spread, its length by the shipping time's, and the level it starts
    from by a step (anywhere within the step it was read in, and no further than empty).
    With `changes` (learned, asr_central.domain.level_change), the quantile at
    service_level of that spread mixed with a change of level starting within the time."""
    if (days_to_empty is not None and days_to_empty_low is not None
            and days_to_empty_low > 0 and days_to_empty >= days_to_empty_low):
        rel = min(MAX_RATE_SPREAD, (days_to_empty / days_to_empty_low - 1.0) / INTERVAL_Z)
    else:
        rel = UNKNOWN_RATE_SPREAD
    t = shipping.days + REVIEW_DAYS
    # no level is read off by more than what is left; with no days to empty, no level
    left = days_to_empty if days_to_empty is not None else days_to_empty_low
    step = 0.0
    if left is not None and daily_units is not None and daily_units > 0:
        step = min(LEVEL_STEP_UNITS / daily_units, left)
    sd = math.hypot(t * rel, shipping.spread, step * _UNIFORM_SD)
    if changes is not None:
        return mixture_quantile(t, sd, service_level, changes)
    return t + _service_z(service_level) * sd


@dataclass(frozen=True, slots=True)
class SupplyOutlook:
    """What central knows about one supply of one device, as of its last report.

    `days_to_empty*` count from `last_report_at` (days to full for a waste bottle);
    `daily_units` is the forecast use in units per day (daily_percent / 100);
    `units_on_hand` were delivered and not installed; `open_units` were ordered and not
    yet delivered. `None` means unknown, never zero.
    """

    device_serial: str
    site_id: str | None
    contact_id: str | None
    supply_key: str
    supply_kind: SupplyKind
    days_to_empty: float | None
    days_to_empty_low: float | None
    daily_units: float | None
    units_on_hand: int = 0
    open_units: int = 0
    last_report_at: datetime | date | None = None
    device_silent_state: SilentState = SilentState.OK
    part_number: str | None = None


@dataclass(frozen=True, slots=True)
class OrderLine:
    device_serial: str
    supply_key: str
    supply_kind: SupplyKind
    quantity: int
    reason: LineReason
    # days until stockout counted from `today`, stock included: from the interval's low end
    # (fixed order point) or from the point forecast (service order point)
    cover_days: float
    daily_units: float | None
    part_number: str | None = None
    # the order point the cover was judged against (days): lead_days under the fixed rule,
    # the supply's own under the service rule; shown to staff as why the line was ordered
    order_point_days: float | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """One parcel's worth of lines for one (site, contact); `amends` names an unshipped
    order of the same group that these lines join instead of starting a new parcel."""

    site_id: str
    contact_id: str
    created_on: date
    lines: tuple[OrderLine, ...]
    amends: str | None = None

    @property
    def units(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class OpenOrder:
    """An order not yet shipped, so new lines of its group can still join its parcel."""

    order_id: str
    site_id: str
    contact_id: str


@dataclass(frozen=True, slots=True)
class HeldLine:
    device_serial: str
    supply_key: str
    reason: HoldReason
    quantity: int
    cover_days: float
    silent_days: float | None


@dataclass(frozen=True, slots=True)
class Plan:
    orders: tuple[Order, ...]
    held: tuple[HeldLine, ...]


def _day_number(when: datetime | date) -> float:
    # Whole days are the policy's resolution; a datetime adds its fraction of the day.
    if isinstance(when, datetime):
        return when.toordinal() + (when.hour * 3600 + when.minute * 60 + when.second) / 86400.0
    return float(when.toordinal())


def silent_days(last_report_at: datetime | date | None, today: datetime | date) -> float | None:
    """Days since the last report (never negative); None when the device never reported."""
    if last_report_at is None:
        return None
    return max(0.0, _day_number(today) - _day_number(last_report_at))


def silent_state(days: float | None, settings: PolicySettings) -> SilentState:
    if days is None:
        return SilentState.OK
    if days >= settings.silent_error_days:
        return SilentState.ERROR
    if days >= settings.silent_warning_days:
        return SilentState.WARNING
    return SilentState.OK


def plan_orders(outlooks: Iterable[SupplyOutlook], open_orders: Sequence[OpenOrder],
                settings: PolicySettings, today: date | datetime) -> list[Order]:
    """The orders to place today; held lines are dropped (use `plan` to see them)."""
    return list(plan(outlooks, open_orders, settings, today).orders)


def plan(outlooks: Iterable[SupplyOutlook], open_orders: Sequence[OpenOrder],
         settings: PolicySettings, today: date | datetime,
         shipping: Mapping[str, ShippingTime] | None = None,
         changes: LevelChanges | None = None) -> Plan:
    """`shipping`: each site's learned shipping time (service order point; a site not in
    it, or None, gets the configured range's). `changes`: how often and how much use
    changes level, learned (service order point; None: the forecast's spread alone)."""
    service = settings.order_point is OrderPoint.SERVICE
    lead = settings.lead_days
    pull = settings.pull_forward_days
    horizon = lead + pull
    level = settings.service_level
    prior = learn_shipping(settings.shipping_days, ())
    shipping = shipping or {}
    supply_days = settings.supply_days
    error_days = settings.silent_error_days
    today_number = _day_number(today)
    created_on = today.date() if isinstance(today, datetime) else today
    error_state = SilentState.ERROR
    due_kind = LineReason.DUE
    early_kind = LineReason.PULL_FORWARD
    ceil = math.ceil
    inf = math.inf

    # (site, contact) -> [has a due line, lines]
    groups: dict[tuple[str, str], list[Any]] = {}
    held: list[HeldLine] = []

    for o in outlooks:
        if service:
            dte = o.days_to_empty
            if dte is None:
                dte = o.days_to_empty_low
                if dte is None:
                    continue
            lead = order_point_days(o.days_to_empty, o.days_to_empty_low, o.daily_units,
                                    shipping.get(o.site_id or "", prior), level, changes)
            horizon = lead + pull
        else:
            dte = o.days_to_empty_low
            if dte is None:
                dte = o.days_to_empty
                if dte is None:
                    continue  # no forecast: nothing to base an order on
        last = o.last_report_at
        silent = None
        if last is not None:
            silent = today_number - _day_number(last)
            if silent < 0.0:
                silent = 0.0
            dte -= silent  # a short silence keeps counting down from the last forecast
        if dte < 0.0:
            dte = 0.0
        stock = o.units_on_hand + o.open_units
        rate = o.daily_units
        if rate is not None and rate > 0.0:
            cover = dte + stock / rate
            need = ceil(rate * supply_days - 1e-9)
            if need < 1:
                need = 1
        else:
            # unknown or nil use: one unit in the pipeline covers it indefinitely
            cover = dte if stock == 0 else inf
            need = 1
        if cover > horizon:
            continue
        quantity = need - stock
        if quantity <= 0:
            continue
        if o.device_silent_state is error_state or (silent is not None and silent >= error_days):
            if cover <= lead:
                held.append(HeldLine(o.device_serial, o.supply_key, HoldReason.DEVICE_SILENT,
                                     quantity, cover, silent))
            continue
        site, contact = o.site_id, o.contact_id
        if not site or not contact:
            if cover <= lead:
                held.append(HeldLine(o.device_serial, o.supply_key, HoldReason.NO_SITE_OR_CONTACT,
                                     quantity, cover, silent))
            continue
        is_due = cover <= lead
        line = OrderLine(o.device_serial, o.supply_key, o.supply_kind, quantity,
                         due_kind if is_due else early_kind, cover, rate, o.part_number, lead)
        group = groups.get((site, contact))
        if group is None:
            groups[(site, contact)] = [is_due, [line]]
        else:
            if is_due:
                group[0] = True
            group[1].append(line)

    unshipped = {(oo.site_id, oo.contact_id): oo.order_id for oo in open_orders}
    orders = []
    for key in sorted(groups):
        has_due, lines = groups[key]
        if not has_due:
            continue  # only coming due: waits for a due line or its own turn
        lines.sort(key=_line_order)
        orders.append(Order(key[0], key[1], created_on, tuple(lines), unshipped.get(key)))
    held.sort(key=_line_order)
    return Plan(tuple(orders), tuple(held))


def _line_order(line: OrderLine | HeldLine) -> tuple[str, str]:
    return (line.device_serial, line.supply_key)
