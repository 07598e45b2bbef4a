"""Service installation logic: the systemd installer against a scratch root (with a
recording runner, and with the real systemd tools in offline `--root` mode), and the
Windows service's commands and run/stop logic, which need no Windows to check."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from asr_agent.app.commands import service as service_cmd
from asr_core.errors import AsrError
from asr_agent.app.service import linux, windows
from asr_agent.app.service.linux import Layout, ServiceError, SystemdService
from tests.conftest import require_executable

REPO = Path(__file__).resolve().parent.parent


class Recorder:
    """Runner that records argv and answers with a chosen exit code."""

    def __init__(self, codes: dict[str, int] | None = None, stdout: str = "") -> None:
        self.calls: list[list[str]] = []
        self.codes = codes or {}
        self.stdout = stdout

    def __call__(self, argv):
        argv = list(argv)
        self.calls.append(argv)
        code = next((c for key, c in self.codes.items() if key in " ".join(argv)), 0)
        return subprocess.CompletedProcess(argv, code, self.stdout, "boom" if code else "")


# --- Linux ----------------------------------------------------------------------------

def test_install_on_the_host_creates_user_dirs_reloads_and_enables():
    svc = SystemdService(Layout(root=Path("/")), Recorder(),
                         executable=linux.PACKAGED_EXEC)
    assert svc.install_commands() == [
        ["systemd-sysusers", "asr-agent.conf"],
        ["systemd-tmpfiles", "--create", "asr-agent.conf"],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "asr-agent.service"],
    ]
    assert svc.install_commands(now=True)[-1] == ["systemctl", "start", "asr-agent.service"]


def test_install_into_a_scratch_root_writes_the_three_files(tmp_path):
    rec = Recorder()
    exe = PurePosixPath("/srv/asr/venv/bin/asr-agent")
    SystemdService(Layout(root=tmp_path), rec, executable=exe).install()
    unit = (tmp_path / "etc/systemd/system/asr-agent.service").read_text()
    assert f"ExecStart={exe} run --config /etc/asr-agent/config.yaml" in unit
    assert "CapabilityBoundingSet=\n" in unit
    assert "u asr-agent" in (tmp_path / "etc/sysusers.d/asr-agent.conf").read_text()
    assert "/var/lib/asr-agent" in (tmp_path / "etc/tmpfiles.d/asr-agent.conf").read_text()
    # Offline: every tool gets --root, and there is no running systemd to reload.
    assert all(f"--root={tmp_path}" in argv for argv in rec.calls)
    assert ["systemctl", "daemon-reload"] not in rec.calls


def test_install_with_the_real_systemd_tools_creates_a_nologin_user(tmp_path):
    for tool in ("systemd-sysusers", "systemd-tmpfiles", "systemctl"):
        require_executable(tool)
    (tmp_path / "etc").mkdir()
    SystemdService(Layout(root=tmp_path), executable=linux.PACKAGED_EXEC).install()
    passwd = (tmp_path / "etc/passwd").read_text().splitlines()
    [entry] = [line for line in passwd if line.startswith("asr-agent:")]
    fields = entry.split(":")
    assert fields[6] == "/usr/sbin/nologin" and 0 < int(fields[2]) < 1000
    assert (tmp_path / "etc/systemd/system/multi-user.target.wants/asr-agent.service").is_symlink()
    assert (tmp_path / "var/lib/asr-agent").stat().st_mode & 0o777 == 0o700


def test_uninstall_disables_and_removes_the_files(tmp_path):
    svc = SystemdService(Layout(root=tmp_path), Recorder(), executable=linux.PACKAGED_EXEC)
    svc.install()
    rec = Recorder()
    SystemdService(Layout(root=tmp_path), rec, executable=linux.PACKAGED_EXEC).uninstall()
    assert rec.calls == [["systemctl", f"--root={tmp_path}", "disable", "asr-agent.service"]]
    assert not (tmp_path / "etc/systemd/system/asr-agent.service").exists()
    assert not (tmp_path / "etc/sysusers.d/asr-agent.conf").exists()


def test_uninstall_on_the_host_stops_before_removing():
    svc = SystemdService(Layout(root=Path("/")), Recorder(), executable=linux.PACKAGED_EXEC)
    assert svc.uninstall_commands() == [["systemctl", "disable", "--now", "asr-agent.service"]]


def test_an_agent_under_home_is_refused_because_the_service_cannot_see_it(tmp_path):
    rec = Recorder()
    svc = SystemdService(Layout(root=tmp_path), rec,
                         executable=PurePosixPath("/root/.local/bin/asr-agent"))
    with pytest.raises(ServiceError, match="ProtectHome"):
        svc.install()
    assert rec.calls == [] and not (tmp_path / "etc").exists()


@pytest.mark.parametrize(("argv0", "expected"), [
    ("/opt/asr-agent/0.1.0/bin/asr-agent", "/opt/asr-agent/current/bin/asr-agent"),
    ("/opt/asr-agent/current/bin/asr-agent", "/opt/asr-agent/current/bin/asr-agent"),
    ("/srv/venv/bin/asr-agent", "/srv/venv/bin/asr-agent"),
])
def test_the_unit_starts_the_current_link_for_versioned_installs(argv0, expected):
    assert str(linux.agent_executable(argv0, resolve=lambda p: p)) == expected


def test_status_of_a_stopped_service_is_an_answer_not_an_error():
    rec = Recorder(codes={"status": 3}, stdout="inactive (dead)")
    out = SystemdService(Layout(), rec, executable=linux.PACKAGED_EXEC).control("status")
    assert out == "inactive (dead)"
    assert rec.calls == [["systemctl", "status", "--no-pager", "--lines=20", "asr-agent.service"]]


def test_a_failing_systemctl_names_the_command_and_its_output(tmp_path):
    rec = Recorder(codes={"enable": 1})
    with pytest.raises(ServiceError, match=r"systemctl --root=.* enable asr-agent.service.*boom"):
        SystemdService(Layout(root=tmp_path), rec, executable=linux.PACKAGED_EXEC).install()


def test_the_packaged_unit_is_a_link_to_the_one_source_in_packaging_linux():
    # One unit file: the package's copy is a symlink (the wheel stores its target's text).
    packaged = REPO / "asr_agent/app/service/systemd/asr-agent.service"
    assert packaged.is_symlink()
    assert packaged.resolve() == (REPO / "packaging/linux/asr-agent.service").resolve()


def test_service_command_picks_the_platform_backend():
    assert isinstance(service_cmd.backend("linux"), SystemdService)
    assert isinstance(service_cmd.backend("win32"), windows.WindowsService)
    with pytest.raises(AsrError, match="darwin"):
        service_cmd.backend("darwin")


# --- Windows (pure logic) ---------------------------------------------------------------

PLAN = windows.ServicePlan(PureWindowsPath(r"C:\Program Files\ASR\asr-agent\asr-agent.exe"),
                           PureWindowsPath(r"C:\ProgramData\ASR\asr-agent"))


def test_windows_service_runs_as_its_virtual_account_not_localsystem():
    create = PLAN.install_commands()[0]
    assert create[:3] == ["sc.exe", "create", "asr-agent"]
    assert create[create.index("obj=") + 1] == r"NT SERVICE\asr-agent"
    assert not any("LocalSystem" in arg for cmd in PLAN.install_commands() for arg in cmd)


def test_windows_service_path_is_quoted_against_path_hijacking():
    create = PLAN.install_commands()[0]
    assert create[create.index("binPath=") + 1] == (
        r'"C:\Program Files\ASR\asr-agent\asr-agent.exe" service _windows-service')


def test_windows_service_drops_privileges_restarts_on_failure_and_owns_only_its_data():
    cmds = {tuple(c[:2]): c for c in PLAN.install_commands()}
    assert cmds[("sc.exe", "privs")][-1] == "SeChangeNotifyPrivilege"
    assert cmds[("sc.exe", "sidtype")][-1] == "unrestricted"
    assert "restart/60000/restart/300000//" in cmds[("sc.exe", "failure")]
    assert cmds[("icacls.exe", r"C:\ProgramData\ASR\asr-agent")][2:] == [
        "/grant", r"NT SERVICE\asr-agent:(OI)(CI)M"]


def test_windows_uninstall_tolerates_a_service_that_is_not_running():
    rec = Recorder(codes={"stop": 1062})
    windows.WindowsService(PLAN, rec).uninstall()
    assert rec.calls == [["sc.exe", "stop", "asr-agent"], ["sc.exe", "delete", "asr-agent"]]


def test_windows_access_denied_says_to_elevate():
    with pytest.raises(windows.WindowsServiceError, match="elevated"):
        windows.WindowsService(PLAN, Recorder(codes={"create": 5})).install()


def test_windows_status_queries_the_scm():
    assert PLAN.control_command("status") == ["sc.exe", "query", "asr-agent"]


def test_program_data_dir_follows_the_environment():
    assert windows.program_data_dir({"ProgramData": r"D:\PD"}) == PureWindowsPath(
        r"D:\PD\ASR\asr-agent")


def test_service_runner_stops_the_daemon_through_the_stop_event():
    started = threading.Event()

    def daemon(config: str, stop: threading.Event) -> int:
        assert config == "cfg.yaml"
        started.set()
        return 0 if stop.wait(5) else 99

    runner = windows.ServiceRunner("cfg.yaml", entry=daemon)
    thread = threading.Thread(target=runner.run)
    thread.start()
    assert started.wait(5)
    runner.stop()   # what SvcStop does when the SCM asks
    thread.join(5)
    assert runner.exit_code == 0 and runner.error is None


def test_service_runner_turns_a_crash_into_a_service_specific_error():
    def daemon(config, stop):
        raise RuntimeError("config unreadable")

    runner = windows.ServiceRunner("cfg.yaml", entry=daemon)
    assert runner.run() == 1066
    assert "config unreadable" in str(runner.error)


def test_dispatch_without_pywin32_explains_what_is_missing():
    if windows.HAVE_PYWIN32:
        pytest.skip("pywin32 present: dispatch would start the real service dispatcher")
    with pytest.raises(windows.WindowsServiceError, match="pywin32"):
        windows.dispatch()
