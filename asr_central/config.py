"""Central's settings: one YAML file (`/etc/asr-central/config.yaml`, or `--config FILE`)
strictly read into frozen models; `serve`'s command-line flags override it, key by key.

Owns every default of `serve` (here and nowhere else) and the error style of every config
the project reads: `file:line: key: what is wrong`, unknown keys refused, a flag named by
its flag when the wrong value came from the command line.

Secrets (admin token, metrics token, webhook secret, database and SMTP passwords) are
written only as references, `env:VARIABLE` or `file:/path`, resolved at load into
`Secret`s, which print as `<secret>` everywhere (`check-config` included).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError,
    ValidationInfo,
)

from asr_core.errors import ConfigError
from asr_core.secret import Secret, redact_url, resolve_reference
from asr_core.yaml_source import compose
from asr_central.domain.mail import MailKind, time_zone_named
from asr_central.domain.policy import OrderPoint, PolicySettings
from asr_central.domain.trust import DEFAULT_MAX_CLOCK_SKEW
from asr_central.service.replenish import AFTER_INGEST_INTERVAL_S
from asr_central.service.state import DEFAULT_KEEP_PAYLOAD_DAYS

__all__ = [
    "DEFAULT_CONFIG_FILE", "DEFAULT_DB", "CentralSettings", "Override", "dump_effective", "is_loopback",
    "load_settings", "parse_settings", "settings_fields",
]

DEFAULT_CONFIG_FILE = Path("/etc/asr-central/config.yaml")
DEFAULT_DB = "sqlite:///asr-central.db"
# Tokens shorter than this are guessable: the admin API and /metrics are throttled per
# address, not per token.
MIN_TOKEN_LENGTH = 16
# Bounds far beyond any sensible setting, far inside what timedelta and the timers hold.
_CENTURY_DAYS = 36_525.0
_DAY_S = 86_400.0
# The policy defaults, from the policy itself: the file and the flags cannot disagree.
_POLICY = PolicySettings()


def _secret(value: object, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise ValueError("a secret is written as env:VARIABLE or file:/path")
    context = info.context or {}
    return resolve_reference(value, env=context.get("env"), base_dir=context.get("base_dir"))


# A secret reference in the file, a `Secret` once loaded, `<secret>` when dumped.
SecretRef = Annotated[Secret, PlainValidator(_secret),
                      PlainSerializer(lambda _: "<secret>", return_type=str)]
Days = Annotated[float, Field(ge=0, le=_CENTURY_DAYS)]
Seconds = Annotated[float, Field(ge=0, le=_DAY_S)]
# Paths are written as strings in YAML (strict mode would take only Path objects).
FilePath = Annotated[Path, Field(strict=False)]


class _Section(BaseModel):
    # strict: a quoted "8800" is not a port; frozen: settings are a value once loaded.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True,
                              arbitrary_types_allowed=True)


class DatabaseSettings(_Section):
    url: str = Field(DEFAULT_DB, min_length=1)
    password: SecretRef | None = None


class ServerSettings(_Section):
    host: str = Field("127.0.0.1", min_length=1)
    port: int = Field(8800, ge=1, le=65535)
    allow_remote: bool = False
    workers: int = Field(1, ge=1, le=64)
    tls_cert: FilePath | None = None
    tls_key: FilePath | None = None
    access_log: bool = False


class AdminSettings(_Section):
    token: SecretRef | None = None


class MetricsSettings(_Section):
    token: SecretRef | None = None


class PolicySection(_Section):
    interval_s: Seconds = AFTER_INGEST_INTERVAL_S
    lead_days: Days = _POLICY.lead_days
    supply_days: Days = _POLICY.supply_days
    pull_forward_days: Days = _POLICY.pull_forward_days
    silent_warning_days: Days = _POLICY.silent_warning_days
    silent_error_days: Days = _POLICY.silent_error_days
    order_point: Literal["fixed", "service"] = _POLICY.order_point.value
    service_level: float = Field(_POLICY.service_level, ge=0.5, le=0.9999)
    # a YAML list, [least, most] (strict mode would take only a tuple)
    shipping_days: Annotated[tuple[Days, Days], Field(strict=False)] = _POLICY.shipping_days


class IngestSettings(_Section):
    max_clock_skew_s: Seconds = DEFAULT_MAX_CLOCK_SKEW.total_seconds()


class RetentionSettings(_Section):
    keep_payload_days: Days = DEFAULT_KEEP_PAYLOAD_DAYS


class WebhookSection(_Section):
    url: str | None = None
    secret: SecretRef | None = None
    timeout_s: float = Field(10.0, gt=0, le=600)
    retry_s: Seconds = 300.0


def _mail_kinds(value: object) -> tuple[MailKind, ...]:
    if not isinstance(value, list):
        raise ValueError("a list of kinds of mail, e.g. [order_shipped, device_silent]")
    out: list[MailKind] = []
    for name in value:
        try:
            kind = MailKind(name)
        except ValueError:
            raise ValueError(f"{name!r} is not a kind of mail; expected some of "
                             f"{', '.join(k.value for k in MailKind)}") from None
        if kind not in out:
            out.append(kind)
    return tuple(out)


def _time_of_day(value: object) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        # YAML 1.1 reads an unquoted 6:30 as a number of minutes (390)
        raise ValueError('a time of day is written quoted, as "HH:MM" (e.g. "06:00")')
    try:
        parsed = time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day (HH:MM)") from None
    if parsed.tzinfo is not None:
        raise ValueError(f"{value!r}: the time is each contact's own (mail.time_zone's unless "
                         "the contact has one); write it without an offset (HH:MM)")
    return parsed


def _time_zone(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("a time zone is an IANA name such as Europe/Paris")
    time_zone_named(value)
    return value


MailKinds = Annotated[tuple[MailKind, ...], PlainValidator(_mail_kinds),
                      PlainSerializer(lambda kinds: [k.value for k in kinds],
                                      return_type=list[str])]
TimeOfDay = Annotated[time, PlainValidator(_time_of_day),
                      PlainSerializer(lambda t: t.isoformat("minutes" if t == t.replace(
                          second=0, microsecond=0) else "auto"), return_type=str)]
TimeZoneName = Annotated[str, PlainValidator(_time_zone)]
SMTP_DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class MailSection(_Section):
    host: str | None = Field(None, min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    user: str | None = Field(None, min_length=1)
    password: SecretRef | None = None
    ca_file: FilePath | None = None
    timeout_s: float = Field(30.0, gt=0, le=600)
    from_address: str | None = None
    immediate: MailKinds = ()
    digest_at: TimeOfDay = time(6, 0)
    # the contacts' clock unless a contact names their own: the days of their mail and the
    # hour of their digest
    time_zone: TimeZoneName = "UTC"
    interval_s: Seconds = 60.0


class LoggingSettings(_Section):
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"


class CentralSettings(_Section):
    database: DatabaseSettings = DatabaseSettings()
    server: ServerSettings = ServerSettings()
    admin: AdminSettings = AdminSettings()
    metrics: MetricsSettings = MetricsSettings()
    policy: PolicySection = PolicySection()
    ingest: IngestSettings = IngestSettings()
    retention: RetentionSettings = RetentionSettings()
    webhook: WebhookSection = WebhookSection()
    mail: MailSection = MailSection()
    logging: LoggingSettings = LoggingSettings()

    def database_url(self) -> str:
        """The URL to open: `database.url` with `database.password` put in (for the
        driver only; show `redact_url` of it anywhere else)."""
        return _with_password(self.database.url, self.database.password)

    def policy_settings(self) -> PolicySettings:
        p = self.policy
        return PolicySettings(lead_days=p.lead_days, supply_days=p.supply_days,
                              pull_forward_days=p.pull_forward_days,
                              silent_warning_days=p.silent_warning_days,
                              silent_error_days=p.silent_error_days,
                              order_point=OrderPoint(p.order_point),
                              service_level=p.service_level, shipping_days=p.shipping_days)

    def max_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.ingest.max_clock_skew_s)

    def mail_settings(self) -> Any:
        """The mail job's settings (a `MailSettings`), or None without `mail.host`."""
        from asr_central.service.mail.sender import MailSettings
        from asr_central.service.mail.smtp import SmtpSettings

        m = self.mail
        if m.host is None:
            return None
        assert m.from_address is not None  # checked at load (_mail_problems)
        smtp = SmtpSettings(host=m.host, sender=m.from_address,
                            port=m.port or SMTP_DEFAULT_PORTS[m.security], security=m.security,
                            username=m.user, password=m.password, timeout_s=m.timeout_s,
                            ca_file=m.ca_file)
        return MailSettings(smtp, frozenset(m.immediate), m.digest_at,
                            time_zone=time_zone_named(m.time_zone))


def _with_password(url: str, password: Secret | None) -> str:
    if password is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = quote(parts.username or "", safe="")
    return urlunsplit((parts.scheme, f"{user}:{quote(password.reveal(), safe='')}@{host}",
                       parts.path, parts.query, parts.fragment))


def settings_fields() -> list[str]:
    """Every key of the file, dotted (`server.port`): what central.example.yaml documents."""
    out: list[str] = []
    for name, section in CentralSettings.model_fields.items():
        model = section.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        out.extend(f"{name}.{key}" for key in model.model_fields)
    return out


# --- reading --------------------------------------------------------------------------------

_Key = tuple[str, ...]


@dataclass(frozen=True)
class Override:
    """A value given on the command line (or the environment), and the flag (or variable)
    that gave it, named in errors. A fallback with `only_with` applies only where that
    key is set too (a webhook secret only for a webhook URL)."""

    value: object
    flag: str
    only_with: tuple[str, str] | None = None


def _plain(node: yaml.Node, key: _Key, lines: dict[_Key, int], source: str) -> Any:
    """Plain data from the strict reader's node tree, each key's line remembered; a
    duplicate key is refused (PyYAML would keep the last one silently)."""
    lines.setdefault(key, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if not isinstance(name, str):
                raise ConfigError("a key must be a plain name", path=source, line=line,
                                  key=".".join(key) or None)
            if name in out:
                raise ConfigError(f"duplicate key (first written on line {lines[key + (name,)]}); "
                                  "keep one", path=source, line=line, key=".".join(key + (name,)))
            lines[key + (name,)] = line
            out[name] = _plain(value_node, key + (name,), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, key, lines, source) for item in node.value]
    return yaml.SafeLoader("").construct_object(node, deep=True)


def parse_settings(text: str | None, *, source: str = "<config>",
                   base_dir: str | os.PathLike[str] | None = None,
                   overrides: Mapping[_Key, Override] | None = None,
                   fallbacks: Mapping[_Key, Override] | None = None,
                   env: Mapping[str, str] | None = None) -> CentralSettings:
    """Settings from YAML `text` (None: no file, every default) with `overrides` applied,
    and `fallbacks` where neither the file nor an override set the key; every problem is
    a ConfigError naming file, line and key, or the flag (or variable) that gave it."""
    lines: dict[_Key, int] = {}
    data: Any = {}
    if text is not None:
        node = compose(text, source)
        data = _plain(node, (), lines, source) if node is not None else None
        if data is None:
            raise ConfigError("the file is empty; start from central.example.yaml", path=source)
        if not isinstance(data, dict):
            raise ConfigError("the top level must be a mapping of sections (database:, "
                              "server:, ...)", path=source, line=lines.get(()))
    overrides = dict(overrides or {})
    for (section, name), given in overrides.items():
        target = data.setdefault(section, {})
        if isinstance(target, dict):
            target[name] = given.value
    for (section, name), given in (fallbacks or {}).items():
        if given.only_with is not None and not _is_set(data, given.only_with):
            continue
        target = data.setdefault(section, {})
        if isinstance(target, dict) and name not in target:
            target[name] = given.value
            overrides[section, name] = given
    where = _Where(source, lines, overrides)
    try:
        settings = CentralSettings.model_validate(
            data, context={"env": os.environ if env is None else env, "base_dir": base_dir})
    except ValidationError as exc:
        raise where.error(exc.errors()) from None
    problems = _semantic_problems(settings)
    if problems:
        raise where.error([{"loc": key, "msg": msg, "type": "semantic"} for key, msg in problems])
    return settings


def _is_set(data: Mapping[str, Any], key: tuple[str, str]) -> bool:
    section = data.get(key[0])
    return isinstance(section, dict) and section.get(key[1]) is not None


def load_settings(path: str | os.PathLike[str] | None, *,
                  overrides: Mapping[_Key, Override] | None = None,
                  fallbacks: Mapping[_Key, Override] | None = None,
                  env: Mapping[str, str] | None = None) -> CentralSettings:
    """The settings in the file at `path`, flags applied. None: the default file if it
    exists, else every default (the embedded first run needs no file)."""
    if path is None:
        if not DEFAULT_CONFIG_FILE.exists():
            return parse_settings(None, overrides=overrides, fallbacks=fallbacks, env=env)
        path = DEFAULT_CONFIG_FILE
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no config file here; copy central.example.yaml to this path and "
                          "edit it", path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file: {exc}", path=str(p)) from None
    return parse_settings(text, source=str(p), base_dir=p.resolve().parent, overrides=overrides,
                          fallbacks=fallbacks, env=env)


class _Where:
    """Turns validation errors into one ConfigError: file:line: key, or the flag."""

    def __init__(self, source: str, lines: Mapping[_Key, int],
                 overrides: Mapping[_Key, Override]) -> None:
        self.source, self.lines, self.overrides = source, lines, overrides

    def one(self, err: Mapping[str, Any]) -> ConfigError:
        key = tuple(str(part) for part in err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            message = "unknown key; check its spelling and section (central.example.yaml lists every key)"
        elif kind == "missing":
            message = "required value is missing"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
            value = err.get("input")
            # the value is repeated only where it cannot be a secret
            secretive = any(part in ("token", "secret", "password", "url") for part in key)
            if (kind != "semantic" and not secretive and isinstance(value, (int, float, bool, str))
                    and len(repr(value)) <= 80):
                message += f" (got {value!r})"
        flag = self.overrides.get(key[:2]) if len(key) >= 2 else None
        if flag is not None:
            return ConfigError(message, key=flag.flag)
        line = None
        for n in range(len(key), -1, -1):  # a missing key is reported at its parent's line
            if key[:n] in self.lines:
                line = self.lines[key[:n]]
                break
        source = self.source if self.lines else None
        return ConfigError(message, path=source, line=line if source else None,
                           key=".".join(key) or None)

    def error(self, errors: list[Any]) -> ConfigError:
        first, *rest = [self.one(e) for e in errors]
        if rest:
            first.args = ("\n".join(str(e) for e in [first, *rest]),)
        return first


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name other than localhost could resolve anywhere


def _semantic_problems(s: CentralSettings) -> list[tuple[_Key, str]]:
    """Rules across fields that the schema cannot say."""
    out: list[tuple[_Key, str]] = []
    lo, hi = s.policy.shipping_days
    if hi < lo:
        out.append((("policy", "shipping_days"), f"[{lo:g}, {hi:g}] runs backwards: write "
                    "[least, most] days from an order to its delivery"))
    try:
        s.policy_settings()
    except ValueError as exc:
        if "silent_error_days" in str(exc):
            out.append((("policy", "silent_error_days"), str(exc)))
        elif hi >= lo:
            out.append((("policy",), str(exc)))
    if not is_loopback(s.server.host) and not s.server.allow_remote:
        out.append((("server", "host"), f"refusing to listen on {s.server.host}: not a loopback "
                    "address; set server.allow_remote (--allow-remote) and put TLS in front to "
                    "serve other machines"))
    if (s.server.tls_cert is None) != (s.server.tls_key is None):
        missing = "tls_key" if s.server.tls_key is None else "tls_cert"
        out.append((("server", missing), "tls_cert and tls_key go together; set both or neither"))
    for section, token in (("admin", s.admin.token), ("metrics", s.metrics.token)):
        if token is not None and len(token.reveal()) < MIN_TOKEN_LENGTH:
            out.append(((section, "token"), f"the token is shorter than {MIN_TOKEN_LENGTH} "
                        "characters; use a long random one (openssl rand -hex 32)"))
    if s.metrics.token is not None and s.metrics.token == s.admin.token:
        out.append((("metrics", "token"), "must differ from admin.token: whoever scrapes "
                    "metrics must not be able to revoke agents"))
    hook = s.webhook
    if hook.url is None and hook.secret is not None:
        out.append((("webhook", "secret"), "a webhook secret was given without --alert-webhook "
                    "URL (webhook.url)"))
    if hook.url is not None:
        parts = urlsplit(hook.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            out.append((("webhook", "url"), "not an http(s) URL"))
        elif parts.username or parts.password:
            out.append((("webhook", "url"), "carries a user or password; the deliveries are "
                        "signed with webhook.secret instead"))
        if hook.secret is None:
            out.append((("webhook", "secret"), "a webhook needs a secret to sign its deliveries "
                        "(env:VAR or file:/path)"))
        elif len(hook.secret.reveal()) < MIN_TOKEN_LENGTH:
            out.append((("webhook", "secret"), f"the secret is shorter than {MIN_TOKEN_LENGTH} "
                        "characters; use a long random one"))
    out.extend(_mail_problems(s.mail))
    db = s.database.url
    try:
        parts = urlsplit(db)
        has_password = parts.password is not None
    except ValueError:
        out.append((("database", "url"), "not a valid URL"))
        return out
    if has_password:
        out.append((("database", "url"), "holds a password; move it to database.password "
                    "(env:VAR or file:/path) so it is never shown"))
    if s.database.password is not None and not parts.scheme.startswith("postgres"):
        out.append((("database", "password"), "only a PostgreSQL URL takes a password"))
    return out


def _mail_problems(m: MailSection) -> list[tuple[_Key, str]]:
    """The rules SmtpSettings enforces, said of the file's keys (and their flags)."""
    if m.host is None:
        given = [name for name in ("user", "password", "from_address")
                 if getattr(m, name) is not None]
        return [(("mail", name), "a mail setting was given without mail.host (--smtp-host), "
                 "the mail server; set it or remove this one") for name in given]
    out: list[tuple[_Key, str]] = []
    if m.security == "none" and not is_loopback(m.host):
        # credentials and customer data never cross a network in clear
        out.append((("mail", "security"), f"SMTP without TLS is allowed on loopback only, not "
                    f"{m.host}; use starttls or tls (--smtp-security)"))
    if m.from_address is None:
        out.append((("mail", "from_address"), "mail.host needs mail.from_address (--mail-from), "
                    "the address mail is sent from"))
    elif "@" not in m.from_address or any(c in m.from_address for c in "\r\n<>\" "):
        out.append((("mail", "from_address"), f"{m.from_address!r} is not an e-mail address"))
    if (m.user is None) != (m.password is None):
        missing = "password" if m.password is None else "user"
        out.append((("mail", missing), "give both an SMTP user and its password (env:VAR or "
                    "file:/path), or neither"))
    return out


def dump_effective(s: CentralSettings) -> str:
    """The effective settings as YAML, every default filled in, secrets as `<secret>`."""
    data = s.model_dump(mode="json")
    data["database"]["url"] = redact_url(s.database.url)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)
