"""`asr-central serve`: run the central API under uvicorn, with the policy settings of the
runs after ingest and an optional alert webhook.

Binds loopback by default; any other address needs `--allow-remote` (put TLS in front).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:///asr-central.db"
ADMIN_TOKEN_ENV = "ASR_CENTRAL_ADMIN_TOKEN"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the central API (loopback unless told otherwise)")
    p.add_argument("--db", default=DEFAULT_DB, help=f"database URL (default {DEFAULT_DB})")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8800, help="TCP port (default 8800)")
    p.add_argument("--admin-token-file", type=Path,
                   help=f"file holding the admin bearer token (or set {ADMIN_TOKEN_ENV}); "
                        "without either the admin API is disabled")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding a non-loopback address (terminate TLS in front of it)")
    p.add_argument("--ssl-certfile", type=Path, help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", type=Path, help="private key for --ssl-certfile (PEM)")
    p.add_argument("--log-level", default="info")
    p.add_argument("--access-log", action="store_true",
                   help="log every HTTP request (off by default: ingest answers thousands a "
                        "second, and refused summaries are logged anyway)")
    _policy_arguments(p)
    w = p.add_argument_group("alert notifier (optional)")
    w.add_argument("--alert-webhook", metavar="URL",
                   help="POST new alerts as signed JSON to this URL (one request per batch)")
    w.add_argument("--alert-webhook-secret-file", type=Path, metavar="FILE",
                   help="file holding the HMAC-SHA256 secret for the X-ASR-Signature-256 "
                        "header (or set ASR_CENTRAL_ALERT_WEBHOOK_SECRET)")
    w.add_argument("--alert-webhook-timeout", type=float, default=10.0, metavar="S",
                   help="seconds per webhook request (default 10)")
    w.add_argument("--alert-webhook-retry", type=float, default=300.0, metavar="S",
                   help="after a failed delivery, seconds before trying again (default 300)")
    _mail_arguments(p)
    p.set_defaults(func=run)


def _mail_arguments(p: argparse.ArgumentParser) -> None:
    from asr_central.commands.mail import add_smtp_arguments
    from asr_central.domain.mail import MailKind

    add_smtp_arguments(p)
    kinds = ", ".join(k.value for k in MailKind)
    p.add_argument("--mail-immediate", default="", metavar="KIND,...",
                   help=f"kinds mailed at once instead of in the daily digest ({kinds})")
    p.add_argument("--mail-digest-at", default="06:00", metavar="HH:MM",
                   help="UTC time from which each contact's digest of the day before goes "
                        "out (default 06:00)")
    p.add_argument("--mail-interval", type=_seconds, default=60.0, metavar="S",
                   help="seconds between two runs of the mail job (default 60)")


def mail_settings(args: argparse.Namespace) -> Any:
    """The mail job's settings, or None without --smtp-host."""
    from datetime import time

    from asr_core.errors import ConfigError
    from asr_central.commands.mail import smtp_settings
    from asr_central.domain.mail import MailKind
    from asr_central.service.mail.sender import MailSettings

    smtp = smtp_settings(args)
    if smtp is None:
        return None
    immediate = set()
    for name in filter(None, (n.strip() for n in args.mail_immediate.split(","))):
        try:
            immediate.add(MailKind(name))
        except ValueError:
            raise ConfigError(f"{name!r} is not a kind of mail; expected some of "
                              f"{', '.join(k.value for k in MailKind)}",
                              key="--mail-immediate") from None
    try:
        digest_at = time.fromisoformat(args.mail_digest_at)
    except ValueError:
        raise ConfigError(f"{args.mail_digest_at!r} is not a time of day (HH:MM)",
                          key="--mail-digest-at") from None
    return MailSettings(smtp, frozenset(immediate), digest_at)


def _non_negative(unit: str) -> Callable[[str], float]:
    """An argparse type: a number of `unit`, 0 or more."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of {unit}") from None
        if not value >= 0:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"{text!r}: a number of {unit} must be 0 or more")
        return value

    return parse


_days = _non_negative("days")
_seconds = _non_negative("seconds")


def _policy_arguments(p: argparse.ArgumentParser) -> None:
    from asr_central.domain.policy import PolicySettings

    from asr_central.service.replenish import AFTER_INGEST_INTERVAL_S
    from asr_central.service.retention import DEFAULT_KEEP_PAYLOAD_DAYS

    d = PolicySettings()
    p.add_argument("--keep-payload-days", type=_days, default=DEFAULT_KEEP_PAYLOAD_DAYS, metavar="D",
                   help="empty each summary's signed payload and signature after D days; the "
                        "summary's record and what was derived from it stay (default "
                        f"{DEFAULT_KEEP_PAYLOAD_DAYS:g}; 0 keeps them forever)")
    from asr_central.domain.trust import DEFAULT_MAX_CLOCK_SKEW

    skew = DEFAULT_MAX_CLOCK_SKEW.total_seconds()
    p.add_argument("--max-clock-skew", type=_seconds, default=skew, metavar="S",
                   help="refuse a summary that speaks of a time more than S seconds after "
                        f"central's clock, as 'future' (default {skew:g})")
    g = p.add_argument_group("replenishment policy (runs after ingest, and on demand)")
    g.add_argument("--policy-interval", type=_seconds, default=AFTER_INGEST_INTERVAL_S,
                   metavar="S", help="run the policy at most this often after ingest; the "
                                     "summaries stored meanwhile wait for the next run "
                                     f"(default {AFTER_INGEST_INTERVAL_S:g})")
    g.add_argument("--lead-days", type=_days, default=d.lead_days, metavar="D",
                   help=f"order when a supply is this close to empty (default {d.lead_days:g})")
    g.add_argument("--supply-days", type=_days, default=d.supply_days, metavar="D",
                   help=f"ship this many days of use (default {d.supply_days:g})")
    g.add_argument("--pull-forward-days", type=_days, default=d.pull_forward_days, metavar="D",
                   help="add lines of the same site and contact coming due within this window "
                        f"to an order (default {d.pull_forward_days:g})")
    g.add_argument("--silent-warning-days", type=_days, default=d.silent_warning_days,
                   metavar="D", help="warn about a device silent this long "
                                     f"(default {d.silent_warning_days:g})")
    g.add_argument("--silent-error-days", type=_days, default=d.silent_error_days,
                   metavar="D", help="hold orders and raise an error for a device silent this "
                                     f"long (default {d.silent_error_days:g})")


def policy_settings(args: argparse.Namespace) -> Any:
    from asr_core.errors import ConfigError
    from asr_central.domain.policy import PolicySettings

    try:
        return PolicySettings(lead_days=args.lead_days, supply_days=args.supply_days,
                              pull_forward_days=args.pull_forward_days,
                              silent_warning_days=args.silent_warning_days,
                              silent_error_days=args.silent_error_days)
    except ValueError as exc:
        raise ConfigError(str(exc), key="--silent-error-days") from exc


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost could resolve anywhere


def check_bind(host: str, allow_remote: bool) -> None:
    from asr_core.errors import ConfigError

    if not is_loopback(host) and not allow_remote:
        raise ConfigError(f"refusing to listen on {host}: not a loopback address; pass "
                          "--allow-remote (and put TLS in front) to serve other machines",
                          key="--host")


def read_admin_token(path: Path | None) -> str | None:
    from asr_core.errors import ConfigError

    if path is not None:
        try:
            token = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the admin token: {exc.strerror}", path=str(path)) from exc
        if len(token) < 16:
            raise ConfigError("the admin token is shorter than 16 characters; use a long random one",
                              path=str(path))
        return token
    return os.environ.get(ADMIN_TOKEN_ENV) or None


def build_app(args: argparse.Namespace) -> Any:
    """The app `serve` runs: policy settings in its state, the webhook attached if asked."""
    from asr_core.errors import ConfigError
    from asr_central.service.app import create_app

    settings = policy_settings(args)
    webhook = None
    if args.alert_webhook:
        from asr_central.service.notify import WebhookSettings, read_secret

        webhook = WebhookSettings(url=args.alert_webhook,
                                  secret=read_secret(args.alert_webhook_secret_file),
                                  timeout_s=args.alert_webhook_timeout,
                                  retry_interval_s=args.alert_webhook_retry)
    elif args.alert_webhook_secret_file is not None:
        raise ConfigError("a webhook secret was given without --alert-webhook URL",
                          key="--alert-webhook-secret-file")
    mail = mail_settings(args)
    app = create_app(args.db, admin_token=read_admin_token(args.admin_token_file),
                     max_clock_skew=timedelta(seconds=args.max_clock_skew))
    app.state.policy_settings = settings
    app.state.policy_min_interval = args.policy_interval
    app.state.keep_payload_days = args.keep_payload_days
    if webhook is not None:
        from asr_central.service.notify import WebhookNotifier, attach

        attach(app, WebhookNotifier(webhook, app.state.db))
    if mail is not None:
        from asr_central.service.mail.sender import MailSender, MailWorker
        from asr_central.service.mail.sender import attach as attach_mail

        # the mail job runs beside the webhook notifier; a leader runs both when central
        # runs as several workers
        attach_mail(app, MailWorker(MailSender(app.state.db, mail, clock=app.state.clock),
                                    args.mail_interval))
    return app


def server_options(log_level: str = "info", *, access_log: bool = False) -> dict[str, Any]:
    """uvicorn's settings for central (the ingest benchmark gives its bare baseline the same).

    No access log by default: one line per ingest request is noise at thousands of
    requests a second and costs as much CPU as decoding a summary; refused summaries are
    logged by the service itself. No WebSocket support: central serves none.
    """
    return {"log_level": log_level, "access_log": access_log, "ws": "none",
            "server_header": False}


def run(args: argparse.Namespace) -> int:
    import uvicorn

    check_bind(args.host, args.allow_remote)
    app = build_app(args)
    uvicorn.run(app, host=args.host, port=args.port,
                ssl_certfile=str(args.ssl_certfile) if args.ssl_certfile else None,
                ssl_keyfile=str(args.ssl_keyfile) if args.ssl_keyfile else None,
                **server_options(args.log_level, access_log=args.access_log))
    return 0
