"""`asr-agent update --check | --apply | --rollback`: the signed self-update channel by
hand (the daemon runs the same checks on schedule)."""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "update", help="check for, apply or roll back an agent update",
        description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--check", action="store_true",
                      help="report whether the channel offers a newer version (exit 0 either way)")
    what.add_argument("--apply", action="store_true",
                      help="install a newer version beside this one, switch, restart, "
                           "health-check, roll back if unhealthy")
    what.add_argument("--rollback", action="store_true",
                      help="switch back to the version that ran before the last update")
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $ASR_CONFIG, else the platform location)")
    parser.add_argument("--channel", choices=("off", "stable", "beta"), default=None,
                        help="override update.channel for this run")
    parser.add_argument("--install-root", metavar="DIR", default=None,
                        help="where versioned environments live (default /opt/asr-agent)")
    parser.add_argument("--no-restart", action="store_true",
                        help="switch without restarting the service (health check only runs "
                             "the new version's --version)")
    parser.set_defaults(func=run)


def _restart_systemd() -> None:
    import subprocess

    from asr_core.errors import UpdateError

    proc = subprocess.run(["systemctl", "restart", "asr-agent.service"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise UpdateError(f"systemctl restart asr-agent.service failed: {proc.stderr.strip()}")


def _systemd_health(env, version) -> None:
    """--version of the environment, then the restarted unit must stay active."""
    import subprocess
    import time

    from asr_core.errors import UpdateError
    from asr_agent.adapters.updater import version_probe

    version_probe(env, version)
    if env.name != "current":
        return
    # Give a broken start time to crash (Type=notify: `restart` already waited for READY).
    time.sleep(10)
    state = subprocess.run(["systemctl", "is-active", "asr-agent.service"],
                           capture_output=True, text=True).stdout.strip()
    if state != "active":
        raise UpdateError(f"asr-agent.service is {state!r} after switching to {version}")


def build_updater(args: argparse.Namespace):
    from pathlib import Path

    from asr_agent.app.config import load_config
    from asr_agent.adapters.paths import default_config_file
    from asr_agent.adapters.updater import Updater

    path = args.config if args.config is not None else default_config_file()
    cfg = load_config(path)
    paths = cfg.paths(config_file=path)
    restart = None
    health = None
    if sys.platform.startswith("linux") and not args.no_restart:
        restart, health = _restart_systemd, _systemd_health
    return Updater(channel=args.channel or cfg.update.channel, url=cfg.update.url,
                   state_dir=paths.data_dir, install_root=Path(args.install_root or "/opt/asr-agent"),
                   restart=restart, health_check=health)


def run(args: argparse.Namespace) -> int:
    updater = build_updater(args)
    if args.check:
        print(updater.check().describe())
        return 0
    if args.rollback:
        print(f"rolled back to {updater.rollback()}")
        return 0
    outcome = updater.apply()
    print(outcome.detail)
    return 1 if outcome.rolled_back else 0
