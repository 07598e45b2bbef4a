"""`asr-agent outbox`: the summaries central refused for good (parked), for an admin to act
on once the cause is mended. `list` shows them with central's reason; `resend` queues them
again, each signed anew under a fresh sequence (a printer that moved here, confirmed at
central, has its refused reports delivered after all); `drop --yes` deletes them.

Works beside a running agent: the store takes one writer at a time, and the daemon sends
what is requeued at its next upload.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("outbox", help="list, resend or drop the summaries central "
                                                  "refused (parked)",
                                   description=__doc__.splitlines()[0])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("list", "the parked summaries, newest first, with central's reason"),
                       ("resend", "queue parked summaries again, signed anew"),
                       ("drop", "delete parked summaries for good")):
        p = actions.add_parser(name, help=text, description=text)
        p.add_argument("--config", metavar="PATH", default=None,
                       help="config file (default: $ASR_CONFIG, else the platform location)")
        p.add_argument("--data-dir", metavar="DIR", default=None,
                       help="the agent's data directory (default: from the config)")
        if name == "list":
            p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        else:
            p.add_argument("items", metavar="ITEM", nargs="*", type=int,
                           help="item numbers from `asr-agent outbox list`")
            p.add_argument("--all", action="store_true", help="every parked summary")
        if name == "drop":
            p.add_argument("--yes", action="store_true",
                           help="confirm: the dropped summaries are gone")
    parser.set_defaults(func=run)


def _describe(item: Any) -> dict[str, Any]:
    """What a person needs to find the printer and the cause; None where the row is not a
    readable summary (which may be why it was refused)."""
    from asr_core.wire import Envelope, WireError, decode_summary

    try:
        summary = decode_summary(Envelope.from_dict(json.loads(item.payload)).payload)
        serial: str | None = summary.device.serial
        period: str | None = f"{summary.period_start.isoformat()} – {summary.period_end.isoformat()}"
    except (ValueError, WireError):
        serial = period = None
    return {"item": item.id, "seq": item.seq, "kind": item.kind,
            "refused_at": item.failed_at.isoformat() if item.failed_at else None,
            "device_serial": serial, "period": period, "reason": item.last_error}


def run(args: argparse.Namespace) -> int:
    from asr_agent.adapters.paths import default_config_file
    from asr_agent.adapters.store import DB_FILE_NAME, Store
    from asr_agent.app.config import default_config, load_config

    path = args.config if args.config is not None else default_config_file()
    cfg = load_config(path) if args.config is not None or os.path.exists(path) else default_config()
    paths = cfg.paths(config_file=path)
    data_dir = args.data_dir if args.data_dir is not None else paths.data_dir
    db = os.path.join(data_dir, DB_FILE_NAME)
    if not os.path.exists(db):
        print(f"asr-agent outbox: no store at {db}; pass --data-dir or --config", file=sys.stderr)
        return 2
    with Store(db) as store:
        parked = {item.id: item for item in store.refused(store.parked_count())}
        if args.action == "list":
            return _list([_describe(parked[i]) for i in parked], args.json)
        if args.all == bool(args.items):
            print(f"asr-agent outbox {args.action}: name ITEM numbers or --all, not both",
                  file=sys.stderr)
            return 2
        chosen = sorted(parked) if args.all else args.items
        unknown = [i for i in chosen if i not in parked]
        if unknown:
            print(f"asr-agent outbox {args.action}: no parked item {', '.join(map(str, unknown))}"
                  "; `asr-agent outbox list` lists them", file=sys.stderr)
            return 2
        if args.action == "drop":
            if not args.yes:
                print(f"asr-agent outbox drop: {len(chosen)} summar{'y' if len(chosen) == 1 else 'ies'}"
                      " would be deleted for good; add --yes to do it", file=sys.stderr)
                return 2
            print(f"dropped {store.drop_parked(chosen)}")
            return 0
        return _resend(store, [parked[i] for i in chosen], paths.key_dir)


def _resend(store: Any, items: list[Any], key_dir: Any) -> int:
    from asr_agent.adapters import keys
    from asr_agent.adapters.uplink import AgentIdentity, requeue_parked
    from asr_core.wire import WireError

    identity = AgentIdentity.load(key_dir)
    if identity is None:
        print(f"asr-agent outbox resend: the agent is not enrolled (no identity in {key_dir}); "
              "`asr-agent enroll` first", file=sys.stderr)
        return 2
    key = keys.load(key_dir)
    failed = 0
    for item in items:
        try:
            seq = requeue_parked(store, item, key, identity.agent_id)
        except (ValueError, WireError) as exc:
            failed += 1
            print(f"item {item.id}: not a readable summary, left parked ({exc}); drop it",
                  file=sys.stderr)
            continue
        print(f"item {item.id}: queued again as seq {seq}")
    return 1 if failed else 0


def _list(rows: list[dict[str, Any]], as_json: bool) -> int:
    if as_json:
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if not rows:
        print("no parked summary")
        return 0
    for r in rows:
        print(f"item {r['item']}  seq {r['seq']}  refused {r['refused_at']}  "
              f"{r['device_serial'] or '(unreadable)'}  {r['period'] or ''}\n  {r['reason']}")
    return 0
