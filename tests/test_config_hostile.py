"""Hostile and careless YAML, for the agent's config and central's registry alike: every
refusal names file, line and key; aliases, nesting and tags are bounded where the file is
read; anything `check-config` accepts, `run` can use."""

from __future__ import annotations

import asyncio
import math
import resource
import socket
import subprocess
import sys
import time
import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asr_agent.app.config import AgentConfig, load_config, parse_config
from asr_agent.app.daemon import AgentDaemon
from asr_core.errors import ConfigError
from asr_core.yaml_source import MAX_DEPTH
from asr_central.cli import main as central_cli
from tests.conftest import REPO, free_port

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all

# Nine lists of nine aliases of the list before: 9**9 (387 million) strings once expanded.
BILLION_LAUGHS = "\n".join(
    ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"


def write(tmp_path: Path, text: str, name: str = "agent.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> ConfigError:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.path == str(path)
    return info.value


def registry_import(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    """`asr-central registry import` on a real file and database; its stderr."""
    reg = write(tmp_path, text, "registry.yaml")
    assert central_cli(["registry", "--db", f"sqlite:///{tmp_path / 'central.db'}", "import", str(reg)]) == 2
    return capsys.readouterr().err


# ------------------------------------------------------------------ aliases, depth, tags


def test_billion_laughs_config_is_refused_at_once_naming_the_alias(tmp_path: Path) -> None:
    started = time.perf_counter()
    err = config_error(tmp_path, "site: {id: s1}\n" + BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5
    assert "aliases" in str(err) and err.line is not None and err.key is not None


def test_billion_laughs_config_stays_small_in_a_real_check_config(tmp_path: Path) -> None:
    path = write(tmp_path, "site: {id: s1}\n" + BILLION_LAUGHS)
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so the child would report
    # the (large) test process's peak instead of its own.
    code = ("import re, sys; from asr_agent.cli import main; rc = main(['check-config', "
            f"'--config', {str(path)!r}]); "
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
            "print(hwm, file=sys.stderr); sys.exit(rc)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    elapsed = time.perf_counter() - started
    assert done.returncode == 2
    message, max_rss_kib = done.stderr.strip().rsplit("\n", 1)
    assert message.startswith(f"{path}:") and "aliases" in message
    assert int(max_rss_kib) < 150 * 1024  # the interpreter and the agent's imports, no more
    assert elapsed < 5  # interpreter start included; refusal itself is milliseconds


def test_billion_laughs_registry_is_refused_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    # under a known key, where the old reader built the value before checking its type
    laughs = ", ".join(BILLION_LAUGHS.splitlines())
    err = registry_import(tmp_path, "catalog:\n  - part_number: X1\n    kind: consumable\n"
                                    f"    description: {{{laughs}}}\n", capsys)
    assert time.perf_counter() - started < 1.0  # the database opened and migrated included
    assert f"{tmp_path / 'registry.yaml'}:" in err and "aliases" in err
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50 * 1024


def test_a_few_aliases_sharing_a_block_are_still_read(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, """\
site: {id: s1}
snmp:
  credentials:
    lab: {version: 2c, community: public}
targets:
  hosts:
    - {host: 127.0.0.1, credentials: &creds [lab]}
    - {host: 127.0.0.2, credentials: *creds}
"""), env={})
    assert [h.credentials for h in cfg.targets.hosts] == [["lab"], ["lab"]]


def test_deep_nesting_is_refused_with_file_line_and_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 5000 + "]" * 5000
    err = config_error(tmp_path, f"site: {{id: s1}}\npoll:\n  interval_min: {deep}\n")
    assert err.line == 3 and err.key is not None and err.key.startswith("poll.interval_min[0]")
    assert f"{MAX_DEPTH} levels" in str(err)
    out = registry_import(tmp_path, f"sites:\n  - {{id: a, name: {deep}}}\n", capsys)
    assert "registry.yaml:2: sites[0].name[0]" in out and "Traceback" not in out


def test_an_alias_cannot_nest_past_the_depth_bound(tmp_path: Path) -> None:
    half = "[" * (MAX_DEPTH - 4) + "]" * (MAX_DEPTH - 4)
    err = config_error(tmp_path, f"site: {{id: s1}}\nx: &deep {half}\npoll: [[[[[[[[*deep]]]]]]]]\n")
    assert err.line == 3 and "levels deep" in str(err)


@pytest.mark.parametrize("value", [
    "!!python/object/apply:os.system ['echo pwned']",
    "!!python/name:os.system",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!custom 1",
    "!!int twelve",
    "!!float many",
    "!!timestamp yesterday",
    "!!binary '%%%'",
    "=",
    "<<: {interval_min: 5}",
    "9" * 5000,  # past Python's 4,300-digit limit for int()
])
def test_odd_tags_and_unreadable_scalars_name_file_line_and_key(tmp_path: Path, value: str) -> None:
    err = config_error(tmp_path, f"site: {{id: s1}}\npoll:\n  jitter_s: {value}\n"
                       if not value.startswith("<<") else f"site: {{id: s1}}\npoll:\n  {value}\n")
    assert err.line == 3
    assert err.key in ("poll.jitter_s", "poll")
    assert "pwned" not in str(err) and "99999" not in str(err)  # values are not echoed


def test_python_tag_in_the_registry_names_file_line_and_key(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    err = registry_import(tmp_path, "sites:\n  - id: a\n    name: !!python/object/apply:os.system [id]\n",
                          capsys)
    assert "registry.yaml:3: sites[0].name: the tag" in err


def test_a_mapping_as_a_registry_key_is_an_error_not_a_crash(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    err = registry_import(tmp_path, "? [sites]\n: []\n", capsys)
    assert "registry.yaml:1:" in err and "unknown section" in err


@pytest.mark.parametrize("field, value", [("capacity_g", ".inf"), ("capacity_g", ".nan"),
                                          ("capacity_g", "1.0e+300"), ("yield_pages", str(10 ** 30))])
def test_registry_numbers_out_of_range_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   field: str, value: str) -> None:
    err = registry_import(tmp_path, f"catalog:\n  - part_number: X1\n    kind: consumable\n"
                                    f"    {field}: {value}\n", capsys)
    assert f"registry.yaml:4: catalog[0].{field}: must be more than 0 and at most" in err


# ------------------------------------------------------------------ every number, every string


def _fields_of(cls: type, prefix: tuple[str, ...] = ()) -> typing.Iterator[tuple[tuple[str, ...], type]]:
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        if typing.get_origin(tp) in (typing.Union, type(int | None)):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        if is_dataclass(tp):
            yield from _fields_of(tp, prefix + (f.name,))
        else:
            yield prefix + (f.name,), tp


NUMBER_FIELDS = [(key, tp) for key, tp in _fields_of(AgentConfig) if tp in (int, float)]
TEXT_FIELDS = [key for key, tp in _fields_of(AgentConfig) if tp is str and key != ("site", "id")]


def _nested(key: tuple[str, ...], value: str) -> str:
    """YAML setting `key` to `value` (the site and an SNMPv3-free credential filled in)."""
    lines = ["site: {id: s1}"] if key[0] != "site" else ["site:", "  id: s1"]
    for depth, part in enumerate(key[:-1]):
        if not (key[0] == "site" and depth == 0):
            lines.append("  " * depth + f"{part}:")
        if part == "contact":
            lines.append("  " * (depth + 1) + "name: n")
            lines.append("  " * (depth + 1) + "email: a@b.example")
    lines.append("  " * (len(key) - 1) + f"{key[-1]}: {value}")
    return "\n".join(lines) + "\n"


def test_the_schema_has_the_fields_this_test_walks() -> None:
    assert ("poll", "interval_min") in {k for k, _ in NUMBER_FIELDS}
    assert len(NUMBER_FIELDS) >= 20 and len(TEXT_FIELDS) >= 5


@pytest.mark.parametrize("key, tp", NUMBER_FIELDS, ids=[".".join(k) for k, _ in NUMBER_FIELDS])
def test_every_number_refuses_infinite_nan_and_huge(tmp_path: Path, key: tuple[str, ...], tp: type) -> None:
    values = [".inf", "-.inf", ".nan", "1.0e+300", str(10 ** 30)] if tp is float else [str(10 ** 30)]
    for value in values:
        err = config_error(tmp_path, _nested(key, value))
        assert err.key == ".".join(key), value
        assert err.line == len(_nested(key, value).splitlines())


@pytest.mark.parametrize("key", TEXT_FIELDS, ids=[".".join(k) for k in TEXT_FIELDS])
def test_every_string_refuses_control_characters_surrogates_and_blobs(tmp_path: Path,
                                                                     key: tuple[str, ...]) -> None:
    for value in ['"a\\0b"', '"a\\nb"', '"\\ud800"', "x" * 5000]:
        err = config_error(tmp_path, _nested(key, value))
        assert err.key == ".".join(key), value


@pytest.mark.parametrize("key", [("store", "data_dir"), ("status_page", "tls_cert"), ("logging", "file")])
def test_a_path_with_a_nul_is_refused(tmp_path: Path, key: tuple[str, ...]) -> None:
    err = config_error(tmp_path, _nested(key, '"/var/lib/asr\\0x"'))
    assert err.key == ".".join(key) and "'\\x00'" in str(err)


@pytest.mark.parametrize("url", ["https://[::1", "https://central.example:99999/", "https://central.example:-1/"])
def test_a_malformed_central_url_is_a_config_error(tmp_path: Path, url: str) -> None:
    err = config_error(tmp_path, f"site: {{id: s1}}\ncentral:\n  url: '{url}'\n  proxy: '{url}'\n")
    assert (err.line, err.key) == (3, "central.url")
    assert "central.proxy" in str(err)


def test_a_batch_bigger_than_central_takes_is_refused(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site: {id: s1}\ncentral:\n  batch_size: 501\n")
    assert err.key == "central.batch_size" and "at most 500" in str(err)


# A YAML value of any shape: what a careless or hostile hand may put under any key.
_SCALAR = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=20))
_ANY = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3),
                 st.dictionaries(st.text(max_size=8), _SCALAR | st.lists(_SCALAR, max_size=3), max_size=3))


ALL_KEYS = [key for key, _ in _fields_of(AgentConfig)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(ALL_KEYS), value=_ANY)
def test_any_value_at_any_key_is_accepted_sanely_or_refused_by_key(key: tuple[str, ...], value: object) -> None:
    doc: dict[str, object] = {"site": {"id": "s1"}}
    at = doc
    for part in key[:-1]:
        at = at.setdefault(part, {})  # type: ignore[assignment]
    at[key[-1]] = value
    try:
        cfg = parse_config(yaml.safe_dump(doc, allow_unicode=True), path="hyp.yaml", env={})
    except ConfigError as exc:
        assert exc.path == "hyp.yaml" and exc.line is not None and exc.key
        return
    for name in ALL_KEYS:
        got: object = cfg
        for part in name:
            got = getattr(got, part) if got is not None else None
        if isinstance(got, float):
            assert math.isfinite(got) and abs(got) < 1e9, name
        if isinstance(got, int):
            assert abs(got) < 2 ** 31, name
        if isinstance(got, str | Path):
            assert "\0" not in str(got), name


# ------------------------------------------------------------------ check-config passes => run starts


def test_status_page_bound_to_localhost_starts(tmp_path: Path) -> None:
    path = write(tmp_path, f"""\
site: {{id: s1}}
store: {{data_dir: {tmp_path / 'data'}}}
status_page: {{bind: [localhost], port: {free_port(kind=socket.SOCK_STREAM)}}}
""")
    cfg = load_config(path, env={})
    assert cfg.status_page.bind == ["127.0.0.1"]

    async def scenario() -> int:
        daemon = AgentDaemon(cfg, cfg.paths(config_file=path), config_path=path, loopback_only=True)
        await daemon.start()
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(daemon.status_urls[0] + "healthz")).status_code
        finally:
            await daemon.stop()

    assert asyncio.run(scenario()) in (200, 503)


def test_check_config_opens_the_files_run_opens_at_start(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from asr_agent.cli import main as agent_cli

    (tmp_path / "cert.pem").write_text("not a certificate\n")
    (tmp_path / "catalog.yaml").write_text("parts:\n  X1: {yield_pages: .nan}\n")
    for body, line, key in [
        ("status_page:\n  bind: [127.0.0.1]\n  tls_cert: cert.pem\n  tls_key: cert.pem\n", 4, "status_page.tls_cert"),
        ("status_page:\n  tls_cert: missing.pem\n  tls_key: missing.pem\n", 3, "status_page.tls_cert"),
        ("central:\n  ca_bundle: missing-ca.pem\n", 3, "central.ca_bundle"),
        ("consumption:\n  supply_catalog: catalog.yaml\n", 3, "consumption.supply_catalog"),
    ]:
        path = write(tmp_path, "site: {id: s1}\n" + body)
        load_config(path, env={})  # the schema alone is content
        assert agent_cli(["check-config", "--config", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{path}:{line}: {key}: " in err, err


def test_a_community_snmp_cannot_send_is_refused(tmp_path: Path) -> None:
    err = config_error(tmp_path, "site: {id: s1}\nsnmp:\n  credentials:\n"
                                 "    lab: {version: 2c, community: 日本}\n")
    assert (err.line, err.key) == (4, "snmp.credentials.lab.community") and "日本" not in str(err)
    ok = load_config(write(tmp_path, "site: {id: s1}\nsnmp:\n  credentials:\n"
                                     "    lab: {version: 2c, community: publicé}\n"), env={})
    assert ok.snmp.credentials["lab"].community.reveal() == "publicé"
