"""Policy over 100,000 supplies: time to plan orders, against the time to build the inputs.

    .venv/bin/python bench/central_policy.py [--supplies 100000] [--rounds 3]

Prints the median seconds of building the SupplyOutlook records (the baseline: the least
any caller pays) and of plan() over them, and their ratio. Goal: plan() <= 5 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import date, datetime, timedelta, timezone

from asr_central.domain.policy import PolicySettings, SupplyKind, SupplyOutlook, plan


def build(n: int, seed: int = 7) -> list[SupplyOutlook]:
    rng = random.Random(seed)
    base = datetime(2027, 3, 9, tzinfo=timezone.utc)
    out = []
    for i in range(n):
        device = i // 5  # five supplies per printer
        rate = rng.uniform(0.003, 0.3)
        dte = rng.uniform(0, 120)
        out.append(SupplyOutlook(
            device_serial=f"D{device:06d}", site_id=f"site{device // 20}",
            contact_id=f"c{device % 3}", supply_key=("black", "cyan", "magenta", "yellow",
                                                     "waste")[i % 5],
            supply_kind=SupplyKind.WASTE if i % 5 == 4 else SupplyKind.CONSUMABLE,
            days_to_empty=dte, days_to_empty_low=dte * 0.8, daily_units=rate,
            units_on_hand=rng.choice((0, 0, 0, 1)), open_units=rng.choice((0, 0, 0, 0, 2)),
            last_report_at=base - timedelta(hours=rng.uniform(0, 400))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--supplies", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = PolicySettings()
    today = date(2027, 3, 10)
    build_times, plan_times = [], []
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        outlooks = build(args.supplies)
        t1 = time.perf_counter()
        result = plan(outlooks, [], settings, today)
        t2 = time.perf_counter()
        build_times.append(t1 - t0)
        plan_times.append(t2 - t1)
    b, p = statistics.median(build_times), statistics.median(plan_times)
    lines = sum(len(o.lines) for o in result.orders)
    print(f"supplies: {args.supplies}  orders: {len(result.orders)}  lines: {lines}  "
          f"held: {len(result.held)}")
    print(f"baseline build inputs: {b:.3f} s   plan: {p:.3f} s   ratio plan/baseline: {p / b:.2f}")
    print(f"goal plan <= 5 s: {'met' if p <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
