"""The running agent at scale: memory, memory growth, CPU and SNMP requests per printer.

    .venv/bin/python bench/agent_daemon.py --printers 500 --rounds 30 --interval 20

Starts N simulated printers (snmpsim, one engine per printer with its own serial and
sql-backed levels, `--per-process` printers to a responder process, on 127.88.x.y), then
runs `asr-agent run` as its own process with a generated config: N `targets.hosts`, the
poll job every `--interval` seconds without jitter, status page on, no central (so no
uplink). A *round* is one run of the poll job over all N printers; the default 30 rounds
at 20 s stand for 7.5 hours at the default 15-minute interval (the issue's "hour's worth
of rounds" is 4). 500 printers need ~10-18 s of wall time per round on 2 cores, hence 20 s. Once per round, just before the next one starts, the bench reads
the agent's VmRSS (/proc/PID/status), CPU (utime+stime, /proc/PID/stat) and its
/metrics (asr_poll_duration_seconds_count for polls done, asr_snmp_requests). What one
scrape costs the agent is measured after the rounds, between two of them (median of 5),
reported, and left out of the CPU per printer for every scrape made.

Baselines from the same run and fleet, each in its own process:
  * bare imports: pysnmp v3arch asyncio, apscheduler, httpx imported and one engine warm
    (one GET answered): the floor the issue quotes (~64 MiB);
  * bare poll loop: `poll_printer` over the same N printers, one client, 32 at a time,
    no scheduler, store or status page: its CPU per printer per round (steady polls),
    requests per printer per round and its RSS after the rounds.
Reported: agent RSS after the first round / steady (median of the second half) / last,
growth over the run (last - after round 3, and the least-squares slope per round over the
second half), CPU ms and SNMP requests per printer per round, with ratios to the baselines.
Needs snmpsim (scripts/setup); SNMPSIM_ALLOW_ROOT=true when run as root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RECORDINGS = ("xerox_altalink_c8135", "hp_laserjet_m507", "fujifilm_apeos_c5570")
PORT = 16161
CONCURRENCY = 32
TICK = os.sysconf("SC_CLK_TCK")
BARE_IMPORTS = """
import asyncio, sys
import pysnmp.hlapi.v3arch.asyncio as hl
import apscheduler.schedulers.asyncio
import httpx

async def main():
    engine = hl.SnmpEngine()
    target = await hl.UdpTransportTarget.create((sys.argv[1], int(sys.argv[2])), timeout=2, retries=1)
    err, status, _, vbs = await hl.get_cmd(engine, hl.CommunityData("public"), target, hl.ContextData(),
                                           hl.ObjectType(hl.ObjectIdentity("1.3.6.1.2.1.1.1.0")),
                                           lookupMib=False)
    assert not err and not status and vbs, (err, status)
    engine.close_dispatcher()

asyncio.run(main())
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmRSS:")))
"""


def rss_kib(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def addresses(count: int, second_octet: int) -> list[tuple[str, int]]:
    return [(f"127.{second_octet}.{i // 250}.{i % 250 + 1}", PORT) for i in range(count)]


def free_block(count: int) -> int:
    """A 127.x block whose first and last addresses are free on PORT (another run may hold one)."""
    for octet in range(88, 120):
        points = addresses(count, octet)
        if all(_udp_free(*points[i]) for i in (0, -1)):
            return octet
    sys.exit("bench/agent_daemon.py: no free 127.x block on port %d" % PORT)


def _udp_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the agent ------------------------------------------------------------------------

def write_config(workdir: Path, points: list[tuple[str, int]], interval_s: float, status_port: int) -> Path:
    import yaml

    config = {
        "site": {"id": "bench-site"},
        "snmp": {"credentials": {"lab": {"version": "2c", "community": "public"}},
                 "timeout_s": 2.0, "retries": 1},
        "targets": {"hosts": [{"host": h, "port": p, "credentials": ["lab"]} for h, p in points]},
        "poll": {"interval_min": interval_s / 60, "jitter_s": 0},
        "central": {"url": None},
        "store": {"data_dir": str(workdir / "data")},
        "status_page": {"enabled": True, "port": status_port, "bind": ["127.0.0.1"]},
        "logging": {"level": "warning"},
    }
    path = workdir / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def get(url: str, timeout: float = 30.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as answer:  # noqa: S310 (loopback only)
        return answer.read()


def scrape(base: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    values: dict[str, float] = {}
    for family in text_string_to_metric_families(get(base + "metrics").decode()):
        for sample in family.samples:
            if not sample.labels or sample.name.startswith("asr_snmp_errors"):
                key = sample.name
                values[key] = values.get(key, 0.0) + sample.value
    return values


def run_agent(workdir: Path, config: Path, status_port: int, count: int, rounds: int,
              interval_s: float) -> dict[str, object]:
    base = f"http://127.0.0.1:{status_port}/"
    log_path = workdir / "agent.log"
    with open(log_path, "wb") as log:
        agent = subprocess.Popen([sys.executable, "-m", "asr_agent.cli", "run", "--config", str(config)],
                                 cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    samples: list[dict[str, float]] = []
    try:
        deadline = time.monotonic() + 60
        while True:
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited ({agent.returncode}):\n{log_path.read_text()[-3000:]}")
            try:
                get(base + "healthz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the agent's status page never answered:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.2)
        started_rss = rss_kib(agent.pid)
        # One look at the job table (a full snapshot, once) gives the poll job's phase: the
        # first round runs at start-up, each next one an interval after the one before.
        while True:
            jobs = {j["id"]: j for j in json.loads(get(base + "api/status.json"))["jobs"]}
            if "poll" in jobs and jobs["poll"]["next_run"]:
                break
            time.sleep(0.1)
        first = datetime.fromisoformat(jobs["poll"]["next_run"]).timestamp()
        if jobs["poll"]["last_run"] is not None:
            first -= interval_s
        start_of = [first + k * interval_s for k in range(rounds + 1)]
        margin = min(2.0, interval_s * 0.15)
        late = scrapes = 0
        expected = count  # polls done once the round of this slot is
        for k in range(rounds):
            wait = start_of[k + 1] - margin - time.time()
            if wait > 0:
                time.sleep(wait)
            if agent.poll() is not None:
                raise RuntimeError(f"the agent exited ({agent.returncode}):\n{log_path.read_text()[-3000:]}")
            scrape_cpu = 0.0
            while True:
                before = cpu_s(agent.pid)
                metrics = scrape(base)
                after = cpu_s(agent.pid)
                scrape_cpu += after - before
                done = metrics.get("asr_poll_duration_seconds_count", 0)
                # A round that overruns its slot is waited for (the next one is then skipped
                # by the scheduler, so a round's end is counted from the last one seen),
                # looking every 2 s: each look is a scrape, which costs the agent CPU.
                if done >= expected or time.time() > start_of[k + 1] + interval_s - margin:
                    break
                late += 1
                scrapes += 1
                time.sleep(2.0)
            samples.append({"round": k + 1, "rss_kib": rss_kib(agent.pid), "cpu_s": before,
                            "scrapes_before": scrapes, "scrape_cpu_s": scrape_cpu, "polls": done,
                            "requests": metrics.get("asr_snmp_requests_total", 0),
                            "errors": metrics.get("asr_snmp_errors_total", 0)})
            scrapes += 1
            if done >= expected:  # else the late round's end is still to come
                expected = done + count
            s = samples[-1]
            print(f"  round {k + 1:3d}: RSS {s['rss_kib'] / 1024:6.1f} MiB  CPU {s['cpu_s']:7.2f} s  "
                  f"polls {s['polls']:7.0f}  requests {s['requests']:7.0f}  errors {s['errors']:.0f}  "
                  f"(scrape {1000 * s['scrape_cpu_s']:.0f} ms)", flush=True)
        # What one scrape costs the agent, measured between rounds (the scrapes above may
        # overlap polling when a round runs late): the next round is waited for first.
        deadline = time.time() + 2 * interval_s
        while scrape(base).get("asr_poll_duration_seconds_count", 0) < expected \
                and time.time() < deadline:
            time.sleep(1.0)
        idle_scrapes = []
        for _ in range(5):
            before = cpu_s(agent.pid)
            scrape(base)
            idle_scrapes.append(cpu_s(agent.pid) - before)
        hwm = _status_field(agent.pid, "VmHWM:")
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=30)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    problems = [line for line in log_path.read_text(errors="replace").splitlines()
                if "level=error" in line or "Traceback" in line]
    return {"samples": samples, "started_rss_kib": started_rss, "hwm_kib": hwm, "exit": agent.returncode,
            "problems": problems, "late": late, "scrape_cpu_s": statistics.median(idle_scrapes)}


def _status_field(pid: int, name: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(name))


# --- baselines ------------------------------------------------------------------------

def bare_imports_rss(host: str, port: int) -> int:
    out = subprocess.run([sys.executable, "-c", BARE_IMPORTS, host, str(port)], check=True,
                         capture_output=True, text=True)
    return int(out.stdout.split()[-1])


def bare_poll_loop(points: list[tuple[str, int]], rounds: int) -> dict[str, float]:
    """Child process: poll_printer over every printer, `rounds` times; prints JSON."""
    from asr_agent.app.poller import poll_printer
    from asr_agent.adapters.snmp import SnmpClient, SnmpCredential

    cred = SnmpCredential.v2c("public")

    async def main() -> dict[str, float]:
        gate = asyncio.Semaphore(CONCURRENCY)
        async with SnmpClient(timeout=2.0, retries=1) as client:
            async def one(host: str, port: int, previous=None):
                async with gate:
                    return await poll_printer(client, host, port, cred, previous=previous)

            last = await asyncio.gather(*(one(h, p) for h, p in points))
            cpu0, requests0 = own_cpu(), client.requests
            for _ in range(rounds):
                last = await asyncio.gather(*(one(h, p, r) for (h, p), r in zip(points, last, strict=True)))
            cpu, requests = own_cpu() - cpu0, client.requests - requests0
        n = len(points) * rounds
        return {"cpu_ms": 1000 * cpu / n, "requests": requests / n, "rss_kib": rss_kib()}

    return asyncio.run(main())


# --- report ---------------------------------------------------------------------------

def slope(points: list[tuple[float, float]]) -> float:
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def report(count: int, interval_s: float, result: dict, bare_rss: int, bare: dict[str, float]) -> None:
    samples = result["samples"]
    mib = 1 / 1024
    first = samples[0]
    warm = samples[min(2, len(samples) - 1)]
    last = samples[-1]
    half = samples[len(samples) // 2:]
    steady = statistics.median(s["rss_kib"] for s in half)
    growth = last["rss_kib"] - warm["rss_kib"]
    per_round = slope([(s["round"], s["rss_kib"]) for s in half])
    polls = last["polls"] - first["polls"]
    scrape_cost = result["scrape_cpu_s"]

    def poll_cpu(a: dict, b: dict) -> float:
        """Agent CPU between two samples, less the scrapes made in between."""
        return b["cpu_s"] - a["cpu_s"] - scrape_cost * (b["scrapes_before"] - a["scrapes_before"])

    cpu = poll_cpu(first, last)
    rounds = polls / count
    cpu_ms = 1000 * cpu / polls if polls else float("nan")
    requests = (last["requests"] - first["requests"]) / polls if polls else float("nan")
    print(f"\nasr-agent run, {count} printers, {len(samples)} rounds at {interval_s:g} s "
          f"(figures per round are over rounds 2..{len(samples)}: {rounds:.1f} rounds of polls)")
    print(f"  RSS at start-up (before any poll)     {result['started_rss_kib'] * mib:7.1f} MiB")
    print(f"  RSS after round 1 / steady / last     {first['rss_kib'] * mib:7.1f} / {steady * mib:.1f} / "
          f"{last['rss_kib'] * mib:.1f} MiB   (peak {result['hwm_kib'] * mib:.1f} MiB; goal steady <= 60 MiB)")
    print(f"  RSS growth after round 3 to last      {growth * mib:+7.2f} MiB   "
          f"(slope over the second half {per_round:+.1f} KiB/round; goal: flat)")
    print(f"  CPU per printer per round             {cpu_ms:7.2f} ms   (metrics scrapes left out: "
          f"{1000 * scrape_cost:.0f} ms each, measured between rounds)")
    mid = samples[len(samples) // 2]
    halves = []
    for a, b in ((first, mid), (mid, last)):
        done = b["polls"] - a["polls"]
        halves.append(1000 * poll_cpu(a, b) / done if done else float("nan"))
    print(f"    rounds 2..{mid['round']} / {mid['round'] + 1}..{last['round']}"
          f"                  {halves[0]:7.2f} / {halves[1]:.2f} ms   (the store's history grows each round)")
    print(f"  SNMP requests per printer per round   {requests:7.2f}")
    print(f"  SNMP errors over the run              {last['errors']:7.0f}   (extra scrapes waiting for a late "
          f"round: {result['late']})")
    print("baselines (same run, same printers)")
    print(f"  bare imports + warm engine RSS        {bare_rss * mib:7.1f} MiB")
    print(f"  bare poll loop: RSS after rounds      {bare['rss_kib'] * mib:7.1f} MiB")
    print(f"  bare poll loop: CPU per printer       {bare['cpu_ms']:7.2f} ms,  requests {bare['requests']:.2f}")
    print("ratios agent / baseline")
    print(f"  steady RSS / bare imports             {steady / bare_rss:7.2f}")
    print(f"  steady RSS / bare poll loop           {steady / bare['rss_kib']:7.2f}")
    print(f"  CPU per printer / bare poll loop      {cpu_ms / bare['cpu_ms']:7.2f}")
    print(f"  requests per printer / bare poll loop {requests / bare['requests']:7.2f}")
    if result["problems"]:
        print(f"agent log: {len(result['problems'])} error lines, first: {result['problems'][0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--interval", type=float, default=20.0, help="poll interval, seconds")
    parser.add_argument("--per-process", type=int, default=125, help="simulated printers per snmpsim process")
    parser.add_argument("--bare-rounds", type=int, default=3)
    parser.add_argument("--bare-poll-child", help=argparse.SUPPRESS)  # JSON list of endpoints
    args = parser.parse_args()
    if args.bare_poll_child:
        points = [tuple(p) for p in json.loads(args.bare_poll_child)]
        print(json.dumps(bare_poll_loop(points, args.bare_rounds)))
        return
    os.environ.setdefault("SNMPSIM_ALLOW_ROOT", "true")

    from asr_dev.simulated_printers import SimulatedFleet, SimulatedPrinter

    points = addresses(args.printers, free_block(args.printers))
    printers = [SimulatedPrinter(f"p{i}", RECORDINGS[i % len(RECORDINGS)], f"BENCH-{i:05d}", h, p)
                for i, (h, p) in enumerate(points)]
    with tempfile.TemporaryDirectory(prefix="asr-bench-agent-") as tmp:
        workdir = Path(tmp)
        t0 = time.perf_counter()
        with SimulatedFleet(printers, workdir / "printers", per_process=args.per_process) as fleet:
            fleet.start(datetime.now(UTC))
            print(f"{args.printers} simulated printers up in {time.perf_counter() - t0:.1f} s", flush=True)
            bare_rss = bare_imports_rss(*points[0])
            child = subprocess.run([sys.executable, __file__, "--bare-poll-child", json.dumps(points),
                                    "--bare-rounds", str(args.bare_rounds)],
                                   capture_output=True, text=True)
            if child.returncode != 0:
                sys.exit(f"the bare poll loop failed:\n{child.stderr}")
            bare = json.loads(child.stdout.splitlines()[-1])
            print(f"baselines done: bare imports {bare_rss / 1024:.1f} MiB, bare poll loop "
                  f"{bare['cpu_ms']:.2f} ms/printer", flush=True)
            status_port = tcp_port()
            config = write_config(workdir, points, args.interval, status_port)
            result = run_agent(workdir, config, status_port, args.printers, args.rounds, args.interval)
    report(args.printers, args.interval, result, bare_rss, bare)


if __name__ == "__main__":
    main()
