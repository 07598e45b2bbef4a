"""Orders a page at a time for the console, optionally limited to some sites (a customer's)
and some states; each order read through `orders.get_order`, so it shows as the API does."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from asr_central.storage import orders
from asr_central.storage.base import Connection

__all__ = ["page_of_orders"]


def page_of_orders(conn: Connection, *, statuses: Sequence[str] | None = None,
                   site_ids: Collection[str] | None = None, offset: int = 0, limit: int = 50,
                   newest_first: bool = False) -> tuple[list[orders.OrderView], int]:
    """One page of orders (oldest first unless `newest_first`) and how many there are."""
    where, args = [], []
    if statuses is not None:
        where.append(f"status IN ({','.join('?' * len(statuses))})")
        args += list(statuses)
    if site_ids is not None:
        if not site_ids:
            return [], 0
        where.append(f"site_id IN ({','.join('?' * len(site_ids))})")
        args += sorted(site_ids)
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    total = int(conn.execute(f"SELECT COUNT(*) FROM orders{clause}", args).fetchone()[0])
    order = "DESC" if newest_first else "ASC"
    ids = [r[0] for r in conn.execute(
        f"SELECT order_id FROM orders{clause} ORDER BY order_id {order} LIMIT ? OFFSET ?",
        (*args, limit, offset))]
    return [orders.get_order(conn, i) for i in ids], total
