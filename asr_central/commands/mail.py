"""`asr-central mail test CONTACT`: send a test message to a contact of the registry through
the configured mail server (the config file's `mail:` section, each SMTP flag overriding its
key, as for `serve`), and print what was sent or why it was not."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from asr_central.commands.config_flags import GIVEN, add_config_argument, add_smtp_arguments
    from asr_central.config import DEFAULT_DB

    p = subparsers.add_parser("mail", help="mail to site contacts: send a test message")
    p.add_argument("--db", default=GIVEN, help=f"database URL (database.url, default "
                                               f"{DEFAULT_DB})")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = sub.add_parser("test", help="send a test message to CONTACT (a registry contact id)",
                          description="The mail server is the config file's (mail:); each "
                                      "option overrides its key.")
    test.add_argument("contact", metavar="CONTACT")
    add_config_argument(test)
    add_smtp_arguments(test)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from asr_core.errors import ConfigError
    from asr_central.commands.config_flags import settings_from_args
    from asr_central.domain.mail import message_id
    from asr_central.service.mail import smtp
    from asr_central.service.mail.render import Item, render_message
    from asr_central.storage import open_database, registry

    central = settings_from_args(args)
    mail = central.mail_settings()
    if mail is None:
        raise ConfigError("name the mail server to test with --smtp-host, or mail.host in the "
                          "config file (--config FILE)", key="--smtp-host")
    settings = mail.smtp
    db = open_database(central.database_url())
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
