"""`asr-central simulate`: run the ordering policy in closed loop over a simulated fleet."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="run a simulated fleet through the agent and central code",
        description="Simulate a fleet (see docs/fleet-format.md) day by day: printers use "
                    "supplies and report, the agent and central code forecast and order, "
                    "parcels arrive. Prints stockouts, parcels and stock on hand.")
    p.add_argument("fleet", metavar="FLEET.yaml", help="fleet file")
    p.add_argument("--policy", choices=("asr", "threshold"), default="asr",
                   help="asr: the product's policy (default); threshold: order one unit at "
                        "or below --threshold-pct")
    p.add_argument("--order-point", choices=("fixed", "service"), default=None,
                   help="the ASR policy's order point: fixed (lead_days, the default) or "
                        "service (shipping time plus a margin for the service level); "
                        "overrides the fleet file's order_point")
    p.add_argument("--service-level", type=float, default=None, metavar="P",
                   help="target share of cycles without a stockout under --order-point "
                        "service (default 0.995); overrides the fleet file's service_level")
    p.add_argument("--threshold-pct", type=float, default=20.0, metavar="PCT",
                   help="level that triggers an order under --policy threshold (default 20)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes, each simulating a share of the sites (default: "
                        "one per CPU; the result is the same for any N)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--html", metavar="REPORT.html",
                   help="also write a self-contained HTML report with a chart per device")
    p.set_defaults(func=run)


def default_jobs() -> int:
    """The CPUs this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from asr_core.errors import ConfigError
    from asr_central.simulate.fleet import load_fleet
    from asr_central.simulate.loop import simulate
    from asr_central.simulate.report import render_html, render_table, summarize

    if not 0 <= args.threshold_pct <= 100:
        raise ConfigError(f"--threshold-pct {args.threshold_pct}: expected 0..100")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: expected at least 1")
    fleet = load_fleet(args.fleet)
    if args.service_level is not None and not 0.5 <= args.service_level <= 0.9999:
        raise ConfigError(f"--service-level {args.service_level}: expected 0.5..0.9999 "
                          "(0.995 is 99.5 %)")
    given = {k: v for k, v in (("order_point", args.order_point),
                               ("service_level", args.service_level)) if v is not None}
    if given:
        fleet = fleet.model_copy(update=given)
    result = simulate(fleet, args.policy, threshold_pct=args.threshold_pct,
                      keep_history=bool(args.html), jobs=args.jobs or default_jobs())
    summary = summarize(result)
    if args.html:
        try:
            Path(args.html).write_text(render_html(result, summary), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot write the HTML report: {exc.strerror}",
                              path=args.html) from exc
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render_table([summary]))
        if args.html:
            print(f"HTML report: {args.html}")
    return 0
