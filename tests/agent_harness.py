"""Shared pieces of the agent robustness tests: an odd printer's recording, a handler that
keeps the `asr` tree's log records, and a running daemon beside simulated printers."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from asr_dev.simulated_printers import SimulatedPrinter, recording
from tests.conftest import free_port

ODD_SERIAL = "XRX-ODD-1"
LEVEL_OID = "1.3.6.1.2.1.43.11.1.1.9.1"
CAPACITY_OID = "1.3.6.1.2.1.43.11.1.1.8.1"
PAGES_OID = "1.3.6.1.2.1.43.10.2.1.4.1.1"
SERIAL_OID = "1.3.6.1.2.1.43.5.1.1.17.1"


def odd_recording(replace: dict[str, str], serial: str = ODD_SERIAL) -> str:
    """The Xerox recording with some lines' `tag|value` replaced (key: the OID)."""
    lines = []
    for line in recording("xerox_altalink_c8135").splitlines():
        oid = line.split("|", 1)[0]
        if oid == SERIAL_OID:
            line = f"{oid}|4|{serial}"
        elif oid in replace:
            line = f"{oid}|{replace[oid]}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def serve_recording(snmpsim, tmp_path: Path, name: str, text: str, community: str = "public") -> int:
    """`text` served by snmpsim on a free loopback port; returns the port."""
    data = tmp_path / name
    data.mkdir()
    (data / f"{community}.snmprec").write_text(text)
    port = free_port()
    snmpsim(data, [("127.0.0.1", port)])
    return port


def healthy_printer() -> SimulatedPrinter:
    return SimulatedPrinter("office", "hp_laserjet_m507", "HP-T-002", "127.0.0.1", free_port(),
                            use_pct_per_day={1: 2.0})


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self, level: int = logging.DEBUG) -> list[str]:
        out = []
        for r in self.records:
            if r.levelno >= level:
                fields = getattr(r, "event", {}) or {}
                out.append(" ".join([r.getMessage(), *(f"{k}={v}" for k, v in fields.items())]))
        return out


@contextmanager
def asr_log() -> Iterator[Records]:
    """Every record of the `asr` logger tree at DEBUG and up, while the block runs."""
    logger = logging.getLogger("asr")
    handler = Records()
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old)


def agent_config(tmp_path: Path, hosts: list[tuple[str, int]], *, central_url: str | None,
                 communities: dict[str, str] | None = None, host_credentials: dict[int, list[str]] | None = None,
                 extra: dict | None = None) -> Path:
    """A daemon config polling `hosts` every ~half second (each `(host, port)` with the
    credential `lab`, unless `host_credentials[port]` names others)."""
    import yaml

    communities = communities or {"lab": "public"}
    config = {
        "site": {"id": "site-1", "contact": {"name": "Facilities", "email": "facilities@site.example"}},
        "snmp": {"credentials": {name: {"version": "2c", "community": c} for name, c in communities.items()},
                 "timeout_s": 0.3, "retries": 0},
        "targets": {"hosts": [{"host": h, "port": p, "credentials": (host_credentials or {}).get(p, ["lab"])}
                              for h, p in hosts]},
        "poll": {"interval_min": 0.01, "jitter_s": 0},
        "central": {"url": central_url, "summary_interval_min": 60},
        "store": {"data_dir": str(tmp_path / "data")},
        "status_page": {"port": free_port(kind=socket.SOCK_STREAM), "bind": ["127.0.0.1"]},
    }
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


PAGES = ("/", "/api/status.json", "/metrics", "/healthz")


def run_agent(config_path: Path, until: Callable[[Any], bool], *, timeout: float = 30.0,
              clock: Callable[[], datetime] | None = None, advance: Callable[[], None] | None = None,
              ) -> dict[str, httpx.Response]:
    """Run the real daemon on `config_path` until `until(daemon)` holds (or `timeout`), then
    read its status page, status.json, /metrics and /healthz; returns them by path."""
    from asr_agent.app.config import load_config
    from asr_agent.app.daemon import AgentDaemon

    cfg = load_config(config_path)
    paths = cfg.paths(config_file=config_path)

    async def scenario() -> dict[str, httpx.Response]:
        daemon = AgentDaemon(cfg, paths, config_path=config_path, loopback_only=True,
                             **({"clock": clock} if clock is not None else {}))
        await daemon.start()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if advance is not None:
                    advance()
                await asyncio.sleep(0.2)
                if until(daemon):
                    break
            else:
                raise AssertionError("the agent did not get there in time")
            async with httpx.AsyncClient(trust_env=False) as client:  # served by this loop
                base = daemon.status_urls[0].rstrip("/")
                return {path: await client.get(base + path) for path in PAGES}
        finally:
            await daemon.stop()

    return asyncio.run(scenario())
