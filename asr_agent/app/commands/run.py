"""`asr-agent run`: the service's main loop (what systemd and the Windows service start)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the agent until stopped (SIGTERM/SIGINT; SIGHUP reloads the config)")
    p.add_argument("--config", type=Path, default=None,
                   help="config file (default: ASR_CONFIG, then the platform's location; "
                        "built-in defaults when none exists)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asr_agent.app.daemon import run_daemon
    from asr_agent.adapters.paths import default_config_file

    config = args.config
    if config is None:
        candidate = Path(os.environ["ASR_CONFIG"]) if os.environ.get("ASR_CONFIG") else default_config_file()
        config = candidate if candidate.exists() else None
    return run_daemon(config)
