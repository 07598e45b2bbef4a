"""`asr-agent` command line: one sub-command per module in `asr_agent.app.commands`."""

from __future__ import annotations

import argparse
import sys

from asr_agent import __version__
from asr_core.cli import build_parser as _build, run

# Module names under asr_agent.app.commands, in the order `--help` lists them.
COMMANDS = (
    "poll", "status", "discover", "check_config", "enroll", "run", "demo", "service", "update",
    "status_password", "outbox",
)


def build_parser() -> argparse.ArgumentParser:
    return _build("asr-agent", "Printer supplies agent: discovers printers, samples their supplies, "
                  "reports to the central replenishment service.", __version__,
                  "asr_agent.app.commands", COMMANDS)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
