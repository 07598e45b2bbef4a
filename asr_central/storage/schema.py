"""Where a database's schema stands against the migrations this version ships: what
readiness checks and `db copy` ask before trusting a database.

Each engine reports it (`Database.migration_status()`, from the ledger `schema_migrations`).
"""

from __future__ import annotations

from dataclasses import dataclass

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
    """The schema of `db` against the migrations this version ships."""
    status = db.migration_status()
    return SchemaStatus(int(status.version), tuple(status.pending), bool(status.newer_than_code))
