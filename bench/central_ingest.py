"""Ingest rate of signed summaries (verification, durable storage and the after-ingest
policy run at its default interval included) against a bare Starlette app answering a POST
of the same size, both on uvicorn with one worker and central's own server settings
(`asr_central.commands.serve.server_options`), driven by the same load generator on
loopback in the same run.

    .venv/bin/python bench/central_ingest.py

Options: [--seconds 5] [--connections 16] [--batch 20] [--repeat 3] [--without-policy]
[--db postgresql://user@host:port/database].
Each round measures the bare echo, then ingest with one summary per request, then with
`--batch` summaries per request (the way beyond one per POST), back to back so that all
three see the same machine load; it prints every round and the median of the rounds, each
as a ratio to the bare rate of the same round. Besides the rates it prints the server's
CPU time per request (from /proc, on Linux), which a shared machine disturbs much less,
and the CPU ratio: bare CPU per request over ours per summary, which is what the rate
ratio comes to when both servers are CPU-bound on an idle core.
The load generator is `wrk` (Debian package `wrk`) when installed, else an httpx async
client (which saturates sooner, so the ratios mean less). Every ingest request carries
summaries not sent before. Goal: ingest >= 0.5x the bare rate at batch 1.
`--db URL` (PostgreSQL; repeatable) runs central on that database too, beside the SQLite
file, in the same rounds: each engine's rates and CPU per summary, and its ratio to SQLite's.
SQLite's work is in the central process; PostgreSQL's CPU per summary adds that of the
server processes serving the database (read from /proc: a server on this machine).
Goal: CPU per summary on PostgreSQL <= 1.5x SQLite's at the agent's default batch (50).
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
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
ADMIN = "bench-admin-token-0123456789abcdef"

# Both servers run with central's own uvicorn settings (asr_central.commands.serve), quiet.
BARE_APP = """
import sys, uvicorn
from asr_central.commands.serve import server_options
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

async def echo(request):
    body = await request.body()
    return JSONResponse({"results": [{"status": "accepted", "code": 201, "bytes": len(body)}]})

app = Starlette(routes=[Route("/v1/summaries", echo, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **server_options("warning"))
"""

CENTRAL_APP = """
import sys, uvicorn
import asr_central.service.app
from asr_central.commands.serve import server_options
if sys.argv[4] == "without-policy":
    asr_central.service.app.EXTENSIONS = ()
app = asr_central.service.app.create_app(sys.argv[2], admin_token=sys.argv[3])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), **server_options("warning"))
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

    from asr_core.records import LevelState, SupplyClass, SupplyType
    from asr_agent.adapters.keys import AgentKey, sign_payload
    from asr_core.wire import (
        DeviceIdentity, DeviceState, PageCounters, Summary, SupplySummary, canonical_bytes,
        idempotency_key,
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
    # Every summary has the same supplies: their canonical bytes are made once and put in
    # place of a marker (a string sorts and encodes as itself), which makes the canonical
    # payload of the whole summary several times faster than encoding it all each time.
    supplies_json = canonical_bytes([s.to_dict() for s in supplies])
    bodies, envelopes, seq = [], [], 0
    for n in range(count * batch):
        seq += 1
        serial = f"XRX-{n % 500:04d}"
        end = end0 + timedelta(hours=4 * (n // 500 + 1))
        start_ = end - timedelta(hours=4)
        summary = Summary(agent_id, "bench", None, seq,
                          idempotency_key(agent_id, serial, start_, end), start_, end,
                          DeviceIdentity(serial, "Xerox", "VersaLink C405", True),
                          DeviceState.OK, (), PageCounters(1000, 1100))
        data = summary.to_dict()
        data["supplies"] = "@supplies@"
        payload = canonical_bytes(data).replace(b'"@supplies@"', supplies_json, 1)
        envelopes.append(sign_payload(key, agent_id, payload).to_dict())
        if len(envelopes) == batch:
            bodies.append(json.dumps({"envelopes": envelopes}, separators=(",", ":")))
            envelopes = []
    return bodies


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


class Run:
    """One load run against one server: requests/s, requests sent, server CPU per request
    (central's, plus its database server's for PostgreSQL)."""

    def __init__(self, rate: float, sent: int, cpu_s: float | None, stored: int = 0,
                 db_cpu_s: float = 0.0) -> None:
        self.rate = rate
        self.sent = sent
        self.cpu_us = None if cpu_s is None or not sent else (cpu_s + db_cpu_s) / sent * 1e6
        self.db_cpu_us = db_cpu_s / sent * 1e6 if sent else 0.0
        self.stored = stored


def backend_cpu(url: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL server process serving `url`'s database
    (Linux, a server on this machine); empty for SQLite."""
    if _engine(url) != "postgresql":
        return {}
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        pids = [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()")]
    return {pid: cpu for pid in pids if (cpu := cpu_seconds(pid)) is not None}


def count_summaries(url: str) -> int:
    from asr_central.storage import open_database

    db = open_database(url, migrate=False)
    try:
        return int(db.connection().execute("SELECT count(*) FROM summaries").fetchone()[0])
    finally:
        db.close()


def median(values: list[float]) -> float:
    return statistics.median(values)


def cpu_ratio(bare: Run, run: Run, batch: int) -> float | None:
    """Bare CPU per request over ours per summary: the rate ratio if both were CPU-bound on
    an otherwise idle core, and much steadier than rates on a shared machine."""
    if bare.cpu_us is None or run.cpu_us is None:
        return None
    return bare.cpu_us / (run.cpu_us / batch)


def describe(run: Run, batch: int, bare: Run) -> str:
    cpu = "" if run.cpu_us is None else (
        f", {run.cpu_us:,.0f} us CPU/request" if batch == 1
        else f", {run.cpu_us / batch:,.0f} us CPU/summary")
    if run.db_cpu_us:
        cpu += f" (of which {run.db_cpu_us / batch:,.0f} in the database server)"
    by_cpu = cpu_ratio(bare, run, batch)
    return (f"{run.rate * batch:,.0f} summaries/s = {run.rate * batch / bare.rate:.2f}x bare"
            f"{cpu}" + ("" if by_cpu is None else f" (CPU ratio {by_cpu:.2f})"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--batch", type=int, default=20, help="summaries per request in the "
                        "batched run (the other run sends one)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (bare, batch 1, batch N)")
    parser.add_argument("--without-policy", action="store_true",
                        help="leave the registry/orders/alerts extensions out (ingest alone)")
    parser.add_argument("--db", action="append", default=[], metavar="URL",
                        help="also run central on this (PostgreSQL) database, beside SQLite")
    parser.add_argument("--summaries", type=int, default=20_000,
                        help="distinct summaries to pre-build per run at batch 1, twice as "
                        "many batched (more than a run sends)")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    client = "wrk" if use_wrk else "httpx (install wrk for a stronger load generator)"
    batches = [1, args.batch] if args.batch != 1 else [1]
    # per engine: the rounds of (bare run, {batch: our run})
    rounds: dict[str, list[tuple[Run, dict[int, Run]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        db_urls = {"sqlite": f"sqlite:///{workdir / 'central.db'}"}
        for url in args.db:
            db_urls[_engine(url)] = url
        servers = {name: start(CENTRAL_APP, url, ADMIN,
                               "without-policy" if args.without_policy else "with-policy")
                   for name, url in db_urls.items()}
        bare, bare_url = start(BARE_APP)
        try:
            t0 = time.perf_counter()
            # Batched runs store several times more summaries a second: twice the summaries,
            # so that a run does not send a body twice (a duplicate costs less than a summary).
            per_run = {b: max(args.summaries * (1 if b == 1 else 2) // b, 200) for b in batches}
            # Fresh bodies for every run: a body sent twice is a cheap duplicate.
            all_bodies = {name: {b: build_bodies(url, per_run[b] * args.repeat, b)
                                 for b in batches} for name, (_, url) in servers.items()}
            bodies = all_bodies["sqlite"]
            print(f"built {sum(len(v) for v in bodies.values())} signed request bodies per "
                  f"engine ({', '.join(f'{len(v[0])} bytes for {b}' for b, v in bodies.items())}) in "
                  f"{time.perf_counter() - t0:.1f} s; client: {client}, "
                  f"{args.connections} connections, {args.seconds:g} s per run", flush=True)

            def measure(proc: subprocess.Popen[bytes], url: str, body_list: list[str],
                        db_url: str | None = None) -> Run:
                db0 = backend_cpu(db_url) if db_url else {}
                cpu0 = cpu_seconds(proc.pid)
                if use_wrk:
                    rate, sent = run_wrk(url, body_list, args.seconds, args.connections,
                                         workdir)
                else:
                    rate, sent = run_httpx(url, body_list, args.seconds, args.connections)
                cpu1 = cpu_seconds(proc.pid)
                db1 = backend_cpu(db_url) if db_url else {}
                db_cpu = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items())
                return Run(rate, sent, None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
                           db_cpu_s=db_cpu)

            for r in range(args.repeat):
                bare_run = measure(bare, bare_url, bodies[1][:per_run[1]])
                for name, (central, central_url) in servers.items():
                    ours: dict[int, Run] = {}
                    for b in batches:
                        chunk = all_bodies[name][b][r * per_run[b]:(r + 1) * per_run[b]]
                        before = count_summaries(db_urls[name])
                        run = measure(central, central_url, chunk, db_urls[name])
                        run.stored = count_summaries(db_urls[name]) - before
                        if run.stored < run.sent * b * 0.9:
                            print(f"  warning: {name} batch {b} stored {run.stored} "
                                  f"summaries of {run.sent * b} sent")
                        if run.sent > len(chunk):
                            print(f"  note: batch {b} sent more requests than built; raise "
                                  "--summaries")
                        ours[b] = run
                    rounds.setdefault(name, []).append((bare_run, ours))
                    line = "  ".join(f"batch {b}: {describe(run, b, bare_run)}"
                                     for b, run in ours.items())
                    cpu = ("" if bare_run.cpu_us is None
                           else f", {bare_run.cpu_us:,.0f} us CPU/request")
                    print(f"round {r + 1} {name}: bare {bare_run.rate:,.0f} requests/s{cpu} | "
                          f"{line}", flush=True)
        finally:
            for central, _ in servers.values():
                stop(central)
            stop(bare)
    for name, engine_rounds in rounds.items():
        report(name, engine_rounds, batches)
    if len(rounds) > 1:
        compare(rounds, batches)


def _engine(url: str) -> str:
    from asr_central.storage import engine_of

    return engine_of(url)


def compare(rounds: dict[str, list[tuple[Run, dict[int, Run]]]], batches: list[int]) -> None:
    """CPU per summary of each engine over SQLite's, per batch size."""
    def cpu(name: str, b: int) -> float | None:
        values = [ours[b].cpu_us for _, ours in rounds[name] if ours[b].cpu_us is not None]
        return median(values) / b if values else None

    for name in rounds:
        if name == "sqlite":
            continue
        for b in batches:
            mine, lite = cpu(name, b), cpu("sqlite", b)
            if mine is None or lite is None:
                continue
            verdict = f"  goal <= 1.5: {'met' if mine / lite <= 1.5 else 'MISSED'}"
            print(f"{name} over sqlite, batch {b:>3}: {mine:,.0f} vs {lite:,.0f} us CPU/summary"
                  f" = {mine / lite:.2f}x{verdict}")


def report(name: str, rounds: list[tuple[Run, dict[int, Run]]], batches: list[int]) -> None:
    bare_rate = median([b.rate for b, _ in rounds])
    bare_cpu = [b.cpu_us for b, _ in rounds if b.cpu_us is not None]
    print(f"{name}: median of {len(rounds)} rounds:")
    print(f"bare Starlette POST echo (one-summary body): {bare_rate:,.0f} requests/s"
          + (f", {median(bare_cpu):,.0f} us CPU/request" if bare_cpu else ""))
    for b in batches:
        runs = [ours[b] for _, ours in rounds]
        rate = median([run.rate for run in runs])
        ratio = median([ours[b].rate * b / bare.rate for bare, ours in rounds])
        cpus = [run.cpu_us for run in runs if run.cpu_us is not None]
        cpu = "" if not cpus else f", {median(cpus) / b:,.0f} us CPU/summary"
        by_cpu = [x for bare, ours in rounds if (x := cpu_ratio(bare, ours[b], b)) is not None]
        verdict = ""
        if b == 1:
            verdict = f"  goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'}"
        print(f"signed summary ingest, batch {b:>3}: {rate:,.0f} requests/s = "
              f"{rate * b:,.0f} summaries/s{cpu}; ratio to bare (summaries/s over bare "
              f"requests/s, per round) {ratio:.2f}{verdict}"
              + (f"; CPU ratio {median(by_cpu):.2f}" if by_cpu else ""))


if __name__ == "__main__":
    main()
