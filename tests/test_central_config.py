"""Central's config file: strict loading with file:line:key errors, secrets only by
reference and never shown, flags that override the file, the example file, and
`asr-central check-config`."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from asr_core.errors import ConfigError
from asr_core.secret import Secret
from asr_central.cli import build_parser, main as central_main
from asr_central.commands.config_flags import settings_from_args
from asr_central.commands.serve import build_app
from asr_central.config import (
    CentralSettings, dump_effective, load_settings, parse_settings, settings_fields,
)
from asr_central.domain.policy import PolicySettings

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "central.example.yaml"
TOKEN = "admin-token-0123456789abcdef"


def write(tmp_path: Path, text: str, name: str = "central.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- the example ----------------------------------------------------------------------------

def test_the_example_loads_and_holds_every_setting_with_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert parse_settings(text, source=str(EXAMPLE)) == CentralSettings()
    written = yaml.safe_load(text)
    keys = [f"{section}.{key}" for section, values in written.items() for key in values]
    assert keys == settings_fields()


def test_every_setting_in_the_example_has_a_comment() -> None:
    section = None
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith((" ", "#")):
            section = line
        elif line.startswith("  ") and not line.lstrip().startswith("#"):
            assert "#" in line, f"{section} {line.strip()}: no comment"


# --- strictness -----------------------------------------------------------------------------

def test_an_unknown_key_is_refused_by_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        server:
          port: 8801
          prot: 8802
        """)
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert str(err.value).startswith(f"{path}:3: server.prot: unknown key")


def test_a_quoted_number_is_not_a_port_and_the_error_shows_what_was_written(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: \"8801\"\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: server.port: .*integer.*'8801'"):
        load_settings(path)


def test_a_duplicate_key_is_refused_not_silently_overwritten(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8801\n  port: 8802\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: server.port: duplicate key \(first "
                                          r"written on line 2\)"):
        load_settings(path)


def test_every_problem_of_the_file_is_listed_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 0\npolicy:\n  lead_days: -1\n")
    message = str(pytest.raises(ConfigError, load_settings, path).value)
    assert f"{path}:2: server.port" in message and f"{path}:4: policy.lead_days" in message


def test_inverted_silence_limits_are_refused_at_their_key(tmp_path: Path) -> None:
    path = write(tmp_path, "policy:\n  silent_warning_days: 12\n  silent_error_days: 5\n")
    with pytest.raises(ConfigError, match=rf"^{path}:3: policy.silent_error_days: .*below"):
        load_settings(path)


def test_a_non_loopback_host_needs_allow_remote(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="server.host: refusing to listen on 0.0.0.0"):
        load_settings(write(tmp_path, "server:\n  host: 0.0.0.0\n"))
    assert load_settings(write(tmp_path, "server:\n  host: 0.0.0.0\n  allow_remote: true\n")
                         ).server.host == "0.0.0.0"


def test_a_missing_file_named_by_config_says_where_to_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="central.example.yaml"):
        load_settings(tmp_path / "absent.yaml")


# --- secrets --------------------------------------------------------------------------------

def test_a_secret_written_in_the_file_itself_is_refused_without_being_repeated(tmp_path: Path) -> None:
    path = write(tmp_path, f"admin:\n  token: {TOKEN}\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    assert f"{path}:2: admin.token: write a secret as env:VARIABLE or file:" in str(err.value)
    assert TOKEN not in str(err.value)


def test_secrets_are_read_from_the_environment_and_from_files_relative_to_the_config(
        tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "webhook").write_text("webhook-secret-0123456789\n")
    path = write(tmp_path, """\
        admin:
          token: env:CENTRAL_TEST_TOKEN
        webhook:
          url: https://hooks.example/asr
          secret: file:secrets/webhook
        """)
    s = load_settings(path, env={"CENTRAL_TEST_TOKEN": TOKEN})
    assert s.admin.token == Secret(TOKEN)
    assert s.webhook.secret == Secret("webhook-secret-0123456789")
    shown = dump_effective(s) + repr(s) + str(s)
    assert TOKEN not in shown and "webhook-secret" not in shown
    assert yaml.safe_load(dump_effective(s))["admin"]["token"] == "<secret>"


@pytest.mark.parametrize(("reference", "expected"), [
    ("env:ABSENT_VARIABLE", "environment variable ABSENT_VARIABLE is not set"),
    ("file:no-such-file", "cannot read the secret file"),
    ("env:", "write a secret as env:VARIABLE"),
    ("vault:x", "write a secret as env:VARIABLE"),
])
def test_an_unreadable_secret_names_the_key_and_the_reference(
        tmp_path: Path, reference: str, expected: str) -> None:
    path = write(tmp_path, f"admin:\n  token: \"{reference}\"\n")
    with pytest.raises(ConfigError, match=rf"^{path}:2: admin.token: {expected}"):
        load_settings(path, env={})


def test_a_short_token_and_a_metrics_token_equal_to_the_admin_one_are_refused(
        tmp_path: Path) -> None:
    path = write(tmp_path, "admin:\n  token: env:T\nmetrics:\n  token: env:T\n")
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_settings(path, env={"T": "short"})
    with pytest.raises(ConfigError, match="metrics.token: must differ from admin.token"):
        load_settings(path, env={"T": TOKEN})


def test_the_database_password_goes_into_the_url_opened_and_nowhere_shown(tmp_path: Path) -> None:
    path = write(tmp_path, """\
        database:
          url: postgresql://asr@db.example:5432/asr
          password: env:DB_PASSWORD
        """)
    s = load_settings(path, env={"DB_PASSWORD": "p@ss:w/rd"})
    assert s.database_url() == "postgresql://asr:p%40ss%3Aw%2Frd@db.example:5432/asr"
    assert "p@ss" not in dump_effective(s)
    inline = write(tmp_path, "database:\n  url: postgresql://asr:hunter2@db/asr\n", "inline.yaml")
    with pytest.raises(ConfigError, match="database.url: holds a password") as err:
        load_settings(inline)
    assert "hunter2" not in str(err.value)


# --- flags over the file --------------------------------------------------------------------

def test_flags_override_their_keys_and_leave_the_others_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "admin-token").write_text(TOKEN)
    path = write(tmp_path, f"""\
        database:
          url: sqlite:///{tmp_path / 'file.db'}
        server:
          port: 8801
        admin:
          token: file:admin-token
        policy:
          lead_days: 28
          supply_days: 45
        """)
    args = build_parser().parse_args(["serve", "--config", str(path), "--port", "8802",
                                      "--supply-days", "40"])
    s = settings_from_args(args)
    assert (s.server.port, s.policy.lead_days, s.policy.supply_days) == (8802, 28, 40)
    app = build_app(args)
    try:
        assert app.state.admin_token == TOKEN
        assert app.state.policy_settings == PolicySettings(lead_days=28, supply_days=40)
        assert app.state.db.url == f"sqlite:///{tmp_path / 'file.db'}"
    finally:
        app.state.db.close()


def test_a_bad_value_from_a_flag_is_named_by_its_flag(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8801\n")
    args = build_parser().parse_args(["serve", "--config", str(path), "--port", "70000"])
    with pytest.raises(ConfigError, match=r"^--port: .*65535"):
        settings_from_args(args)


def test_without_a_file_or_flags_serve_takes_every_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASR_CENTRAL_ADMIN_TOKEN", raising=False)
    assert settings_from_args(build_parser().parse_args(["serve"])) == CentralSettings()


# --- check-config ---------------------------------------------------------------------------

def test_check_config_prints_the_effective_settings_with_secrets_masked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_TEST_TOKEN", TOKEN)
    path = write(tmp_path, "server:\n  port: 8801\nadmin:\n  token: env:CENTRAL_TEST_TOKEN\n")
    assert central_main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"# effective settings of {path} (valid)")
    shown = yaml.safe_load(out)
    assert shown["server"]["port"] == 8801 and shown["admin"]["token"] == "<secret>"
    assert shown["policy"]["lead_days"] == 21 and TOKEN not in out


def test_check_config_reports_the_error_by_line_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, "server:\n  port: 8801\nlogging:\n  level: loud\n")
    done = subprocess.run([sys.executable, "-m", "asr_central.cli", "check-config", "--config",
                           str(path)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"{path}:4: logging.level: ")


def test_the_old_environment_variables_still_give_the_secrets_where_nothing_else_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASR_CENTRAL_ADMIN_TOKEN", TOKEN)
    monkeypatch.setenv("ASR_CENTRAL_ALERT_WEBHOOK_SECRET", "webhook-secret-0123456789")
    # no webhook URL: its secret variable is left alone rather than refused
    s = settings_from_args(build_parser().parse_args(["serve"]))
    assert (s.admin.token, s.webhook.secret) == (Secret(TOKEN), None)
    s = settings_from_args(build_parser().parse_args(
        ["serve", "--alert-webhook", "https://hooks.example/asr"]))
    assert s.webhook.secret == Secret("webhook-secret-0123456789")
    (tmp_path / "token").write_text("file-token-0123456789abcdef")
    path = write(tmp_path, "admin:\n  token: file:token\n")
    s = settings_from_args(build_parser().parse_args(["serve", "--config", str(path)]))
    assert s.admin.token == Secret("file-token-0123456789abcdef")  # the file wins


def test_serve_runs_from_the_config_file_alone_as_the_service_starts_it(tmp_path: Path) -> None:
    """`asr-central serve --config FILE` as the unit runs it (metrics in multiprocess mode
    in a runtime directory): the file's port, database, admin and metrics tokens apply."""
    import os
    import time

    import httpx

    from conftest import free_port

    port = free_port(socket.SOCK_STREAM)
    (tmp_path / "admin-token").write_text(TOKEN + "\n")
    (tmp_path / "metrics-token").write_text("metrics-token-0123456789abcdef\n")
    (tmp_path / "run").mkdir()
    path = write(tmp_path, f"""\
        database:
          url: sqlite:///{tmp_path / 'central.db'}
        server:
          port: {port}
        admin:
          token: file:admin-token
        metrics:
          token: file:metrics-token
        logging:
          level: warning
        """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path),
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "run")}
    env.pop("ASR_CENTRAL_ADMIN_TOKEN", None)
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "asr_central.cli", "serve", "--config",
                                    str(path)], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text(errors="replace")
            try:
                ready = httpx.get(f"{url}/readyz", trust_env=False, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "central did not answer"
                time.sleep(0.05)
        assert ready.status_code == 200, ready.text
        r = httpx.post(f"{url}/v1/admin/enrollment-tokens", json={"site_id": "s1"},
                       headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False)
        assert r.status_code == 201, r.text
        r = httpx.get(f"{url}/metrics", trust_env=False,
                      headers={"Authorization": "Bearer metrics-token-0123456789abcdef"})
        assert r.status_code == 200 and "asr_central_orders_waiting_to_ship 0.0" in r.text
        assert list((tmp_path / "run").glob("*.db")), "no multiprocess metric files written"
        assert (tmp_path / "central.db").exists()
    finally:
        process.terminate()
        process.wait(timeout=10)
