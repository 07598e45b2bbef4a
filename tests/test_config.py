"""Config loading: strictness with file:line:key errors, secrets that never show, the example
file, and `asr-agent check-config`."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest
import yaml

from asr_agent.app.config import (
    AgentConfig,
    as_plain,
    default_config,
    dump_effective,
    load_config,
    to_snmp_credential,
)
from asr_core.errors import ConfigError
from asr_core.secret import Secret

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config.example.yaml"

MINIMAL = """\
site:
  id: s1
"""


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> tuple[ConfigError, Path]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env or {})
    return info.value, path


# ------------------------------------------------------------------ strictness


def test_minimal_file_gets_every_default(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL), env={})
    assert cfg == default_config("s1")
    assert cfg.poll.interval_min == 15
    assert cfg.discovery.max_prefix == 16
    assert cfg.status_page.bind == ["127.0.0.1", "::1"]
    assert cfg.update.channel == "off"


def test_no_target_is_scanned_by_default() -> None:
    targets = default_config().targets
    assert (targets.ranges, targets.hosts, targets.exclude) == ([], [], [])


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, """\
        site:
          id: s1
        poll:
          interval_min: 5
          intervall_s: 3
        """)
    assert (err.path, err.line, err.key) == (str(path), 5, "poll.intervall_s")
    assert str(err).startswith(f"{path}:5: poll.intervall_s: unknown key")


def test_unknown_key_inside_a_list_item(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, """\
        site: {id: s1}
        snmp:
          credentials:
            pub: {version: 2c, community: public}
        targets:
          hosts:
            - host: 127.0.0.1
              credentials: [pub]
              prot: 161
        """)
    assert (err.line, err.key) == (9, "targets.hosts[0].prot")


def test_wrong_type_names_line_and_key(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, """\
        site: {id: s1}
        poll:
          interval_min: "15"
        """)
    assert (err.line, err.key) == (3, "poll.interval_min")
    assert "number" in str(err)


def test_bool_is_not_accepted_for_a_number(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "site: {id: s1}\nsnmp:\n  retries: yes\n")
    assert (err.line, err.key) == (3, "snmp.retries")


def test_missing_required_value_is_reported_at_its_parent(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, """\
        site:
          name: Office
          contact: {name: A, email: a@example.com}
        """)
    assert (err.line, err.key) == (1, "site.id")
    assert "missing" in str(err)


def test_missing_site_section(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "poll: {interval_min: 5}\n")
    assert err.key == "site"


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "site: {id: s1}\npoll: {interval_min: 5}\npoll: {jitter_s: 1}\n")
    assert (err.line, err.key) == (3, "poll")
    assert "duplicate" in str(err)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "site:\n  id: s1\n  name: [unclosed\npoll: {}\n")
    assert err.line is not None and err.line >= 3
    assert "not valid YAML" in str(err)


def test_all_problems_are_listed(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, "site: {id: s1}\npoll: {interval_min: x, jitter_s: y}\n")
    lines = str(err).splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}:2: poll.") for line in lines)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file") as info:
        load_config(tmp_path / "absent.yaml")
    assert info.value.path == str(tmp_path / "absent.yaml")


# ------------------------------------------------------------------ credentials and targets


CREDS = """\
site: {id: s1}
snmp:
  credentials:
    pub: {version: 2c, community: public}
    sec:
      version: 3
      user: asr
      auth_protocol: sha256
      auth_key: authkey123
      priv_protocol: AES
      priv_key: privkey123
      context: Jetdirect
"""


def test_credentials_referenced_by_name(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, CREDS + """\
targets:
  ranges:
    - {cidr: 127.0.0.0/24, credentials: [sec, pub]}
  hosts:
    - {host: localhost, credentials: [pub], port: 16100}
  exclude: [127.0.0.1, 127.0.0.128/25]
"""), env={})
    assert cfg.targets.ranges[0].credentials == ["sec", "pub"]
    assert cfg.targets.ranges[0].port == 161
    assert cfg.snmp.credentials["sec"].auth_protocol == "SHA256"
    assert cfg.snmp.credentials["sec"].version == "3"


def test_unknown_credential_reference_is_an_error_at_its_line(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, CREDS + """\
targets:
  hosts:
    - host: 127.0.0.1
      credentials: [pub, nosuch]
""")
    assert (err.line, err.key) == (16, "targets.hosts[0].credentials[1]")
    assert "'nosuch'" in str(err) and "pub, sec" in str(err)


def test_cidr_with_host_bits_suggests_the_network(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, CREDS + "targets:\n  ranges:\n    - {cidr: 127.0.0.5/24, credentials: [pub]}\n")
    assert err.key == "targets.ranges[0].cidr"
    assert "127.0.0.0/24" in str(err)


def test_range_larger_than_max_prefix_is_refused(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, CREDS + "targets:\n  ranges:\n    - {cidr: 10.0.0.0/8, credentials: [pub]}\n")
    assert err.key == "targets.ranges[0].cidr"
    assert "max_prefix" in str(err)


@pytest.mark.parametrize(("cred", "key", "words"), [
    ("{version: 2c}", "community", "needs a community"),
    ("{version: 3, user: u, priv_protocol: AES, priv_key: privkey123}", "priv_protocol", "needs authentication"),
    ("{version: 3, user: u, auth_protocol: SHA1, auth_key: authkey123}", "auth_protocol", "'SHA'"),
    ("{version: 3, user: u, auth_protocol: SHA, auth_key: authkey123, priv_protocol: AES128, priv_key: privkey123}",
     "priv_protocol", "'AES'"),
    ("{version: 3, user: u, auth_protocol: SHA}", "auth_key", "required"),
    ("{version: 3, user: u, auth_protocol: SHA, auth_key: short}", "auth_key", "8 characters"),
    ("{version: 3, community: public, user: u}", "community", "no community"),
    ("{version: 2c, community: public, user: u}", "user", "only SNMPv3"),
    ("{version: 4, community: public}", "version", "'2c'"),
])
def test_bad_credential_sets(tmp_path: Path, cred: str, key: str, words: str) -> None:
    err, _ = load_error(tmp_path, f"site: {{id: s1}}\nsnmp:\n  credentials:\n    c1: {cred}\n")
    assert err.key == f"snmp.credentials.c1.{key}"
    assert err.line == 4
    assert words in str(err)


def test_config_credential_becomes_the_snmp_client_credential(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, CREDS), env={})
    v3 = to_snmp_credential("sec", cfg)
    assert (v3.version, v3.user, v3.auth_protocol, v3.priv_protocol, v3.context_name) == (
        "3", "asr", "SHA256", "AES", "Jetdirect")
    assert v3.auth_key == Secret("authkey123") and v3.priv_key == Secret("privkey123")
    v2 = to_snmp_credential("pub", cfg)
    assert (v2.version, v2.community, v2.context_name) == ("2c", Secret("public"), "")


# ------------------------------------------------------------------ secrets


def test_env_reference_resolves_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: s1}\nsnmp:\n  credentials:\n    c: {version: 2c, community: env:ASR_TEST_COMM}\n")
    cfg = load_config(path, env={"ASR_TEST_COMM": "s3cr3t-community"})
    community = cfg.snmp.credentials["c"].community
    assert community is not None and community.reveal() == "s3cr3t-community"


def test_missing_env_variable_names_file_line_key_and_variable(tmp_path: Path) -> None:
    err, path = load_error(tmp_path, """\
        site: {id: s1}
        snmp:
          credentials:
            c:
              version: 2c
              community: env:ASR_TEST_NOT_SET
        """, env={})
    assert (err.path, err.line, err.key) == (str(path), 6, "snmp.credentials.c.community")
    assert "ASR_TEST_NOT_SET" in str(err)


SECRET_VALUES = ("community-value-1", "authkey-value-2", "privkey-value-3", "password-value-4")


def secret_config(tmp_path: Path) -> AgentConfig:
    return load_config(write(tmp_path, f"""\
        site: {{id: s1}}
        snmp:
          credentials:
            a: {{version: 2c, community: {SECRET_VALUES[0]}}}
            b: {{version: 3, user: u, auth_protocol: SHA, auth_key: env:AK, priv_protocol: AES, priv_key: {SECRET_VALUES[2]}}}
        status_page:
          password: env:SP
        """), env={"AK": SECRET_VALUES[1], "SP": SECRET_VALUES[3]})


def test_secrets_are_masked_in_repr_str_and_dump(tmp_path: Path) -> None:
    cfg = secret_config(tmp_path)
    dumped = dump_effective(cfg)
    for text in (repr(cfg), str(cfg), f"{cfg}", dumped, repr(cfg.snmp.credentials["b"])):
        for value in SECRET_VALUES:
            assert value not in text
        assert "<secret>" in text
    assert yaml.safe_load(dumped)["status_page"]["password"] == "<secret>"


def test_secrets_are_masked_in_log_output(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = secret_config(tmp_path)
    log = logging.getLogger("asr_agent.test_config")
    with caplog.at_level(logging.INFO, logger=log.name):
        log.info("loaded %s", cfg)
        log.info("credential %r", cfg.snmp.credentials["b"])
        log.info("password %s", cfg.status_page.password)
    assert len(caplog.records) == 3
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for value in SECRET_VALUES:
        assert value not in text
    assert text.count("<secret>") >= 3


# ------------------------------------------------------------------ status page, urls, paths


def test_non_loopback_status_page_bind_is_refused(tmp_path: Path) -> None:
    # Validated only; nothing binds or sends.
    err, _ = load_error(tmp_path, """\
        site: {id: s1}
        status_page:
          bind: ["127.0.0.1", "0.0.0.0"]
        """)
    assert (err.line, err.key) == (3, "status_page.bind[1]")
    for need in ("allow_remote", "tls_cert", "password"):
        assert need in str(err)


def test_non_loopback_bind_still_refused_without_password(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, """\
        site: {id: s1}
        status_page:
          bind: ["::"]
          allow_remote: true
          tls_cert: cert.pem
          tls_key: key.pem
        """)
    assert err.key == "status_page.bind[0]"
    assert "password" in str(err) and "tls_cert" not in str(err)


def test_non_loopback_bind_allowed_with_remote_tls_and_password(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
        site: {id: s1}
        status_page:
          bind: ["::"]
          allow_remote: true
          tls_cert: cert.pem
          tls_key: /abs/key.pem
          password: env:PW
        """), env={"PW": "long-password"})
    assert cfg.status_page.tls_cert == tmp_path.resolve() / "cert.pem"  # relative to the file
    assert cfg.status_page.tls_key == Path("/abs/key.pem")


def test_plain_http_to_central_only_on_loopback(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "site: {id: s1}\ncentral:\n  url: http://asr.example.com/\n")
    assert (err.line, err.key) == (3, "central.url")
    cfg = load_config(write(tmp_path, "site: {id: s1}\ncentral: {url: 'http://127.0.0.1:8080/'}\n"), env={})
    assert cfg.central.url == "http://127.0.0.1:8080/"


def test_bare_off_update_channel_means_off(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "site: {id: s1}\nupdate: {channel: off}\n"), env={})
    assert cfg.update.channel == "off"
    err, _ = load_error(tmp_path, "site: {id: s1}\nupdate: {channel: nightly}\n")
    assert err.key == "update.channel"


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = default_config()
    with pytest.raises(FrozenInstanceError):
        cfg.poll.interval_min = 1  # type: ignore[misc]
    assert cfg.poll.interval_min == 15


def test_data_dir_key_moves_data_and_keys(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "site: {id: s1}\nstore: {data_dir: data}\n"), env={})
    paths = cfg.paths(env={"INVOCATION_ID": "x"})
    assert paths.data_dir == tmp_path.resolve() / "data"
    assert paths.key_dir == tmp_path.resolve() / "data" / "keys"


# ------------------------------------------------------------------ example file


def test_example_file_loads_and_scans_nothing() -> None:
    cfg = load_config(EXAMPLE, env={})
    assert cfg.targets.ranges == [] and cfg.targets.hosts == []
    assert cfg.site.contact is not None


def test_example_file_states_the_real_defaults() -> None:
    # Every uncommented value in the example must be the code's default, except the site
    # and the sample credential that an installer replaces.
    example = load_config(EXAMPLE, env={})
    defaults = default_config()
    for section in (f.name for f in fields(AgentConfig)):
        if section in ("site", "snmp"):
            continue
        assert getattr(example, section) == getattr(defaults, section), section
    assert example.snmp.timeout_s == defaults.snmp.timeout_s
    assert example.snmp.retries == defaults.snmp.retries


def test_example_file_mentions_every_option() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    dumped = yaml.safe_load(dump_effective(default_config()))
    missing = [f"{section}.{key}" for section, values in dumped.items()
               for key in values if f"{key}:" not in text]
    assert missing == []
    for cred_key in ("auth_protocol", "auth_key", "priv_protocol", "priv_key", "context", "user"):
        assert f"{cred_key}:" in text


def test_effective_dump_loads_back(tmp_path: Path) -> None:
    cfg = load_config(EXAMPLE, env={})
    again = load_config(write(tmp_path, dump_effective(cfg)), env={})
    assert as_plain(again) == as_plain(cfg)  # secrets read back as the mask, so as dumped


# ------------------------------------------------------------------ check-config command


def check_config(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASR_")}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "asr_agent.cli", "check-config", *args],
                          capture_output=True, text=True, timeout=60, env=env, cwd=REPO)


def test_check_config_prints_effective_config_masked(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: s1}\nsnmp:\n  credentials:\n    c: {version: 2c, community: env:ASR_TEST_C}\n")
    done = check_config("--config", str(path), env_extra={"ASR_TEST_C": "very-secret-community"})
    assert done.returncode == 0, done.stderr
    assert "very-secret-community" not in done.stdout
    effective = yaml.safe_load(done.stdout)
    assert effective["snmp"]["credentials"]["c"]["community"] == "<secret>"
    assert effective["poll"]["interval_min"] == 15
    assert done.stderr == ""


def test_check_config_reports_file_line_key_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: s1}\npoll:\n  interval: 5\n")
    done = check_config("--config", str(path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{path}:3: poll.interval: unknown key")
    assert done.stdout == ""


def test_check_config_uses_asr_config_env(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: from-env}\n")
    done = check_config(env_extra={"ASR_CONFIG": str(path)})
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["site"]["id"] == "from-env"


def test_a_bare_number_as_credential_name_is_reported_by_line(tmp_path: Path) -> None:
    err, _ = load_error(tmp_path, "site: {id: s1}\nsnmp:\n  credentials:\n    5: {version: 2c, community: x}\n")
    assert (err.line, err.key) == (4, "snmp.credentials.5")
    assert "quote" in str(err)


def test_loading_config_imports_neither_pysnmp_nor_a_validation_library(tmp_path: Path) -> None:
    # The CLI stays cheap (only the SNMP client may pull pysnmp in), and the running agent
    # does not keep a validation library resident for a file it reads once.
    path = write(tmp_path, CREDS)
    code = ("import sys; from asr_agent.app.config import load_config; "
            f"load_config({str(path)!r}); print(sorted({{'pysnmp', 'pydantic'}} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.stdout.strip() == "[]", done.stderr


def test_retention_shorter_than_the_forecast_window_is_refused(tmp_path) -> None:
    from asr_agent.app.config import load_config
    from asr_core.errors import ConfigError

    path = tmp_path / "c.yaml"
    path.write_text("site:\n  id: s1\nstore:\n  sample_retention_days: 30\n  compact_after_days: 7\n")
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.line == 4 and exc.key == "store.sample_retention_days"
    else:
        raise AssertionError("a 30-day retention was accepted")
