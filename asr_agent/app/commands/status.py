"""`asr-agent status`: per device and supply, the level, daily grams, days to empty and flags.

Reads the local store (read-only use); `--json` prints the same as a list of devices.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Any

from asr_agent.domain.consumption import PREMATURE_THRESHOLD_PCT
from asr_core.codes import Code
from asr_agent.domain.levels import level_words

if TYPE_CHECKING:
    from asr_agent.domain.catalog import SupplyCatalog
    from asr_agent.adapters.store import Store


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("status", help="levels, daily use and days to empty from the local store",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--config", metavar="PATH", default=None,
                        help="config file (default: $ASR_CONFIG, else the platform location; "
                             "built-in defaults when absent)")
    parser.add_argument("--data-dir", metavar="DIR", default=None, help="the agent's data directory "
                        "(default: from the config)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def collect(store: Store, *, now: datetime, catalog: SupplyCatalog | None, tz: tzinfo,
            premature_threshold_pct: float = PREMATURE_THRESHOLD_PCT, min_span_h: float = 24.0,
            min_readings: int = 2) -> list[dict[str, Any]]:
    """Every device in the store with its supplies analysed and forecast at `now`."""
    from asr_agent.app.insight import Settings, device_insights

    settings = Settings(premature_threshold_pct=premature_threshold_pct, min_span_h=min_span_h,
                        min_readings=min_readings, tz=tz)
    out = []
    for dev in store.devices():
        supplies = []
        insights = device_insights(store, dev.serial, now=now, settings=settings, catalog=catalog)
        for sup in store.supplies_of(dev.serial):
            a, f = insights[sup.index].analysis, insights[sup.index].forecast
            latest = sup.latest
            flags = [f.kind for f in a.flags]
            if f.spike:
                flags.append(Code.USAGE_SPIKE)
            supplies.append({
                "index": sup.index, "description": sup.description, "type": sup.type.wire_name,
                "supply_class": sup.supply_class.wire_name, "color": sup.color,
                "part_number": sup.part_number,
                "level_state": latest.level_state.value if latest else None,
                "remaining_percent": a.remaining_percent, "remaining_estimated": a.remaining_estimated,
                "estimate": a.estimate, "grams_basis": a.grams_basis,
                "daily_percent": f.daily_percent, "daily_grams": f.daily_grams,
                "forecast_status": f.status, "forecast_reason": f.reason,
                "days_to_empty": f.days_to_empty, "days_to_empty_low": f.days_to_empty_low,
                "days_to_empty_high": f.days_to_empty_high, "spike_ratio": f.spike_ratio,
                "cartridges": len(a.lives), "flags": sorted(set(flags)),
            })
        out.append({
            "serial": dev.serial, "vendor": dev.vendor, "model": dev.model, "state": dev.state,
            "asr_compatible": dev.asr_compatible, "host": dev.host, "port": dev.port,
            "last_seen": dev.last_seen.isoformat(), "supplies": supplies,
        })
    return out


def _num(x: float | None, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def render(devices: list[dict[str, Any]]) -> str:
    if not devices:
        return "no devices in the store yet (poll a printer first)\n"
    lines = []
    for d in devices:
        title = " ".join(x for x in (d["vendor"], d["model"]) if x) or "unknown model"
        lines.append(f"{d['serial']}  {title}  [{d['state']}]  {d['host']}:{d['port']}")
        lines.append(f"  {'#':>3}  {'supply':<28} {'level':>7} {'g/day':>7}  {'days to empty':<18} flags")
        for s in d["supplies"]:
            if s["remaining_percent"] is not None:
                level = f"{s['remaining_percent']:.0f}%" + ("~" if s["remaining_estimated"] else "")
            else:
                level = level_words(s["level_state"], s["supply_class"])
            if s["forecast_status"] == "warming_up":
                days = "learning"
            elif s["days_to_empty"] is None:
                days = "-"
            else:
                days = f"{s['days_to_empty']:.0f} ({_num(s['days_to_empty_low'])}-{_num(s['days_to_empty_high'])})"
            notes = list(s["flags"])
            if s["forecast_reason"]:
                notes.append(s["forecast_reason"])
            lines.append(f"  {s['index']:>3}  {s['description'][:28]:<28} {level:>7} "
                         f"{_num(s['daily_grams'], '{:.1f}'):>7}  {days:<18} {'; '.join(notes)}")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> int:
    import json
    import os
    from datetime import UTC

    from asr_agent.domain.catalog import load_catalog
    from asr_agent.app.config import default_config, load_config
    from asr_agent.adapters.paths import default_config_file
    from asr_agent.adapters.store import DB_FILE_NAME, Store

    path = args.config if args.config is not None else default_config_file()
    if args.config is not None or os.path.exists(path):
        cfg = load_config(path)
    else:
        cfg = default_config()
    data_dir = args.data_dir if args.data_dir is not None else cfg.paths(config_file=path).data_dir
    db = os.path.join(data_dir, DB_FILE_NAME)
    if not os.path.exists(db):
        print(f"asr-agent status: no store at {db}; poll a printer first or pass --data-dir",
              file=sys.stderr)
        return 2
    catalog = load_catalog(cfg.consumption.supply_catalog)
    tz = cfg.site.tz()  # the daemon's days: see SiteConfig.timezone
    with Store(db) as store:
        devices = collect(store, now=datetime.now(UTC), catalog=catalog, tz=tz,
                          premature_threshold_pct=cfg.consumption.premature_threshold_pct,
                          min_span_h=cfg.forecast.min_span_h, min_readings=cfg.forecast.min_readings)
    if args.json:
        json.dump(devices, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(devices))
    return 0
