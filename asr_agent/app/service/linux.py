"""`asr-agent service install|uninstall|start|stop|status` on Linux: the systemd unit,
the system user and the agent's directories, through systemctl and friends.

The .deb installs the same files under /usr/lib; this installer is for agents installed
another way (a wheel into /opt, a tarball) and writes the admin's locations under /etc.
Everything runs through a `Runner`, and `root` may be a scratch directory (the tools are
then called with `--root=`), so the whole sequence can be exercised without touching the
host.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from asr_core.errors import AsrError
from asr_agent.app.service import SERVICE_NAME, Runner, run_command

UNIT = f"{SERVICE_NAME}.service"
PACKAGED_EXEC = PurePosixPath("/opt/asr-agent/current/bin/asr-agent")
# ProtectHome=yes hides these from the service: an agent installed there cannot start.
_HIDDEN_PREFIXES = (PurePosixPath("/home"), PurePosixPath("/root"), PurePosixPath("/run/user"))


class ServiceError(AsrError):
    """A service operation failed; the message names the command and its output."""


def _packaged(name: str) -> str:
    return resources.files("asr_agent.app.service").joinpath("systemd", name).read_text("utf-8")


def unit_text(executable: PurePosixPath = PACKAGED_EXEC) -> str:
    """The hardened unit, with ExecStart pointing at `executable`."""
    text = _packaged(UNIT)
    if executable != PACKAGED_EXEC:
        text = text.replace(f"ExecStart={PACKAGED_EXEC} ", f"ExecStart={executable} ", 1)
    return text


def agent_executable(argv0: str | None = None, *, resolve=os.path.realpath) -> PurePosixPath:
    """The `asr-agent` the unit should start: the stable `current` link when this agent
    lives in a versioned /opt/asr-agent environment (so self-updates take effect), else
    the running script itself."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    real = PurePosixPath(resolve(argv0))
    parts = real.parts
    if len(parts) >= 5 and parts[:3] == ("/", "opt", "asr-agent") and parts[-2] == "bin":
        return PACKAGED_EXEC
    return real


@dataclass(frozen=True)
class Layout:
    """Where `install` writes, relative to `root`."""

    root: Path = Path("/")
    unit_dir: PurePosixPath = PurePosixPath("/etc/systemd/system")
    sysusers_dir: PurePosixPath = PurePosixPath("/etc/sysusers.d")
    tmpfiles_dir: PurePosixPath = PurePosixPath("/etc/tmpfiles.d")

    def host_path(self, path: PurePosixPath) -> Path:
        return self.root / path.relative_to("/")

    @property
    def unit_path(self) -> PurePosixPath:
        return self.unit_dir / UNIT

    @property
    def sysusers_path(self) -> PurePosixPath:
        return self.sysusers_dir / f"{SERVICE_NAME}.conf"

    @property
    def tmpfiles_path(self) -> PurePosixPath:
        return self.tmpfiles_dir / f"{SERVICE_NAME}.conf"

    @property
    def offline(self) -> bool:
        return self.root.resolve() != Path("/")


class SystemdService:
    def __init__(self, layout: Layout | None = None, runner: Runner = run_command,
                 executable: PurePosixPath | None = None) -> None:
        self.layout = layout or Layout()
        self.runner = runner
        self.executable = executable if executable is not None else agent_executable()

    # --- the commands, as argv lists ---------------------------------------------

    def _root_opt(self) -> list[str]:
        return [f"--root={self.layout.root}"] if self.layout.offline else []

    def install_commands(self, *, now: bool = False) -> list[list[str]]:
        lay = self.layout
        cmds = [
            # Bare file names: the tools look them up in their config directories (under
            # --root when given), where install just wrote them.
            ["systemd-sysusers", *self._root_opt(), lay.sysusers_path.name],
            ["systemd-tmpfiles", *self._root_opt(), "--create", lay.tmpfiles_path.name],
        ]
        if not lay.offline:
            cmds.append(["systemctl", "daemon-reload"])
        cmds.append(["systemctl", *self._root_opt(), "enable", UNIT])
        if now and not lay.offline:
            cmds.append(["systemctl", "start", UNIT])
        return cmds

    def uninstall_commands(self) -> list[list[str]]:
        if self.layout.offline:
            return [["systemctl", *self._root_opt(), "disable", UNIT]]
        return [["systemctl", "disable", "--now", UNIT]]

    def control_command(self, action: str) -> list[str]:
        if action not in ("start", "stop", "restart", "status"):
            raise ServiceError(f"unknown service action {action!r}")
        if action == "status":
            return ["systemctl", "status", "--no-pager", "--lines=20", UNIT]
        return ["systemctl", action, UNIT]

    # --- doing it --------------------------------------------------------------------

    def _check_executable(self) -> None:
        for prefix in _HIDDEN_PREFIXES:
            if self.executable == prefix or prefix in self.executable.parents:
                raise ServiceError(
                    f"{self.executable} is under {prefix}, which the service cannot see "
                    "(ProtectHome=yes). Install the agent system-wide (the .deb, or a "
                    "virtual environment under /opt/asr-agent) and run this command from there")

    def install(self, *, now: bool = False) -> list[str]:
        """Write the unit, sysusers and tmpfiles snippets, create the user and
        directories, enable (and with now=True start) the service. Returns what it did."""
        self._require_root()
        self._check_executable()
        lay = self.layout
        done = []
        for path, text in ((lay.unit_path, unit_text(self.executable)),
                           (lay.sysusers_path, _packaged(f"{SERVICE_NAME}.sysusers")),
                           (lay.tmpfiles_path, _packaged(f"{SERVICE_NAME}.tmpfiles"))):
            host = lay.host_path(path)
            host.parent.mkdir(parents=True, exist_ok=True)
            tmp = host.with_name(host.name + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.chmod(0o644)
            os.replace(tmp, host)
            done.append(f"wrote {path}")
        for argv in self.install_commands(now=now):
            self._run(argv)
            done.append(" ".join(argv))
        return done

    def uninstall(self) -> list[str]:
        """Stop and disable the service and remove the files `install` wrote. The
        asr-agent user, /etc/asr-agent and /var/lib/asr-agent are kept (the agent's
        identity and config); remove them by hand to forget the agent."""
        self._require_root()
        done = []
        for argv in self.uninstall_commands():
            self._run(argv, ok_codes=(0, 1, 5))  # 1/5: unit already gone or never loaded
            done.append(" ".join(argv))
        lay = self.layout
        for path in (lay.unit_path, lay.sysusers_path, lay.tmpfiles_path):
            try:
                lay.host_path(path).unlink()
                done.append(f"removed {path}")
            except FileNotFoundError:
                pass
        if not lay.offline:
            self._run(["systemctl", "daemon-reload"])
            done.append("systemctl daemon-reload")
        return done

    def control(self, action: str) -> str:
        argv = self.control_command(action)
        if action != "status":
            self._require_root()
        # `systemctl status` exits 3 for a stopped unit: that is an answer, not a failure.
        proc = self._run(argv, ok_codes=(0, 3) if action == "status" else (0,))
        return proc.stdout

    def _require_root(self) -> None:
        if not self.layout.offline and os.geteuid() != 0:
            raise ServiceError("installing or controlling the system service needs root: "
                               "run it with sudo")

    def _run(self, argv: list[str], ok_codes: tuple[int, ...] = (0,)):
        try:
            proc = self.runner(argv)
        except FileNotFoundError as exc:
            raise ServiceError(f"{argv[0]} not found: this command needs systemd") from exc
        if proc.returncode not in ok_codes:
            out = (proc.stderr or proc.stdout or "").strip()
            raise ServiceError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}: {out}")
        return proc
