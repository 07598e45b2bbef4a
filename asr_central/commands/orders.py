"""`asr-central orders export [--format csv|json] [--status S] [--output FILE]`: the orders,
one row per line with the contact's shipping details (CSV) or nested (JSON)."""

from __future__ import annotations

import argparse
import sys

DEFAULT_DB = "sqlite:///asr-central.db"
STATUSES = ("created", "shipped", "delivered", "closed", "cancelled")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("orders", help="export replenishment orders")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    exp = sub.add_parser("export", help="write the orders as CSV or JSON")
    exp.add_argument("--format", choices=("csv", "json"), default="csv")
    exp.add_argument("--status", choices=STATUSES, help="only orders in this state")
    exp.add_argument("--site", help="only orders for this site id")
    exp.add_argument("--output", "-o", help="file to write (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json

    from asr_central.storage import open_database
    from asr_central.storage import orders

    db = open_database(args.db)
    try:
        conn = db.connection()
        if args.format == "csv":
            text = orders.export_csv(orders.export_rows(conn, status=args.status,
                                                        site_id=args.site))
        else:
            text = json.dumps([o.to_dict() for o in orders.list_orders(
                conn, status=args.status, site_id=args.site)], indent=2) + "\n"
    finally:
        db.close()
    if args.output:
        with open(args.output, "w", encoding="utf-8", newline="") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0
