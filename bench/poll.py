"""Polling cost per printer: our poller against net-snmp doing the same reads.

    .venv/bin/python bench/poll.py --printers 50 500

N simulated printers (snmpsim, one endpoint per printer on 127.1.x.y, all serving the
bundled demo recordings) are read by `poll_printer` in one process (a first poll, then a
steady-state poll that reuses the first reading), and by net-snmp with one process per
read as an admin script would: `snmpget` of the same scalars, `snmpbulkwalk -Cr24` of
prtMarkerSuppliesTable and of prtMarkerColorantValue. Reported per printer: SNMP
requests and client CPU, with the ratio ours / net-snmp. Needs snmpsim (scripts/setup)
and the Debian package `snmp`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr_agent.domain import oids  # noqa: E402
from asr_agent.app.poller import poll_printer  # noqa: E402
from asr_agent.adapters.snmp import SnmpClient, SnmpCredential  # noqa: E402
from asr_dev.snmpsim_process import SnmpSim  # noqa: E402

SIMULATED = REPO / "asr_dev" / "data" / "simulated"
PORT = 16100
MAX_REPETITIONS = 24
SCALAR_INSTANCES = (oids.SYS_DESCR, oids.SYS_OBJECT_ID, oids.PRT_GENERAL_SERIAL_NUMBER + ".1",
                    oids.HR_DEVICE_STATUS + ".1", oids.HR_PRINTER_STATUS + ".1",
                    oids.HR_PRINTER_DETECTED_ERROR_STATE + ".1", oids.PRT_MARKER_LIFE_COUNT + ".1.1")


def endpoints(count: int) -> list[tuple[str, int]]:
    return [(f"127.1.{i // 250}.{i % 250 + 1}", PORT) for i in range(count)]


def communities() -> list[str]:
    return sorted(p.stem for p in SIMULATED.glob("*.snmprec"))


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def ours(targets: list[tuple[str, int, str]], concurrency: int) -> dict[str, float]:
    gate = asyncio.Semaphore(concurrency)
    async with SnmpClient(timeout=5, retries=2) as client:
        async def one(host: str, port: int, community: str, previous=None):
            async with gate:
                return await poll_printer(client, host, port, SnmpCredential.v2c(community),
                                          previous=previous)

        cpu, wall = own_cpu(), time.perf_counter()
        first = await asyncio.gather(*(one(h, p, c) for h, p, c in targets))
        first_cpu, first_wall, first_requests = own_cpu() - cpu, time.perf_counter() - wall, client.requests
        cpu, wall = own_cpu(), time.perf_counter()
        await asyncio.gather(*(one(h, p, c, r) for (h, p, c), r in zip(targets, first, strict=True)))
        steady_cpu, steady_wall = own_cpu() - cpu, time.perf_counter() - wall
        steady_requests = client.requests - first_requests
    n = len(targets)
    assert all(r.supplies for r in first)
    return {"first_requests": first_requests / n, "first_cpu_ms": 1000 * first_cpu / n,
            "first_wall": first_wall, "steady_requests": steady_requests / n,
            "steady_cpu_ms": 1000 * steady_cpu / n, "steady_wall": steady_wall}


def netsnmp_commands(host: str, port: int, community: str, debug: bool = False) -> list[list[str]]:
    agent = f"udp:{host}:{port}"
    base = ["-v2c", "-c", community, "-On", "-t", "5", "-r", "2"] + (["-d"] if debug else [])
    return [
        ["snmpget", *base, agent, *SCALAR_INSTANCES],
        ["snmpbulkwalk", *base, f"-Cr{MAX_REPETITIONS}", agent, oids.PRT_MARKER_SUPPLIES_ENTRY],
        ["snmpbulkwalk", *base, f"-Cr{MAX_REPETITIONS}", agent, oids.PRT_MARKER_COLORANT_VALUE],
    ]


def netsnmp_requests(host: str, port: int, community: str) -> int:
    """Requests net-snmp sends for one printer, counted from its packet dump (-d)."""
    sent = 0
    for command in netsnmp_commands(host, port, community, debug=True):
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        sent += sum(line.startswith("Sending") for line in (out.stdout + out.stderr).splitlines())
    return sent


def netsnmp(targets: list[tuple[str, int, str]], concurrency: int) -> dict[str, float]:
    def run(target: tuple[str, int, str]) -> None:
        for command in netsnmp_commands(*target):
            subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    cpu, wall = children_cpu(), time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(run, targets))
    cpu, wall = children_cpu() - cpu, time.perf_counter() - wall
    per_community = {c: netsnmp_requests(*targets[0][:2], c) for c in communities()}
    requests = sum(per_community[c] for _, _, c in targets)
    n = len(targets)
    return {"requests": requests / n, "cpu_ms": 1000 * cpu / n, "wall": wall}


def bench(count: int, concurrency: int) -> None:
    names = communities()
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for name in names:
            shutil.copy(SIMULATED / f"{name}.snmprec", data / f"{name}.snmprec")
        points = endpoints(count)
        targets = [(host, port, names[i % len(names)]) for i, (host, port) in enumerate(points)]
        with SnmpSim(data, points, startup_timeout=120):
            mine = asyncio.run(ours(targets, concurrency))
            theirs = netsnmp(targets, concurrency=min(concurrency, os.cpu_count() or 2) * 2)
    print(f"\nN = {count} printers ({', '.join(names)} in turn), concurrency {concurrency}")
    print(f"  {'':34}{'requests/printer':>18}{'client CPU ms/printer':>24}{'wall s':>9}")
    print(f"  {'net-snmp (get + 2 bulkwalks)':34}{theirs['requests']:>18.2f}{theirs['cpu_ms']:>24.2f}"
          f"{theirs['wall']:>9.2f}")
    print(f"  {'asr poll_printer, first poll':34}{mine['first_requests']:>18.2f}{mine['first_cpu_ms']:>24.2f}"
          f"{mine['first_wall']:>9.2f}")
    print(f"  {'asr poll_printer, steady state':34}{mine['steady_requests']:>18.2f}"
          f"{mine['steady_cpu_ms']:>24.2f}{mine['steady_wall']:>9.2f}")
    print(f"  ratio ours/net-snmp  requests: first {mine['first_requests'] / theirs['requests']:.2f}, "
          f"steady {mine['steady_requests'] / theirs['requests']:.2f};  CPU: first "
          f"{mine['first_cpu_ms'] / theirs['cpu_ms']:.2f}, steady {mine['steady_cpu_ms'] / theirs['cpu_ms']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, nargs="+", default=[50, 500])
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("snmpbulkwalk") is None:
        sys.exit("bench/poll.py: snmpbulkwalk not found: install the Debian package `snmp`")
    os.environ.setdefault("SNMPSIM_ALLOW_ROOT", "true")
    for count in args.printers:
        bench(count, args.concurrency)


if __name__ == "__main__":
    main()
