"""Central's storage: all its SQL lives here.

    base       the interface the service programs against (Database, UnitOfWork)
    sqlite/    today's adapter: db (connections, group commit, migrations), agents,
               summaries, homes, registry, orders, alerts, policy_inputs

`open_database(url)` opens the adapter the URL names.
"""

from __future__ import annotations

from asr_central.storage.base import Database, UnitOfWork
from asr_central.storage.sqlite.db import open_database as _open_sqlite

__all__ = ["Database", "UnitOfWork", "open_database"]


def open_database(url: str) -> Database:
    """The database at `url`, migrated. Only SQLite is built today (see sqlite.db)."""
    return _open_sqlite(url)
