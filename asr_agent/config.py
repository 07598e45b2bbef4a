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

import ipaddress
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from asr_agent.errors import ConfigError
from asr_agent.yaml_source import compose, construct
from asr_agent.paths import AgentPaths, current_paths
from asr_agent.secret import Secret

if TYPE_CHECKING:
    from asr_agent.snmp.client import SnmpCredential

__all__ = [
    "AgentConfig", "CentralConfig", "ConsumptionConfig", "ContactConfig", "DeviceStateConfig",
    "DiscoveryConfig", "ForecastConfig", "HostTarget", "LoggingConfig", "OutboxConfig",
    "PollConfig", "RangeTarget", "SiteConfig", "SnmpConfig", "SnmpCredentialConfig",
    "StatusPageConfig", "StoreConfig", "TargetsConfig", "UpdateConfig",
    "default_config", "dump_effective", "load_config", "parse_config", "to_snmp_credential",
]

SECRET_MASK = "<secret>"

# ---------------------------------------------------------------------------- field types


def _secret(value: Any, info: ValidationInfo) -> Secret:
    if isinstance(value, Secret):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("secret_type", "a secret must be a string (or env:VAR)")
    if value.startswith("env:"):
        var = value[4:]
        env: Mapping[str, str] = (info.context or {}).get("env", os.environ)
        if not var:
            raise PydanticCustomError("env_missing", "`env:` needs a variable name, e.g. env:ASR_SNMP_COMMUNITY")
        if var not in env:
            raise PydanticCustomError(
                "env_missing",
                "environment variable {var} is not set; set it for the agent's service or write the value here",
                {"var": var})
        value = env[var]
    return Secret(value)


SecretStr = Annotated[Secret, PlainValidator(_secret),
                      PlainSerializer(lambda _s: SECRET_MASK, return_type=str)]


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    value = value.expanduser()
    if base is not None and not value.is_absolute():
        return Path(base) / value
    return value


# Strict mode would accept only Path objects; a YAML string is the natural spelling.
ConfigPath = Annotated[Path, Strict(False), AfterValidator(_relative_to_config)]

PositiveFloat = Annotated[float, Field(gt=0)]
PositiveInt = Annotated[int, Field(gt=0)]
Port = Annotated[int, Field(ge=1, le=65535)]
NonEmptyStr = Annotated[str, Field(min_length=1)]

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
        raise PydanticCustomError("host", "not an IP address or host name: {value!r}", {"value": value})
    return value


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            fixed = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise PydanticCustomError("cidr", "not a network in CIDR form (like 10.1.2.0/24): {err}",
                                      {"err": str(exc)}) from None
        raise PydanticCustomError("cidr", "host bits are set in {value}; did you mean {fixed}?",
                                  {"value": value, "fixed": str(fixed)}) from None
    return str(net)


def _cidr_or_host(value: str) -> str:
    if "/" in value:
        return _cidr(value)
    return _host(value)


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise PydanticCustomError("email", "not an e-mail address: {value!r}", {"value": value})
    return value


Host = Annotated[str, AfterValidator(_host)]
Cidr = Annotated[str, AfterValidator(_cidr)]
CidrOrHost = Annotated[str, AfterValidator(_cidr_or_host)]
Email = Annotated[str, AfterValidator(_email)]


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _snmp_version(value: Any) -> Any:
    # `version: 1` and `version: 3` are what people type; YAML makes them ints.
    if isinstance(value, int) and not isinstance(value, bool) and value in (1, 3):
        return str(value)
    return value


def _update_channel(value: Any) -> Any:
    # YAML 1.1 reads a bare `off` as the boolean false.
    return "off" if value is False else value


# ---------------------------------------------------------------------------- sections


class _Section(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True,
                              arbitrary_types_allowed=True)


class ContactConfig(_Section):
    name: NonEmptyStr
    email: Email
    phone: str | None = None


class SiteConfig(_Section):
    id: NonEmptyStr
    name: str | None = None
    # Optional so a site can be set up before its contact is known; the agent reports the gap.
    contact: ContactConfig | None = None


AuthProtocol = Literal["SHA", "SHA224", "SHA256", "SHA384", "SHA512", "MD5"]
PrivProtocol = Literal["AES", "AES192", "AES256", "DES"]


class SnmpCredentialConfig(_Section):
    version: Annotated[Literal["1", "2c", "3"], BeforeValidator(_snmp_version)]
    community: SecretStr | None = None
    user: NonEmptyStr | None = None
    auth_protocol: Annotated[AuthProtocol, BeforeValidator(_upper)] | None = None
    auth_key: SecretStr | None = None
    priv_protocol: Annotated[PrivProtocol, BeforeValidator(_upper)] | None = None
    priv_key: SecretStr | None = None
    context: str | None = None


class SnmpConfig(_Section):
    credentials: dict[NonEmptyStr, SnmpCredentialConfig] = {}
    timeout_s: PositiveFloat = 2.0
    retries: Annotated[int, Field(ge=0, le=10)] = 1


class RangeTarget(_Section):
    cidr: Cidr
    credentials: Annotated[list[NonEmptyStr], Field(min_length=1)]
    port: Port = 161


class HostTarget(_Section):
    host: Host
    credentials: Annotated[list[NonEmptyStr], Field(min_length=1)]
    port: Port = 161


class TargetsConfig(_Section):
    # No default ranges on purpose: an agent never sweeps a network nobody named.
    ranges: list[RangeTarget] = []
    hosts: list[HostTarget] = []
    exclude: list[CidrOrHost] = []


class DiscoveryConfig(_Section):
    interval_h: PositiveFloat = 24.0
    rate_pps: PositiveInt = 200
    timeout_s: PositiveFloat = 1.5
    max_prefix: Annotated[int, Field(ge=0, le=32)] = 16


class PollConfig(_Section):
    interval_min: PositiveFloat = 15.0
    jitter_s: Annotated[float, Field(ge=0)] = 60.0


class DeviceStateConfig(_Section):
    asleep_after_misses: PositiveInt = 1
    unreachable_after_misses: PositiveInt = 4
    unreachable_after_h: PositiveFloat = 24.0


class CentralConfig(_Section):
    url: str | None = None
    ca_bundle: ConfigPath | None = None
    use_system_trust: bool = False
    proxy: str | None = None
    timeout_s: PositiveFloat = 10.0
    mask_ip_addresses: bool = False
    batch_size: PositiveInt = 50
    summary_interval_min: PositiveFloat = 60.0


class OutboxConfig(_Section):
    max_age_days: PositiveFloat = 60.0


class StoreConfig(_Section):
    data_dir: ConfigPath | None = None
    sample_retention_days: PositiveFloat = 400.0
    compact_after_days: PositiveFloat = 35.0


class ConsumptionConfig(_Section):
    premature_threshold_pct: Annotated[float, Field(ge=0, le=100)] = 10.0
    supply_catalog: ConfigPath | None = None


class ForecastConfig(_Section):
    min_span_h: PositiveFloat = 24.0
    min_readings: Annotated[int, Field(ge=2)] = 2


class StatusPageConfig(_Section):
    enabled: bool = True
    bind: Annotated[list[NonEmptyStr], Field(min_length=1)] = ["127.0.0.1", "::1"]
    port: Port = 8765
    allow_remote: bool = False
    tls_cert: ConfigPath | None = None
    tls_key: ConfigPath | None = None
    password: SecretStr | None = None


class UpdateConfig(_Section):
    channel: Annotated[Literal["off", "stable", "beta"], BeforeValidator(_update_channel)] = "off"
    url: str | None = None
    check_interval_h: PositiveFloat = 24.0


class LoggingConfig(_Section):
    level: Annotated[Literal["debug", "info", "warning", "error", "critical"],
                     BeforeValidator(_lower)] = "info"
    file: ConfigPath | None = None


class AgentConfig(_Section):
    site: SiteConfig
    snmp: SnmpConfig = SnmpConfig()
    targets: TargetsConfig = TargetsConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    poll: PollConfig = PollConfig()
    device_state: DeviceStateConfig = DeviceStateConfig()
    central: CentralConfig = CentralConfig()
    outbox: OutboxConfig = OutboxConfig()
    store: StoreConfig = StoreConfig()
    consumption: ConsumptionConfig = ConsumptionConfig()
    forecast: ForecastConfig = ForecastConfig()
    status_page: StatusPageConfig = StatusPageConfig()
    update: UpdateConfig = UpdateConfig()
    logging: LoggingConfig = LoggingConfig()

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


def _pydantic_problems(exc: ValidationError) -> list[_Problem]:
    problems = []
    for e in exc.errors(include_url=False):
        key: _Key = tuple(e["loc"])
        kind = e["type"]
        if key and key[-1] == "[key]":
            # A mapping key of the wrong type (e.g. a bare number as a credential name).
            key = key[:-2] + (str(key[-2]),)
            msg = "this name must be a string; quote it"
        elif kind == "extra_forbidden":
            msg = "unknown key; check its spelling and section (config.example.yaml lists every key)"
        elif kind == "missing":
            msg = "required value is missing"
        elif kind.startswith("path_"):
            msg = f"a path must be a string (got {type(e['input']).__name__} {e['input']!r})"
        else:
            msg = e["msg"]
            if kind.endswith("_type") and "input" in e:
                msg += f" (got {type(e['input']).__name__} {e['input']!r})"
        problems.append(_Problem(key, msg))
    return problems


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

    ds = cfg.device_state
    if ds.unreachable_after_misses < ds.asleep_after_misses:
        add(("device_state", "unreachable_after_misses"),
            "must be at least asleep_after_misses (a device is asleep before it is unreachable)")
    if cfg.store.compact_after_days >= cfg.store.sample_retention_days:
        add(("store", "compact_after_days"), "must be smaller than sample_retention_days")
    from asr_agent.store import FORECAST_WINDOW_DAYS

    if cfg.store.sample_retention_days < FORECAST_WINDOW_DAYS:
        add(("store", "sample_retention_days"),
            f"must be at least {FORECAST_WINDOW_DAYS}: forecasts read that many days of samples")

    if cfg.central.url is not None:
        out.extend(_url_problems(("central", "url"), cfg.central.url))
    if cfg.update.url is not None:
        out.extend(_url_problems(("update", "url"), cfg.update.url))
    if cfg.central.proxy is not None and urlsplit(cfg.central.proxy).scheme not in ("http", "https", "socks5"):
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
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return [_Problem(key, f"not an http(s) URL: {url!r}")]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [_Problem(key, "plain http is only allowed to this machine (loopback); use https")]
    return []


# ---------------------------------------------------------------------------- entry points


def parse_config(text: str, *, path: str = "<config>", base_dir: str | os.PathLike[str] | None = None,
                 env: Mapping[str, str] | None = None) -> AgentConfig:
    """Validate YAML text; errors name `path`. `env` resolves `env:VAR` secrets."""
    node = compose(text, path)
    data = construct(node) if node is not None else None
    if node is None or data is None:
        raise ConfigError("the file is empty; start from config.example.yaml", path=path)
    lines = _line_map(node, path)
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of sections (site:, snmp:, ...)",
                          path=path, line=lines[()])
    context = {"env": os.environ if env is None else env, "base_dir": base_dir}
    try:
        cfg = AgentConfig.model_validate(data, context=context)
    except ValidationError as exc:
        _raise(_pydantic_problems(exc), path, lines)
        raise  # unreachable: _raise always raises
    problems = _semantic_problems(cfg)
    if problems:
        _raise(problems, path, lines)
    return cfg


def load_config(path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> AgentConfig:
    """Read and validate the config file at `path`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no config file here; copy config.example.yaml to this path and edit it",
                          path=str(p)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file: {exc}", path=str(p)) from None
    return parse_config(text, path=str(p), base_dir=p.resolve().parent, env=env)


def dump_effective(cfg: AgentConfig) -> str:
    """The effective config as YAML, every default filled in, secrets as `<secret>`."""
    data = cfg.model_dump(mode="json")
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


# ---------------------------------------------------------------------------- SNMP adapter


def to_snmp_credential(name: str, cfg: AgentConfig) -> SnmpCredential:
    """The SNMP client's credential for the config credential `name`.

    Imported lazily: the SNMP client pulls in pysnmp, which config loading must not.
    """
    from asr_agent.snmp.client import SnmpCredential

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
