"""Where a database's schema stands against the migrations this version ships: what
readiness checks and `db copy` ask before trusting a database.

Reads the ledger `open_database` keeps (`schema_migrations`) with portable SQL, so it
answers the same on every engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from asr_central.storage.base import UnitOfWork
from asr_central.storage.sqlite.db import migration_files

__all__ = ["SchemaStatus", "schema_status"]


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """`version`: the newest migration applied (0: none); `known`: the newest this
    version ships; `pending`: shipped migrations not applied, by file name."""

    version: int
    known: int
    pending: tuple[str, ...]

    @property
    def newer(self) -> bool:
        """Written by a newer version: this one must not run against it."""
        return self.version > self.known

    @property
    def ready(self) -> bool:
        return not self.pending and not self.newer

    def problem(self) -> str | None:
        """Why the schema is not ready, said for an operator; None when it is."""
        if self.newer:
            return (f"the database has schema version {self.version}, newer than this "
                    f"central knows ({self.known}): upgrade central")
        if self.pending:
            return (f"{len(self.pending)} migration(s) not applied ({', '.join(self.pending)}): "
                    "restart central to apply them")
        return None


def schema_status(conn: UnitOfWork) -> SchemaStatus:
    """The schema of `conn`'s database (opened by `open_database`, which keeps the ledger)."""
    shipped = migration_files()
    applied = {int(r[0]) for r in conn.execute(  # type: ignore[attr-defined]
        "SELECT number FROM schema_migrations")}
    return SchemaStatus(version=max(applied, default=0),
                        known=max((m.number for m in shipped), default=0),
                        pending=tuple(m.name for m in shipped if m.number not in applied))
