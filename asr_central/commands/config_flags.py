"""The flags every `asr-central` command that reads central's config file shares, and how
they become settings: `--config`, the SMTP flags, and each flag's key of the file
(`FLAG_KEYS`); a flag given overrides its key, one not given leaves the file's value.
`serve` adds the rest of its flags; `mail test` and `check-config` take these."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

ADMIN_TOKEN_ENV = "ASR_CENTRAL_ADMIN_TOKEN"
WEBHOOK_SECRET_ENV = "ASR_CENTRAL_ALERT_WEBHOOK_SECRET"
SMTP_PASSWORD_ENV = "ASR_CENTRAL_SMTP_PASSWORD"
GIVEN = argparse.SUPPRESS  # a flag not given leaves the file's value (or the default)

# flag destination -> (section, key) of the config file, and whether a path flag names a
# secret file (its value becomes a `file:` reference)
FLAG_KEYS: dict[str, tuple[tuple[str, str], bool]] = {
    "db": (("database", "url"), False),
    "host": (("server", "host"), False),
    "port": (("server", "port"), False),
    "allow_remote": (("server", "allow_remote"), False),
    "ssl_certfile": (("server", "tls_cert"), False),
    "ssl_keyfile": (("server", "tls_key"), False),
    "access_log": (("server", "access_log"), False),
    "workers": (("server", "workers"), False),
    "admin_token_file": (("admin", "token"), True),
    "log_level": (("logging", "level"), False),
    "keep_payload_days": (("retention", "keep_payload_days"), False),
    "max_clock_skew": (("ingest", "max_clock_skew_s"), False),
    "policy_interval": (("policy", "interval_s"), False),
    "lead_days": (("policy", "lead_days"), False),
    "supply_days": (("policy", "supply_days"), False),
    "pull_forward_days": (("policy", "pull_forward_days"), False),
    "silent_warning_days": (("policy", "silent_warning_days"), False),
    "silent_error_days": (("policy", "silent_error_days"), False),
    "order_point": (("policy", "order_point"), False),
    "service_level": (("policy", "service_level"), False),
    "shipping_days": (("policy", "shipping_days"), False),
    "alert_webhook": (("webhook", "url"), False),
    "alert_webhook_secret_file": (("webhook", "secret"), True),
    "alert_webhook_timeout": (("webhook", "timeout_s"), False),
    "alert_webhook_retry": (("webhook", "retry_s"), False),
    "smtp_host": (("mail", "host"), False),
    "smtp_port": (("mail", "port"), False),
    "smtp_security": (("mail", "security"), False),
    "smtp_user": (("mail", "user"), False),
    "smtp_password_file": (("mail", "password"), True),
    "smtp_ca_file": (("mail", "ca_file"), False),
    "smtp_timeout": (("mail", "timeout_s"), False),
    "mail_from": (("mail", "from_address"), False),
    "mail_immediate": (("mail", "immediate"), False),
    "mail_digest_at": (("mail", "digest_at"), False),
    "mail_time_zone": (("mail", "time_zone"), False),
    "mail_interval": (("mail", "interval_s"), False),
}


def add_config_argument(p: argparse.ArgumentParser) -> None:
    from asr_central.config import DEFAULT_CONFIG_FILE

    p.add_argument("--config", type=Path, metavar="FILE",
                   help=f"settings file (default {DEFAULT_CONFIG_FILE} if it exists, else "
                        "every default; see central.example.yaml)")


def add_smtp_arguments(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The SMTP flags `serve` and `mail test` share (FLAG_KEYS names their keys)."""
    g = p.add_argument_group("mail to site contacts (SMTP; the config file's mail: section)")
    g.add_argument("--smtp-host", metavar="HOST", default=GIVEN,
                   help="the mail server (mail.host); without it no mail is sent")
    g.add_argument("--smtp-port", type=int, metavar="N", default=GIVEN,
                   help="its port (mail.port; default 587 for starttls, 465 for tls, 25 for "
                        "none)")
    g.add_argument("--smtp-security", choices=("starttls", "tls", "none"), default=GIVEN,
                   help="STARTTLS (default), implicit TLS, or none (loopback only; "
                        "mail.security)")
    g.add_argument("--smtp-user", metavar="USER", default=GIVEN,
                   help="SMTP login, if the server wants one (mail.user)")
    g.add_argument("--smtp-password-file", type=Path, metavar="FILE", default=GIVEN,
                   help=f"file holding the SMTP password (mail.password; or set "
                        f"{SMTP_PASSWORD_ENV})")
    g.add_argument("--smtp-ca-file", type=Path, metavar="PEM", default=GIVEN,
                   help="CA certificate(s) for the server's TLS certificate (mail.ca_file; "
                        "default: the system's)")
    g.add_argument("--smtp-timeout", type=float, metavar="S", default=GIVEN,
                   help="seconds per SMTP exchange (mail.timeout_s, default 30)")
    g.add_argument("--mail-from", metavar="ADDRESS", default=GIVEN,
                   help="the From address of the mail (mail.from_address)")
    return g


def settings_from_args(args: argparse.Namespace) -> Any:
    """The config file's settings (or the defaults) with the flags given applied."""
    from asr_central.config import Override, load_settings

    overrides: dict[tuple[str, ...], Override] = {}
    for dest, (key, secret_file) in FLAG_KEYS.items():
        if dest not in vars(args):
            continue
        value = getattr(args, dest)
        flag = "--" + dest.replace("_", "-")
        if secret_file:
            value = f"file:{Path(value).absolute()}"
        elif isinstance(value, Path):
            value = str(value.absolute())
        overrides[key] = Override(value, flag)
    # The environment variables serve read before the config file existed, still honoured
    # where neither the file nor a flag sets the secret.
    fallbacks: dict[tuple[str, ...], Override] = {}
    if _env_set(ADMIN_TOKEN_ENV):
        fallbacks["admin", "token"] = Override(f"env:{ADMIN_TOKEN_ENV}", ADMIN_TOKEN_ENV)
    if _env_set(WEBHOOK_SECRET_ENV):
        fallbacks["webhook", "secret"] = Override(f"env:{WEBHOOK_SECRET_ENV}", WEBHOOK_SECRET_ENV,
                                                  only_with=("webhook", "url"))
    if _env_set(SMTP_PASSWORD_ENV):
        fallbacks["mail", "password"] = Override(f"env:{SMTP_PASSWORD_ENV}", SMTP_PASSWORD_ENV,
                                                 only_with=("mail", "user"))
    return load_settings(getattr(args, "config", None), overrides=overrides, fallbacks=fallbacks)


def _env_set(var: str) -> bool:
    return bool(os.environ.get(var))
