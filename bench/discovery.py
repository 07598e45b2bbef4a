"""`asr-agent discover` as a user types it vs `onesixtyone -w 0`, over a loopback /16.

    SNMPSIM_ALLOW_ROOT=true .venv/bin/python bench/discovery.py --repeat 5

Starts snmpsim printers on scattered 127.77.x.y addresses, then, in the same run and
taking turns round by round: onesixtyone over the /16 (host file + community file, no
wait between packets) and the command a user types for the same range and communities,

    asr-agent discover 127.77.0.0/16 --port P --community public --community branch7

with every other setting at its default (rate, timeout, retries, in-flight window), plus
/20 and /18 sweeps to show that peak RSS does not grow with the range. Each runs as its own
process under GNU time -v (`apt-get install time`): wall time, CPU seconds and peak RSS of
that process alone. Figures are medians over --repeat rounds; the ratio is the median of
the rounds' own ratios, so both sides of a ratio saw the same load. The load average is
printed: the machine may be shared.
Loopback sends no ICMP port-unreachable, so every silent address costs the full timeout.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
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
_SUMMARY = re.compile(r"(\d+) printer\(s\), (\d+) other SNMP device\(s\), (\d+) silent, "
                      r"(\d+) address\(es\) swept")


@dataclass(frozen=True)
class Run:
    wall: float  # seconds
    cpu: float   # user + system seconds
    rss: float   # peak resident set, MiB
    out: str     # the command's stdout


def _measure(cmd: list[str], env: dict[str, str] | None = None) -> Run:
    """One process under GNU time -v.

    Measured by GNU time, not os.wait4 from here: Linux carries a forked child's RSS
    high-water mark across exec, so a child forked from this Python process would
    report at least this process's RSS.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as timing, tempfile.TemporaryFile() as out:
        proc = subprocess.run([_TIME, "-v", "-o", timing.name, *cmd], stdout=out,
                              stderr=subprocess.DEVNULL, env=env, check=False)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
        fields = dict(line.strip().rsplit(": ", 1) for line in timing.read().splitlines()
                      if ": " in line)
        out.seek(0)
        text = out.read().decode(errors="replace")
    wall = 0.0
    for part in fields["Elapsed (wall clock) time (h:mm:ss or m:ss)"].split(":"):
        wall = wall * 60 + float(part)
    cpu = float(fields["User time (seconds)"]) + float(fields["System time (seconds)"])
    return Run(wall, cpu, int(fields["Maximum resident set size (kbytes)"]) / 1024, text)


def _median(runs: list[Run]) -> tuple[float, float, float]:
    return (statistics.median(r.wall for r in runs), statistics.median(r.cpu for r in runs),
            statistics.median(r.rss for r in runs))


def _ours(out: str) -> tuple[list[list[str]], tuple[int, ...]]:
    """The printed table's rows and the summary line's counts."""
    lines = out.splitlines()
    match = next((m for m in map(_SUMMARY.search, lines) if m), None)
    if match is None:
        raise SystemExit(f"no summary line in the output of asr-agent discover:\n{out}")
    rows = [line.split() for line in lines[1:] if line and not _SUMMARY.search(line)]
    return rows, tuple(int(g) for g in match.groups())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default="127.77.0.0/16")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    from asr_dev.snmpsim_process import SnmpSim
    from tests.conftest import free_port

    onesixtyone = shutil.which("onesixtyone")
    if onesixtyone is None:
        raise SystemExit("onesixtyone is not installed (apt-get install onesixtyone)")
    if not os.access(_TIME, os.X_OK):
        raise SystemExit("GNU time is not installed (apt-get install time)")
    asr_agent = Path(sys.executable).parent / "asr-agent"
    if not asr_agent.exists():
        raise SystemExit(f"{asr_agent} not found: install the project into this virtualenv")
    net = ipaddress.ip_network(args.range)
    if not net.is_loopback:
        raise SystemExit(f"{net} is not loopback: the benchmark only sweeps 127.0.0.0/8")
    port = args.port or free_port()
    # The checkout's code, whichever copy the virtualenv's entry point was installed from.
    env = {**os.environ, "PYTHONPATH": str(REPO)}
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
        theirs_cmd = [onesixtyone, "-i", str(hosts_file), "-c", str(work / "communities.txt"),
                      "-w", "0", "-p", str(port)]

        def ours_cmd(cidr: str) -> list[str]:
            cmd = [str(asr_agent), "discover", cidr, "--port", str(port)]
            for community in COMMUNITIES:
                cmd += ["--community", community]
            return cmd + (["--force"] if ipaddress.ip_network(cidr).num_addresses > 1 << 16 else [])

        load_before = os.getloadavg()
        theirs_runs: list[Run] = []
        ours_runs: list[Run] = []
        for _ in range(args.repeat):
            theirs_runs.append(_measure(theirs_cmd))
            ours_runs.append(_measure(ours_cmd(str(net)), env))
        load_after = os.getloadavg()
        t_wall, t_cpu, t_rss = _median(theirs_runs)
        o_wall, o_cpu, o_rss = _median(ours_runs)
        wall_ratios = [o.wall / t.wall for o, t in zip(ours_runs, theirs_runs, strict=True)]
        cpu_ratios = [o.cpu / max(t.cpu, 0.01) for o, t in zip(ours_runs, theirs_runs, strict=True)]
        t_found = {line.split()[0] for line in theirs_runs[-1].out.splitlines()
                   if line[:1].isdigit() and "[" in line}
        rows, (printers, non_printers, silent, swept) = _ours(ours_runs[-1].out)

        print(f"range {net} ({net.num_addresses - 2} addresses), {len(COMMUNITIES)} communities, "
              f"{len(sims)} simulated agents ({EXPECTED_PRINTERS} printers), port {port}, "
              f"{args.repeat} rounds")
        print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after "
              f"({os.cpu_count()} CPUs)")
        print("ours: " + " ".join(ours_cmd(str(net))[1:]))
        print(f"{'median':14}{'wall s':>8}{'CPU s':>8}{'RSS MiB':>9}  found")
        print(f"{'onesixtyone':14}{t_wall:8.2f}{t_cpu:8.2f}{t_rss:9.1f}  "
              f"{len(t_found)} answering addresses (no identification)")
        print(f"{'asr discover':14}{o_wall:8.2f}{o_cpu:8.2f}{o_rss:9.1f}  "
              f"{printers} printers, {non_printers} non-printer, {silent} silent, {swept} swept")
        print(f"ratio ours/onesixtyone: wall {statistics.median(wall_ratios):.2f} "
              f"(rounds {min(wall_ratios):.2f}-{max(wall_ratios):.2f}), "
              f"CPU {statistics.median(cpu_ratios):.2f}, RSS {o_rss / t_rss:.1f}")
        print("  rounds, wall s (onesixtyone / ours): " + ", ".join(
            f"{t.wall:.2f}/{o.wall:.2f}" for t, o in zip(theirs_runs, ours_runs, strict=True)))
        for row in rows:
            print("  " + " ".join(row))
        identified = all(len(row) >= 3 and row[2] != "?" for row in rows)
        ok = printers == EXPECTED_PRINTERS == len(rows) and identified
        print(f"every printer found and identified: {'yes' if ok else 'NO'}")

        print("peak RSS by range size (ours, one run each):")
        for prefix in [p for p in (20, 18) if p > net.prefixlen]:
            sub = ipaddress.ip_network(f"{net.network_address}/{prefix}")
            run = _measure(ours_cmd(str(sub)), env)
            print(f"  /{prefix}: {sub.num_addresses - 2:6} addresses  {run.wall:6.2f} s  "
                  f"{run.cpu:5.2f} s CPU  {run.rss:6.1f} MiB")
        print(f"  /{net.prefixlen}: {net.num_addresses - 2:6} addresses  {o_wall:6.2f} s  "
              f"{o_cpu:5.2f} s CPU  {o_rss:6.1f} MiB")
    finally:
        for sim in sims:
            sim.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
