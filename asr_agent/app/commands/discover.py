"""`asr-agent discover`: sweep named ranges and hosts once and print the printers found.

A progress bar goes to stderr on a terminal only; refusals and problems always go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Kept in step with asr_agent.adapters.snmp.sweep (not imported here: that pulls in pysnmp).
_DEFAULT_RATE = 200.0
_LOOPBACK_RATE = 40_000.0
_DEFAULT_TIMEOUT = 1.0


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "discover", help="sweep CIDR ranges and hosts for printers",
        description="Sweep CIDR ranges and hosts once for printers (v1/v2c) and print them.")
    parser.add_argument("targets", nargs="+", metavar="CIDR|HOST",
                        help="a range such as 192.0.2.0/24, an address, or a host name")
    parser.add_argument("--port", type=int, default=161, help="SNMP UDP port (default 161)")
    parser.add_argument("--community", action="append", metavar="C",
                        help="v2c community to try, in the order given; repeat for several "
                             "(default: public)")
    parser.add_argument("--v1", action="store_true", help="speak SNMPv1 instead of v2c")
    parser.add_argument("--exclude", action="append", default=[], metavar="CIDR|HOST",
                        help="a range or host not to touch; repeat for several")
    parser.add_argument("--rate", type=float, default=None, metavar="PPS",
                        help=f"packets per second (default {_DEFAULT_RATE:.0f}, gentle on "
                             f"customer networks, or {_LOOPBACK_RATE:.0f} when every target is "
                             "loopback; 0 = as fast as possible)")
    parser.add_argument("--timeout", type=float, default=_DEFAULT_TIMEOUT, metavar="S",
                        help=f"seconds to wait for each address (default {_DEFAULT_TIMEOUT})")
    parser.add_argument("--retries", type=int, default=1,
                        help="re-ask a silent address this often per community (default 1)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of printers")
    parser.add_argument("--force", action="store_true",
                        help="allow ranges larger than a /16 per argument")
    parser.add_argument("--loopback-only", action="store_true", help=argparse.SUPPRESS)
    parser.set_defaults(func=run)


class _Bar:
    """A one-line progress bar redrawn in place; only ever on a terminal."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.drawn = False

    def __call__(self, done: int, total: int, printers: int) -> None:
        width = 30
        filled = width * done // total if total else width
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} "
                          f"addresses, {printers} printer{'s' if printers != 1 else ''}")
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def _table(printers: list[Any]) -> str:
    rows = [("ADDRESS", "SERIAL", "VENDOR", "MODEL", "ASR")]
    for p in printers:
        where = ", ".join(f"{h}:{port}" for h, port in p.addresses)
        rows.append((where, p.identity, p.vendor or "?", p.model or "?",
                     "yes" if p.asr_compatible else "monitor only"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from asr_agent.app.discovery import discover
    from asr_core.errors import AsrError
    from asr_agent.adapters.snmp.client import SnmpCredential

    if (args.rate is not None and args.rate < 0) or args.timeout <= 0 or args.retries < 0:
        raise AsrError("--rate must be ≥ 0, --timeout > 0 and --retries ≥ 0")
    make = SnmpCredential.v1 if args.v1 else SnmpCredential.v2c
    communities = args.community or ["public"]
    # Names shown in output never contain the community itself.
    credentials = {f"community #{i + 1}": make(c) for i, c in enumerate(communities)}
    bar = _Bar(sys.stderr) if sys.stderr.isatty() else None
    try:
        result = asyncio.run(discover(
            args.targets, port=args.port, credentials=credentials, exclude=args.exclude,
            rate=args.rate, timeout=args.timeout, retries=args.retries, force=args.force,
            loopback_only=args.loopback_only, on_progress=bar))
    finally:
        if bar is not None:
            bar.close()
    for why in result.refused:
        print(f"asr-agent discover: refused {why}", file=sys.stderr)
    for problem in result.problems:
        print(f"asr-agent discover: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps([p.to_json() for p in result.printers], indent=2))
    else:
        if result.printers:
            print(_table(result.printers))
        print(f"{len(result.printers)} printer(s), {result.non_printers} other SNMP device(s), "
              f"{result.silent} silent, {result.swept} address(es) swept")
    return 1 if result.refused else 0
