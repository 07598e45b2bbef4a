"""Figures of a simulation run, and their three renderings: JSON, a readable table, and a
self-contained HTML page with one inline SVG chart per device.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import Any

from asr_central.simulate.loop import SimResult

# The keys `--json` promises; more may follow them.
JSON_KEYS = (
    "policy", "devices", "supplies", "days", "stockout_supply_days", "stockout_events",
    "orders", "shipments", "units_shipped", "units_installed", "mean_units_on_hand",
    "units_on_hand_at_end", "premature_replacements", "premature_flagged", "silent_alerts",
    "spike_alerts",
)
HTML_DEVICE_LIMIT = 300  # past this many charts a page stops being readable (or light)


def summarize(result: SimResult) -> dict[str, Any]:
    sims = result.devices
    supplies = [s for d in sims for s in d.supplies.values()]
    installs = [i for d in sims for i in d.installs]
    premature = [i for i in installs if i.premature]
    days = result.fleet.days
    lines = [line for p in result.parcels for line in p.lines]
    on_hand = result.units_on_hand_by_day
    out: dict[str, Any] = {
        "policy": result.policy,
        "devices": len(sims),
        "supplies": len(supplies),
        "days": days,
        "stockout_supply_days": round(sum(s.stockout_days for s in supplies), 3),
        "stockout_events": sum(s.stockout_events for s in supplies),
        # an order ships whole, as one parcel, so the two counts agree here; order_lines
        # counts its supply lines
        "orders": len(result.parcels),
        "shipments": len(result.parcels),
        "units_shipped": sum(line.quantity for line in lines),
        "units_installed": len(installs),
        "mean_units_on_hand": round(sum(on_hand) / len(on_hand), 4) if on_hand else 0.0,
        "units_on_hand_at_end": sum(s.on_hand for s in supplies),
        "premature_replacements": len(premature),
        "premature_flagged": result.premature_flagged,
        "silent_alerts": result.silent_alerts,
        "spike_alerts": result.spike_alerts,
        # extras
        "spike_alerts_in_event": result.spike_split[0],
        "spike_alerts_outside_event": result.spike_split[1],
        "spike_events": result.spike_split[2],
        "spike_events_flagged": result.spike_split[3],
        "premature_false_flags": result.premature_false_flags,
        "order_lines": len(lines),
        "units_in_transit_at_end": sum(line.quantity for p in result.parcels
                                       if p.arrive_day >= days for line in p.lines),
        "supplies_with_stockout": sum(1 for s in supplies if s.stockout_days > 0),
        "start": result.fleet.start.isoformat(),
        "seed": result.fleet.seed,
        "grams_used": round(sum(d.grams_used for d in sims), 1),
        "not_integrated": list(result.placeholders),
    }
    return out


_ROWS = (
    ("stockout_supply_days", "stockout supply-days"),
    ("stockout_events", "stockout events"),
    ("shipments", "parcels"),
    ("order_lines", "order lines"),
    ("units_shipped", "units shipped"),
    ("units_installed", "units installed"),
    ("mean_units_on_hand", "mean units on hand"),
    ("units_on_hand_at_end", "units on hand at end"),
    ("units_in_transit_at_end", "units in transit at end"),
    ("premature_replacements", "premature replacements"),
    ("premature_flagged", "  of which flagged"),
    ("premature_false_flags", "  false premature flags"),
    ("silent_alerts", "silent-device alerts"),
    ("spike_alerts", "usage-spike alerts"),
    ("spike_alerts_in_event", "  during a spike event"),
    ("spike_alerts_outside_event", "  outside one"),
    ("spike_events", "spike events"),
    ("spike_events_flagged", "  of which flagged"),
)


def render_table(summaries: list[dict[str, Any]]) -> str:
    """One column per run, so two policies read side by side."""
    head = summaries[0]
    lines = [f"fleet: {head['devices']} devices, {head['supplies']} supplies, "
             f"{head['days']} days from {head['start']}, seed {head['seed']}"]
    width = max(len(label) for _k, label in _ROWS) + 2
    lines.append("policy".ljust(width) + "".join(f"{s['policy']:>14}" for s in summaries))
    for key, label in _ROWS:
        cells = "".join(f"{_fmt(s[key]):>14}" for s in summaries)
        lines.append(label.ljust(width) + cells)
    for s in summaries:
        for note in s["not_integrated"]:
            lines.append(f"NOTE ({s['policy']}): placeholder in use: {note}")
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


# --- HTML -----------------------------------------------------------------------------------

_COLOURS = {"black": "#222222", "cyan": "#00a0d8", "magenta": "#d0207a", "yellow": "#e0b400"}
_W, _H, _PAD = 760, 170, 30


def _colour(spec_color: str | None, waste: bool) -> str:
    if waste:
        return "#8a8a8a"
    return _COLOURS.get((spec_color or "").lower(), "#5a4fcf")


def render_html(result: SimResult, summary: dict[str, Any]) -> str:
    if result.history is None:
        raise ValueError("render_html needs a run made with keep_history=True")
    days = result.fleet.days
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ASR simulation: {html.escape(result.policy)} policy</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right;"
        "border-bottom:1px solid #ddd}th{text-align:left}"
        ".dev{margin:1.5em 0}.legend span{margin-right:1em}"
        "svg{background:#fafafa;border:1px solid #ddd}</style></head><body>",
        f"<h1>Simulated fleet, {html.escape(result.policy)} policy</h1>",
        f"<p>{summary['devices']} devices, {summary['supplies']} supplies, {days} days from "
        f"{summary['start']}, seed {summary['seed']}.</p><table>",
    ]
    for key in JSON_KEYS[1:] + ("spike_alerts_in_event", "spike_alerts_outside_event",
                                "spike_events", "spike_events_flagged", "order_lines",
                                "units_in_transit_at_end"):
        parts.append(f"<tr><th>{html.escape(key)}</th><td>{html.escape(_fmt(summary[key]))}"
                     "</td></tr>")
    parts.append("</table>")
    for note in summary["not_integrated"]:
        parts.append(f"<p><strong>Placeholder in use:</strong> {html.escape(note)}</p>")
    parts.append("<p class='legend'>Lines: remaining percent at the end of each day (waste: "
                 "free space). Marks: ▲ order placed, ● parcel delivered, ✕ install "
                 "(red ✕: premature), red band: out of stock.</p>")
    shown = result.devices[:HTML_DEVICE_LIMIT]
    if len(result.devices) > len(shown):
        parts.append(f"<p>Charts for the first {len(shown)} of {len(result.devices)} "
                     "devices.</p>")
    for sim in shown:
        parts.append(_device_chart(result, sim.serial, days))
    parts.append("</body></html>")
    return "".join(parts)


def _device_chart(result: SimResult, serial: str, days: int) -> str:
    assert result.history is not None
    h = result.history[serial]
    sim = next(d for d in result.devices if d.serial == serial)
    sx = (_W - 2 * _PAD) / max(days, 1)
    sy = (_H - 2 * _PAD) / 100.0

    def x(day: float) -> float:
        return _PAD + day * sx

    def y(pct: float) -> float:
        return _H - _PAD - pct * sy

    svg = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
           f"viewBox='0 0 {_W} {_H}' role='img' aria-label='supply levels of "
           f"{html.escape(serial)}'>"]
    for pct in (0, 50, 100):
        svg.append(f"<line x1='{_PAD}' x2='{_W - _PAD}' y1='{y(pct):.1f}' y2='{y(pct):.1f}' "
                   f"stroke='#ddd'/><text x='2' y='{y(pct) + 4:.1f}' font-size='10'>{pct}%"
                   "</text>")
    for day, _sid in h.stockouts:
        svg.append(f"<rect x='{x(day):.1f}' y='{_PAD - 4}' width='{max(sx, 1):.1f}' height='4' "
                   "fill='#d22'/>")
    for sid, series in h.levels.items():
        s = sim.supplies[sid]
        pts = " ".join(f"{x(i + 1):.1f},{y(v):.1f}" for i, v in enumerate(series))
        dash = " stroke-dasharray='4 3'" if s.waste else ""
        svg.append(f"<polyline fill='none' stroke='{_colour(s.spec.color, s.waste)}' "
                   f"stroke-width='1.5'{dash} points='{pts}'><title>{html.escape(sid)}</title>"
                   "</polyline>")
    base = _H - _PAD + 12
    for day, sid, qty in h.orders:
        c = _colour(sim.supplies[sid].spec.color, sim.supplies[sid].waste)
        svg.append(f"<path d='M{x(day + 1):.1f},{base - 6} l4,7 h-8 z' fill='{c}'><title>"
                   f"day {day}: ordered {qty} × {html.escape(sid)}</title></path>")
    for day, sid, qty in h.deliveries:
        c = _colour(sim.supplies[sid].spec.color, sim.supplies[sid].waste)
        svg.append(f"<circle cx='{x(day):.1f}' cy='{base + 8}' r='3.5' fill='{c}'><title>"
                   f"day {day}: delivered {qty} × {html.escape(sid)}</title></circle>")
    for at, sid, premature in h.installs:
        c = "#d22" if premature else "#444"
        svg.append(f"<text x='{x(at) - 3:.1f}' y='{_PAD - 8}' font-size='10' fill='{c}'>✕"
                   f"<title>day {at:.1f}: installed {html.escape(sid)}</title></text>")
    svg.append(f"<text x='{_W - _PAD}' y='{_H - 2}' font-size='10' text-anchor='end'>"
               f"day {days}</text></svg>")
    stock = sum(s.stockout_days for s in sim.supplies.values())
    legend = " ".join(
        f"<span style='color:{_colour(s.spec.color, s.waste)}'>■ {html.escape(sid)}</span>"
        for sid, s in sim.supplies.items())
    return (f"<div class='dev'><h3>{html.escape(serial)} — {html.escape(sim.spec.model)} "
            f"({html.escape(sim.site.id)}, report: {sim.spec.report})</h3>"
            f"<p class='legend'>{legend} · stockout supply-days: {stock:.2f}</p>"
            + "".join(svg) + "</div>")


def iso_day(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=day)).isoformat()
