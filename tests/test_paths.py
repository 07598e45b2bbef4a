"""Where the agent's files live, rule by rule, per OS, user and environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from asr_agent.adapters.paths import (
    BaseDirs,
    base_dirs,
    current_paths,
    resolve_paths,
    running_as_service,
    system_name,
)

BASE = BaseDirs(config_dir=Path("/base/etc"), data_dir=Path("/base/data"), log_dir=Path("/base/log"))


@pytest.mark.parametrize(("platform", "name"), [
    ("win32", "windows"), ("cygwin", "windows"), ("linux", "linux"), ("darwin", "darwin"),
])
def test_system_name(platform: str, name: str) -> None:
    assert system_name(platform) == name


@pytest.mark.parametrize(("env", "uid", "service"), [
    ({}, 1000, False),
    ({}, 0, True),                              # root: the system locations
    ({"INVOCATION_ID": "abc"}, 998, True),      # started by systemd as a service user
    ({"INVOCATION_ID": ""}, 1000, False),
])
def test_linux_service_rule(env: dict[str, str], uid: int, service: bool) -> None:
    assert running_as_service(env, "linux", uid) is service


def test_windows_always_uses_the_machine_wide_locations() -> None:
    assert running_as_service({}, "windows", None) is True
    assert running_as_service({}, "darwin", 0) is False


def test_linux_service_uses_etc_and_var() -> None:
    dirs = base_dirs({}, "linux", service=True)
    paths = resolve_paths({}, dirs, service=True)
    assert paths.config_file == Path("/etc/asr-agent/config.yaml")
    assert paths.data_dir == Path("/var/lib/asr-agent")
    assert paths.log_dir == Path("/var/log/asr-agent")
    assert paths.key_dir == Path("/var/lib/asr-agent/keys")
    assert paths.service is True


def test_systemd_directories_replace_the_conventional_ones() -> None:
    env = {"STATE_DIRECTORY": "/var/lib/asr-agent2:/var/lib/other",
           "LOGS_DIRECTORY": "/var/log/asr2", "CONFIGURATION_DIRECTORY": "/etc/asr2"}
    paths = resolve_paths(env, base_dirs(env, "linux", service=True), service=True)
    assert paths.data_dir == Path("/var/lib/asr-agent2")
    assert paths.log_dir == Path("/var/log/asr2")
    assert paths.config_file == Path("/etc/asr2/config.yaml")


def test_linux_user_run_uses_xdg_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # platformdirs reads the XDG variables from the process environment.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    paths = resolve_paths({}, base_dirs({}, "linux", service=False), service=False)
    assert paths.config_file == tmp_path / "cfg" / "asr-agent" / "config.yaml"
    assert paths.data_dir == tmp_path / "share" / "asr-agent"
    assert paths.log_dir.is_relative_to(tmp_path / "state" / "asr-agent")
    assert paths.service is False


def test_windows_uses_program_data() -> None:
    program_data = Path("/ProgramData")  # stands in for C:\\ProgramData off Windows
    dirs = base_dirs({}, "windows", service=True, program_data=program_data)
    paths = resolve_paths({}, dirs, service=True)
    assert paths.config_file == Path("/ProgramData/ASR/asr-agent/config.yaml")
    assert paths.data_dir == Path("/ProgramData/ASR/asr-agent")
    assert paths.log_dir == Path("/ProgramData/ASR/asr-agent/Logs")
    assert paths.key_dir == Path("/ProgramData/ASR/asr-agent/keys")


def test_asr_config_env_overrides_the_platform_config_file() -> None:
    paths = resolve_paths({"ASR_CONFIG": "/srv/asr.yaml"}, BASE, service=True)
    assert paths.config_file == Path("/srv/asr.yaml")


def test_config_argument_beats_asr_config() -> None:
    paths = resolve_paths({"ASR_CONFIG": "/srv/asr.yaml"}, BASE, service=True, config_file="/tmp/x.yaml")
    assert paths.config_file == Path("/tmp/x.yaml")


def test_data_dir_precedence_env_then_config_key_then_platform() -> None:
    assert resolve_paths({}, BASE, service=False).data_dir == Path("/base/data")
    assert resolve_paths({}, BASE, service=False, data_dir="/cfg/data").data_dir == Path("/cfg/data")
    both = resolve_paths({"ASR_DATA_DIR": "/env/data"}, BASE, service=False, data_dir="/cfg/data")
    assert both.data_dir == Path("/env/data")
    assert both.key_dir == Path("/env/data/keys")


def test_log_file_key_sets_the_log_dir() -> None:
    paths = resolve_paths({}, BASE, service=False, log_file="/srv/logs/agent.log")
    assert paths.log_dir == Path("/srv/logs")


def test_current_paths_reads_the_given_environment() -> None:
    paths = current_paths(env={"ASR_CONFIG": "/x/c.yaml", "ASR_DATA_DIR": "/x/d"})
    assert paths.config_file == Path("/x/c.yaml")
    assert paths.data_dir == Path("/x/d")
