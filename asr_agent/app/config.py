"""The agent's configuration: a YAML file strictly loaded into frozen, typed sections.

Owns the schema, every default (here and nowhere else), and error reporting by file:line:key.

Loading rules:
* an unknown key, a wrong type, a missing required value or a duplicate key is a
  `ConfigError` naming the file, the line and the dotted key (`targets.ranges[0].cidr`);
* a secret (community, v3 keys, status-page password) may be written as `env:VAR` and is
  then read from the environment at load; secrets print as `<secret>` everywhere;
* relative paths are relative to the directory of the config file;
* SNMP credentials are defined once under `snmp.credentials` and referenced by name from
  `targets`; nothing is scanned unless `targets` names it.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import math
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from asr_core.errors import ConfigError
from asr_agent.adapters.paths import AgentPaths, current_paths
from asr_agent.adapters.store import COMPACT_AFTER_DAYS
from asr_agent.domain.consumption import PREMATURE_THRESHOLD_PCT
from asr_core.secret import Secret, redact_url
from asr_core.yaml_source import compose, construct

if TYPE_CHECKING:
    from asr_agent.adapters.snmp.client import SnmpCredential

__all__ = [
    "AgentConfig", "CentralConfig", "ConsumptionConfig", "ContactConfig", "DeviceStateConfig",
    "DiscoveryConfig", "ForecastConfig", "HostTarget", "LoggingConfig", "OutboxConfig",
    "PollConfig", "RangeTarget", "SiteConfig", "SnmpConfig", "SnmpCredentialConfig",
    "StatusPageConfig", "StoreConfig", "TargetsConfig", "UpdateConfig",
    "as_plain", "default_config", "dump_effective", "load_config", "parse_config",
    "to_snmp_credential",
]

SECRET_MASK = "<secret>"

# ---------------------------------------------------------------------------- value checks
# The schema is the dataclasses below: each field's type annotation says what YAML value it
# takes (strictly: no "15" for 15, no `yes` for 1) and its metadata any further rule. The
# reader that applies them is further down; it is small on purpose, so that the running
# agent carries no validation library.

# Upper bounds of durations: far beyond any sensible setting, far inside what timedelta,
# the scheduler and SQLite hold (an unbounded `1e300` or `.inf` passed the schema once and
# crashed `run` at its first timer).
_DAY_S = 86_400
_WEEK_MIN = 7 * 24 * 60
_YEAR_H = 366 * 24
_CENTURY_DAYS = 36_525
# Longest text and path taken: ids, names and secrets are short; the limit keeps a
# pasted blob out of every summary and log line.
_MAX_TEXT = 1024
_MAX_PATH = 4096
# Control characters (a NUL ends a path in the OS, a newline forges a log line) and lone
# surrogates (YAML's "\ud800", which no encoder writes) are refused in every string.
_BAD_CHARS = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")

_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_-]{1,63})*\.?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _is_host(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(value))


def _host(value: str) -> str:
    if not _is_host(value):
        raise ValueError(f"not an IP address or host name: {value!r}")
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            fixed = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(f"not a network in CIDR form (like 10.1.2.0/24): {exc}") from None
        raise ValueError(f"host bits are set in {value}; did you mean {fixed}?") from None
    return str(net)


def _cidr_or_host(value: str) -> str:
    return _cidr(value) if "/" in value else _host(value)


def _bind_address(value: str) -> str:
    # the server binds IP addresses; `localhost` is what people type for this machine
    if value == "localhost":
        return "127.0.0.1"
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address; write 127.0.0.1 or ::1 for this "
                         "machine, or the address of one of its interfaces") from None


def _snmp_octets(value: Secret) -> Secret:
    # the v1/v2c encoder sends the community as Latin-1 octets; anything else fails each poll
    try:
        value.reveal().encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError("has characters SNMP cannot send; a community is ASCII (or Latin-1) "
                         "text") from None
    return value


def _password_hash_literal(value: str) -> str:
    from asr_agent.app.status.password import is_password_hash

    if not is_password_hash(value):
        raise ValueError("write the argon2 hash that `asr-agent status-password` prints, or "
                         "env:VAR naming a variable that holds the password; a plain password "
                         "is not kept in the file")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"not an e-mail address: {value!r}")
    return value


def _upper(value: object) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: object) -> Any:
    return value.lower() if isinstance(value, str) else value


def _snmp_version(value: object) -> Any:
    # `version: 1` and `version: 3` are what people type; YAML makes them ints.
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 3):
        return str(value)
    return value


def _update_channel(value: object) -> Any:
    # YAML 1.1 reads a bare `off` as the boolean false.
    return "off" if value is False else value


def _opt(default: Any = MISSING, *, factory: Callable[[], Any] | None = None,
         gt: float | None = None, ge: float | None = None, le: float | None = None,
         min_len: int | None = None, check: Callable[[Any], Any] | None = None,
         before: Callable[[Any], Any] | None = None, items: Callable[[Any], Any] | None = None,
         literal: Callable[[str], Any] | None = None) -> Any:
    """A config field: its default and the rules its value must meet.

    gt/ge/le bound a number, min_len a string or list; `check` validates (and may
    normalise) the value, `items` each item of a list; `before` adjusts the raw YAML
    value before its type is checked; `literal` checks a secret written in the file
    itself (not as env:VAR).
    """
    rules = {k: v for k, v in (("gt", gt), ("ge", ge), ("le", le), ("min_len", min_len),
                               ("check", check), ("before", before), ("items", items),
                               ("literal", literal)) if v is not None}
    if factory is not None:
        return field(default_factory=factory, metadata=rules)
    return field(default=default, metadata=rules)


# ---------------------------------------------------------------------------- sections

_T = typing.TypeVar("_T")


@typing.dataclass_transform(frozen_default=True, field_specifiers=(field,))
def _section(cls: type[_T]) -> type[_T]:
    """A config section: a frozen, slotted dataclass (declared so type checkers see one)."""
    return dataclass(frozen=True, slots=True)(cls)


@_section
class ContactConfig:
    name: str = _opt(min_len=1)
    email: str = _opt(check=_email)
    phone: str | None = None


@_section
class SiteConfig:
    id: str = _opt(min_len=1)
    name: str | None = None
    # Optional so a site can be set up before its contact is known; the agent reports the gap.
    contact: ContactConfig | None = None
    # The IANA zone whose midnight ends the site's days (daily use, weekday profiles), for
    # the daemon and `asr-agent status` alike; None is the host's local zone.
    timezone: str | None = None

    def tz(self) -> tzinfo:
        """The site's time zone: `timezone`, else the host's local zone (UTC when the host
        has none)."""
        if self.timezone is not None:
            return ZoneInfo(self.timezone)
        return _host_zone()


def _host_zone() -> tzinfo:
    """The host's local zone with its rules (so a day across a DST change is cut right):
    $TZ, else /etc/localtime; where neither names one (Windows), today's fixed offset."""
    with contextlib.suppress(ZoneInfoNotFoundError, ValueError, OSError):
        name = os.environ.get("TZ", "").lstrip(":")
        if name:
            return ZoneInfo(name)
        with open("/etc/localtime", "rb") as zone_file:
            return ZoneInfo.from_file(zone_file, key="localtime")
    return datetime.now().astimezone().tzinfo or UTC


AuthProtocol = Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"]
PrivProtocol = Literal["AES", "AES192", "AES256", "DES"]


@_section
class SnmpCredentialConfig:
    version: Literal["1", "2c", "3"] = _opt(before=_snmp_version)
    community: Secret | None = _opt(None, check=_snmp_octets)
    user: str | None = _opt(None, min_len=1)
    auth_protocol: AuthProtocol | None = _opt(None, before=_upper)
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol | None = _opt(None, before=_upper)
    priv_key: Secret | None = None
    context: str | None = None


@_section
class SnmpConfig:
    credentials: dict[str, SnmpCredentialConfig] = _opt(factory=dict)
    timeout_s: float = _opt(2.0, gt=0, le=60)
    retries: int = _opt(1, ge=0, le=10)


@_section
class RangeTarget:
    cidr: str = _opt(check=_cidr)
    credentials: list[str] = _opt(min_len=1)
    port: int = _opt(161, ge=1, le=65535)


@_section
class HostTarget:
    host: str = _opt(check=_host)
    credentials: list[str] = _opt(min_len=1)
    port: int = _opt(161, ge=1, le=65535)


@_section
class TargetsConfig:
    # No default ranges on purpose: an agent never sweeps a network nobody named.
    ranges: list[RangeTarget] = _opt(factory=list)
    hosts: list[HostTarget] = _opt(factory=list)
    exclude: list[str] = _opt(factory=list, items=_cidr_or_host)


@_section
class DiscoveryConfig:
    interval_h: float = _opt(24.0, gt=0, le=_YEAR_H)
    rate_pps: int = _opt(200, gt=0, le=100_000)
    timeout_s: float = _opt(1.5, gt=0, le=60)
    max_prefix: int = _opt(16, ge=0, le=32)


@_section
class PollConfig:
    interval_min: float = _opt(15.0, gt=0, le=_WEEK_MIN)
    jitter_s: float = _opt(60.0, ge=0, le=_DAY_S)


@_section
class DeviceStateConfig:
    asleep_after_misses: int = _opt(1, gt=0, le=10_000)
    unreachable_after_misses: int = _opt(4, gt=0, le=10_000)
    unreachable_after_h: float = _opt(24.0, gt=0, le=_YEAR_H)


@_section
class CentralConfig:
    url: str | None = None
    ca_bundle: Path | None = None
    use_system_trust: bool = False
    proxy: str | None = None
    timeout_s: float = _opt(10.0, gt=0, le=600)
    mask_ip_addresses: bool = False
    # central takes at most 500 summaries a request and refuses a bigger batch whole
    batch_size: int = _opt(50, gt=0, le=500)
    summary_interval_min: float = _opt(60.0, gt=0, le=_WEEK_MIN)


@_section
class OutboxConfig:
    max_age_days: float = _opt(60.0, gt=0, le=_CENTURY_DAYS)


@_section
class StoreConfig:
    data_dir: Path | None = None
    sample_retention_days: float = _opt(400.0, gt=0, le=_CENTURY_DAYS)
    compact_after_days: float = _opt(float(COMPACT_AFTER_DAYS), gt=0, le=_CENTURY_DAYS)


@_section
class ConsumptionConfig:
    premature_threshold_pct: float = _opt(PREMATURE_THRESHOLD_PCT, ge=0, le=100)
    supply_catalog: Path | None = None


@_section
class ForecastConfig:
    min_span_h: float = _opt(24.0, gt=0, le=_YEAR_H)
    min_readings: int = _opt(2, ge=2, le=10_000)


@_section
class StatusPageConfig:
    enabled: bool = True
    bind: list[str] = _opt(factory=lambda: ["127.0.0.1", "::1"], min_len=1, items=_bind_address)
    port: int = _opt(8765, ge=1, le=65535)
    allow_remote: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # an argon2 hash (`asr-agent status-password` prints one), or env:VAR with the password
    password: Secret | None = _opt(None, literal=_password_hash_literal)


@_section
class UpdateConfig:
    channel: Literal["off", "stable", "beta"] = _opt("off", before=_update_channel)
    url: str | None = None
    check_interval_h: float = _opt(24.0, gt=0, le=_YEAR_H)


@_section
class LoggingConfig:
    level: Literal["debug", "info", "warning", "error", "critical"] = _opt("info", before=_lower)
    file: Path | None = None


@_section
class AgentConfig:
    site: SiteConfig
    snmp: SnmpConfig = _opt(factory=SnmpConfig)
    targets: TargetsConfig = _opt(factory=TargetsConfig)
    discovery: DiscoveryConfig = _opt(factory=DiscoveryConfig)
    poll: PollConfig = _opt(factory=PollConfig)
    device_state: DeviceStateConfig = _opt(factory=DeviceStateConfig)
    central: CentralConfig = _opt(factory=CentralConfig)
    outbox: OutboxConfig = _opt(factory=OutboxConfig)
    store: StoreConfig = _opt(factory=StoreConfig)
    consumption: ConsumptionConfig = _opt(factory=ConsumptionConfig)
    forecast: ForecastConfig = _opt(factory=ForecastConfig)
    status_page: StatusPageConfig = _opt(factory=StatusPageConfig)
    update: UpdateConfig = _opt(factory=UpdateConfig)
    logging: LoggingConfig = _opt(factory=LoggingConfig)

    def paths(self, *, config_file: str | os.PathLike[str] | None = None,
              env: Mapping[str, str] | None = None) -> AgentPaths:
        """The agent's file locations with this config's overrides applied."""
        return current_paths(config_file=config_file, data_dir=self.store.data_dir,
                             log_file=self.logging.file, env=env)


def default_config(site_id: str = "unconfigured") -> AgentConfig:
    """Every default, with a placeholder site (a site is the one thing with no default)."""
    return AgentConfig(site=SiteConfig(id=site_id))


# ---------------------------------------------------------------------------- YAML → lines

_Key = tuple[str | int, ...]


def _line_map(node: yaml.Node, path: str) -> dict[_Key, int]:
    """Each key path in the document → the 1-based line it is written on."""
    lines: dict[_Key, int] = {(): node.start_mark.line + 1}

    def walk(n: yaml.Node, key: _Key) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for k, v in n.value:
                name = k.value if isinstance(k, yaml.ScalarNode) else str(k.value)
                line = k.start_mark.line + 1
                if name in seen:
                    raise ConfigError(f"duplicate key (first written on line {seen[name]}); keep one",
                                      path=path, line=line, key=_dotted(key + (name,)))
                seen[name] = line
                lines[key + (name,)] = line
                walk(v, key + (name,))
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                lines[key + (i,)] = item.start_mark.line + 1
                walk(item, key + (i,))

    walk(node, ())
    return lines


def _dotted(key: _Key) -> str:
    out = ""
    for part in key:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Problem:
    __slots__ = ("key", "message")

    def __init__(self, key: _Key, message: str) -> None:
        self.key = key
        self.message = message


def _raise(problems: list[_Problem], path: str, lines: Mapping[_Key, int]) -> None:
    def line_of(key: _Key) -> int | None:
        for n in range(len(key), -1, -1):  # a missing key is reported at its parent's line
            if key[:n] in lines:
                return lines[key[:n]]
        return None

    first, rest = problems[0], problems[1:]
    err = ConfigError(first.message, path=path, line=line_of(first.key), key=_dotted(first.key) or None)
    if rest:
        more = [str(ConfigError(p.message, path=path, line=line_of(p.key), key=_dotted(p.key) or None))
                for p in rest]
        err.args = ("\n".join([str(err), *more]),)
    raise err


class _Reader:
    """Builds the frozen sections from plain YAML data, collecting every problem by key.

    Types are checked strictly, as written in each field's annotation: a string is not a
    number, a boolean is not an integer; an int is taken where a float is asked for.
    """

    def __init__(self, env: Mapping[str, str], base_dir: str | os.PathLike[str] | None) -> None:
        self.env = env
        self.base_dir = base_dir
        self.problems: list[_Problem] = []

    def section(self, cls: type, data: object, key: _Key) -> Any:
        if not isinstance(data, dict):
            return self._bad(key, f"must be a mapping of keys (got {_got(data)})")
        known = {f.name: f for f in fields(cls)}
        before = len(self.problems)
        for name in data:
            if name not in known:
                self.problems.append(_Problem(key + (str(name),), "unknown key; check its spelling and "
                                              "section (config.example.yaml lists every key)"))
        values: dict[str, Any] = {}
        hints = _hints(cls)
        for name, f in known.items():
            if name in data:
                values[name] = self.value(hints[name], data[name], key + (name,), f.metadata)
            elif f.default is MISSING and f.default_factory is MISSING:
                self.problems.append(_Problem(key + (name,), "required value is missing"))
        return cls(**values) if len(self.problems) == before else None

    def value(self, tp: Any, raw: object, key: _Key, rules: Mapping[str, Any]) -> Any:
        if "before" in rules:
            raw = rules["before"](raw)
        args = typing.get_args(tp)
        if typing.get_origin(tp) in (typing.Union, _UnionType):
            if raw is None and type(None) in args:
                return None
            tp = next(a for a in args if a is not type(None))
            args = typing.get_args(tp)
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and is_dataclass(tp):
            return self.section(tp, raw, key)
        if origin is list:
            if not isinstance(raw, list):
                return self._bad(key, f"must be a list (got {_got(raw)})")
            item_rules = {"check": rules["items"]} if "items" in rules else {}
            value: Any = [self.value(args[0], item, key + (i,), item_rules) for i, item in enumerate(raw)]
        elif origin is dict:
            if not isinstance(raw, dict):
                return self._bad(key, f"must be a mapping (got {_got(raw)})")
            value = {}
            for name, item in raw.items():
                if not isinstance(name, str):
                    self._bad(key + (str(name),), "this name must be a string; quote it")
                elif not name:
                    self._bad(key + (name,), "a name must not be empty")
                elif self.text_ok(name, key + (name,), _MAX_TEXT):
                    value[name] = self.value(args[1], item, key + (name,), {})
        elif origin is Literal:
            if raw not in args or isinstance(raw, bool):
                choices = ", ".join(repr(a) for a in args)
                return self._bad(key, f"must be one of {choices} (got {_got(raw)})")
            value = raw
        else:
            value = self.scalar(tp, raw, key, rules)
            if value is None:
                return None
        return self._within(value, key, rules)

    def scalar(self, tp: Any, raw: object, key: _Key, rules: Mapping[str, Any]) -> Any:
        if isinstance(raw, str) and not self.text_ok(raw, key, _MAX_PATH if tp is Path else _MAX_TEXT):
            return None
        if tp is Secret:
            return self.secret(raw, key, rules.get("literal"))
        if tp is Path:
            if not isinstance(raw, str):
                return self._bad(key, f"a path must be a string (got {_got(raw)})")
            path = Path(raw).expanduser()
            return Path(self.base_dir) / path if self.base_dir is not None and not path.is_absolute() else path
        expected = {bool: (bool, "true or false"), str: (str, "a string"), int: (int, "an integer"),
                    float: ((int, float), "a number")}[tp]
        if not isinstance(raw, expected[0]) or (tp is not bool and isinstance(raw, bool)):
            return self._bad(key, f"must be {expected[1]} (got {_got(raw)})")
        if tp is float:
            try:
                raw = float(raw)
            except OverflowError:
                return self._bad(key, f"{raw} is far too large")
            if not math.isfinite(raw):
                return self._bad(key, f"must be a finite number (got {raw!r})")
        return raw

    def text_ok(self, raw: str, key: _Key, limit: int) -> bool:
        bad = _BAD_CHARS.search(raw)
        if bad is not None:
            self._bad(key, f"contains the control character or lone surrogate {bad.group()!r} at "
                           f"position {bad.start()}; remove it")
            return False
        if len(raw) > limit:
            self._bad(key, f"is {len(raw):,} characters long; at most {limit:,} are taken")
            return False
        return True

    def secret(self, raw: object, key: _Key, literal: Callable[[str], Any] | None = None) -> Secret | None:
        if not isinstance(raw, str):
            return self._bad(key, "a secret must be a string (or env:VAR)")
        if literal is not None and not raw.startswith("env:"):
            try:
                literal(raw)
            except ValueError as exc:
                return self._bad(key, str(exc))
        if raw.startswith("env:"):
            var = raw[4:]
            if not var:
                return self._bad(key, "`env:` needs a variable name, e.g. env:ASR_SNMP_COMMUNITY")
            if var not in self.env:
                return self._bad(key, f"environment variable {var} is not set; set it for the agent's "
                                      "service or write the value here")
            raw = self.env[var]
            if not self.text_ok(raw, key, _MAX_TEXT):
                return None
        return Secret(raw)

    def _within(self, value: object, key: _Key, rules: Mapping[str, Any]) -> Any:
        for rule, ok, words in (("gt", lambda v, b: v > b, "greater than"),
                                ("ge", lambda v, b: v >= b, "at least"),
                                ("le", lambda v, b: v <= b, "at most")):
            if rule in rules and not ok(value, rules[rule]):
                return self._bad(key, f"must be {words} {rules[rule]} (got {value!r})")
        if "min_len" in rules and len(value) < rules["min_len"]:
            what = "list" if isinstance(value, list) else "value"
            return self._bad(key, f"this {what} must not be empty" if rules["min_len"] == 1
                             else f"needs at least {rules['min_len']} items")
        if "check" in rules:
            try:
                return rules["check"](value)
            except ValueError as exc:
                return self._bad(key, str(exc))
        return value

    def _bad(self, key: _Key, message: str) -> None:
        self.problems.append(_Problem(key, message))
        return None


_UnionType = type(int | None)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _got(raw: object) -> str:
    return f"{type(raw).__name__} {raw!r}" if raw is not None else "nothing (null)"


# ---------------------------------------------------------------------------- cross-field rules

_LOOPBACK_NAMES = {"localhost"}


def _is_loopback(addr: str) -> bool:
    if addr in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def _semantic_problems(cfg: AgentConfig) -> list[_Problem]:
    out: list[_Problem] = []
    add = lambda key, msg: out.append(_Problem(key, msg))  # noqa: E731

    for name, cred in cfg.snmp.credentials.items():
        k: _Key = ("snmp", "credentials", name)
        if cred.version in ("1", "2c"):
            if cred.community is None:
                add(k + ("community",), f"SNMPv{cred.version} needs a community")
            for field in ("user", "auth_protocol", "auth_key", "priv_protocol", "priv_key", "context"):
                if getattr(cred, field) is not None:
                    add(k + (field,), f"only SNMPv3 uses {field}; remove it or set version: \"3\"")
            continue
        if cred.community is not None:
            add(k + ("community",), "SNMPv3 has no community; use user and keys")
        if cred.user is None:
            add(k + ("user",), "SNMPv3 needs a user")
        for proto, key in (("auth_protocol", "auth_key"), ("priv_protocol", "priv_key")):
            has_proto, secret = getattr(cred, proto) is not None, getattr(cred, key)
            if has_proto and secret is None:
                add(k + (key,), f"{proto} is set, so {key} is required")
            if secret is not None and not has_proto:
                add(k + (proto,), f"{key} is set, so {proto} is required")
            if secret is not None and len(secret.reveal()) < 8:
                add(k + (key,), "SNMPv3 keys must be at least 8 characters (RFC 3414)")
        if cred.priv_protocol is not None and cred.auth_protocol is None:
            add(k + ("priv_protocol",), "privacy needs authentication: set auth_protocol and auth_key too")

    known = set(cfg.snmp.credentials)
    max_addresses = 2 ** (32 - cfg.discovery.max_prefix)
    for section, items in (("ranges", cfg.targets.ranges), ("hosts", cfg.targets.hosts)):
        for i, target in enumerate(items):
            for j, ref in enumerate(target.credentials):
                if ref not in known:
                    names = ", ".join(sorted(known)) or "none are defined"
                    add(("targets", section, i, "credentials", j),
                        f"no credential named {ref!r} under snmp.credentials ({names})")
    for i, rng in enumerate(cfg.targets.ranges):
        if ipaddress.ip_network(rng.cidr).num_addresses > max_addresses:
            add(("targets", "ranges", i, "cidr"),
                f"{rng.cidr} has more than {max_addresses} addresses (discovery.max_prefix is "
                f"/{cfg.discovery.max_prefix}); split it into smaller ranges or lower max_prefix")

    if cfg.site.timezone is not None:
        try:
            ZoneInfo(cfg.site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            add(("site", "timezone"), f"{cfg.site.timezone!r} is not an IANA time zone name; use one "
                "such as Europe/Berlin or America/New_York, or remove it for the host's local zone")

    ds = cfg.device_state
    if ds.unreachable_after_misses < ds.asleep_after_misses:
        add(("device_state", "unreachable_after_misses"),
            "must be at least asleep_after_misses (a device is asleep before it is unreachable)")
    if cfg.store.compact_after_days >= cfg.store.sample_retention_days:
        add(("store", "compact_after_days"), "must be smaller than sample_retention_days")
    from asr_agent.adapters.store import FORECAST_WINDOW_DAYS

    if cfg.store.sample_retention_days < FORECAST_WINDOW_DAYS:
        add(("store", "sample_retention_days"),
            f"must be at least {FORECAST_WINDOW_DAYS}: forecasts read that many days of samples")

    if cfg.central.url is not None:
        out.extend(_url_problems(("central", "url"), cfg.central.url))
    if cfg.update.url is not None:
        out.extend(_url_problems(("update", "url"), cfg.update.url))
    if cfg.central.proxy is not None:
        try:
            proxy = urlsplit(cfg.central.proxy)
            proxy.port  # noqa: B018 -- raises on a port out of range
        except ValueError:
            proxy = None
        if proxy is None or proxy.scheme not in ("http", "https", "socks5") or not proxy.hostname:
            add(("central", "proxy"), "a proxy is a URL like http://proxy.example:3128")

    sp = cfg.status_page
    if (sp.tls_cert is None) != (sp.tls_key is None):
        missing = "tls_key" if sp.tls_key is None else "tls_cert"
        add(("status_page", missing), "tls_cert and tls_key go together; set both or neither")
    for i, addr in enumerate(sp.bind):
        if addr not in _LOOPBACK_NAMES:
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                add(("status_page", "bind", i), f"{addr!r} is not an IP address (or localhost)")
                continue
        if _is_loopback(addr):
            continue
        lacking = [name for name, ok in (("allow_remote: true", sp.allow_remote),
                                         ("tls_cert and tls_key", sp.tls_cert is not None and sp.tls_key is not None),
                                         ("password", sp.password is not None)) if not ok]
        if lacking:
            add(("status_page", "bind", i),
                f"{addr} is not a loopback address; serving the status page beyond this machine "
                f"needs {', '.join(lacking)}")
    return out


def _url_problems(key: _Key, url: str) -> list[_Problem]:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises on a port out of range, as the HTTP client would later
    except ValueError as exc:
        return [_Problem(key, f"not a valid URL: {exc}")]  # not repeated: it may hold a password
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [_Problem(key, f"not an http(s) URL: {url!r}")]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [_Problem(key, "plain http is only allowed to this machine (loopback); use https")]
    return []


# ---------------------------------------------------------------------------- entry points


def _file_problems(cfg: AgentConfig) -> list[_Problem]:
    """The files the config names that `run` opens at start, opened now the same way."""
    import ssl

    out: list[_Problem] = []
    sp = cfg.status_page
    if sp.enabled and sp.tls_cert is not None and sp.tls_key is not None:
        try:
            ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(sp.tls_cert, sp.tls_key)
        except (OSError, ssl.SSLError) as exc:
            out.append(_Problem(("status_page", "tls_cert"), f"cannot load the certificate and key "
                                f"({sp.tls_cert}, {sp.tls_key}): {exc}"))
    if cfg.central.ca_bundle is not None:
        try:
            ssl.create_default_context(cafile=str(cfg.central.ca_bundle))
        except (OSError, ssl.SSLError) as exc:
            out.append(_Problem(("central", "ca_bundle"), f"cannot load the CA bundle: {exc}"))
    if cfg.consumption.supply_catalog is not None:
        from asr_agent.domain.catalog import load_catalog

        try:
            load_catalog(cfg.consumption.supply_catalog)
        except ConfigError as exc:
            out.append(_Problem(("consumption", "supply_catalog"), str(exc)))
    return out


def parse_config(text: str, *, path: str = "<config>", base_dir: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None, check_files: bool = False) -> AgentConfig:
    """Validate YAML text; errors name `path`. `env` resolves `env:VAR` secrets.

    `check_files` also opens the certificate, CA bundle and supply catalog the config names,
    as `run` will at start (check-config does, so a bad file is found before `run`)."""
    node = compose(text, path)
    data = construct(node) if node is not None else None
    if node is None or data is None:
        raise ConfigError("the file is empty; start from config.example.yaml", path=path)
    lines = _line_map(node, path)
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections (site:, snmp:, ...)",
                          path=path, line=lines[()])
    reader = _Reader(os.environ if env is None else env, base_dir)
    cfg = reader.section(AgentConfig, data, ())
    if reader.problems:
        _raise(reader.problems, path, lines)
    problems = _semantic_problems(cfg)
    if not problems and check_files:
        problems = _file_problems(cfg)
    if problems:
        _raise(problems, path, lines)
    return cfg


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None,
                check_files: bool = False) -> AgentConfig:
    """Read and validate the config file at `path` (`check_files`: see parse_config)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no config file here; copy config.example.yaml to this path and edit it",
                          path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file: {exc}", path=str(p)) from None
    return parse_config(text, path=str(p), base_dir=p.resolve().parent, env=env, check_files=check_files)


def as_plain(value: object) -> Any:
    """A config (or any part of it) as JSON-like data: paths as strings, secrets and URL
    passwords as `<secret>`."""
    if is_dataclass(value):
        return {f.name: as_plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {k: as_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_plain(v) for v in value]
    if isinstance(value, Secret):
        return SECRET_MASK
    if isinstance(value, str) and "://" in value:
        return redact_url(value)  # central.url, central.proxy, update.url may carry a password
    if isinstance(value, Path):
        return str(value)
    return value


def dump_effective(cfg: AgentConfig) -> str:
    """The effective config as YAML, every default filled in, secrets as `<secret>`."""
    return yaml.safe_dump(as_plain(cfg), sort_keys=False, default_flow_style=False, allow_unicode=True)


# ---------------------------------------------------------------------------- SNMP adapter


def to_snmp_credential(name: str, cfg: AgentConfig) -> SnmpCredential:
    """The SNMP client's credential for the config credential `name`.

    Imported lazily: the SNMP client pulls in pysnmp, which config loading must not.
    """
    from asr_agent.adapters.snmp.client import SnmpCredential

    cred = cfg.snmp.credentials[name]
    # The client has its own protocol defaults; pass ours only where the config set one.
    protocols = {k: v for k, v in (("auth_protocol", cred.auth_protocol),
                                   ("priv_protocol", cred.priv_protocol)) if v is not None}
    return SnmpCredential(
        version=cred.version,
        community=cred.community,
        user=cred.user,
        auth_key=cred.auth_key,
        priv_key=cred.priv_key,
        context_name=cred.context or "",
        **protocols,
    )
