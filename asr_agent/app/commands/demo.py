"""`asr-agent demo`: simulated printers, an embedded central and the agent, in time-lapse."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the whole system on loopback in time-lapse (Ctrl-C stops it)")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes (default: run until Ctrl-C)")
    p.add_argument("--warp", type=float, default=3600.0,
                   help="simulated seconds per real second (default 3600: an hour a second)")
    p.add_argument("--port", type=int, default=8765, help="status page port on loopback (default 8765)")
    p.add_argument("--poll-seconds", type=float, default=2.0, help="real seconds between polls (default 2)")
    p.add_argument("--workdir", type=Path, default=None, help="keep the demo's files here (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the orders central placed as JSON at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from asr_dev.demo import run_demo
    except ModuleNotFoundError as exc:
        if exc.name != "asr_dev":
            raise
        # The demo is a development aid, not installed with the agent.
        print("asr-agent demo: runs from a source checkout only (scripts/demo); "
              "the installed agent does not include the asr_dev package", file=sys.stderr)
        return 2

    try:
        result = asyncio.run(run_demo(minutes=args.minutes, warp=args.warp, status_port=args.port,
                                      poll_seconds=args.poll_seconds, workdir=args.workdir))
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(result["orders"], indent=2))
    return 0
