"""Fixtures shared by the whole suite: real SNMP responders, free loopback ports, the
public walk corpus, and the rule that a missing outside tool fails under CI=true."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from asr_dev.snmpsim_process import SnmpSim, SnmpSimUnavailable, V3User
from tests.support_postgres import PostgresServer, find_pg_bin, start_server

REPO = Path(__file__).resolve().parent.parent
SHARED_WALKS = REPO.parent / "shared" / "walks"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(condition: bool, why: str) -> None:
    """Skip for a missing outside tool on a developer machine; fail under CI=true."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"{why} (CI must install it: see scripts/setup)")
    pytest.skip(why)


def require_executable(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def free_port(kind: int = socket.SOCK_DGRAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@pytest.fixture
def udp_port() -> int:
    return free_port(socket.SOCK_DGRAM)


@pytest.fixture
def tcp_port() -> int:
    return free_port(socket.SOCK_STREAM)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/support_postgres.py)."""
    require(find_pg_bin() is not None,
            "PostgreSQL server binaries are not installed (Debian package postgresql)")
    server = start_server(free_port(socket.SOCK_STREAM))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", "postgres"])
def central_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Central's database on each engine in turn: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_central_db_url(request: pytest.FixtureRequest,
                          tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`central_db_url` for a module's tests that share one server (one per engine)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('central') / 'central.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture
def second_central_db_url(central_db_url: str, request: pytest.FixtureRequest,
                          tmp_path: Path) -> Iterator[str]:
    """Another database on the engine of `central_db_url` (tests that compare two)."""
    if not central_db_url.startswith(("postgresql://", "postgres://")):
        yield f"sqlite:///{tmp_path / 'central-2.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    try:
        yield url
    finally:
        server.drop_database(url)


@pytest.fixture(scope="session")
def shared_walks() -> Path:
    """The recorded printer walks beside the project (read in place, never copied)."""
    require(SHARED_WALKS.is_dir(), f"the shared walk corpus is absent ({SHARED_WALKS.name} beside the project)")
    return SHARED_WALKS


StartSim = Callable[..., SnmpSim]


@contextmanager
def serving(data_dir: Path) -> Iterator[tuple[str, int]]:
    """One snmpsim serving `data_dir` on a free loopback port, for module-scoped fixtures
    (the `snmpsim` fixture is per test)."""
    endpoint = ("127.0.0.1", free_port())
    sim = SnmpSim(data_dir, [endpoint])
    try:
        sim.start()
    except SnmpSimUnavailable as exc:
        require(False, str(exc))
    try:
        yield endpoint
    finally:
        sim.stop()


@pytest.fixture
def snmpsim() -> Iterator[StartSim]:
    """Factory: start(data_dir, endpoints=[(host, port)], v3_user=None, ...) -> running SnmpSim."""
    started: list[SnmpSim] = []

    def start(data_dir: Path, endpoints: list[tuple[str, int]], *,
              v3_user: V3User | None = None, v3_only: bool = False,
              variation_options: list[str] | None = None) -> SnmpSim:
        sim = SnmpSim(Path(data_dir), endpoints, v3_user=v3_user, v3_only=v3_only,
                      variation_options=variation_options or [])
        try:
            sim.start()
        except SnmpSimUnavailable as exc:
            require(False, str(exc))
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()
