"""`asr-central db status --db URL`: the database's engine, schema version, the migrations
applied and those pending, without changing anything. Exit status 0 when the schema is the
code's, 1 when migrations are pending or the database is newer than this version."""

from __future__ import annotations

import argparse

DEFAULT_DB = "sqlite:///asr-central.db"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("db", help="the central database: schema status")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
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
