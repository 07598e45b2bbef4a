"""Central's schema, the one source for both engines: numbered `NNN_name.sql` files applied
in order by `asr_core.migrations` at open (the SQLite text as written; PostgreSQL's through
the DDL mapping of `asr_central.storage.postgres.dialect`, or `NNN_name.postgres.sql` where
a statement has no portable form)."""

from __future__ import annotations

from importlib import resources

from asr_core import migrations

__all__ = ["LEDGER", "files"]

LEDGER = migrations.Ledger("schema_migrations", "number")


def files() -> list[migrations.Migration]:
    """Every migration shipped in the package, in order."""
    return migrations.load(resources.files(__name__))
