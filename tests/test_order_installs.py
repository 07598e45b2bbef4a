"""Which order line a reported replacement closes a unit of, in a real database (a SQLite
file, then a PostgreSQL database).

Parcels can arrive out of order (carriers take two to five days): an order placed later may
be delivered while an earlier one is still in transit. A cartridge put in without a serial
we shipped is then the delivered parcel's, and the line in transit must stay open.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from asr_central.storage import Database, open_database
from asr_central.domain.policy import LineReason, Order, OrderLine, SupplyKind
from asr_central.storage import orders as store

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)


@pytest.fixture
def db(central_db_url: str) -> Iterator[Database]:
    database = open_database(central_db_url)
    yield database
    database.close()


def _order(db: Database, day: int) -> int:
    """An order of one toner for printer P-1, created on 2027-03-`day`."""
    line = OrderLine("P-1", "1", SupplyKind.CONSUMABLE, 1, LineReason.DUE, 10.0, 0.02)
    with db.transaction() as conn:
        [order_id] = store.create_orders(
            conn, [Order("hq", "hq-facilities", date(2027, 3, day), (line,))], NOW, {})
    return order_id


def _shipped(db: Database, order_id: int) -> int:
    with db.transaction() as conn:
        store.mark_shipped(conn, order_id, NOW)
    return order_id


def _status(db: Database, order_id: int) -> tuple[str, int]:
    view = store.get_order(db.connection(), order_id)
    return view.status, view.lines[0].installed


def test_an_install_closes_the_delivered_line_not_an_earlier_one_in_transit(
        db: Database) -> None:
    first = _shipped(db, _order(db, 1))
    second = _shipped(db, _order(db, 2))  # one created order per site and contact at a time
    with db.transaction() as conn:
        store.mark_delivered(conn, second, NOW)  # the later parcel came first
        assert store.stock(conn) == {("P-1", 1): (1, 1)}
        found = store.record_installation(conn, "P-1", 1, None, NOW)
    assert _status(db, second) == ("closed", 1)
    assert found.line_id == store.get_order(db.connection(), second).lines[0].line_id
    assert _status(db, first) == ("shipped", 0)  # still on its way, still open
    with db.transaction() as conn:
        assert store.stock(conn) == {("P-1", 1): (0, 1)}


def test_without_a_delivered_line_an_install_closes_the_oldest_shipped_one(
        db: Database) -> None:
    """A delivery nobody marked: the install shows the unit arrived."""
    first = _shipped(db, _order(db, 1))
    second = _shipped(db, _order(db, 2))
    with db.transaction() as conn:
        store.record_installation(conn, "P-1", 1, None, NOW)
    assert _status(db, first) == ("shipped", 1)
    assert _status(db, second) == ("shipped", 0)
    with db.transaction() as conn:
        assert store.stock(conn) == {("P-1", 1): (0, 1)}
