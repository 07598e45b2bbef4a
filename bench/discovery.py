"""Discovery sweep vs `onesixtyone -w 0` over a loopback /16 holding a handful of printers.

    SNMPSIM_ALLOW_ROOT=true .venv/bin/python bench/discovery.py

Starts snmpsim printers on scattered 127.77.x.y addresses, then, in the same run:
onesixtyone over the /16 (host file + community file, no wait between packets), and
`asr-agent`'s discovery over the same /16 with the same communities, plus /20 and /18
sweeps to show that peak RSS does not grow with the range. Each sweeper runs as its own
child process under GNU time (`apt-get install time`), which gives wall time, CPU seconds
and peak RSS (ru_maxrss) of that child alone.
Options: --range, --timeout, --max-in-flight, --repeat (median of N runs).
Loopback sends no ICMP port-unreachable, so every silent address costs the full timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RECORDINGS = REPO / "tests" / "recordings" / "discovery"
COMMUNITIES = ["public", "branch7"]
# (recording, addresses): one printer on two addresses, one switch that is not a printer.
LAYOUT = [
    ("xerox", ["127.77.0.9", "127.77.201.14"]),
    ("fujifilm", ["127.77.33.200"]),
    ("hp", ["127.77.130.5"]),
    ("brother", ["127.77.255.1"]),
    ("switch", ["127.77.64.64"]),
]
EXPECTED_PRINTERS = 4  # xerox (once), fujifilm, hp, brother
_TIME = "/usr/bin/time"


def _child(args: argparse.Namespace) -> None:
    """Runs inside the measured child: one discovery, results as JSON on stdout."""
    from asr_agent.app.discovery import discover
    from asr_agent.adapters.snmp.client import SnmpCredential

    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = asyncio.run(discover(
        [args.child], port=args.port,
        credentials={c: SnmpCredential.v2c(c) for c in COMMUNITIES},
        rate=0, timeout=args.timeout, retries=0, loopback_only=True,
        max_in_flight=args.max_in_flight))
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(json.dumps({
        "sweep_wall": wall, "sweep_cpu": cpu, "swept": result.swept,
        "silent": result.silent, "non_printers": result.non_printers,
        "printers": [[p.identity, p.vendor, p.model, len(p.addresses)] for p in result.printers],
    }))


def _measure(cmd: list[str]) -> tuple[float, float, float, str]:
    """Wall s, CPU s, peak RSS MiB of one child process, and its stdout.

    Measured by GNU time, not os.wait4 from here: Linux carries a forked child's RSS
    high-water mark across exec, so a child forked from this Python process would
    report at least this process's RSS.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing, tempfile.TemporaryFile() as out:
        proc = subprocess.run([_TIME, "-f", "%e %U %S %M", "-o", timing.name, *cmd],
                              stdout=out, stderr=subprocess.DEVNULL, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{cmd[0]} failed with exit code {proc.returncode}")
        wall, user, system, rss_kib = timing.read().split()[-4:]
        out.seek(0)
        text = out.read().decode(errors="replace")
    return float(wall), float(user) + float(system), int(rss_kib) / 1024, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default="127.77.0.0/16")
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--max-in-flight", type=int, default=16384)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return

    from asr_dev.snmpsim_process import SnmpSim
    from tests.conftest import free_port

    onesixtyone = shutil.which("onesixtyone")
    if onesixtyone is None:
        raise SystemExit("onesixtyone is not installed (apt-get install onesixtyone)")
    if not os.access(_TIME, os.X_OK):
        raise SystemExit("GNU time is not installed (apt-get install time)")
    net = ipaddress.ip_network(args.range)
    if not net.is_loopback:
        raise SystemExit(f"{net} is not loopback: the benchmark only sweeps 127.0.0.0/8")
    port = args.port or free_port()
    sims = []
    work = Path(tempfile.mkdtemp(prefix="asr-bench-discovery-"))
    try:
        for name, hosts in LAYOUT:
            sims.append(SnmpSim(RECORDINGS / name, [(h, port) for h in hosts]).start())
        hosts_file = work / "hosts.txt"
        with open(hosts_file, "w") as f:
            for address in net.hosts():
                f.write(f"{address}\n")
        (work / "communities.txt").write_text("\n".join(COMMUNITIES) + "\n")

        def ours(cidr: str) -> tuple[float, float, float, dict]:
            runs = [_measure([sys.executable, __file__, "--child", cidr, "--port", str(port),
                              "--timeout", str(args.timeout),
                              "--max-in-flight", str(args.max_in_flight)])
                    for _ in range(args.repeat)]
            wall, cpu, rss, text = sorted(runs)[len(runs) // 2]
            return wall, cpu, rss, json.loads(text)

        theirs_runs = [_measure([onesixtyone, "-i", str(hosts_file), "-c",
                                 str(work / "communities.txt"), "-w", "0", "-p", str(port)])
                       for _ in range(args.repeat)]
        t_wall, t_cpu, t_rss, t_out = sorted(theirs_runs)[len(theirs_runs) // 2]
        t_found = {line.split()[0] for line in t_out.splitlines()
                   if line[:1].isdigit() and "[" in line}
        o_wall, o_cpu, o_rss, o_res = ours(str(net))

        print(f"range {net} ({net.num_addresses - 2} addresses), {len(COMMUNITIES)} communities, "
              f"{len(sims)} simulated agents ({EXPECTED_PRINTERS} printers), port {port}, "
              f"timeout {args.timeout} s, max in flight {args.max_in_flight}, repeat {args.repeat}")
        print(f"{'':14}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}  found")
        print(f"{'onesixtyone':14}{t_wall:8.2f}{t_cpu:8.2f}{t_rss:9.1f}  "
              f"{len(t_found)} answering addresses (no identification)")
        print(f"{'asr discover':14}{o_wall:8.2f}{o_cpu:8.2f}{o_rss:9.1f}  "
              f"{len(o_res['printers'])} printers, {o_res['non_printers']} non-printer, "
              f"{o_res['silent']} silent (sweep alone {o_res['sweep_wall']:.2f} s wall, "
              f"{o_res['sweep_cpu']:.2f} s CPU)")
        print(f"ratio ours/onesixtyone: wall {o_wall / t_wall:.2f}, CPU {o_cpu / t_cpu:.2f}, "
              f"RSS {o_rss / t_rss:.1f}")
        for identity, vendor, model, n in o_res["printers"]:
            print(f"  {identity:24} {vendor or '?':9} {model or '?'}  ({n} address{'es' * (n > 1)})")
        identified = all(vendor for _, vendor, _, _ in o_res["printers"])
        ok = len(o_res["printers"]) == EXPECTED_PRINTERS and identified
        print(f"every printer found and identified: {'yes' if ok else 'NO'}")

        print("peak RSS by range size (ours):")
        sizes = [s for s in (20, 18) if s > net.prefixlen]
        for prefix in sizes:
            sub = ipaddress.ip_network(f"{net.network_address}/{prefix}")
            wall, cpu, rss, res = ours(str(sub))
            print(f"  /{prefix}: {res['swept']:6} addresses  {wall:6.2f} s  {cpu:5.2f} s CPU  "
                  f"{rss:6.1f} MiB")
        print(f"  /{net.prefixlen}: {o_res['swept']:6} addresses  {o_wall:6.2f} s  {o_cpu:5.2f} s CPU  "
              f"{o_rss:6.1f} MiB")
    finally:
        for sim in sims:
            sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
