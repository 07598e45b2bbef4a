"""Where a database's schema stands against the migrations this version ships: what
readiness checks and `db copy` ask before trusting a database.

An engine that reports its own migration status (`Database.migration_status()`) is asked;
otherwise the ledger `open_database` keeps (`schema_migrations`) is read with portable SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from asr_core import migrations
from asr_central.storage.base import Database

__all__ = ["SchemaStatus", "schema_status"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """`version`: the newest migration applied (0: none); `pending`: shipped migrations not
    applied, by file name; `newer`: written by a newer version, which this one must not
    run against."""

    version: int
    pending: tuple[str, ...]
    newer: bool

    @property
    def ready(self) -> bool:
        return not self.pending and not self.newer

    def problem(self) -> str | None:
        """Why the schema is not ready, said for an operator; None when it is."""
        if self.newer:
            return (f"the database has schema version {self.version}, newer than this "
                    "central knows: upgrade central")
        if self.pending:
            return (f"{len(self.pending)} migration(s) not applied ({', '.join(self.pending)}): "
                    "restart central to apply them")
        return None


def schema_status(db: Database) -> SchemaStatus:
    """The schema of `db` (opened by `open_database`, which keeps the ledger)."""
    own = getattr(db, "migration_status", None)
    if own is not None:
        status = own()
        return SchemaStatus(int(status.version), tuple(status.pending),
                            bool(status.newer_than_code))
    shipped = migrations.load(resources.files("asr_central.storage.migrations"))
    applied = {int(r[0]) for r in db.connection().execute(  # type: ignore[attr-defined, unused-ignore]
        "SELECT number FROM schema_migrations")}
    version = max(applied, default=0)
    return SchemaStatus(version, tuple(m.name for m in shipped if m.number not in applied),
                        version > max((m.number for m in shipped), default=0))
