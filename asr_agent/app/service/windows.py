"""`asr-agent.exe service install|uninstall|start|stop|status` on Windows, and the service
class the Service Control Manager (SCM) runs: the daemon inside a pywin32 ServiceFramework.

Least privilege: the service logs on as its virtual account `NT SERVICE\\asr-agent` (no
password, no interactive logon, network access as the computer account), not LocalSystem;
its privileges are cut to SeChangeNotifyPrivilege, and only its ProgramData folder is made
writable for it. Installation is a list of `sc.exe` / `icacls.exe` commands built by pure
functions and run through a `Runner`, so the sequence is checked on any OS. The MSI
(packaging/windows/asr-agent.wxs) creates the same service declaratively.

The daemon contract (provided by `asr_agent.app.daemon`): `serve(config_path, stop_event)`
runs until `stop_event` (a `threading.Event`) is set and returns an exit code. Windows
services receive no SIGTERM, so the event is how the SCM's stop request reaches it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PureWindowsPath

from asr_core.errors import AsrError
from asr_agent.app.service import SERVICE_NAME, Runner, run_command

DISPLAY_NAME = "ASR printer supplies agent"
DESCRIPTION = ("Discovers printers over SNMP and reports supply levels to the ASR "
               "replenishment service.")
# The hidden sub-command the SCM starts; it hands control to the service dispatcher.
DISPATCH_ARG = "_windows-service"
# SCM exit code for "service-specific error" so the failure actions (restart) apply.
_ERROR_SERVICE_SPECIFIC = 1066

try:  # pywin32 exists only on Windows (a win32-only dependency in pyproject.toml)
    import servicemanager
    import win32event
    import win32service
    import win32serviceutil
except ImportError:
    servicemanager = win32event = win32service = win32serviceutil = None

HAVE_PYWIN32 = win32serviceutil is not None


class WindowsServiceError(AsrError):
    """A service operation failed; the message names the command and its output."""


def virtual_account(service_name: str = SERVICE_NAME) -> str:
    """The virtual service account Windows creates for a service of that name."""
    return f"NT SERVICE\\{service_name}"


def program_data_dir(env: dict[str, str] | None = None) -> PureWindowsPath:
    """%ProgramData%\\ASR\\asr-agent: config, data and logs (see asr_agent.adapters.paths)."""
    env = dict(os.environ) if env is None else env
    base = env.get("ProgramData") or env.get("PROGRAMDATA") or r"C:\ProgramData"
    return PureWindowsPath(base) / "ASR" / "asr-agent"


@dataclass(frozen=True)
class ServicePlan:
    """What `install` does, as data: the executable the SCM starts and the commands."""

    executable: PureWindowsPath
    data_dir: PureWindowsPath
    service_name: str = SERVICE_NAME

    @property
    def bin_path(self) -> str:
        # The path is quoted: an unquoted path with spaces is the classic service
        # hijack (C:\Program.exe).
        return f'"{self.executable}" service {DISPATCH_ARG}'

    def install_commands(self) -> list[list[str]]:
        name, account = self.service_name, virtual_account(self.service_name)
        # sc.exe wants each option as "key=" followed by the value as a separate argument.
        return [
            ["sc.exe", "create", name, "binPath=", self.bin_path, "obj=", account,
             "start=", "delayed-auto", "DisplayName=", DISPLAY_NAME],
            ["sc.exe", "description", name, DESCRIPTION],
            # Unrestricted service SID: files can be granted to NT SERVICE\asr-agent.
            ["sc.exe", "sidtype", name, "unrestricted"],
            # Only the privilege every process needs; the token loses everything else.
            ["sc.exe", "privs", name, "SeChangeNotifyPrivilege"],
            # Restart after a crash (1 min, then 5 min), reset the count after a day.
            ["sc.exe", "failure", name, "reset=", "86400",
             "actions=", "restart/60000/restart/300000//"],
            ["sc.exe", "failureflag", name, "1"],
            # The agent writes only its ProgramData folder (config stays admin-editable).
            ["icacls.exe", str(self.data_dir), "/grant", f"{account}:(OI)(CI)M"],
        ]

    def uninstall_commands(self) -> list[list[str]]:
        return [["sc.exe", "stop", self.service_name],
                ["sc.exe", "delete", self.service_name]]

    def control_command(self, action: str) -> list[str]:
        verbs = {"start": "start", "stop": "stop", "status": "query"}
        if action not in verbs:
            raise WindowsServiceError(f"unknown service action {action!r}")
        return ["sc.exe", verbs[action], self.service_name]


def _frozen_executable() -> PureWindowsPath:
    # Under PyInstaller sys.executable is asr-agent.exe itself; in a venv it is python.exe
    # beside the asr-agent.exe console script.
    exe = PureWindowsPath(sys.executable)
    if getattr(sys, "frozen", False):
        return exe
    return exe.parent / "asr-agent.exe"


class WindowsService:
    def __init__(self, plan: ServicePlan | None = None, runner: Runner = run_command) -> None:
        self.plan = plan or ServicePlan(_frozen_executable(), program_data_dir())
        self.runner = runner

    def install(self, *, now: bool = False) -> list[str]:
        done = []
        for argv in self.plan.install_commands():
            self._run(argv)
            done.append(" ".join(argv))
        if now:
            done.append(self.control("start"))
        return done

    def uninstall(self) -> list[str]:
        done = []
        stop, delete = self.plan.uninstall_commands()
        self._run(stop, ok_codes=(0, 1062))  # 1062: the service was not running
        done.append(" ".join(stop))
        self._run(delete)
        done.append(" ".join(delete))
        return done

    def control(self, action: str) -> str:
        return self._run(self.plan.control_command(action)).stdout

    def _run(self, argv: list[str], ok_codes: tuple[int, ...] = (0,)):
        proc = self.runner(argv)
        if proc.returncode not in ok_codes:
            out = (proc.stdout or proc.stderr or "").strip()
            hint = " (run the command from an elevated prompt)" if proc.returncode == 5 else ""
            raise WindowsServiceError(
                f"`{' '.join(argv)}` failed with exit code {proc.returncode}{hint}: {out}")
        return proc


DaemonEntry = Callable[[str, threading.Event], int]


def _default_entry(config_path: str, stop: threading.Event) -> int:
    from asr_agent.app import daemon

    return int(daemon.serve(config_path, stop) or 0)


class ServiceRunner:
    """The part of the service that is plain Python: runs the daemon in a thread,
    translates the SCM's stop into the stop event, reports how the daemon ended."""

    def __init__(self, config_path: str, entry: DaemonEntry = _default_entry) -> None:
        self.config_path = config_path
        self.entry = entry
        self.stop_event = threading.Event()
        self.exit_code: int | None = None
        self.error: BaseException | None = None

    def run(self) -> int:
        try:
            self.exit_code = self.entry(self.config_path, self.stop_event)
        except Exception as exc:  # the SCM only sees an exit code; keep the cause
            self.error = exc
            self.exit_code = _ERROR_SERVICE_SPECIFIC
        return self.exit_code

    def stop(self) -> None:
        self.stop_event.set()


if HAVE_PYWIN32:  # pragma: no cover - exercised on Windows only

    class AsrAgentService(win32serviceutil.ServiceFramework):
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = DISPLAY_NAME
        _svc_description_ = DESCRIPTION

        def __init__(self, args):
            super().__init__(args)
            self._runner = ServiceRunner(str(program_data_dir() / "config.yaml"))

        def SvcStop(self):  # noqa: N802 (pywin32's name)
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING, waitHint=30000)
            self._runner.stop()

        def SvcDoRun(self):  # noqa: N802 (pywin32's name)
            servicemanager.LogMsg(servicemanager.EVENTLOG_INFORMATION_TYPE,
                                  servicemanager.PYS_SERVICE_STARTED, (self._svc_name_, ""))
            code = self._runner.run()
            if self._runner.error is not None:
                servicemanager.LogErrorMsg(f"{SERVICE_NAME} stopped: {self._runner.error!r}")
            if code:
                # A non-zero service-specific code makes the SCM apply the failure actions.
                self.ReportServiceStatus(win32service.SERVICE_STOPPED,
                                         win32ExitCode=_ERROR_SERVICE_SPECIFIC,
                                         svcExitCode=code)


def dispatch() -> int:
    """Entry point the SCM starts (`asr-agent.exe service _windows-service`)."""
    if not HAVE_PYWIN32:
        raise WindowsServiceError("the Windows service needs pywin32 (pip install pywin32), "
                                  "which the Windows build bundles")
    servicemanager.Initialize()  # pragma: no cover - Windows only
    servicemanager.PrepareToHostSingle(AsrAgentService)  # pragma: no cover
    servicemanager.StartServiceCtrlDispatcher()  # pragma: no cover
    return 0  # pragma: no cover
