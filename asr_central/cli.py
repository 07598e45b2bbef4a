"""`asr-central` command line: one sub-command per module in `asr_central.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

from asr_central import __version__

COMMANDS = ("serve", "simulate", "registry", "orders")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr-central", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"asr-central {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"asr_central.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"asr_central.commands.{name}":
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from asr_agent.errors import AsrError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AsrError as exc:
        print(f"asr-central {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
