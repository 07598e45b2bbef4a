"""Runs the snmpsim SNMP responder as a child process, for the demo and the tests.

snmpsim lives in its own virtual environment (it needs pysmi, which the agent must not
import), so it is found through `ASR_SNMPSIM`, then `.tools/snmpsim` in the checkout,
then PATH. Only loopback endpoints are accepted: simulated printers never leave the host.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

_EXECUTABLE = "snmpsim-command-responder"


class SnmpSimUnavailable(RuntimeError):
    """snmpsim is not installed where we look; scripts/setup installs it."""


def find_responder() -> str:
    candidates = [os.environ.get("ASR_SNMPSIM", "")]
    checkout = Path(__file__).resolve().parent.parent
    candidates.append(str(checkout / ".tools" / "snmpsim" / "bin" / _EXECUTABLE))
    candidates.append(shutil.which(_EXECUTABLE) or "")
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise SnmpSimUnavailable(
        f"{_EXECUTABLE} not found (set ASR_SNMPSIM or run scripts/setup to install it)"
    )


def _is_bound(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


@dataclass(frozen=True)
class V3User:
    user: str
    auth_key: str
    priv_key: str
    auth_proto: str = "SHA"
    priv_proto: str = "AES"


@dataclass(frozen=True)
class EngineGroup:
    """One more simulated device in the same process: its own SNMP engine (engine ID),
    data directory and endpoints. Costs ~80 ms and ~1 MB, against ~1 s for a process."""

    data_dir: Path
    endpoints: list[tuple[str, int]]


@dataclass
class SnmpSim:
    """One snmpsim process serving `data_dir` on the given loopback endpoints.

    Each `<community>.snmprec` in data_dir answers to that v2c community and to the v3
    context name `<community>`. `groups` adds more engines to the same process, each a
    distinct device (own engine ID and data). Use as a context manager or call start()/stop().
    """

    data_dir: Path
    endpoints: list[tuple[str, int]]
    v3_user: V3User | None = None
    v3_only: bool = False
    variation_options: list[str] = field(default_factory=list)
    startup_timeout: float = 20.0
    groups: list[EngineGroup] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for host, _ in self.all_endpoints:
            if not ipaddress.ip_address(host).is_loopback:
                raise ValueError(f"simulated printers bind to loopback only, not {host}")

    @property
    def all_endpoints(self) -> list[tuple[str, int]]:
        return [*self.endpoints, *(e for g in self.groups for e in g.endpoints)]

    def command(self, cache_dir: Path) -> list[str]:
        cmd = [find_responder(), f"--cache-dir={cache_dir}"]
        first = EngineGroup(self.data_dir, self.endpoints)
        for n, group in enumerate([first, *self.groups]):
            if n:
                # snmpsim starts a new engine at each --v3-engine-id; the options after it
                # (data dir, endpoints, v3 users) belong to that engine only.
                cmd.append("--v3-engine-id=auto")
            cmd.append(f"--data-dir={group.data_dir}")
            for host, port in group.endpoints:
                flag = "--agent-udpv6-endpoint" if ":" in host else "--agent-udpv4-endpoint"
                shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                cmd.append(f"{flag}={shown}")
            if self.v3_user is not None:
                u = self.v3_user
                cmd += [f"--v3-user={u.user}", f"--v3-auth-key={u.auth_key}",
                        f"--v3-auth-proto={u.auth_proto}", f"--v3-priv-key={u.priv_key}",
                        f"--v3-priv-proto={u.priv_proto}"]
        if self.v3_only:
            cmd.append("--v3-only")
        cmd += [f"--variation-module-options={opt}" for opt in self.variation_options]
        return cmd

    def start(self) -> SnmpSim:
        return self.launch().wait_ready()

    def launch(self) -> SnmpSim:
        """Start the process without waiting; several can then load their data side by side."""
        self._workdir = tempfile.TemporaryDirectory(prefix="asr-snmpsim-")
        workdir = Path(self._workdir.name)
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")
        with open(workdir / "responder.log", "wb") as log:
            self._process = subprocess.Popen(
                self.command(workdir / "cache"), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, env=env, start_new_session=True,
            )
        return self

    def wait_ready(self) -> SnmpSim:
        """Wait until every endpoint is bound; stop the process and raise if it is not in time."""
        assert self._process is not None and self._workdir is not None, "launch() first"
        log_path = Path(self._workdir.name) / "responder.log"
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            text = log_path.read_text(errors="replace")
            # snmpsim logs "Listening at" before it binds, so wait for the bind itself.
            endpoints = self.all_endpoints
            if text.count("Listening at") >= len(endpoints) and all(
                _is_bound(host, port) for host, port in endpoints
            ):
                return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        text = log_path.read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"snmpsim did not start; its log ends:\n{text[-2000:]}")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> SnmpSim:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
