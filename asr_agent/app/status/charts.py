"""Inline SVG charts for the status page: no script, no external asset, so the page
works under a strict Content-Security-Policy and offline."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from asr_agent.app.status.model import SupplyHistory

_WIDTH, _HEIGHT, _PAD = 640, 180, 28
SWATCHES = {
    "black": "#222", "cyan": "#00a0c6", "magenta": "#c2187a", "yellow": "#e0b800",
    "waste": "#7a6a58",
}


def swatch(color: str | None, supply_class: str = "consumed") -> str:
    if supply_class == "receptacle":
        return SWATCHES["waste"]
    return SWATCHES.get((color or "").lower(), "#5b6b7b")


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def level_chart(history: SupplyHistory, color: str) -> str:
    """History as a solid line, forecast as a dashed one, 0–100 % on the y axis."""
    points = [(_ts(p.at), p.remaining_percent) for p in history.points]
    forecast = [(_ts(p.at), p.remaining_percent) for p in history.forecast]
    everything = points + forecast
    if not everything:
        return '<p class="muted">No readings yet.</p>'
    t0 = min(t for t, _ in everything)
    t1 = max(t for t, _ in everything)
    span = max(t1 - t0, 1.0)

    def xy(t: float, pct: float) -> str:
        x = _PAD + (t - t0) / span * (_WIDTH - 2 * _PAD)
        y = _HEIGHT - _PAD - max(0.0, min(100.0, pct)) / 100 * (_HEIGHT - 2 * _PAD)
        return f"{x:.1f},{y:.1f}"

    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="level history of supply {history.index}">',
        f'<line x1="{_PAD}" y1="{_HEIGHT - _PAD}" x2="{_WIDTH - _PAD}" y2="{_HEIGHT - _PAD}" stroke="#bbb"/>',
        f'<line x1="{_PAD}" y1="{_PAD}" x2="{_PAD}" y2="{_HEIGHT - _PAD}" stroke="#bbb"/>',
        f'<text x="2" y="{_PAD + 4}" font-size="10">100%</text>',
        f'<text x="8" y="{_HEIGHT - _PAD + 4}" font-size="10">0%</text>',
        f'<text x="{_PAD}" y="{_HEIGHT - 8}" font-size="10">{_day(t0)}</text>',
        f'<text x="{_WIDTH - _PAD}" y="{_HEIGHT - 8}" font-size="10" text-anchor="end">{_day(t1)}</text>',
    ]
    if points:
        parts.append(f'<polyline fill="none" stroke="{escape(color)}" stroke-width="2" '
                     f'points="{" ".join(xy(t, p) for t, p in points)}"/>')
    if forecast:
        start = points[-1:] if points else []
        line = " ".join(xy(t, p) for t, p in start + forecast)
        parts.append(f'<polyline class="forecast" fill="none" stroke="{escape(color)}" '
                     f'stroke-dasharray="6 4" stroke-width="1.5" points="{line}"/>')
    parts.append("</svg>")
    return "".join(parts)
