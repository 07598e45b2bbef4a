"""`asr-central db ACTION`: the central database as a whole.

    db status [--db URL]      the engine, schema version, the migrations applied and those
                              pending, without changing anything (exit 1 when migrations are
                              pending or the database is newer than this version)
    db copy SRC_URL DST_URL   copy every table into an empty database (another engine, as
                              a rule) and check the copy table by table

Each action is a pair of functions (`add_<action>_parser`, `run_<action>`), so that actions
are added without touching the others.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr_central.storage.copy import TableCheck


DEFAULT_DB = "sqlite:///asr-central.db"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("db", help="the central database: schema status, copy")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_status_parser(sub)
    add_copy_parser(sub)


# --- db status ------------------------------------------------------------------------------

def add_status_parser(sub: argparse._SubParsersAction) -> None:
    status = sub.add_parser("status", help="schema version, applied and pending migrations")
    status.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    status.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    from asr_core.secret import redact_url
    from asr_central.storage import open_database

    db = open_database(args.db, migrate=False)
    try:
        state = db.migration_status()
    finally:
        db.close()
    print(f"database: {redact_url(args.db)}")
    print(f"engine: {db.engine}")
    print(f"schema version: {state.version}")
    print(f"applied: {len(state.applied)}")
    for number, name, applied_at in state.applied:
        print(f"  {number:03d} {name} (at {applied_at})")
    print(f"pending: {len(state.pending) or 'none'}")
    for name in state.pending:
        print(f"  {name}")
    if state.newer_than_code:
        print("the database is newer than this version of central: upgrade central")
        return 1
    if state.pending:
        print("central applies the pending migrations when it next starts")
        return 1
    return 0


# --- db copy --------------------------------------------------------------------------------

def add_copy_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "copy", help="copy every table into an empty database, then compare both",
        description="Copy a central database into an empty one (e.g. sqlite:///central.db to "
                    "postgresql://asr@db/asr), then compare each table's row count and digest. "
                    "Stop central first: rows written during the copy are not copied. Both "
                    "databases are brought to this version's schema when opened; a "
                    "destination that holds data, or is of a newer version, is refused. Exit "
                    "0 when every table matches, 1 otherwise.")
    p.add_argument("source", metavar="SRC_URL", help="the database to copy")
    p.add_argument("dest", metavar="DST_URL", help="an empty database to copy into")
    p.add_argument("--batch", type=_positive, default=None, metavar="N",
                   help="rows per read and per insert (default 500)")
    p.set_defaults(func=run_copy)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: at least 1")
    return value


def run_copy(args: argparse.Namespace) -> int:
    from asr_core.errors import StoreError
    from asr_core.secret import redact_url
    from asr_central.storage import open_database
    from asr_central.storage import copy
    from asr_central.storage.schema import schema_status

    batch = args.batch or copy.BATCH
    if args.source == args.dest:
        raise StoreError("the source and the destination are the same database")
    src = open_database(args.source)
    try:
        dst = open_database(args.dest)
        try:
            source, dest = src.connection(), dst.connection()
            versions = schema_status(src).version, schema_status(dst).version
            if versions[0] != versions[1]:
                raise StoreError(f"schema versions differ (source {versions[0]}, destination "
                                 f"{versions[1]}); run this version of central on both first")
            filled = copy.filled_tables(dest)
            if filled:
                raise StoreError(f"{redact_url(args.dest)} is not empty (rows in "
                                 f"{', '.join(filled)}); copy into a new, empty database")
            print(f"copying {redact_url(args.source)} -> {redact_url(args.dest)}",
                  file=sys.stderr)
            with dst.transaction() as into:
                for table in copy.TABLES:
                    n = copy.copy_rows(source, into, table, batch=batch)
                    print(f"  {table.name}: {n} row(s)", file=sys.stderr)
            reset = getattr(dst, "reset_identities", None)
            if reset is not None:
                reset()  # the destination's next generated ids follow the copied ones
            checks = [copy.check_table(source, dst.connection(), t, batch=batch)
                      for t in copy.TABLES]
        finally:
            dst.close()
    finally:
        src.close()
    _print_checks(checks)
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"asr-central db copy: MISMATCH in {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"asr-central db copy: {len(checks)} tables copied and checked", file=sys.stderr)
    return 0


def _print_checks(checks: list[TableCheck]) -> None:
    width = max(len(c.table) for c in checks)
    print(f"{'table':<{width}}  {'source rows':>11}  {'copied rows':>11}  {'digest':<16}  check")
    for c in checks:
        digest = c.source_digest[:16] if c.source_digest == c.dest_digest else (
            f"{c.source_digest[:7]}≠{c.dest_digest[:7]}")
        print(f"{c.table:<{width}}  {c.source_rows:>11}  {c.dest_rows:>11}  {digest:<16}  "
              f"{'ok' if c.ok else 'MISMATCH'}")
