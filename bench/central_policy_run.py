"""The whole policy run over 100,000 supplies, as central does it, on SQLite and PostgreSQL in
the same run, against the pure plan() over the same inputs.

    .venv/bin/python bench/central_policy_run.py [--printers 20000] [--rounds 3]
        [--db postgresql://user@host:port/database]

Builds one database per engine holding `--printers` printers (five supplies each: four
toners and a waste bottle) over 1,000 sites, each site with a default contact and one
printer in four assigned to a second contact, reports spread over the last 400 hours (some
printers silent): the registry, device_status and supply_latest rows as ingest leaves them,
bulk-inserted. Each round empties the orders and alerts, then times
`asr_central.service.replenish.run_policy` (the reads, plan(), the writes of orders, lines
and alerts), then a second run right after with nothing new. The baseline, timed in the
same rounds, is plan() alone over the same supplies built in memory. Prints per engine the
median of the rounds, the ratio to plan(), and PostgreSQL over SQLite. Goal: a run <= 5 s
on both engines.

Without `--db`, a PostgreSQL server is started for the run (Debian's binaries, a temporary
cluster on loopback, as the tests do) and stopped after; `--sqlite-only` skips it.
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from asr_central.domain.placement import supply_kind  # noqa: E402
from asr_central.domain.policy import (  # noqa: E402
    PolicySettings, SupplyOutlook, plan, silent_days, silent_state,
)
from asr_central.service.replenish import run_policy  # noqa: E402
from asr_central.storage import open_database  # noqa: E402
from asr_central.storage.times import stamp  # noqa: E402

NOW = datetime(2027, 3, 10, 9, tzinfo=UTC)
SITES = 1_000
GOAL_S = 5.0
SUPPLIES = (("toner", "consumed", "black"), ("toner", "consumed", "cyan"),
            ("toner", "consumed", "magenta"), ("toner", "consumed", "yellow"),
            ("waste_toner", "receptacle", None))


class Fleet:
    """The rows of one synthetic fleet, and the policy's inputs built from the same rows."""

    def __init__(self, printers: int, seed: int = 7) -> None:
        rng = random.Random(seed)
        t = stamp(NOW)
        self.contacts = [(f"c{s:04d}{x}", f"Contact {s}{x}", f"c{s}{x}@example.com",
                          f"{s} Main Street", t) for s in range(SITES) for x in "ab"]
        self.sites = [(f"site{s:04d}", f"Site {s}", f"c{s:04d}a", t) for s in range(SITES)]
        self.devices: list[tuple[Any, ...]] = []
        self.status: list[tuple[Any, ...]] = []
        self.supplies: list[tuple[Any, ...]] = []
        self.contact_of: dict[str, str] = {}
        self.seen: dict[str, datetime] = {}
        for i in range(printers):
            serial, s = f"D{i:06d}", i % SITES
            site = f"site{s:04d}"
            contact = f"c{s:04d}b" if i % 4 == 0 else None
            self.contact_of[serial] = contact or f"c{s:04d}a"
            seen = NOW - timedelta(hours=rng.uniform(0, 400))
            self.seen[serial] = seen
            self.devices.append((serial, site, contact, "AltaLink C8130", None, t))
            self.status.append((serial, site, "a", None, "xerox", "AltaLink C8130", 1,
                                f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "ok",
                                1000 + i, stamp(seen), 1))
            for k, (type_, class_, color) in enumerate(SUPPLIES, 1):
                rate = rng.uniform(0.3, 30.0)  # percent a day
                dte = rng.uniform(0, 120)
                self.supplies.append((
                    serial, k, type_, class_, color, 50, "ok", 50.0, rate / 10, rate, dte,
                    dte * 0.8, dte * 1.2, "ok", int(rng.random() < 0.002),
                    f"P-{type_}-{color}", None, stamp(seen), 1))

    def outlooks(self, settings: PolicySettings) -> list[SupplyOutlook]:
        """What run_policy builds from these rows (nothing in stock, nothing open)."""
        site_of = {d[0]: d[1] for d in self.devices}
        out = []
        for row in self.supplies:
            serial = row[0]
            seen = self.seen[serial]
            out.append(SupplyOutlook(
                device_serial=serial, site_id=site_of[serial],
                contact_id=self.contact_of[serial], supply_key=str(row[1]),
                supply_kind=supply_kind(row[2], row[3]), days_to_empty=row[10],
                days_to_empty_low=row[11], daily_units=row[9] / 100.0, units_on_hand=0,
                open_units=0, last_report_at=seen,
                device_silent_state=silent_state(silent_days(seen, NOW), settings),
                part_number=row[15]))
        return out

    def write(self, url: str) -> None:
        db = open_database(url)
        t = stamp(NOW)
        try:
            with db.transaction() as conn:
                conn.execute("INSERT INTO agents (agent_id, site_id, name, created_at) "
                             "VALUES ('a', 'site0000', 'bench', ?)", (t,))
                conn.execute("INSERT INTO summaries (agent_id, sequence, idempotency_key, "
                             "key_id, site_id, device_serial, period_start, period_end, "
                             "received_at, payload, signature) "
                             "VALUES ('a', 1, 'k', 'k', 'site0000', 'x', ?, ?, ?, ?, ?)",
                             (t, t, t, b"", b""))
                conn.executemany("INSERT INTO contacts (contact_id, name, email, "
                                 "shipping_address, updated_at) VALUES (?, ?, ?, ?, ?)",
                                 self.contacts)
                conn.executemany("INSERT INTO sites (site_id, name, default_contact_id, "
                                 "updated_at) VALUES (?, ?, ?, ?)", self.sites)
                conn.executemany("INSERT INTO registry_devices (serial, site_id, contact_id, "
                                 "model, note, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                                 self.devices)
                conn.executemany("INSERT INTO device_status (serial, site_id, agent_id, "
                                 "contact, vendor, model, asr_compatible, address, state, "
                                 "page_count, last_seen, last_summary_id) "
                                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", self.status)
                conn.executemany("INSERT INTO supply_latest (device_serial, supply_index, "
                                 "type, supply_class, color, level, level_state, "
                                 "remaining_percent, daily_grams, daily_percent, "
                                 "days_to_empty, days_to_empty_low, days_to_empty_high, "
                                 "forecast_status, spike, part_number, cartridge_serial, "
                                 "as_of, summary_id) VALUES "
                                 "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 self.supplies)
        finally:
            db.close()


def analyze(url: str) -> None:
    """Table statistics as a database that has been running a while has them."""
    db = open_database(url, migrate=False)
    try:
        with db.transaction() as conn:
            conn.execute("ANALYZE")
    finally:
        db.close()


def reset(url: str) -> None:
    """No orders, lines or alerts: the next run plans the whole fleet afresh."""
    db = open_database(url, migrate=False)
    try:
        with db.transaction() as conn:
            for table in ("order_lines", "orders", "central_alerts"):
                conn.execute(f"DELETE FROM {table}")
    finally:
        db.close()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=20_000, help="five supplies each")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", metavar="URL", help="an empty PostgreSQL database to use "
                        "(default: a server started for the run)")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    settings = PolicySettings()
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'central.db'}"}
        try:
            if args.db:
                urls["postgresql"] = args.db
            elif not args.sqlite_only:
                sys.path.insert(0, str(REPO / "tests"))
                from support_postgres import start_server

                server = start_server(free_port())
                urls["postgresql"] = server.create_database()
            t0 = time.perf_counter()
            fleet = Fleet(args.printers)
            outlooks = fleet.outlooks(settings)
            for url in urls.values():
                fleet.write(url)
                analyze(url)
            print(f"{len(fleet.supplies):,} supplies on {args.printers:,} printers, "
                  f"{SITES:,} sites, {len(fleet.contacts):,} contacts; built and written to "
                  f"{', '.join(urls)} in {time.perf_counter() - t0:.1f} s", flush=True)
            plans: list[float] = []
            firsts: dict[str, list[float]] = {name: [] for name in urls}
            seconds: dict[str, list[float]] = {name: [] for name in urls}
            for r in range(args.rounds):
                t_plan, planned = timed(lambda: plan(outlooks, [], settings, NOW))
                plans.append(t_plan)
                line = [f"round {r + 1}: plan() {t_plan:.2f} s "
                        f"({len(planned.orders):,} orders, "
                        f"{sum(len(o.lines) for o in planned.orders):,} lines)"]
                for name, url in urls.items():
                    reset(url)
                    db = open_database(url, migrate=False)
                    try:
                        t1, first = timed(partial(run_policy, db, now=NOW, settings=settings))
                        t2, second = timed(partial(run_policy, db, now=NOW, settings=settings))
                    finally:
                        db.close()
                    firsts[name].append(t1)
                    seconds[name].append(t2)
                    line.append(f"{name} run {t1:.2f} s ({len(first.orders):,} orders, "
                                f"{first.lines:,} lines, {len(first.new_alerts):,} alerts), "
                                f"again {t2:.2f} s ({len(second.orders)} orders)")
                print(" | ".join(line), flush=True)
        finally:
            if server is not None:
                server.stop()
    p = statistics.median(plans)
    print(f"median of {args.rounds} rounds; baseline plan() alone over the same supplies: "
          f"{p:.2f} s")
    for name in urls:
        f, s = statistics.median(firsts[name]), statistics.median(seconds[name])
        verdict = "met" if max(f, s) <= GOAL_S else "MISSED"
        print(f"{name:>10}: policy run {f:.2f} s = {f / p:.1f}x plan(); second run "
              f"{s:.2f} s = {s / p:.1f}x plan()  goal <= {GOAL_S:g} s: {verdict}")
    if "postgresql" in urls:
        for label, data in (("policy run", firsts), ("second run", seconds)):
            pg, lite = statistics.median(data["postgresql"]), statistics.median(data["sqlite"])
            print(f"postgresql over sqlite, {label}: {pg:.2f} vs {lite:.2f} s = "
                  f"{pg / lite:.2f}x")


if __name__ == "__main__":
    main()
