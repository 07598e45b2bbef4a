"""Each site's replenishment cycles over a period, and which of them ran out.

An order line is a cycle: from its order being placed to its parcel's delivery (or to
now, while the parcel is on its way). It ran out if the supply's daily history shows it
empty on any day of that span (0 % left; for a waste bottle, no room left). This is what
the service order point's `service_level` promises a share of, measured after the fact
(the console's service page); the day is the history's UTC day, so a supply empty on the
morning its parcel came counts as run out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from asr_central.storage.base import Connection
from asr_central.storage.times import stamp

__all__ = ["SiteCycles", "site_cycles"]


@dataclass(frozen=True, slots=True)
class SiteCycles:
    site_id: str
    lines: int  # order lines placed in the period (cancelled orders left out)
    ran_out: int  # of those, lines whose supply was empty before their parcel came


def site_cycles(conn: Connection, since: datetime, now: datetime,
                site_ids: frozenset[str] | None = None) -> list[SiteCycles]:
    """Per site with an order line placed from `since` on (those among `site_ids`, unless
    None), by site."""
    where = ["o.created_at >= ?", "o.status <> 'cancelled'"]
    args: list[object] = [stamp(since)]
    if site_ids is not None:
        if not site_ids:
            return []
        where.append(f"o.site_id IN ({','.join('?' * len(site_ids))})")
        args += sorted(site_ids)
    head = ("SELECT o.site_id, COUNT(*) FROM order_lines l JOIN orders o "
            f"ON o.order_id = l.order_id WHERE {' AND '.join(where)} GROUP BY o.site_id")
    counts = {r[0]: int(r[1]) for r in conn.execute(head, tuple(args))}
    # from the empty days (a small partial index, migration 120) to the lines they fall in
    ran_out = {r[0]: int(r[1]) for r in conn.execute(
        "SELECT o.site_id, COUNT(DISTINCT l.line_id) FROM supply_history h "
        "JOIN order_lines l ON l.device_serial = h.device_serial "
        "AND l.supply_index = h.supply_index JOIN orders o ON o.order_id = l.order_id "
        f"WHERE h.remaining_percent <= 0 AND h.day >= ? AND {' AND '.join(where)} "
        "AND h.day >= substr(o.created_at, 1, 10) "
        "AND h.day <= substr(COALESCE(o.delivered_at, ?), 1, 10) GROUP BY o.site_id",
        (since.date().isoformat(), *args, stamp(now)))}
    return [SiteCycles(site, n, ran_out.get(site, 0)) for site, n in sorted(counts.items())]
