"""A real PostgreSQL server for the tests: Debian's `postgresql` binaries, a cluster made
by initdb in a temporary directory, listening on a Unix socket in that directory and on a
free loopback port. One server per test session (a cluster starts in about a second); each
test gets a database of its own, dropped afterwards.

initdb refuses to run as root, so as root the cluster belongs to the `postgres` account.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "find_pg_bin", "start_server"]


def find_pg_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name))
    return Path(found[-1]).parent if found else None


@dataclass
class PostgresServer:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str
    _names: Iterator[int] = itertools.count(1)

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            [str(self.bin_dir / "psql"), "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(self.port),
             "-U", self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"psql {sql!r}: {out.stderr.strip()}")
        return out.stdout

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"asr_test_{os.getpid()}_{next(self._names)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE template0")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        _as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate",
                   "-w", "stop"], self.data_dir, check=False)
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)


def _owner() -> str | None:
    """The account the cluster runs as: `postgres` when we are root, else ourselves."""
    return "postgres" if os.geteuid() == 0 else None


def _as_owner(argv: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    owner = _owner()
    if owner is not None:
        argv = ["runuser", "-u", owner, "--", *argv]
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120, check=check)


def start_server(port: int) -> PostgresServer:
    """initdb + pg_ctl start in a fresh temporary directory; trust authentication, loopback
    and a private socket directory only."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries (Debian package postgresql)")
    root = Path(tempfile.mkdtemp(prefix="asr-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    owner = _owner()
    if owner is not None:
        uid = pwd.getpwnam(owner).pw_uid
        gid = pwd.getpwnam(owner).pw_gid
        for path in (root, sockets):
            os.chown(path, uid, gid)
    user = owner or pwd.getpwuid(os.geteuid()).pw_name
    _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", user, "-A", "trust",
               "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"], root)
    options = (f"-c listen_addresses=127.0.0.1 -c port={port} "
               f"-c unix_socket_directories={sockets} -c max_connections=200 "
               "-c fsync=on -c synchronous_commit=on")
    started = _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                         "-l", str(root / "server.log"), "-w", "-t", "60", "start"], root,
                        check=False)
    if started.returncode != 0:
        log = (root / "server.log").read_text(errors="replace") if (root / "server.log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log[-2000:]}")
    return PostgresServer(bin_dir=bin_dir, data_dir=data, port=port, user=user)
