"""`asr-agent check-config`: validate the config file and print the effective config.

Exit 0 when valid (the config on stdout, secrets masked); 2 with `file:line: key: message` on stderr.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check-config", help="validate the config file and print the effective config",
        description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $ASR_CONFIG, else the platform location)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asr_agent.app.config import dump_effective, load_config
    from asr_core.errors import ConfigError
    from asr_agent.adapters.paths import default_config_file

    path = args.config if args.config is not None else default_config_file()
    try:
        cfg = load_config(path, check_files=True)  # the files run opens at start, too
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    paths = cfg.paths(config_file=path)
    sys.stdout.write(
        f"# effective configuration of {paths.config_file} (valid)\n"
        f"# data dir: {paths.data_dir}\n"
        f"# log dir:  {paths.log_dir}\n"
        f"# key dir:  {paths.key_dir}\n"
        + dump_effective(cfg))
    return 0
