"""`asr-central registry import FILE.yaml | show`: load the registry (sites, contacts,
devices, supply catalog) from YAML into the central database, or print it."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

DEFAULT_DB = "sqlite:///asr-central.db"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("registry", help="import or show sites, contacts, devices, catalog")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="upsert everything in a registry YAML file")
    imp.add_argument("file", help="registry YAML (contacts, sites, devices, catalog)")
    sub.add_parser("show", help="print the registry as YAML")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from asr_central.storage import open_database
    from asr_central.storage import registry

    db = open_database(args.db)
    try:
        if args.action == "import":
            with db.transaction() as conn:
                # the command's own clock: no service runs here
                counts = registry.import_registry_file(conn, args.file, datetime.now(UTC))
            print(f"imported {args.file}: " + ", ".join(f"{n} {k}" for k, n in counts.items()))
            return 0
        conn = db.connection()
        doc = {"contacts": [registry.as_dict(c) for c in registry.list_contacts(conn)],
               "sites": [registry.as_dict(s) for s in registry.list_sites(conn)],
               "devices": [registry.as_dict(d) for d in registry.list_devices(conn)],
               "catalog": [registry.as_dict(i) for i in registry.list_catalog(conn)]}
        print(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), end="")
        return 0
    finally:
        db.close()
