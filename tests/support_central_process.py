"""`asr-central serve` as a real subprocess on a free loopback port, on a SQLite file or a
PostgreSQL database: for tests that kill it (-9), or one of its workers (`--workers N`), or
read its memory use from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from support_central import ADMIN_TOKEN, _free_tcp_port


class CentralProcess:
    """One `asr-central serve` process at a time; start() again after kill() to restart."""

    def __init__(self, db: Path | str, workdir: Path | None = None, *,
                 port: int | None = None, workers: int = 1,
                 extra_args: tuple[str, ...] = ()) -> None:
        """`db`: a database URL (then `workdir` holds the token and the log) or a SQLite
        file's path (beside which they go)."""
        if isinstance(db, str) and "://" in db:
            assert workdir is not None, "a URL needs a workdir for the token and the log"
            workdir.mkdir(parents=True, exist_ok=True)
            self.db_url, base = db, workdir / "central"
        else:
            self.db_url, base = f"sqlite:///{db}", Path(db)
        self.workers = workers
        self.extra_args = extra_args
        self.port = port or _free_tcp_port()
        self.admin_token = ADMIN_TOKEN
        self.token_file = base.with_suffix(".admin-token")
        self.token_file.write_text(ADMIN_TOKEN, encoding="utf-8")
        self.token_file.chmod(0o600)
        self.log_path = base.with_suffix(".log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> CentralProcess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "asr_central.cli", "serve", "--db", self.db_url,
                 "--host", "127.0.0.1", "--port", str(self.port),
                 "--admin-token-file", str(self.token_file), "--log-level", "warning",
                 *(("--workers", str(self.workers)) if self.workers != 1 else ()),
                 *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"central exited {self.process.returncode}: "
                                   f"{self.log_path.read_text(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", trust_env=False, timeout=1).is_success:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"central did not answer on port {self.port}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, as a power cut or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def worker_pids(self) -> list[int]:
        """The worker processes of a `--workers N` server (uvicorn's supervisor's children
        that serve, not multiprocessing's resource tracker)."""
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        found = []
        for child in map(int, children):
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue  # gone meanwhile
            if b"spawn_main" in cmdline:
                found.append(child)
        return found

    def memory_kib(self, field: str = "VmRSS") -> int:
        """From /proc/<pid>/status: VmRSS now, VmHWM the peak so far."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise AssertionError(f"{field} not in /proc/{self.process.pid}/status")
