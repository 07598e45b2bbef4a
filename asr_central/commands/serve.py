"""`asr-central serve`: run the central API under uvicorn, with the policy settings of the
runs after ingest and an optional alert webhook.

Binds loopback by default; any other address needs `--allow-remote` (put TLS in front).

`--workers N` runs N worker processes under uvicorn's supervisor, which binds the socket
once, hands it to each worker and starts a worker again when one dies. The workers are
stateless: what they share lives in the database, and one of them at a time (the leader)
runs the policy, retention and the notifier (asr_central.service.leader). Each builds its
app from the same settings (`worker_app`, the factory uvicorn imports in the worker), and
keeps its own group commit. The settings are checked, and the database migrated, once in
the supervisor before any worker starts.

Several workers on a SQLite file are allowed: they share it on one host as processes do
(WAL: readers run beside the one writer), and the leader lock is a file lock beside it.
Writes do not scale with workers there; the verification of summaries, most of a
request's CPU, does. PostgreSQL is the engine for workers on several hosts.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

DEFAULT_DB = "sqlite:///asr-central.db"
ADMIN_TOKEN_ENV = "ASR_CENTRAL_ADMIN_TOKEN"
# How the supervisor hands the parsed settings to its workers (file paths, never secrets).
WORKER_SETTINGS_ENV = "ASR_CENTRAL_WORKER_SETTINGS"
MAX_WORKERS = 64


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
    p.add_argument("--workers", type=_workers, default=1, metavar="N",
                   help="worker processes sharing the port and the database (default 1); one "
                        "of them at a time runs the policy, retention and the notifier")
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
    p.set_defaults(func=run)


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
    app = create_app(args.db, admin_token=read_admin_token(args.admin_token_file),
                     max_clock_skew=timedelta(seconds=args.max_clock_skew))
    app.state.policy_settings = settings
    app.state.policy_min_interval = args.policy_interval
    app.state.keep_payload_days = args.keep_payload_days
    if webhook is not None:
        from asr_central.service.notify import WebhookNotifier, attach

        attach(app, WebhookNotifier(webhook, app.state.db))
    return app


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


def check_settings(args: argparse.Namespace) -> None:
    """What every worker would refuse, refused once before any starts; the database
    migrated once, so that the workers find it ready."""
    from asr_central.storage import open_database

    policy_settings(args)
    read_admin_token(args.admin_token_file)
    if args.alert_webhook:
        from asr_central.service.notify import WebhookSettings, read_secret

        WebhookSettings(url=args.alert_webhook, secret=read_secret(args.alert_webhook_secret_file))
    open_database(args.db).close()


def run(args: argparse.Namespace) -> int:
    import uvicorn

    check_bind(args.host, args.allow_remote)
    tls = {"ssl_certfile": str(args.ssl_certfile) if args.ssl_certfile else None,
           "ssl_keyfile": str(args.ssl_keyfile) if args.ssl_keyfile else None}
    options = server_options(args.log_level, access_log=args.access_log)
    if args.workers == 1:
        uvicorn.run(build_app(args), host=args.host, port=args.port, **tls, **options)
        return 0
    check_settings(args)
    os.environ[WORKER_SETTINGS_ENV] = _encode(args)  # inherited by the workers
    uvicorn.run(f"{__name__}:worker_app", factory=True, workers=args.workers,
                host=args.host, port=args.port, **tls, **options)
    return 0
