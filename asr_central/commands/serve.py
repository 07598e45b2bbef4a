"""`asr-central serve`: run the central API under uvicorn, with the settings of the config
file (`/etc/asr-central/config.yaml` if it exists, or `--config FILE`); each flag given
overrides its key of the file (see asr_central.config, which holds every default).

Binds loopback by default; any other address needs `--allow-remote` (put TLS in front).

`--workers N` runs N worker processes under uvicorn's supervisor, which binds the socket
once, hands it to each worker and starts a worker again when one dies. The workers are
stateless: what they share lives in the database, and one of them at a time (the leader)
runs the policy, retention, the notifier (asr_central.service.leader) and the mail job.
Each builds its app from the same settings (`worker_app`, the factory uvicorn imports in
the worker), and keeps its own group commit. The settings are checked, and the database migrated, once in
the supervisor before any worker starts.

Several workers on a SQLite file are allowed: they share it on one host as processes do
(WAL: readers run beside the one writer), and the leader lock is a file lock beside it.
Writes do not scale with workers there; the verification of summaries, most of a
request's CPU, does. PostgreSQL is the engine for workers on several hosts.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from asr_central.commands.config_flags import (
    ADMIN_TOKEN_ENV, GIVEN as _GIVEN, WEBHOOK_SECRET_ENV,
    add_config_argument, add_smtp_arguments, settings_from_args,
)

# How the supervisor hands the parsed settings to its workers (file paths, never secrets).
WORKER_SETTINGS_ENV = "ASR_CENTRAL_WORKER_SETTINGS"
MAX_WORKERS = 64


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    from asr_central.config import CentralSettings

    d = CentralSettings()
    p = subparsers.add_parser("serve", help="run the central API (loopback unless told otherwise)",
                              description="Each option overrides its key of the config file.")
    add_config_argument(p)
    p.add_argument("--db", default=_GIVEN, help=f"database URL (database.url, default "
                                                f"{d.database.url})")
    p.add_argument("--host", default=_GIVEN, help=f"bind address (default {d.server.host})")
    p.add_argument("--port", type=int, default=_GIVEN, help=f"TCP port (default {d.server.port})")
    p.add_argument("--admin-token-file", type=Path, default=_GIVEN,
                   help=f"file holding the admin bearer token (admin.token; or set "
                        f"{ADMIN_TOKEN_ENV}); without either the admin API is disabled")
    p.add_argument("--allow-remote", action="store_true", default=_GIVEN,
                   help="allow binding a non-loopback address (terminate TLS in front of it)")
    p.add_argument("--ssl-certfile", type=Path, default=_GIVEN,
                   help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--ssl-keyfile", type=Path, default=_GIVEN,
                   help="private key for --ssl-certfile (PEM)")
    p.add_argument("--workers", type=_workers, default=_GIVEN, metavar="N",
                   help="worker processes sharing the port and the database (default 1); one "
                        "of them at a time runs the policy, retention and the notifier")
    p.add_argument("--log-level", default=_GIVEN, help=f"default {d.logging.level}")
    p.add_argument("--access-log", action="store_true", default=_GIVEN,
                   help="log every HTTP request (off by default: ingest answers thousands a "
                        "second, and refused summaries are logged anyway)")
    _policy_arguments(p, d)
    w = p.add_argument_group("alert notifier (optional)")
    w.add_argument("--alert-webhook", metavar="URL", default=_GIVEN,
                   help="POST new alerts as signed JSON to this URL (one request per batch)")
    w.add_argument("--alert-webhook-secret-file", type=Path, metavar="FILE", default=_GIVEN,
                   help="file holding the HMAC-SHA256 secret for the X-ASR-Signature-256 "
                        f"header (or set {WEBHOOK_SECRET_ENV})")
    w.add_argument("--alert-webhook-timeout", type=_seconds, metavar="S", default=_GIVEN,
                   help=f"seconds per webhook request (default {d.webhook.timeout_s:g})")
    w.add_argument("--alert-webhook-retry", type=_seconds, metavar="S", default=_GIVEN,
                   help="after a failed delivery, seconds before trying again "
                        f"(default {d.webhook.retry_s:g})")
    _mail_arguments(p, d)
    p.set_defaults(func=run)


def _mail_arguments(p: argparse.ArgumentParser, d: Any) -> None:
    """The mail job's flags, each overriding its key of the file's `mail:` section."""
    from asr_central.domain.mail import MailKind

    g = add_smtp_arguments(p)
    kinds = ", ".join(k.value for k in MailKind)
    g.add_argument("--mail-immediate", type=_names, default=_GIVEN, metavar="KIND,...",
                   help=f"kinds mailed at once instead of in the daily digest ({kinds}; "
                        "mail.immediate)")
    g.add_argument("--mail-digest-at", default=_GIVEN, metavar="HH:MM",
                   help="time of each contact's day from which their digest of the day "
                        "before goes out (mail.digest_at, default "
                        f"{d.mail.digest_at.isoformat('minutes')})")
    g.add_argument("--mail-time-zone", default=_GIVEN, metavar="ZONE",
                   help="the contacts' time zone unless the registry gives one their own, an "
                        f"IANA name (mail.time_zone, default {d.mail.time_zone})")
    g.add_argument("--mail-interval", type=_seconds, default=_GIVEN, metavar="S",
                   help="seconds between two runs of the mail job (mail.interval_s, default "
                        f"{d.mail.interval_s:g})")


def _names(text: str) -> list[str]:
    """An argparse type: a comma-separated list (checked with the file's list)."""
    return [name for name in (n.strip() for n in text.split(",")) if name]


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


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of workers") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{value} workers: give 1 to {MAX_WORKERS} (a few "
                                         "per core is plenty)")
    return value


_days = _non_negative("days")
_seconds = _non_negative("seconds")


def _day_range(text: str) -> list[float]:
    """"2,5": least and most days (checked against each other with the file's rules)."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected LEAST,MOST days, e.g. 2,5")
    return values


def _policy_arguments(p: argparse.ArgumentParser, d: Any) -> None:
    p.add_argument("--keep-payload-days", type=_days, default=_GIVEN, metavar="D",
                   help="empty each summary's signed payload and signature after D days; the "
                        "summary's record and what was derived from it stay (default "
                        f"{d.retention.keep_payload_days:g}; 0 keeps them forever)")
    p.add_argument("--max-clock-skew", type=_seconds, default=_GIVEN, metavar="S",
                   help="refuse a summary that speaks of a time more than S seconds after "
                        f"central's clock, as 'future' (default {d.ingest.max_clock_skew_s:g})")
    g = p.add_argument_group("replenishment policy (runs after ingest, and on demand)")
    pol = d.policy
    g.add_argument("--policy-interval", type=_seconds, default=_GIVEN,
                   metavar="S", help="run the policy at most this often after ingest; the "
                                     "summaries stored meanwhile wait for the next run "
                                     f"(default {pol.interval_s:g})")
    g.add_argument("--lead-days", type=_days, default=_GIVEN, metavar="D",
                   help=f"order when a supply is this close to empty (default {pol.lead_days:g})")
    g.add_argument("--supply-days", type=_days, default=_GIVEN, metavar="D",
                   help=f"ship this many days of use (default {pol.supply_days:g})")
    g.add_argument("--pull-forward-days", type=_days, default=_GIVEN, metavar="D",
                   help="add lines of the same site and contact coming due within this window "
                        f"to an order (default {pol.pull_forward_days:g})")
    g.add_argument("--order-point", choices=("fixed", "service"), default=_GIVEN,
                   help="fixed: order at --lead-days of cover; service: at the use over the "
                        "site's shipping time plus a margin for --service-level "
                        f"(default {pol.order_point})")
    g.add_argument("--service-level", type=float, default=_GIVEN, metavar="P",
                   help="share of order cycles ending before a stockout, under --order-point "
                        f"service (default {pol.service_level:g})")
    g.add_argument("--shipping-days", type=_day_range, default=_GIVEN, metavar="LEAST,MOST",
                   help="days from an order to its delivery, the prior of each site's learned "
                        f"shipping time (default {pol.shipping_days[0]:g},{pol.shipping_days[1]:g})")
    g.add_argument("--silent-warning-days", type=_days, default=_GIVEN,
                   metavar="D", help="warn about a device silent this long "
                                     f"(default {pol.silent_warning_days:g})")
    g.add_argument("--silent-error-days", type=_days, default=_GIVEN,
                   metavar="D", help="hold orders and raise an error for a device silent this "
                                     f"long (default {pol.silent_error_days:g})")


def is_loopback(host: str) -> bool:
    from asr_central.config import is_loopback as check

    return check(host)


def build_app(args: argparse.Namespace) -> Any:
    """The app `serve` runs, from the config file and the flags."""
    return app_from_settings(settings_from_args(args))


def app_from_settings(settings: Any) -> Any:
    """The app for `settings`: policy settings in its state, the webhook and the mail job
    attached if set (a leader runs both when central runs as several workers)."""
    from asr_central.service.app import create_app

    token = settings.admin.token
    app = create_app(settings.database_url(), admin_token=token.reveal() if token else None,
                     max_clock_skew=settings.max_clock_skew())
    state = app.state
    state.policy_settings = settings.policy_settings()
    state.policy_min_interval = settings.policy.interval_s
    state.keep_payload_days = settings.retention.keep_payload_days
    metrics_token = settings.metrics.token
    state.metrics_token = metrics_token.reveal() if metrics_token else None
    hook = settings.webhook
    if hook.url is not None and hook.secret is not None:
        from asr_central.service.notify import WebhookNotifier, WebhookSettings, attach

        attach(app, WebhookNotifier(WebhookSettings(
            url=hook.url, secret=hook.secret.reveal().encode(), timeout_s=hook.timeout_s,
            retry_interval_s=hook.retry_s), state.db))
    mail = settings.mail_settings()
    if mail is not None:
        _attach_mail(app, mail, settings.mail.interval_s)
    return app


def _attach_mail(app: Any, mail: Any, interval_s: float) -> None:
    """The mail job, its runs made only while this worker leads: every worker builds the
    same app, and two of them delivering one queued message would send it twice."""
    from datetime import datetime

    from asr_central.service.mail.sender import MailSender, MailWorker, RunReport, attach

    class LeaderMailSender(MailSender):
        def run_once(self, now: datetime | None = None) -> RunReport:
            if self.db.closed or not self.db.leadership().try_acquire():
                return RunReport()  # a follower: the leader's job runs the outbox
            return super().run_once(now)

    attach(app, MailWorker(LeaderMailSender(app.state.db, mail, clock=app.state.clock),
                           interval_s))


def server_options(log_level: str = "info", *, access_log: bool = False) -> dict[str, Any]:
    """uvicorn's settings for central (the ingest benchmark gives its bare baseline the same).

    No access log by default: one line per ingest request is noise at thousands of
    requests a second and costs as much CPU as decoding a summary; refused summaries are
    logged by the service itself. No WebSocket support: central serves none.
    """
    return {"log_level": log_level, "access_log": access_log, "ws": "none",
            "server_header": False}


def _encode(args: argparse.Namespace) -> str:
    """The parsed settings as JSON for the workers' environment; paths marked as such."""
    values = {k: v for k, v in vars(args).items() if k != "func"}
    paths = sorted(k for k, v in values.items() if isinstance(v, Path))
    return json.dumps({"values": {k: str(v) if k in paths else v for k, v in values.items()},
                       "paths": paths})


def _decode(text: str) -> argparse.Namespace:
    data = json.loads(text)
    values = data["values"]
    for key in data["paths"]:
        values[key] = Path(values[key])
    return argparse.Namespace(**values)


def worker_app() -> Any:
    """The app of one worker process (uvicorn's factory, imported in the worker): built
    from the settings the supervisor checked and put in WORKER_SETTINGS_ENV."""
    from asr_core.errors import ConfigError

    text = os.environ.get(WORKER_SETTINGS_ENV)
    if not text:
        raise ConfigError(f"{WORKER_SETTINGS_ENV} is not set: worker_app is started by "
                          "`asr-central serve --workers N`, not on its own")
    return build_app(_decode(text))


def check_settings(settings: Any) -> None:
    """What every worker would refuse, refused once before any starts (the settings were
    checked when read, the mail section with them); the database migrated once, so that
    the workers find it ready."""
    from asr_central.storage import open_database

    open_database(settings.database_url()).close()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from_args(args)
    server = settings.server
    tls: dict[str, Any] = {"ssl_certfile": str(server.tls_cert) if server.tls_cert else None,
                           "ssl_keyfile": str(server.tls_key) if server.tls_key else None}
    options = server_options(settings.logging.level, access_log=server.access_log)
    if server.workers == 1:
        uvicorn.run(app_from_settings(settings), host=server.host,
                    port=server.port, **tls, **options)
        return 0
    check_settings(settings)
    os.environ[WORKER_SETTINGS_ENV] = _encode(args)  # inherited by the workers
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=server.workers,
                host=server.host, port=server.port, **tls, **options)
    return 0
