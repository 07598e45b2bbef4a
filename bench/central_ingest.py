"""Ingest rate of signed summaries (verification, durable storage and the after-ingest
policy run included) against a bare Starlette app answering a POST of the same size, both
on uvicorn with one worker, driven by the same load generator on loopback in the same run.

    .venv/bin/python bench/central_ingest.py

Options: [--seconds 5] [--connections 16] [--batch 20] [--without-policy].
It measures the bare echo once, then ingest with one summary per request and with
`--batch` summaries per request (the way beyond one per POST), and prints each as a ratio
to the bare rate. The load generator is `wrk` (Debian package `wrk`) when installed, else
an httpx async client (which saturates sooner, so the ratios mean less). Every ingest
request carries summaries not sent before. Goal: ingest >= 0.5x the bare rate at batch 1.
`--without-policy` leaves the registry, orders and alerts extensions out, to separate
ingest from the policy run it triggers; BENCH_PRINT_PID=1 prints the server pids (to
attach a sampling profiler).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin-token-0123456789abcdef"

BARE_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def echo(request):
    body = await request.body()
    return JSONResponse({"results": [{"status": "accepted", "code": 201, "bytes": len(body)}]})

app = Starlette(routes=[Route("/v1/summaries", echo, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="none")
"""

CENTRAL_APP = """
import sys, uvicorn
import asr_central.app
if sys.argv[4] == "without-policy":
    asr_central.app.EXTENSIONS = ()
app = asr_central.app.create_app(sys.argv[2], admin_token=sys.argv[3])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", ws="none")
"""

# wrk: each connection's requests walk the pre-built bodies in order, so none is sent twice
# (until the list runs out, which the report says).
WRK_SCRIPT = """
local bodies = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do bodies[#bodies + 1] = line end
end
function request()
  i = i + 1
  local body = bodies[((i - 1) % #bodies) + 1]
  return wrk.format("POST", "/v1/summaries", {["Content-Type"] = "application/json"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(code: str, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", code, str(port), *args], cwd=REPO)
    if os.environ.get("BENCH_PRINT_PID"):
        print(f"server pid {proc.pid}", flush=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/", trust_env=False, timeout=0.5)
            return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"server did not start on {url}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def build_bodies(url: str, count: int, batch: int) -> list[str]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from asr_agent.records import LevelState, SupplyClass, SupplyType
    from asr_agent.signing import AgentKey, seal
    from asr_agent.wire import (
        DeviceIdentity, DeviceState, PageCounters, Summary, SupplySummary, idempotency_key,
    )

    auth = {"Authorization": f"Bearer {ADMIN}"}
    token = httpx.post(url + "/v1/admin/enrollment-tokens", headers=auth, trust_env=False,
                       json={"site_id": "bench"}).json()["token"]
    key = AgentKey(Ed25519PrivateKey.generate())
    agent_id = httpx.post(url + "/v1/enroll", trust_env=False, json={
        "token": token, "public_key": key.public_b64, "site_id": "bench",
        "agent_name": "bench"}).json()["agent_id"]
    end0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    supplies = tuple(SupplySummary(
        index=i, type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED, color=color,
        level=50, level_state=LevelState.OK, remaining_percent=50.0, grams_used=3.0,
        daily_grams=1.5, daily_percent=0.6, days_to_empty=80.0, days_to_empty_low=70.0,
        days_to_empty_high=90.0, forecast_status="ok", part_number="106R03528")
        for i, color in enumerate(("black", "cyan", "magenta", "yellow"), start=1))
    bodies, envelopes, seq = [], [], 0
    for n in range(count * batch):
        seq += 1
        serial = f"XRX-{n % 500:04d}"
        end = end0 + timedelta(hours=4 * (n // 500 + 1))
        start_ = end - timedelta(hours=4)
        summary = Summary(agent_id, "bench", None, seq,
                          idempotency_key(agent_id, serial, start_, end), start_, end,
                          DeviceIdentity(serial, "Xerox", "VersaLink C405", True),
                          DeviceState.OK, supplies, PageCounters(1000, 1100))
        envelopes.append(seal(summary, key).to_dict())
        if len(envelopes) == batch:
            bodies.append(json.dumps({"envelopes": envelopes}, separators=(",", ":")))
            envelopes = []
    return bodies


def run_wrk(url: str, bodies: list[str], seconds: float, connections: int,
            workdir: Path) -> tuple[float, int]:
    data = workdir / "bodies.txt"
    data.write_text("\n".join(bodies) + "\n")
    script = workdir / "post.lua"
    script.write_text(WRK_SCRIPT)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "-s",
                          str(script), url, "--", str(data)],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        print(f"  warning: {errors.group(1)} non-2xx answers")
    return rate, total


def run_httpx(url: str, bodies: list[str], seconds: float,
              connections: int) -> tuple[float, int]:
    async def go() -> tuple[float, int]:
        done = 0
        deadline = time.monotonic() + seconds
        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(base_url=url, trust_env=False, limits=limits) as client:
            async def worker(w: int) -> None:
                nonlocal done
                i = w
                while time.monotonic() < deadline:
                    await client.post("/v1/summaries", content=bodies[i % len(bodies)],
                                      headers={"Content-Type": "application/json"})
                    done += 1
                    i += connections
            t0 = time.monotonic()
            await asyncio.gather(*(worker(w) for w in range(connections)))
            return done / (time.monotonic() - t0), done
    return asyncio.run(go())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=20, help="summaries per request in the "
                        "batched run (the other run sends one)")
    parser.add_argument("--without-policy", action="store_true",
                        help="leave the registry/orders/alerts extensions out (ingest alone)")
    parser.add_argument("--requests", type=int, default=25_000,
                        help="distinct ingest requests to pre-build for the batch-1 run")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    client = "wrk" if use_wrk else "httpx (install wrk for a stronger load generator)"
    batches = [1, args.batch] if args.batch != 1 else [1]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        central, central_url = start(CENTRAL_APP, f"sqlite:///{workdir / 'central.db'}", ADMIN,
                                     "without-policy" if args.without_policy else "with-policy")
        runs: list[tuple[int, float, int, int]] = []
        try:
            t0 = time.perf_counter()
            # Enough distinct bodies for the run at the rate a fast server could reach.
            bodies = {b: build_bodies(central_url, max(args.requests // b, 500), b)
                      for b in batches}
            print(f"built {sum(len(v) for v in bodies.values())} signed request bodies "
                  f"({', '.join(f'{len(v[0])} bytes for {b}' for b, v in bodies.items())}) in "
                  f"{time.perf_counter() - t0:.1f} s; client: {client}")

            def runner(url: str, body_list: list[str]) -> tuple[float, int]:
                if use_wrk:
                    return run_wrk(url, body_list, args.seconds, args.connections, workdir)
                return run_httpx(url, body_list, args.seconds, args.connections)

            bare, bare_url = start(BARE_APP)
            try:
                bare_rate, _ = runner(bare_url, bodies[1])
            finally:
                stop(bare)
            import sqlite3
            for b in batches:
                conn = sqlite3.connect(workdir / "central.db")
                before = conn.execute("SELECT count(*) FROM summaries").fetchone()[0]
                conn.close()
                rate, sent = runner(central_url, bodies[b])
                conn = sqlite3.connect(workdir / "central.db")
                stored = conn.execute("SELECT count(*) FROM summaries").fetchone()[0] - before
                conn.close()
                runs.append((b, rate, sent, stored))
        finally:
            stop(central)
    print(f"bare Starlette POST echo (one-summary body): {bare_rate:,.0f} requests/s")
    for b, rate, sent, stored in runs:
        repeated = ", some repeated" if sent > len(bodies[b]) else ""
        print(f"signed summary ingest, batch {b:>3}: {rate:,.0f} requests/s = "
              f"{rate * b:,.0f} summaries/s ({stored} stored, {sent} requests sent{repeated})")
    for b, rate, _, _ in runs:
        verdict = ""
        if b == 1:
            verdict = f"  goal >= 0.5: {'met' if rate / bare_rate >= 0.5 else 'MISSED'}"
        print(f"ratio ours/bare, batch {b:>3}: {rate / bare_rate:.2f} in requests, "
              f"{rate * b / bare_rate:.2f} in summaries{verdict}")


if __name__ == "__main__":
    main()
