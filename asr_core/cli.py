"""What `asr-agent` and `asr-central` share: sub-commands found by module name under
a package (each with `add_parser(subparsers)`), and one way of reporting errors.

Command modules import only argparse at the top and defer heavy imports (pysnmp, httpx,
the web stack) to the function that runs, so `--help` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from asr_core.errors import AsrError


def build_parser(prog: str, description: str, version: str, package: str,
                 commands: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--version", action="version", version=f"{prog} {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in commands:
        importlib.import_module(f"{package}.{name}").add_parser(sub)
    return parser


def run(parser: argparse.ArgumentParser, argv: list[str] | None) -> int:
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AsrError as exc:
        print(f"{parser.prog} {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
