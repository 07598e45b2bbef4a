"""`asr-central simulate`: run the ordering policy in closed loop over a simulated fleet, once
or (`--sweep`) for every combination of a grid of policy settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asr_central.simulate.fleet import Fleet


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "simulate", help="run a simulated fleet through the agent and central code",
        description="Simulate a fleet (see docs/fleet-format.md) day by day: printers use "
                    "supplies and report, the agent and central code forecast and order, "
                    "parcels arrive. Prints stockouts, parcels and stock on hand; with --sweep, "
                    "one row of them per combination of the swept settings.")
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
    p.add_argument("--threshold-pct", type=float, default=None, metavar="PCT",
                   help="level that triggers an order under --policy threshold (default 20)")
    p.add_argument("--sweep", action="append", default=[], metavar="NAME=V1,V2,…",
                   help="run every combination of these policy settings (repeat the flag for "
                        "more settings: --sweep lead_days=14,21 --sweep pull_forward_days=0,7) "
                        "and print one table, a row per combination; with --html, a chart of "
                        "units on hand against parcels")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes, each simulating a share of the sites, or with "
                        "--sweep one combination at a time (default: one per CPU; the result "
                        "is the same for any N)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--html", metavar="REPORT.html",
                   help="also write a self-contained HTML report with a chart per device "
                        "(with --sweep: a point per combination)")
    p.set_defaults(func=run)


def default_jobs() -> int:
    """The CPUs this process may run on."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on every platform
        return os.cpu_count() or 1


def run(args: argparse.Namespace) -> int:
    from asr_core.errors import ConfigError
    from asr_central.simulate.fleet import load_fleet
    from asr_central.simulate.loop import simulate
    from asr_central.simulate.report import render_html, render_table, summarize

    threshold_pct = 20.0 if args.threshold_pct is None else args.threshold_pct
    if not 0 <= threshold_pct <= 100:
        raise ConfigError(f"--threshold-pct {threshold_pct}: expected 0..100")
    if args.jobs is not None and args.jobs < 1:
        raise ConfigError(f"--jobs {args.jobs}: expected at least 1")
    if args.service_level is not None and not 0.5 <= args.service_level <= 0.9999:
        raise ConfigError(f"--service-level {args.service_level}: expected 0.5..0.9999 "
                          "(0.995 is 99.5 %)")
    if args.sweep:
        return _sweep(args, threshold_pct)
    fleet = _with_flags(load_fleet(args.fleet), args)
    result = simulate(fleet, args.policy, threshold_pct=threshold_pct,
                      keep_history=bool(args.html), jobs=args.jobs or default_jobs())
    summary = summarize(result)
    if args.html:
        _write(args.html, render_html(result, summary))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render_table([summary]))
        if args.html:
            print(f"HTML report: {args.html}")
    return 0


def _sweep(args: argparse.Namespace, threshold_pct: float) -> int:
    from asr_core.errors import ConfigError
    from asr_central.simulate.fleet import load_fleet
    from asr_central.simulate.sweep import THRESHOLD, grid, parse_axis, run_grid
    from asr_central.simulate.sweep_report import render_sweep_html, render_sweep_table

    # the flags are checked before the fleet file is read: a slip costs nothing
    axes = [parse_axis(text, args.policy) for text in args.sweep]
    if args.threshold_pct is not None and any(a.name == THRESHOLD for a in axes):
        raise ConfigError(f"--threshold-pct and --sweep {THRESHOLD}=… both set the threshold: "
                          "give one")
    combos = grid(_with_flags(load_fleet(args.fleet), args), axes, threshold_pct=threshold_pct)
    points = run_grid(combos, args.policy, jobs=args.jobs or default_jobs())
    if args.html:
        _write(args.html, render_sweep_html(points))
    if args.json:
        print(json.dumps([{"settings": dict(p.settings), **p.summary} for p in points],
                         indent=2))
    else:
        print(render_sweep_table(points))
        if args.html:
            print(f"HTML chart: {args.html}")
    return 0


def _with_flags(fleet: Fleet, args: argparse.Namespace) -> Fleet:
    """The fleet file's order point and service level, each flag given overriding its key."""
    given = {k: v for k, v in (("order_point", args.order_point),
                               ("service_level", args.service_level)) if v is not None}
    return fleet.model_copy(update=given) if given else fleet


def _write(path: str, page: str) -> None:
    from asr_core.errors import ConfigError

    try:
        Path(path).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the HTML report: {exc.strerror}", path=path) from exc
