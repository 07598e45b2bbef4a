"""`asr-agent` command line: one sub-command per module in `asr_agent.commands`.

Each command module imports only argparse at the top and defers heavy imports
(pysnmp, httpx, the web stack) to its `run`, so `asr-agent --help` stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from asr_agent import __version__
from asr_agent.errors import AsrError

# Module names under asr_agent.commands, in the order `--help` lists them.
COMMANDS = (
    "poll", "status", "discover", "check_config", "enroll", "run", "demo", "service", "update",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="asr-agent", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"asr-agent {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"asr_agent.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"asr_agent.commands.{name}":
                continue  # command not built yet
            raise
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AsrError as exc:
        print(f"asr-agent {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
