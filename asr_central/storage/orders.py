"""Replenishment orders and their lines through their lifecycle: created → shipped (with the
cartridge serials in the parcel) → delivered → closed once every unit is reported installed.

A line's units are *open* (ordered, not delivered) while its order is created or shipped,
*on hand* once delivered and until the agent reports them installed. The policy reads both.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from asr_core.errors import AsrError
from asr_core.wire import OrderStatus, parse_time
from asr_central.domain.policy import OpenOrder, Order
from asr_central.storage import batches, times
from asr_central.storage.base import Connection, Row

__all__ = [
    "ORDER_STATUSES", "Installation", "OrderConflict", "OrderNotFound", "OrderView", "LineView",
    "LineMeta", "cancel", "create_orders", "export_csv", "export_rows", "get_order", "inert_cell",
    "line_counts", "list_orders", "mark_delivered", "mark_shipped", "open_lines_for_agent",
    "delivery_days", "record_installation", "stock", "unshipped_orders", "waiting_to_ship",
]

ORDER_STATUSES = ("created", "shipped", "delivered", "closed", "cancelled")


class OrderNotFound(AsrError):
    pass


class OrderConflict(AsrError):
    """The order is not in a state that allows this step (the message says which it is in)."""


@dataclass(frozen=True, slots=True)
class LineMeta:
    """What an order line says about its supply beyond the policy's key."""

    supply_index: int
    supply_type: str | None
    color: str | None
    part_number: str | None


@dataclass(frozen=True, slots=True)
class LineView:
    line_id: int
    device_serial: str
    supply_index: int
    supply_kind: str
    supply_type: str | None
    color: str | None
    part_number: str | None
    quantity: int
    installed: int
    reason: str
    cover_days: float
    daily_units: float | None
    closed_at: str | None
    cartridge_serials: tuple[str, ...]
    order_point_days: float | None = None  # None: placed before central kept it


@dataclass(frozen=True, slots=True)
class OrderView:
    order_id: int
    site_id: str
    contact_id: str
    status: str
    created_on: str
    created_at: str
    shipped_at: str | None
    delivered_at: str | None
    closed_at: str | None
    tracking: str | None
    lines: tuple[LineView, ...]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lines"] = [asdict(line) | {"cartridge_serials": list(line.cartridge_serials)}
                         for line in self.lines]
        return data


@dataclass(frozen=True, slots=True)
class Installation:
    """What recording a replacement found: the line it closed a unit of, if any, and the
    device the installed cartridge was shipped for, when its serial is one we shipped."""

    line_id: int | None
    shipped_to: str | None


# ------------------------------------------------------------------------------ creation

def line_counts(conn: Connection) -> dict[tuple[str, int], int]:
    """(device, supply index) → how many lines were ever ordered for it: the number the next
    line takes (`create_orders`). Read before the stock a run plans from, so that a line
    planned from stale stock is the one refused (see create_orders)."""
    return {(r[0], r[1]): int(r[2]) for r in conn.execute(
        "SELECT device_serial, supply_index, MAX(supply_seq) FROM order_lines "
        "GROUP BY device_serial, supply_index")}


def create_orders(conn: Connection, orders: Sequence[Order], now: datetime,
                  meta: Mapping[tuple[str, str], LineMeta],
                  counts: Mapping[tuple[str, int], int] | None = None) -> list[int]:
    """Store the policy's orders; lines of an order that `amends` a still unshipped order
    join it. Returns the ids of the orders written to.

    Idempotent against a run that planned from the same state (two workers, or two admin
    calls, at once): a line is its supply's `counts[...] + 1`-th, and the schema keeps one
    line per number and one created order per (site, contact). The second run's lines are
    dropped and its order becomes the first one's; an order left without lines is not
    kept."""
    counts = counts if counts is not None else line_counts(conn)
    order_ids: list[int] = []
    placed: set[int] = set()
    params: list[Any] = []
    for order in orders:
        order_id = None
        if order.amends is not None:
            row = conn.execute("SELECT status FROM orders WHERE order_id = ?",
                               (int(order.amends),)).fetchone()
            if row is not None and row["status"] == "created":
                order_id = int(order.amends)
        if order_id is None:
            row = conn.execute(
                "INSERT INTO orders (site_id, contact_id, status, created_on, created_at) "
                "VALUES (?, ?, 'created', ?, ?) "
                "ON CONFLICT (site_id, contact_id) WHERE status = 'created' DO NOTHING "
                "RETURNING order_id",
                (order.site_id, order.contact_id, order.created_on.isoformat(),
                 times.stamp(now))).fetchone()
            if row is None:  # another run placed it meanwhile: amend that one
                row = conn.execute(
                    "SELECT order_id FROM orders WHERE site_id = ? AND contact_id = ? "
                    "AND status = 'created'", (order.site_id, order.contact_id)).fetchone()
            else:
                placed.add(int(row[0]))
            order_id = int(row[0])
        order_ids.append(order_id)
        for line in order.lines:
            m = meta.get((line.device_serial, line.supply_key))
            index = m.supply_index if m else int(line.supply_key)
            params += (order_id, line.device_serial, index, line.supply_kind.value,
                       m.supply_type if m else None, m.color if m else None,
                       line.part_number or (m.part_number if m else None), line.quantity,
                       line.reason.value, round(line.cover_days, 3), line.daily_units,
                       counts.get((line.device_serial, index), 0) + 1,
                       None if line.order_point_days is None else round(line.order_point_days, 3))
    # Every line of the run in a few statements (storage/batches.py): a run ordering for a
    # whole fleet writes tens of thousands.
    written = {int(row[0]) for row in batches.write_rows(
        conn, _LINE_HEAD, 13, " ON CONFLICT (device_serial, supply_index, supply_seq) "
        "DO NOTHING RETURNING order_id", params)}
    for order_id in placed - written:  # every line was already ordered by a run beside this
        conn.execute("DELETE FROM orders WHERE order_id = ?", (order_id,))
    return [order_id for order_id in order_ids if order_id in written]


_LINE_HEAD = ("INSERT INTO order_lines (order_id, device_serial, supply_index, supply_kind, "
              "supply_type, color, part_number, quantity, reason, cover_days, daily_units, "
              "supply_seq, order_point_days)")


# ------------------------------------------------------------------------------ reads

def _lines(conn: Connection, order_ids: Sequence[int]) -> dict[int, list[LineView]]:
    if not order_ids:
        return {}
    marks = ",".join("?" * len(order_ids))
    serials: dict[int, list[str]] = {}
    for r in conn.execute(
            f"SELECT c.line_id, c.cartridge_serial FROM shipped_cartridges c JOIN order_lines l "
            f"ON l.line_id = c.line_id WHERE l.order_id IN ({marks}) ORDER BY c.cartridge_serial",
            tuple(order_ids)):
        serials.setdefault(r[0], []).append(r[1])
    out: dict[int, list[LineView]] = {}
    for r in conn.execute(f"SELECT * FROM order_lines WHERE order_id IN ({marks}) "
                          f"ORDER BY device_serial, supply_index, line_id", tuple(order_ids)):
        out.setdefault(r["order_id"], []).append(LineView(
            r["line_id"], r["device_serial"], r["supply_index"], r["supply_kind"],
            r["supply_type"], r["color"], r["part_number"], r["quantity"], r["installed"],
            r["reason"], r["cover_days"], r["daily_units"], r["closed_at"],
            tuple(serials.get(r["line_id"], ())), r["order_point_days"]))
    return out


def list_orders(conn: Connection, *, status: str | None = None,
                site_id: str | None = None, contact_id: str | None = None,
                device_serial: str | None = None, limit: int = 1000) -> list[OrderView]:
    where, args = [], []
    if status is not None:
        where.append("o.status = ?")
        args.append(status)
    if site_id is not None:
        where.append("o.site_id = ?")
        args.append(site_id)
    if contact_id is not None:
        where.append("o.contact_id = ?")
        args.append(contact_id)
    if device_serial is not None:
        where.append("EXISTS (SELECT 1 FROM order_lines l WHERE l.order_id = o.order_id "
                     "AND l.device_serial = ?)")
        args.append(device_serial)
    sql = "SELECT * FROM orders o"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY o.order_id LIMIT ?"
    rows = conn.execute(sql, (*args, limit)).fetchall()
    lines = _lines(conn, [r["order_id"] for r in rows])
    return [OrderView(r["order_id"], r["site_id"], r["contact_id"], r["status"], r["created_on"],
                      r["created_at"], r["shipped_at"], r["delivered_at"], r["closed_at"],
                      r["tracking"], tuple(lines.get(r["order_id"], ()))) for r in rows]


def get_order(conn: Connection, order_id: int) -> OrderView:
    row = conn.execute("SELECT * FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        raise OrderNotFound(f"order {order_id} does not exist; list orders to find its id")
    lines = _lines(conn, [order_id])
    return OrderView(row["order_id"], row["site_id"], row["contact_id"], row["status"],
                     row["created_on"], row["created_at"], row["shipped_at"],
                     row["delivered_at"], row["closed_at"], row["tracking"],
                     tuple(lines.get(order_id, ())))


def open_lines_for_agent(conn: Connection, agent_id: str,
                         site_id: str) -> list[OrderStatus]:
    """The newest open line per (device, supply) of the orders for `site_id`, for the
    devices of that site whose latest summary came from `agent_id`: what that agent may
    show. Nobody else's devices, and no other site's orders (a device that moved keeps the
    old site's lines there)."""
    newest: dict[tuple[str, int], Row] = {}
    for r in conn.execute(
            "SELECT l.line_id, l.device_serial, l.supply_index, l.quantity, l.installed, "
            "o.order_id, o.status, o.created_at, o.shipped_at, o.delivered_at "
            "FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
            "JOIN device_status d ON d.serial = l.device_serial "
            "WHERE d.agent_id = ? AND d.site_id = ? AND o.site_id = d.site_id "
            "AND l.closed_at IS NULL AND o.status IN ('created', 'shipped', 'delivered') "
            "ORDER BY o.order_id DESC, l.line_id DESC", (agent_id, site_id)):
        newest.setdefault((r["device_serial"], r["supply_index"]), r)
    serials = _serials_of([r["line_id"] for r in newest.values()], conn)

    def when(text: str | None, name: str) -> datetime | None:
        return None if text is None else parse_time(text, name)

    return [OrderStatus(serial, index, r["status"], r["quantity"], r["order_id"],
                        r["installed"], when(r["created_at"], "orders.created_at"),
                        when(r["shipped_at"], "orders.shipped_at"),
                        when(r["delivered_at"], "orders.delivered_at"),
                        tuple(serials.get(r["line_id"], ())))
            for (serial, index), r in sorted(newest.items())]


def _serials_of(line_ids: Sequence[int], conn: Connection) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    if not line_ids:
        return out
    marks = ",".join("?" * len(line_ids))
    for r in conn.execute(f"SELECT line_id, cartridge_serial FROM shipped_cartridges "
                          f"WHERE line_id IN ({marks}) ORDER BY cartridge_serial",
                          tuple(line_ids)):
        out.setdefault(r[0], []).append(r[1])
    return out


def unshipped_orders(conn: Connection) -> list[OpenOrder]:
    """Orders still open to new lines, newest last (the policy amends the newest)."""
    return [OpenOrder(str(r[0]), r[1], r[2]) for r in conn.execute(
        "SELECT order_id, site_id, contact_id FROM orders WHERE status = 'created' "
        "ORDER BY order_id")]


def stock(conn: Connection) -> dict[tuple[str, int], tuple[int, int]]:
    """(device, supply index) → (units on hand, units open) over lines not yet closed."""
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for r in conn.execute(
            "SELECT l.device_serial, l.supply_index, "
            "SUM(CASE WHEN o.status = 'delivered' THEN l.quantity - l.installed ELSE 0 END), "
            "SUM(CASE WHEN o.status IN ('created', 'shipped') "
            "    THEN l.quantity - l.installed ELSE 0 END) "
            "FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
            "WHERE l.closed_at IS NULL AND o.status IN ('created', 'shipped', 'delivered') "
            "GROUP BY l.device_serial, l.supply_index"):
        out[(r[0], r[1])] = (int(r[2] or 0), int(r[3] or 0))
    return out


def delivery_days(conn: Connection, since: datetime, per_site: int) -> dict[str, list[float]]:
    """Site → the days its orders delivered since `since` took from being placed to being
    delivered, oldest first, the last `per_site` of them: what the service order point
    learns each site's shipping time from. Placed, not shipped: the days an order waits to
    be packed are as much part of the wait as the carrier's."""
    out: dict[str, list[float]] = {}
    # each site's last `per_site` picked in the query: a year of a large fleet's orders
    # is tens of thousands, of which a few thousand are wanted
    for r in conn.execute(
            "SELECT site_id, created_at, delivered_at FROM ("
            "SELECT site_id, created_at, delivered_at, order_id, ROW_NUMBER() OVER ("
            "PARTITION BY site_id ORDER BY delivered_at DESC, order_id DESC) AS newest "
            "FROM orders WHERE delivered_at IS NOT NULL AND delivered_at >= ?) AS recent "
            "WHERE newest <= ? ORDER BY delivered_at, order_id",
            (times.stamp(since), per_site)):
        took = parse_time(r[2], "orders.delivered_at") - parse_time(r[1], "orders.created_at")
        out.setdefault(r[0], []).append(max(0.0, took.total_seconds() / 86400.0))
    return out


# ------------------------------------------------------------------------------ lifecycle

def _status(conn: Connection, order_id: int) -> str:
    row = conn.execute("SELECT status FROM orders WHERE order_id = ?", (order_id,)).fetchone()
    if row is None:
        raise OrderNotFound(f"order {order_id} does not exist; list orders to find its id")
    return str(row[0])


def mark_shipped(conn: Connection, order_id: int, now: datetime, *,
                 serials: Mapping[int, Iterable[str]] | None = None,
                 tracking: str | None = None) -> OrderView:
    """Created → shipped; `serials` maps a line id to the cartridge serials packed for it."""
    status = _status(conn, order_id)
    if status != "created":
        raise OrderConflict(f"order {order_id} is {status}; only a created order can be shipped")
    lines = {r["line_id"]: r["quantity"] for r in conn.execute(
        "SELECT line_id, quantity FROM order_lines WHERE order_id = ?", (order_id,))}
    for line_id, values in (serials or {}).items():
        values = [v.strip() for v in values if v and v.strip()]
        if line_id not in lines:
            raise OrderConflict(f"line {line_id} is not a line of order {order_id}; "
                                f"its lines are {sorted(lines)}")
        if len(values) > lines[line_id]:
            raise OrderConflict(f"line {line_id} of order {order_id} has {lines[line_id]} "
                                f"unit(s) but {len(values)} serials were given")
        if len(set(values)) != len(values):
            raise OrderConflict(f"line {line_id}: a cartridge serial is listed twice")
        for serial in values:
            taken = conn.execute("SELECT line_id FROM shipped_cartridges WHERE "
                                 "cartridge_serial = ?", (serial,)).fetchone()
            if taken is not None:
                raise OrderConflict(f"cartridge serial {serial} was already shipped on line "
                                    f"{taken[0]}; check the parcel label")
            conn.execute("INSERT INTO shipped_cartridges (cartridge_serial, line_id) "
                         "VALUES (?, ?)", (serial, line_id))
    conn.execute("UPDATE orders SET status = 'shipped', shipped_at = ?, tracking = ? "
                 "WHERE order_id = ?", (times.stamp(now), tracking, order_id))
    return get_order(conn, order_id)


def mark_delivered(conn: Connection, order_id: int, now: datetime) -> OrderView:
    status = _status(conn, order_id)
    if status != "shipped":
        raise OrderConflict(f"order {order_id} is {status}; only a shipped order can be "
                            "marked delivered (mark it shipped first)")
    conn.execute("UPDATE orders SET status = 'delivered', delivered_at = ? WHERE order_id = ?",
                 (times.stamp(now), order_id))
    _close_if_done(conn, order_id, now)
    return get_order(conn, order_id)


def cancel(conn: Connection, order_id: int, now: datetime) -> OrderView:
    status = _status(conn, order_id)
    if status != "created":
        raise OrderConflict(f"order {order_id} is {status}; only a created order can be "
                            "cancelled")
    conn.execute("UPDATE orders SET status = 'cancelled', closed_at = ? WHERE order_id = ?",
                 (times.stamp(now), order_id))
    return get_order(conn, order_id)


def _close_if_done(conn: Connection, order_id: int, now: datetime) -> None:
    row = conn.execute("SELECT o.status, COUNT(l.line_id), COUNT(l.closed_at) FROM orders o "
                       "JOIN order_lines l ON l.order_id = o.order_id WHERE o.order_id = ? "
                       "GROUP BY o.order_id, o.status", (order_id,)).fetchone()
    if row is not None and row[0] == "delivered" and row[1] == row[2]:
        conn.execute("UPDATE orders SET status = 'closed', closed_at = ? WHERE order_id = ?",
                     (times.stamp(now), order_id))


def record_installation(conn: Connection, device_serial: str, supply_index: int,
                        cartridge_serial: str | None, at: datetime) -> Installation:
    """A replacement the agent reported: count one unit of the matching shipped or delivered
    line as installed (the line whose cartridge serial it is, else the oldest delivered one,
    else the oldest shipped one). A unit put in is one that was there: parcels can arrive
    out of order, and a later parcel's unit must not close a line still in transit."""
    shipped_to = None
    line_id = None
    if cartridge_serial:
        row = conn.execute(
            "SELECT c.line_id, l.device_serial, l.supply_index, c.installed_at, l.closed_at "
            "FROM shipped_cartridges c JOIN order_lines l ON l.line_id = c.line_id "
            "WHERE c.cartridge_serial = ?", (cartridge_serial,)).fetchone()
        if row is not None:
            shipped_to = row["device_serial"]
            conn.execute("UPDATE shipped_cartridges SET installed_at = ?, installed_in = ? "
                         "WHERE cartridge_serial = ?", (times.stamp(at), device_serial, cartridge_serial))
            if (row["device_serial"] == device_serial and row["supply_index"] == supply_index
                    and row["closed_at"] is None):
                line_id = row["line_id"]
            elif row["device_serial"] != device_serial:
                return Installation(None, shipped_to)
    if line_id is None:
        row = conn.execute(
            "SELECT l.line_id FROM order_lines l JOIN orders o ON o.order_id = l.order_id "
            "WHERE l.device_serial = ? AND l.supply_index = ? AND l.closed_at IS NULL "
            "AND o.status IN ('shipped', 'delivered') AND l.installed < l.quantity "
            "ORDER BY o.status = 'delivered' DESC, o.order_id, l.line_id LIMIT 1",
            (device_serial, supply_index)).fetchone()
        if row is None:
            return Installation(None, shipped_to)
        line_id = row[0]
    conn.execute("UPDATE order_lines SET installed = installed + 1, closed_at = CASE WHEN "
                 "installed + 1 >= quantity THEN ? ELSE closed_at END WHERE line_id = ?",
                 (times.stamp(at), line_id))
    order_id = conn.execute("SELECT order_id FROM order_lines WHERE line_id = ?",
                            (line_id,)).fetchone()[0]
    _close_if_done(conn, order_id, at)
    return Installation(line_id, shipped_to)


# ------------------------------------------------------------------------------ export

EXPORT_COLUMNS = (
    "order_id", "status", "site_id", "contact_id", "contact_name", "contact_email",
    "shipping_address", "created_on", "shipped_at", "delivered_at", "closed_at", "tracking",
    "line_id", "device_serial", "supply_index", "supply_kind", "supply_type", "color",
    "part_number", "quantity", "installed", "reason", "cover_days", "order_point_days",
    "cartridge_serials",
)


def export_rows(conn: Connection, **filters: Any) -> list[dict[str, Any]]:
    """One flat row per order line, with the contact's shipping details."""
    contacts = {r["contact_id"]: r for r in conn.execute("SELECT * FROM contacts")}
    rows = []
    for order in list_orders(conn, **filters):
        c = contacts.get(order.contact_id)
        for line in order.lines:
            rows.append({
                "order_id": order.order_id, "status": order.status, "site_id": order.site_id,
                "contact_id": order.contact_id, "contact_name": c["name"] if c else None,
                "contact_email": c["email"] if c else None,
                "shipping_address": c["shipping_address"] if c else None,
                "created_on": order.created_on, "shipped_at": order.shipped_at,
                "delivered_at": order.delivered_at, "closed_at": order.closed_at,
                "tracking": order.tracking, "line_id": line.line_id,
                "device_serial": line.device_serial, "supply_index": line.supply_index,
                "supply_kind": line.supply_kind, "supply_type": line.supply_type,
                "color": line.color, "part_number": line.part_number,
                "quantity": line.quantity, "installed": line.installed, "reason": line.reason,
                "cover_days": line.cover_days, "order_point_days": line.order_point_days,
                "cartridge_serials": " ".join(line.cartridge_serials),
            })
    return rows


# A cell starting with one of these runs as a formula in a spreadsheet (OWASP "CSV
# Injection"): a serial "=HYPERLINK(...)" sent by a printer would link anywhere.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: object) -> Any:
    """A CSV cell a spreadsheet shows as text: a string that could start a formula gets a
    leading single quote (OWASP); numbers, which cannot run, stay as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def export_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else inert_cell(row.get(k)))
                         for k in EXPORT_COLUMNS})
    return buffer.getvalue()


def waiting_to_ship(conn: Connection) -> int:
    """Orders placed and not shipped yet (the packing queue's length)."""
    row = conn.execute("SELECT COUNT(*) FROM orders WHERE status = 'created'").fetchone()
    return int(row[0])
