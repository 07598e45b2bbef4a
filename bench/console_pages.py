"""Console page times at 10,000 printers: each main page fetched over HTTP from a real
uvicorn server on loopback, signed in as an operator.

    .venv/bin/python bench/console_pages.py [--printers 10000] [--rounds 20]

Builds a SQLite database of `--printers` printers over 200 sites (four supplies each,
one printer in ten silent, 2,000 open alerts, 200 orders waiting to be packed (one a site)
and 2,000 older ones, a year of delivered orders, two lines each, one per `--order-every` printer-
days, and `--history-days` of daily supply history), then prints the median and 95th
percentile time per page. Goal: every page under 300 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from asr_central.service.app import create_app  # noqa: E402
from asr_central.service.console.passwords import hash_password  # noqa: E402
from asr_central.storage import open_database, users  # noqa: E402
from asr_central.storage.times import stamp  # noqa: E402

NOW = datetime(2027, 3, 10, 9, tzinfo=UTC)
GOAL_S = 0.3
PASSWORD = "bench password 1"


def build(db_url: str, printers: int, seed: int = 7, *, history_days: int = 90,
          order_every: int = 120) -> None:
    rng = random.Random(seed)
    db = open_database(db_url)
    t = stamp(NOW)
    with db.transaction() as conn:
        conn.execute("INSERT INTO agents (agent_id, site_id, name, created_at) "
                     "VALUES ('a', 'site000', 'bench', ?)", (t,))
        conn.execute("INSERT INTO summaries (agent_id, sequence, idempotency_key, key_id, "
                     "site_id, device_serial, period_start, period_end, received_at, payload, "
                     "signature) VALUES ('a', 1, 'k', 'k', 'site000', 'x', ?, ?, ?, ?, ?)",
                     (t, t, t, b"", b""))
        sites = 200
        conn.executemany("INSERT INTO contacts (contact_id, name, email, shipping_address, "
                         "updated_at) VALUES (?, ?, ?, ?, ?)",
                         [(f"c{i:03d}", f"Contact {i}", f"c{i}@example.com",
                           f"{i} Main Street", t) for i in range(sites)])
        conn.executemany("INSERT INTO sites (site_id, name, default_contact_id, updated_at) "
                         "VALUES (?, ?, ?, ?)",
                         [(f"site{i:03d}", f"Site {i}", f"c{i:03d}", t) for i in range(sites)])
        devices, status, supplies = [], [], []
        for i in range(printers):
            serial, site = f"D{i:06d}", f"site{i % sites:03d}"
            seen = NOW - timedelta(days=10 if i % 10 == 0 else rng.uniform(0, 2))
            devices.append((serial, site, None, "AltaLink C8130", f"floor {i % 7}", t))
            status.append((serial, site, "a", "xerox", "AltaLink C8130", 1,
                           f"10.{i // 65536}.{i // 256 % 256}.{i % 256}", "ok", 1000 + i,
                           stamp(seen), 1))
            for k, color in enumerate(("black", "cyan", "magenta", "yellow"), 1):
                pct = rng.uniform(0, 100)
                supplies.append((serial, k, "toner", "consumed", color, int(pct), "ok", pct,
                                 1.2, 1.0, pct, pct * 0.8, pct * 1.2, "ok", 0, "006R01746",
                                 None, stamp(seen), 1))
        conn.executemany("INSERT INTO registry_devices (serial, site_id, contact_id, model, "
                         "note, updated_at) VALUES (?, ?, ?, ?, ?, ?)", devices)
        conn.executemany("INSERT INTO device_status (serial, site_id, agent_id, vendor, model, "
                         "asr_compatible, address, state, page_count, last_seen, "
                         "last_summary_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", status)
        conn.executemany("INSERT INTO supply_latest (device_serial, supply_index, type, "
                         "supply_class, color, level, level_state, remaining_percent, "
                         "daily_grams, daily_percent, days_to_empty, days_to_empty_low, "
                         "days_to_empty_high, forecast_status, spike, part_number, "
                         "cartridge_serial, as_of, summary_id) VALUES "
                         "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", supplies)
        conn.executemany("INSERT INTO central_alerts (alert_key, kind, severity, device_serial, "
                         "message, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         [(f"device_silent|D{i:06d}||", "device_silent", "warning",
                           f"D{i:06d}", "printer silent", t, t)
                          for i in range(0, min(printers, 20_000), 10)][:2000])
        seqs: dict[tuple[int, int], int] = {}  # a supply's lines are numbered (supply_seq)
        for n in range(2000 + sites):
            # the last ones wait to be packed: one a site (one open order per site and contact)
            i = (n - 2000) + sites * rng.randrange(printers // sites) if n >= 2000 \
                else rng.randrange(printers)
            site = f"site{i % sites:03d}"
            state = "created" if n >= 2000 else rng.choice(("delivered", "closed", "cancelled"))
            order_id = conn.execute(
                "INSERT INTO orders (site_id, contact_id, status, created_on, created_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING order_id",
                (site, f"c{i % sites:03d}", state, NOW.date().isoformat(), t)).fetchone()[0]
            for k in range(1, 3):
                conn.execute("INSERT INTO order_lines (order_id, device_serial, supply_index, "
                             "supply_kind, part_number, quantity, reason, cover_days, "
                             "supply_seq) VALUES (?, ?, ?, 'consumable', '006R01746', 1, 'due', "
                             "30, ?)", (order_id, f"D{i:06d}", k, _next_seq(seqs, i, k)))
        _year_of_orders(conn, rng, printers, sites, order_every, seqs)
        # the last `history_days` days of each supply, falling a percent or two a day and
        # empty on one day in a hundred (what the printer and service pages read)
        conn.executemany(
            "INSERT INTO supply_history (device_serial, supply_index, day, level, "
            "remaining_percent, as_of) VALUES (?, ?, ?, ?, ?, ?)",
            ((f"D{i:06d}", k, (NOW - timedelta(days=d)).date().isoformat(), left, float(left), t)
             for i in range(printers) for k in range(1, 5) for d in range(history_days)
             for left in (0 if rng.random() < 0.01 else (d * 2 + i + k) % 100,)))
        users.add_user(conn, "olga", hash_password(PASSWORD), "operator", NOW)
    db.close()


def _next_seq(seqs: dict[tuple[int, int], int], printer: int, supply: int) -> int:
    seqs[printer, supply] = seqs.get((printer, supply), 0) + 1
    return seqs[printer, supply]


def _year_of_orders(conn, rng: random.Random, printers: int, sites: int,
                    order_every: int, seqs: dict[tuple[int, int], int]) -> None:
    """Delivered orders over the last year, two lines each: what the service page counts."""
    for _ in range(printers * 365 // order_every):
        i = rng.randrange(printers)
        placed = NOW - timedelta(days=rng.uniform(4, 365))
        order_id = conn.execute(
            "INSERT INTO orders (site_id, contact_id, status, created_on, created_at, "
            "shipped_at, delivered_at) VALUES (?, ?, 'delivered', ?, ?, ?, ?) RETURNING order_id",
            (f"site{i % sites:03d}", f"c{i % sites:03d}", placed.date().isoformat(),
             stamp(placed), stamp(placed + timedelta(days=1)),
             stamp(placed + timedelta(days=rng.uniform(2, 5))))).fetchone()[0]
        conn.executemany("INSERT INTO order_lines (order_id, device_serial, supply_index, "
                         "supply_kind, part_number, quantity, reason, cover_days, supply_seq) "
                         "VALUES (?, ?, ?, 'consumable', '006R01746', 1, 'due', 20, ?)",
                         [(order_id, f"D{i:06d}", k, _next_seq(seqs, i, k)) for k in (1, 2)])


PAGES = ("/console/orders", "/console/orders/history", "/console/orders/history?p=40",
         "/console/fleet", "/console/fleet?p=150", "/console/fleet?state=silent",
         "/console/fleet?state=alert", "/console/fleet?site=site123",
         "/console/fleet?q=D0099", "/console/printers/D004242", "/console/alerts",
         "/console/orders/2100", "/console/service")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--printers", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--history-days", type=int, default=90,
                        help="days of supply history per supply (default 90; the console keeps 400)")
    parser.add_argument("--order-every", type=int, default=120,
                        help="printer-days per delivered order over the year (default 120)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'central.db'}"
        t0 = time.perf_counter()
        build(url, args.printers, history_days=args.history_days, order_every=args.order_every)
        print(f"built {args.printers} printers in {time.perf_counter() - t0:.1f} s")
        app = create_app(url, clock=lambda: NOW)
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                lifespan="on")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False,
                          timeout=30) as client:
            form = client.get("/console/sign-in")
            token = form.text.split('name="form_token" value="')[1].split('"')[0]
            r = client.post("/console/sign-in", data={"username": "olga", "password": PASSWORD,
                                                      "form_token": token})
            assert r.status_code == 303, r.text
            worst = 0.0
            for path in PAGES:
                times = []
                for _ in range(args.rounds):
                    t = time.perf_counter()
                    r = client.get(path)
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200, (path, r.status_code, r.text[:200])
                times.sort()
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                worst = max(worst, p95)
                print(f"{path:36s} median {statistics.median(times) * 1000:6.1f} ms   "
                      f"p95 {p95 * 1000:6.1f} ms   {len(r.content) // 1024} KiB")
        server.should_exit = True
        thread.join(10)
    print(f"goal every page < {GOAL_S * 1000:.0f} ms (p95): "
          f"{'met' if worst < GOAL_S else 'MISSED'}")


if __name__ == "__main__":
    main()
