"""`asr-agent status-password`: print the argon2 hash of a password for the status page.

The password is read from the terminal (twice, not echoed) or, when piped, from the first
line of stdin; the hash goes into `status_page.password`, so the file never holds the
password itself.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "status-password", help="print the hash of a status-page password for the config",
        description=__doc__.splitlines()[0])
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import getpass

    from asr_core.errors import ConfigError
    from asr_agent.app.status.password import is_password_hash, password_hash

    if sys.stdin.isatty():
        password = getpass.getpass("status page password: ")
        if getpass.getpass("again: ") != password:
            raise ConfigError("the two passwords differ; nothing printed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if len(password) < 12:
        raise ConfigError("the password is shorter than 12 characters; choose a longer one")
    if is_password_hash(password):
        raise ConfigError("that is already a hash; type the password itself")
    print(password_hash(password))
    return 0
