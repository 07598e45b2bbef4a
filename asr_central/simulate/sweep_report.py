"""A sweep's two renderings: one table, a row per combination, and a self-contained HTML page
charting units on hand against parcels, a labelled point per combination.

The page is inline SVG with no script and no external asset (like the agent's status page),
so it opens offline and under any Content-Security-Policy; every string from the fleet file
or the command line (serials, site ids, setting values) is escaped.
"""

from __future__ import annotations

import html
import math

from asr_central.simulate.report import _fmt
from asr_central.simulate.sweep import Point, format_value, label

# (summary key, column heading): what decides between policies; the rest of the single-run
# table (alerts, premature replacements) does not move with the policy's settings
COLUMNS = (
    ("stockout_supply_days", "stockout days"),
    ("stockout_events", "events"),
    ("supplies_with_stockout", "supplies out"),
    ("shipments", "parcels"),
    ("order_lines", "lines"),
    ("units_shipped", "units shipped"),
    ("mean_units_on_hand", "mean on hand"),
    ("units_on_hand_at_end", "on hand at end"),
)
LEGEND = ("stockout days: supply-days out of stock; events: times a supply ran out; "
          "mean on hand: units delivered and not yet installed, mean over the days")


def _names(points: list[Point]) -> list[str]:
    return [name for name, _v in points[0].settings]


def _fleet_line(points: list[Point]) -> str:
    s = points[0].summary
    return (f"fleet: {s['devices']} devices, {s['supplies']} supplies, {s['days']} days from "
            f"{s['start']}, seed {s['seed']}; {s['policy']} policy, {len(points)} combinations")


def best(points: list[Point]) -> list[tuple[str, Point]]:
    """The combinations worth naming: without stockout, the fewest units on hand and the
    fewest parcels (ties to the earlier in the grid)."""
    clean = [p for p in points if p.summary["stockout_supply_days"] == 0]
    if not clean:
        return []
    stock = min(clean, key=lambda p: p.summary["mean_units_on_hand"])
    parcels = min(clean, key=lambda p: p.summary["shipments"])
    return [("fewest units on hand with no stockout", stock),
            ("fewest parcels with no stockout", parcels)]


def _notes(points: list[Point]) -> list[str]:
    return list(dict.fromkeys(n for p in points for n in p.summary["not_integrated"]))


def render_sweep_table(points: list[Point]) -> str:
    names = _names(points)
    head = names + [h for _k, h in COLUMNS]
    rows = [[format_value(v) for _n, v in p.settings]
            + [_fmt(p.summary[k]) for k, _h in COLUMNS] for p in points]
    widths = [max(len(c) for c in col) for col in zip(head, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [_fleet_line(points), line(head)] + [line(r) for r in rows] + [LEGEND]
    for what, p in best(points):
        s = p.summary
        out.append(f"{what}: {label(p.settings)} ({_fmt(s['mean_units_on_hand'])} units on "
                   f"hand, {_fmt(s['shipments'])} parcels)")
    if not best(points):
        out.append("every combination ran out of stock somewhere")
    out += [f"NOTE: placeholder in use: {n}" for n in _notes(points)]
    return "\n".join(out)


# --- HTML -----------------------------------------------------------------------------------

_W, _H = 760, 440
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 24, 20, 48
_OK, _OUT = "#2a7d2e", "#d22222"
_RAN_OUT_SHOWN = 8  # devices named in a point's tooltip; the table has the rest


def _ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """A padded range and round tick values across it (steps of 1, 2 or 5 × 10^k); never
    below 0, as neither parcels nor units on hand are."""
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = max(0.0, lo - pad), hi + pad
    raw = (hi - lo) / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    ticks = [first + i * step for i in range(int((hi - first) / step) + 1)]
    return lo, hi, ticks


def _tooltip(p: Point) -> str:
    s = p.summary
    text = [label(p.settings),
            f"parcels {_fmt(s['shipments'])}, mean units on hand {_fmt(s['mean_units_on_hand'])}",
            f"stockout supply-days {_fmt(s['stockout_supply_days'])}"]
    for serial, site, days in p.ran_out[:_RAN_OUT_SHOWN]:
        text.append(f"ran out: {serial} at {site}, {days:g} supply-days")
    if len(p.ran_out) > _RAN_OUT_SHOWN:
        text.append(f"… and {len(p.ran_out) - _RAN_OUT_SHOWN} more devices")
    return html.escape("\n".join(text))


def _chart(points: list[Point]) -> str:
    xs = [float(p.summary["shipments"]) for p in points]
    ys = [float(p.summary["mean_units_on_hand"]) for p in points]
    x0, x1, xticks = _ticks(min(xs), max(xs))
    y0, y1, yticks = _ticks(min(ys), max(ys))
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(v: float) -> float:
        return _LEFT + (v - x0) / (x1 - x0) * pw

    def py(v: float) -> float:
        return _TOP + ph - (v - y0) / (y1 - y0) * ph

    svg = [f"<svg class='sweep' xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
           f"viewBox='0 0 {_W} {_H}' role='img' aria-label='mean units on hand against "
           "parcels, one point per combination'>",
           f"<rect x='{_LEFT}' y='{_TOP}' width='{pw}' height='{ph}' fill='#fafafa' "
           "stroke='#ccc'/>"]
    for t in xticks:
        svg.append(f"<line x1='{px(t):.1f}' x2='{px(t):.1f}' y1='{_TOP}' y2='{_TOP + ph}' "
                   f"stroke='#e4e4e4'/><text x='{px(t):.1f}' y='{_TOP + ph + 14}' "
                   f"font-size='10' text-anchor='middle'>{t:g}</text>")
    for t in yticks:
        svg.append(f"<line x1='{_LEFT}' x2='{_LEFT + pw}' y1='{py(t):.1f}' y2='{py(t):.1f}' "
                   f"stroke='#e4e4e4'/><text x='{_LEFT - 6}' y='{py(t) + 3:.1f}' "
                   f"font-size='10' text-anchor='end'>{t:g}</text>")
    svg.append(f"<text x='{_LEFT + pw / 2:.0f}' y='{_H - 8}' font-size='12' "
               "text-anchor='middle'>parcels</text>"
               f"<text x='14' y='{_TOP + ph / 2:.0f}' font-size='12' text-anchor='middle' "
               f"transform='rotate(-90 14 {_TOP + ph / 2:.0f})'>mean units on hand</text>")
    placed: list[tuple[float, float, float]] = []  # label boxes: x, y, width
    for i, (p, x, y) in enumerate(zip(points, xs, ys, strict=True)):
        out = p.summary["stockout_supply_days"] > 0
        colour = _OUT if out else _OK
        cx, cy = px(x), py(y)
        svg.append(f"<circle class='point{' out' if out else ''}' data-combination='{i}' "
                   f"cx='{cx:.1f}' cy='{cy:.1f}' r='5' fill='{colour}' fill-opacity='0.8'>"
                   f"<title>{_tooltip(p)}</title></circle>")
        text = " / ".join(format_value(v) for _n, v in p.settings)
        width = 6.2 * len(text)
        lx, ly = cx + 8, cy + 4
        if lx + width > _W - 2:
            lx = cx - 8 - width  # keep the label on the page: to the point's left
        # points that coincide or crowd get their labels stacked below each other
        while any(abs(ly - oy) < 12 and lx < ox + ow and ox < lx + width
                  for ox, oy, ow in placed):
            ly += 12
        placed.append((lx, ly, width))
        svg.append(f"<text class='label' x='{lx:.1f}' y='{ly:.1f}' font-size='11' "
                   f"fill='{colour}'>{html.escape(text)}</text>")
    svg.append("</svg>")
    return "".join(svg)


def render_sweep_html(points: list[Point]) -> str:
    names = _names(points)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in names + [h for _k, h in COLUMNS])
    rows = []
    for p in points:
        cells = [format_value(v) for _n, v in p.settings] + [_fmt(p.summary[k])
                                                             for k, _h in COLUMNS]
        out = " class='out'" if p.summary["stockout_supply_days"] > 0 else ""
        rows.append(f"<tr{out}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                    + "</tr>")
    found = "".join(f"<li>{html.escape(what)}: <strong>{html.escape(label(p.settings))}"
                    "</strong></li>" for what, p in best(points))
    notes = "".join(f"<p><strong>Placeholder in use:</strong> {html.escape(n)}</p>"
                    for n in _notes(points))
    policy = html.escape(str(points[0].summary["policy"]))
    return "".join([
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>ASR simulation sweep: {policy} policy</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:1em 0}td,th{padding:2px 10px;text-align:right;"
        "border-bottom:1px solid #ddd;vertical-align:bottom}tr.out td{color:#b00}svg{background:#fff}</style>"
        "</head><body>",
        f"<h1>Policy settings swept, {policy} policy</h1>",
        f"<p>{html.escape(_fleet_line(points))}.</p>",
        "<p>Each point is one combination, labelled with its values of "
        f"{html.escape(' / '.join(names))}; green: no supply ran out of stock, red: some did "
        "(hover a point for its figures and the devices that ran out).</p>",
        _chart(points),
        f"<ul>{found}</ul>" if found else "<p>Every combination ran out of stock somewhere.</p>",
        f"<table><tr>{head}</tr>{''.join(rows)}</table>",
        f"<p>{html.escape(LEGEND)}.</p>",
        notes,
        "</body></html>",
    ])


__all__ = ["COLUMNS", "best", "render_sweep_html", "render_sweep_table"]
