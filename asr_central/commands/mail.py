"""`asr-central mail test CONTACT`: send a test message to a contact of the registry through
the configured mail server, and print what was sent or why it was not. Also the SMTP
settings `serve` shares (`add_smtp_arguments`, `smtp_settings`)."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:///asr-central.db"
PASSWORD_ENV = "ASR_CENTRAL_SMTP_PASSWORD"


def add_smtp_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("mail to site contacts (SMTP)")
    g.add_argument("--smtp-host", metavar="HOST", help="the mail server; without it no mail "
                                                       "is sent")
    g.add_argument("--smtp-port", type=int, metavar="N",
                   help="its port (default 587 for starttls, 465 for tls, 25 for none)")
    g.add_argument("--smtp-security", choices=("starttls", "tls", "none"), default="starttls",
                   help="STARTTLS (default), implicit TLS, or none (loopback only)")
    g.add_argument("--smtp-user", metavar="USER", help="SMTP login, if the server wants one")
    g.add_argument("--smtp-password-file", type=Path, metavar="FILE",
                   help=f"file holding the SMTP password (or set {PASSWORD_ENV})")
    g.add_argument("--smtp-ca-file", type=Path, metavar="PEM",
                   help="CA certificate(s) for the server's TLS certificate (default: the "
                        "system's)")
    g.add_argument("--smtp-timeout", type=float, default=30.0, metavar="S",
                   help="seconds per SMTP exchange (default 30)")
    g.add_argument("--mail-from", metavar="ADDRESS", help="the From address of the mail")


def smtp_settings(args: argparse.Namespace) -> Any:
    """The SmtpSettings the arguments name, or None without --smtp-host."""
    from asr_core.errors import ConfigError
    from asr_core.secret import Secret
    from asr_central.service.mail.smtp import SmtpSettings

    if not args.smtp_host:
        for flag in ("smtp_user", "smtp_password_file", "mail_from"):
            if getattr(args, flag) is not None:
                raise ConfigError("mail settings were given without --smtp-host",
                                  key="--" + flag.replace("_", "-"))
        return None
    if not args.mail_from:
        raise ConfigError("--smtp-host needs --mail-from, the address mail is sent from",
                          key="--mail-from")
    password = None
    if args.smtp_password_file is not None:
        try:
            password = Secret(args.smtp_password_file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            raise ConfigError(f"cannot read the SMTP password: {exc.strerror}",
                              path=str(args.smtp_password_file)) from None
    elif os.environ.get(PASSWORD_ENV):
        password = Secret(os.environ[PASSWORD_ENV])
    port = args.smtp_port or {"starttls": 587, "tls": 465, "none": 25}[args.smtp_security]
    return SmtpSettings(host=args.smtp_host, sender=args.mail_from, port=port,
                        security=args.smtp_security, username=args.smtp_user,
                        password=password, timeout_s=args.smtp_timeout,
                        ca_file=args.smtp_ca_file)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("mail", help="mail to site contacts: send a test message")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test message to CONTACT (a registry contact id)")
    test.add_argument("contact", metavar="CONTACT")
    add_smtp_arguments(test)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asr_core.errors import ConfigError
    from asr_central.domain.mail import message_id
    from asr_central.service.mail import smtp
    from asr_central.service.mail.render import Item, render_message
    from asr_central.storage import open_database, registry

    settings = smtp_settings(args)
    if settings is None:
        raise ConfigError("name the mail server to test with --smtp-host", key="--smtp-host")
    db = open_database(args.db)
    try:
        contact = registry.get_contact(db.connection(), args.contact)
    finally:
        db.close()
    if contact is None:
        print(f"contact {args.contact!r} is not in the registry; `asr-central registry show` "
              "lists the contacts")
        return 1
    if contact.mail_opt_out:
        print(f"contact {contact.contact_id} opted out of mail; nothing sent (clear "
              "mail_opt_out in the registry first)")
        return 1
    now = datetime.now(UTC)
    rendered = render_message(contact.language, contact.name, "test", [Item("test", {})],
                              now.date())
    mid = message_id(f"test|{contact.contact_id}|{now.isoformat()}", settings.domain)
    try:
        msg = smtp.build_message(settings, contact.name, contact.email, rendered, mid, now,
                                 contact.language)
        smtp.send(settings, msg)
    except smtp.MailError as exc:
        print(f"not sent to {contact.email}: {exc}")
        return 1
    print(f"sent to {msg['To']} through {settings.host}:{settings.port} "
          f"({settings.security})\nSubject: {msg['Subject']}\nMessage-ID: {mid}\n\n"
          f"{rendered.text}", end="")
    return 0
