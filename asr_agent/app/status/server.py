"""Serves the status app on the configured loopback addresses (127.0.0.1 and ::1 by
default) with uvicorn, inside the daemon's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

log = logging.getLogger("asr.status")


class BindRefused(ValueError):
    """A non-loopback address was asked for without TLS and a password."""


def check_binds(binds: Sequence[str], *, allow_remote: bool, tls: bool, password: bool) -> None:
    for address in binds:
        if ipaddress.ip_address(address).is_loopback:
            continue
        if not (allow_remote and tls and password):
            raise BindRefused(
                f"status_page.bind: {address} is not a loopback address; set status_page.allow_remote "
                "with tls_cert, tls_key and a password to serve beyond this host")


def _listen(address: str, port: int) -> socket.socket | None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        log.warning("status page cannot listen on %s port %s: %s", address, port, exc)
        return None
    sock.listen(64)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server, leaving SIGINT and SIGTERM to the daemon that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn would take both signals while it serves and raise them again on exit
        yield


@dataclass
class StatusServer:
    app: ASGIApp
    binds: Sequence[str]
    port: int
    tls_cert: str | None = None
    tls_key: str | None = None
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None
    _sockets: list[socket.socket] | None = None

    @property
    def urls(self) -> list[str]:
        scheme = "https" if self.tls_cert else "http"
        hosts = [s.getsockname()[0] for s in self._sockets or []]
        return [f"{scheme}://{'[' + h + ']' if ':' in h else h}:{self.port}/" for h in hosts]

    async def start(self) -> None:
        sockets: list[socket.socket] = []
        for address in self.binds:
            sock = _listen(address, self.port)
            if sock is not None:
                sockets.append(sock)
                self.port = sock.getsockname()[1]  # port 0: the OS chose; reuse it everywhere
        if not sockets:
            raise OSError(f"status page: no address of {list(self.binds)} could listen on port {self.port}")
        self._sockets = sockets
        # h11 even where httptools is installed (central's speed): a page read a few times a
        # minute on localhost does not need it, and the agent's memory does not carry it
        config = uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="off",
                                ssl_certfile=self.tls_cert, ssl_keyfile=self.tls_key,
                                server_header=False, date_header=False, http="h11")
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=sockets))
        while not self._server.started and not self._task.done():
            await asyncio.sleep(0.01)
        if self._task.done():
            self._task.result()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, timeout=5)
        for sock in self._sockets or []:
            sock.close()
