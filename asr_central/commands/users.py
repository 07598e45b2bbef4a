"""`asr-central users add|passwd|disable USERNAME`: the console's accounts, from the command
line (the first admin is made here). Passwords come from a prompt (typed twice, not echoed)
or from `--password-file` (its first line), never from the command line itself, where
other users of the host could read it."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_DB = "sqlite:///asr-central.db"
ROLES = ("admin", "operator", "viewer", "customer")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("users", help="add console accounts, change passwords, disable")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=ROLES, required=True,
                     help="admin: users and registry; operator: ship, deliver, cancel, "
                          "acknowledge; viewer: read only; customer: read only, own sites")
    add.add_argument("--site", action="append", default=[], metavar="SITE_ID",
                     help="a site a customer account sees (repeat for several)")
    add.add_argument("--password-file", type=Path, metavar="FILE",
                     help="read the password from FILE's first line instead of a prompt")
    pw = sub.add_parser("passwd", help="set a new password (ends the account's sessions)")
    pw.add_argument("username")
    pw.add_argument("--password-file", type=Path, metavar="FILE",
                    help="read the password from FILE's first line instead of a prompt")
    dis = sub.add_parser("disable", help="refuse sign-in and end the account's sessions")
    dis.add_argument("username")
    sub.add_parser("list", help="print the accounts, their roles and sites")
    p.set_defaults(func=run)


def _password(path: Path | None) -> str:
    from asr_central.service.console.passwords import check_new_password

    if path is not None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"--password-file {path}: cannot read it ({exc})") from None
        password = text.splitlines()[0] if text else ""
    else:
        if not sys.stdin.isatty():
            raise SystemExit("no terminal to ask for the password: give --password-file FILE")
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise SystemExit("the two passwords differ; nothing was changed")
    try:
        check_new_password(password)
    except ValueError as exc:
        raise SystemExit(f"{exc}; nothing was changed") from None
    return password


def run(args: argparse.Namespace) -> int:
    from asr_central.service.console.passwords import hash_password
    from asr_central.storage import audit, open_database, users

    now = datetime.now(UTC)  # the command's own clock: no service runs here
    actor = f"shell user {getpass.getuser()}"
    if args.action in ("add", "passwd"):
        password_hash = hash_password(_password(args.password_file))
    db = open_database(args.db)
    try:
        with db.transaction() as conn:
            if args.action == "add":
                try:
                    user = users.add_user(conn, args.username, password_hash, args.role, now,
                                          args.site)
                except ValueError as exc:
                    raise SystemExit(f"users add {args.username}: {exc}") from None
                detail = f"role {user.role}" + (f", sites {', '.join(sorted(user.sites))}"
                                                if user.sites else "")
                print(f"added {user.username} ({detail})")
            elif args.action == "passwd":
                users.set_password(conn, args.username, password_hash, now)
                detail = "password set"
                print(f"password of {args.username} set; its sessions ended")
            elif args.action == "disable":
                users.disable_user(conn, args.username, now)
                detail = "disabled"
                print(f"{args.username} disabled; its sessions ended")
            else:
                for u in users.list_users(conn):
                    state = "disabled" if u.disabled_at else "active"
                    sites = f" sites={','.join(sorted(u.sites))}" if u.sites else ""
                    print(f"{u.username}\t{u.role}\t{state}{sites}")
                return 0
            audit.record(conn, now, None, f"user_{args.action}", target=args.username,
                         detail=f"{detail}, by {actor}", address="cli")
    finally:
        db.close()
    return 0
