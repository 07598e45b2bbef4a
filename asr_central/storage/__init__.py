"""Central's storage: all its SQL lives here.

    base           the interface the service programs against (Database, UnitOfWork)
    sqlite/        the SQLite engine: the file, connections, group commit
    migrations/    the schema, numbered files applied in order at open
    agents         enrollment tokens, agents, their keys, revocation
    summaries      idempotent ingest: summaries, device status, cartridge events, latest
                   supplies; old payloads emptied
    homes          which site's agent a device reports from, and moves
    registry       contacts, sites, devices, catalog
    orders         orders, lines, stock, installations
    alerts         alert conditions and their acknowledgement
    policy_inputs  what a policy run reads: new cartridge events, device status, latest supplies
    times          the one text form of a moment in every table
    users          console accounts, roles, customers' sites
    sessions       console sessions (hashed ids, CSRF tokens, expiry)
    audit          the console's audit log
    fleet          the console's reads: printers a page at a time, sites, alerts, agents
    order_pages    the console's orders a page at a time

The subject modules write portable SQL with `?` placeholders and take the unit of work an
engine hands out; an engine adapter (sqlite/, and postgres/ for scale-out) owns connections,
transactions and the dialect.

`open_database(url)` opens the adapter the URL names.
"""

from __future__ import annotations

from asr_central.storage.base import Database, UnitOfWork
from asr_central.storage.sqlite.db import open_database as _open_sqlite

__all__ = ["Database", "UnitOfWork", "open_database"]


def open_database(url: str) -> Database:
    """The database at `url`, migrated. Only SQLite is built today (see sqlite.db)."""
    return _open_sqlite(url)
