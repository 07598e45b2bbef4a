"""What `asr-central serve --workers N` gives on this machine: signed-summary ingest through
real processes (uvicorn's supervisor and its workers), one worker against two, on SQLite and
on PostgreSQL, at the agent's default batch, with the load generator's share of the CPU.

    .venv/bin/python bench/central_workers.py [--workers 1 2] [--batch 50] [--repeat 3]
        [--seconds 5] [--db postgresql://user@host:port/database] [--sqlite-only]

Each round runs every (engine, worker count) back to back on fresh bodies, so that all see
the same machine load; the baseline is one worker on the same engine in the same round.
Per run: summaries/s, CPU per summary of all central's processes plus the PostgreSQL
server's (from /proc), and the load generator's CPU (wrk, or the httpx client when wrk is
missing), which runs on the same cores: its share of all CPU the run used. Without `--db`
a PostgreSQL server is started for the run (Debian's binaries, a temporary cluster on
loopback, as the tests do) and stopped after. Packets go to loopback only.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from central_ingest import (  # noqa: E402
    ADMIN, REPO, backend_cpu, build_bodies, count_summaries, cpu_seconds, free_port, run_httpx,
    run_wrk, stop,
)


def start_serve(db_url: str, workers: int, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`asr-central serve --workers N` on `db_url`, as an operator starts it (metrics in a
    multiprocess directory of its own, as the service unit gives it)."""
    port = free_port()
    token = workdir / "admin-token"
    token.write_text(ADMIN + "\n")
    config = workdir / "central.yaml"
    config.write_text("server:\n  host: 127.0.0.1\n")  # the rest from the command line
    metrics = Path(tempfile.mkdtemp(dir=workdir, prefix="metrics-"))
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(metrics))
    command = str(Path(sys.executable).parent / "asr-central")
    proc = subprocess.Popen([command, "serve", "--config", str(config), "--db", db_url,
                             "--port", str(port), "--workers", str(workers),
                             "--admin-token-file", str(token), "--log-level", "warning"],
                            cwd=REPO, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", trust_env=False, timeout=0.5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"central did not start on {url}")


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds so far of a process and all its descendants, per pid (Linux)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    family, grew = {pid}, True
    while grew:
        more = {child for child, parent in parents.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return {p: cpu for p in family if (cpu := cpu_seconds(p)) is not None}


def children_cpu() -> float:
    """CPU seconds of this process's finished children (the load generator when it is wrk)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Run:
    summaries_per_s: float
    central_cpu_us: float  # per summary: central's processes and the database server's
    generator_share: float  # the load generator's part of all CPU the run used
    stored: int
    sent: int


def measure(proc: subprocess.Popen[bytes], url: str, db_url: str, bodies: list[str],
            batch: int, args: argparse.Namespace, workdir: Path, use_wrk: bool) -> Run:
    central0, db0 = tree_cpu(proc.pid), backend_cpu(db_url)
    gen0 = children_cpu() if use_wrk else own_cpu()
    before = count_summaries(db_url)
    if use_wrk:
        rate, sent = run_wrk(url, bodies, args.seconds, args.connections, workdir)
    else:
        rate, sent = run_httpx(url, bodies, args.seconds, args.connections)
    gen = (children_cpu() if use_wrk else own_cpu()) - gen0
    central1, db1 = tree_cpu(proc.pid), backend_cpu(db_url)
    server = (sum(cpu - central0.get(pid, 0.0) for pid, cpu in central1.items())
              + sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items()))
    stored = count_summaries(db_url) - before
    if stored < sent * batch * 0.9:
        print(f"  warning: stored {stored} summaries of {sent * batch} sent", flush=True)
    return Run(rate * batch, server / max(stored, 1) * 1e6, gen / (gen + server), stored,
               sent * batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=50, help="the agent's default: 50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--db", metavar="URL", help="an empty PostgreSQL database to use "
                        "(default: a server started for the run, a database per run)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    use_wrk = subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode == 0
    server = None
    results: dict[tuple[str, int], list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        try:
            engines = ["sqlite"]
            if not args.sqlite_only:
                engines.append("postgresql")
                if not args.db:
                    sys.path.insert(0, str(REPO / "tests"))
                    from support_postgres import start_server

                    server = start_server(free_port())
            print(f"client: {'wrk' if use_wrk else 'httpx (install wrk)'}, "
                  f"{args.connections} connections, {args.seconds:g} s per run, batch "
                  f"{args.batch}, {os.cpu_count()} CPUs", flush=True)
            for r in range(args.repeat):
                for engine in engines:
                    for workers in args.workers:
                        if engine == "sqlite":
                            db_url = f"sqlite:///{workdir / f'central-{r}-{workers}.db'}"
                        else:
                            db_url = args.db or server.create_database()  # type: ignore[union-attr]
                        proc, url = start_serve(db_url, workers, workdir)
                        try:
                            count = max(int(8_000 * args.seconds) // args.batch, 50)
                            bodies = build_bodies(url, count, args.batch)
                            run = measure(proc, url, db_url, bodies, args.batch, args,
                                          workdir, use_wrk)
                        finally:
                            stop(proc)
                        results.setdefault((engine, workers), []).append(run)
                        print(f"round {r + 1} {engine} workers {workers}: "
                              f"{run.summaries_per_s:,.0f} summaries/s, "
                              f"{run.central_cpu_us:,.0f} us CPU/summary, load generator "
                              f"{run.generator_share:.0%} of the CPU used", flush=True)
        finally:
            if server is not None:
                server.stop()
    print(f"medians of {args.repeat} rounds; baseline: one worker on the same engine")
    for engine in dict.fromkeys(e for e, _ in results):
        base = statistics.median(r.summaries_per_s for r in results[(engine, args.workers[0])])
        for workers in args.workers:
            runs = results[(engine, workers)]
            rate = statistics.median(r.summaries_per_s for r in runs)
            cpu = statistics.median(r.central_cpu_us for r in runs)
            share = statistics.median(r.generator_share for r in runs)
            print(f"{engine:>10} workers {workers}: {rate:,.0f} summaries/s = "
                  f"{rate / base:.2f}x {args.workers[0]} worker(s); {cpu:,.0f} us CPU/summary; "
                  f"load generator {share:.0%} of the CPU used")


if __name__ == "__main__":
    main()
