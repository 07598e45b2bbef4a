"""`asr-central check-config [--config FILE]`: validate central's config file and print the
effective settings (every default filled in, secrets as `<secret>`).

Exit 0 when valid (the settings on stdout); 2 with `file:line: key: message` on stderr.
The secret files and variables are read as `serve` would read them, so a missing one is
found here, before the service starts.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from asr_central.commands.config_flags import add_config_argument

    p = subparsers.add_parser("check-config", help="validate the config file and print the "
                                                   "effective settings",
                              description=__doc__.splitlines()[0])
    add_config_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asr_core.errors import ConfigError
    from asr_central.config import DEFAULT_CONFIG_FILE, dump_effective, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    where = args.config or (DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.exists() else None)
    head = (f"# effective settings of {where} (valid)\n" if where is not None
            else f"# no config file ({DEFAULT_CONFIG_FILE} does not exist): the defaults\n")
    sys.stdout.write(head + dump_effective(settings))
    return 0
