"""`asr-central` command line: one sub-command per module in `asr_central.commands`."""

from __future__ import annotations

import argparse
import sys

from asr_core.cli import build_parser as _build, run
from asr_central import __version__

COMMANDS = ("serve", "check_config", "db", "simulate", "registry", "orders", "mail", "users")


def build_parser() -> argparse.ArgumentParser:
    return _build("asr-central", "Central replenishment service: verifies agent summaries, "
                  "forecasts, orders, consolidates and alerts.", __version__,
                  "asr_central.commands", COMMANDS)


def main(argv: list[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
