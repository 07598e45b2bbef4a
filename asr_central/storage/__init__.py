"""Central's storage: all its SQL lives here.

    base           the interface the service programs against (Database, Connection)
    sqlite/        the SQLite engine: the file, connections, group commit
    postgres/      the PostgreSQL engine: a pool, the same contract, the dialect
    migrations/    the schema of both engines, numbered files applied in order at open
    agents         enrollment tokens, agents, their keys, revocation
    summaries      idempotent ingest: summaries, device status, cartridge events, latest
                   supplies; old payloads emptied
    supply_history one point per supply per day (the printer page's chart), pruned
    homes          which site's agent a device reports from, and moves
    registry       contacts, sites, devices, catalog
    orders         orders, lines, stock, installations
    alerts         alert conditions and their acknowledgement
    mail           events told to site contacts and the outbox of messages
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

from asr_core.errors import ConfigError
from asr_central.storage.base import Connection, Database, UnitOfWork
from asr_central.storage.sqlite.db import open_database as _open_sqlite

__all__ = ["Connection", "Database", "UnitOfWork", "open_database", "engine_of"]


def engine_of(url: str) -> str:
    """"postgresql" for a `postgresql://` or `postgres://` URL, else "sqlite"."""
    return "postgresql" if url.startswith(("postgresql://", "postgres://")) else "sqlite"


def open_database(url: str, *, migrate: bool = True) -> Database:
    """The database at `url`, migrated (unless `migrate` is False: `db status` looks
    without changing anything). The engine follows the URL's scheme: `postgresql://` or
    `postgres://` opens PostgreSQL (the driver is imported only then), anything else SQLite
    (sqlite.db says which URLs it reads)."""
    if engine_of(url) == "postgresql":
        try:
            from asr_central.storage.postgres.db import open_database as _open_postgres
        except ModuleNotFoundError as exc:
            raise ConfigError(f"PostgreSQL needs its driver ({exc.name} is not installed): "
                              "install the package with its `postgres` extra, or use a "
                              "sqlite:/// URL", key="db") from None
        return _open_postgres(url, migrate=migrate)
    return _open_sqlite(url, migrate=migrate)
