"""One replenishment run: read the latest forecasts, stock and registry from storage, apply the
pure policy and alert rules, and write the resulting orders and alerts.

Run after ingest (at most once per AFTER_INGEST_INTERVAL_S) and on demand (POST
/v1/admin/run-policy). A run is idempotent: what it orders becomes open stock that the next
run sees, and alerts are keyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from asr_central.domain.alerts import (
    Alert, DeviceFacts, ReplacementFacts, SupplyFacts, evaluate, held_line_alerts, replacement_alerts,
)
from asr_central.storage.base import Database, UnitOfWork
from asr_central.domain.level_change import (
    CHANGES_LOOKBACK, USUAL_FROM_DAYS, LevelChanges, change_ratio, learn_level_changes,
)
from asr_central.domain.placement import Assigned, Placement, Reported, place, supply_kind
from asr_central.domain.policy import (
    SHIPPING_MEMORY, OrderPoint, PolicySettings, ShippingTime, SilentState, SupplyOutlook,
    learn_shipping, plan, silent_days, silent_state,
)
from asr_central.storage import alerts as alert_store
from asr_central.storage import homes
from asr_central.storage import policy_inputs
from asr_central.storage import orders as order_store
from asr_central.storage import registry
from asr_central.storage import supply_history
from asr_core.codes import Code

__all__ = ["AFTER_INGEST_INTERVAL_S", "RunResult", "level_changes", "run_policy",
           "shipping_times"]

# Default seconds between two runs triggered by ingest (`serve --policy-interval`). A run
# reads the whole fleet, so its cost grows with the fleet, not with the summaries stored
# since the last run: every 30 s, a fleet of 100,000 supplies costs a few percent of a core,
# and the write lock a run holds stalls ingest as rarely. Orders need no faster reaction:
# supplies are ordered days before they run out. After a quiet spell the first summary is
# planned at once; the summaries stored meanwhile are folded into one deferred run.
AFTER_INGEST_INTERVAL_S = 30.0
# Deliveries older than this teach nothing of today's carrier (the service order point).
SHIPPING_LOOKBACK = timedelta(days=365)


@dataclass(frozen=True, slots=True)
class RunResult:
    orders: tuple[int, ...]  # ids of orders created or amended
    lines: int
    held: int
    events_processed: int
    new_alerts: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {"orders": list(self.orders), "lines": self.lines, "held": self.held,
                "events_processed": self.events_processed, "new_alerts": list(self.new_alerts)}


def _where(places: dict[str, Placement], serial: str) -> tuple[str | None, str | None, bool]:
    p = places.get(serial)
    return (p.site_id, p.contact_id, p.registered) if p is not None else (None, None, False)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_policy(db: Database, today: date | None = None, *,
               settings: PolicySettings | None = None, now: datetime | None = None) -> RunResult:
    """Plan at `now`; without it, at the start of `today`, or at the wall clock's now."""
    if now is None:
        # an explicit day (a test, a catch-up run) is that day's start, not the wall clock
        now = datetime.combine(today, time(), UTC) if today is not None else datetime.now(UTC)
    settings = settings or PolicySettings()
    with db.transaction() as conn:
        return _run(conn, settings, now)


def _places(conn: UnitOfWork) -> dict[str, Placement]:
    assigned = {serial: Assigned(a.site_id, a.contact_id)
                for serial, a in registry.assignments(conn).items()}
    reported = [Reported(r["serial"], r["site_id"], r["contact"])
                for r in policy_inputs.reporting_devices(conn)]
    return place(reported, assigned, registry.sites_with_default_contact(conn),
                 registry.contact_ids_by_email(conn))


def shipping_times(conn: UnitOfWork, settings: PolicySettings,
                   now: datetime) -> dict[str, ShippingTime]:
    """Each site's shipping time learned from its delivered orders, the configured range
    as the prior (service order point only; the fixed one reads none)."""
    if settings.order_point is not OrderPoint.SERVICE:
        return {}
    taken = order_store.delivery_days(conn, now - SHIPPING_LOOKBACK, SHIPPING_MEMORY)
    return {site: learn_shipping(settings.shipping_days, days) for site, days in taken.items()}


def level_changes(conn: UnitOfWork, settings: PolicySettings,
                  now: datetime) -> LevelChanges | None:
    """How often and by how much the fleet's use changed level over the last year, from
    the usage spikes central raised and the supply-days reported, the prior pooled in
    (service order point only; the fixed one reads none)."""
    if settings.order_point is not OrderPoint.SERVICE:
        return None
    since = now - CHANGES_LOOKBACK
    return learn_level_changes(*_changes_seen(conn, since))


def _changes_seen(conn: UnitOfWork, since: datetime) -> tuple[int, int, list[float | None]]:
    ratios = policy_inputs.usage_changes_since(conn, since)
    return len(ratios), policy_inputs.supply_days_since(conn, since), ratios


def _record_changes(conn: UnitOfWork, raised: list[Alert], rates: dict[tuple[str, str], float | None],
                    now: datetime) -> None:
    """Each usage spike raised this run, with how many times its supply's usual use it
    runs at (the daily points before it), for the service order point to learn from."""
    since = (now - timedelta(days=USUAL_FROM_DAYS + 1)).date().isoformat()
    rows = []
    for alert in raised:
        key = alert.supply_key or ""
        points = [(date.fromisoformat(p.day), p.remaining_percent)
                  for p in supply_history.history(conn, alert.device_serial, since)
                  if str(p.supply_index) == key]
        rows.append((alert.device_serial, key, now,
                     change_ratio(rates.get((alert.device_serial, key)), points, now.date())))
    if rows:
        policy_inputs.record_usage_changes(conn, rows)


def _run(conn: UnitOfWork, settings: PolicySettings, now: datetime) -> RunResult:
    # 1. replacements reported since the last run close order lines (or raise alerts)
    # (claimed first: a run beside this one that read the same cursor processes none)
    replacements = []
    after = policy_inputs.events_seen_through(conn)
    events = policy_inputs.new_cartridge_events(conn, after)
    if events and not policy_inputs.claim_events(conn, after, events[-1]["id"]):
        events = []
    for e in events:
        at = _time(e["replaced_at"])
        found = order_store.record_installation(conn, e["device_serial"], e["supply_index"],
                                                e["cartridge_serial"], at)
        replacements.append(ReplacementFacts(
            e["device_serial"], str(e["supply_index"]), at, e["cartridge_serial"],
            bool(e["premature"]), e["grams_wasted"], e["removed_percent"], found.shipped_to,
            found.line_id is not None))

    # 2. outlooks from the latest forecasts, joined with registry and stock; the line
    # counts first, so that lines planned from stock another run has changed meanwhile are
    # refused on write (order_store.create_orders)
    counts = order_store.line_counts(conn)
    places = _places(conn)
    states: dict[str, SilentState] = {}
    device_facts = []
    compatible = set()
    for row in policy_inputs.device_health(conn):
        serial = row["serial"]
        last = _time(row["last_seen"])
        states[serial] = silent_state(silent_days(last, now), settings)
        site, contact, registered = _where(places, serial)
        if row["asr_compatible"]:
            compatible.add(serial)
            device_facts.append(DeviceFacts(serial, site, contact, last, registered))
    stock = order_store.stock(conn)
    # numbers another site's agent reported for a device the registry has since moved are
    # not the new site's to order from: held until its own agent reports
    unconfirmed = homes.unconfirmed_moves(conn)
    outlooks = []
    supply_facts = []
    rates: dict[tuple[str, str], float | None] = {}
    meta: dict[tuple[str, str], order_store.LineMeta] = {}
    for s in policy_inputs.latest_supplies(conn):
        serial = s["device_serial"]
        if serial not in compatible or serial in unconfirmed:
            continue  # monitored only (not replenished by ASR), or moved and not heard from
        key = str(s["supply_index"])
        on_hand, open_units = stock.get((serial, s["supply_index"]), (0, 0))
        site, contact, _ = _where(places, serial)
        daily = s["daily_percent"]
        outlooks.append(SupplyOutlook(
            device_serial=serial, site_id=site, contact_id=contact, supply_key=key,
            supply_kind=supply_kind(s["type"], s["supply_class"]),
            days_to_empty=s["days_to_empty"], days_to_empty_low=s["days_to_empty_low"],
            daily_units=daily / 100.0 if daily is not None else None,
            units_on_hand=on_hand, open_units=open_units, last_report_at=_time(s["as_of"]),
            device_silent_state=states.get(serial, SilentState.OK),
            part_number=s["part_number"]))
        meta[(serial, key)] = order_store.LineMeta(s["supply_index"], s["type"], s["color"],
                                                   s["part_number"])
        if s["spike"]:
            supply_facts.append(SupplyFacts(serial, key, spike=True))
            rates[(serial, key)] = daily

    # 3. policy → orders
    # planned at `now`, not at the start of its day: a run late in the day counts down the
    # hours since each forecast (an explicit day's run is at that day's start anyway)
    result = plan(outlooks, order_store.unshipped_orders(conn), settings, now,
                  shipping_times(conn, settings, now), level_changes(conn, settings, now))
    order_ids = order_store.create_orders(conn, result.orders, now, meta, counts)

    # 4. alerts
    conditions = evaluate(device_facts, supply_facts, settings, now)
    conditions += held_line_alerts(result.held, now)
    new_alerts = alert_store.sync_alerts(conn, conditions, replacement_alerts(replacements), now)
    fresh = set(new_alerts)
    _record_changes(conn, [a for a in conditions if a.kind is Code.USAGE_SPIKE and a.key in fresh],
                    rates, now)
    return RunResult(tuple(order_ids), sum(len(o.lines) for o in result.orders),
                     len(result.held), len(replacements), tuple(new_alerts))
