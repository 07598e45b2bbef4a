"""The printer page's supply charts, the agent status page's look: per supply, the daily
history as a solid line with a dot per day, the forecast to empty as a dashed line from the
latest reading, and the low/high estimate as a shaded band. Pure geometry: the template
draws it as inline SVG (no script, nothing the CSP forbids), and every text in it goes
through Jinja2's escaping (a printer's strings are untrusted)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from asr_central.storage.supply_history import HistoryPoint

__all__ = ["WIDTH", "HEIGHT", "PAD", "Dot", "SupplyChart", "supply_charts"]

WIDTH, HEIGHT, PAD = 640, 180, 28
FORECAST_CAP_DAYS = 365.0  # a forecast further out is drawn to this day (the axis says so)
_SWATCHES = {"black": "#222", "cyan": "#00a0c6", "magenta": "#c2187a", "yellow": "#e0b800"}
_WASTE, _OTHER = "#7a6a58", "#5b6b7b"


@dataclass(frozen=True, slots=True)
class Dot:
    x: float
    y: float
    day: str
    percent: float


@dataclass(frozen=True, slots=True)
class SupplyChart:
    index: int
    label: str            # the supply's colour or type, as the printer names it
    stroke: str           # one of the palette's colours, never the printer's text
    dots: tuple[Dot, ...]  # one per day of history
    history: str          # polyline points, "" when under two days
    forecast: str         # dashed polyline points, "" without a forecast
    band: str             # polygon points of the low/high estimate, "" without one
    first_day: str
    last_day: str
    empty_on: str | None  # the day the forecast runs out


def _stroke(color: str | None, supply_class: str | None) -> str:
    if supply_class == "receptacle":
        return _WASTE
    return _SWATCHES.get((color or "").lower(), _OTHER)


def _when(stamp: str) -> float:
    """A stored moment as a fractional day number (date ordinals)."""
    at = datetime.fromisoformat(stamp)
    return at.toordinal() + (at.hour * 3600 + at.minute * 60 + at.second) / 86400


def _day(number: float) -> str:
    return date.fromordinal(int(number)).isoformat()


def _chart(index: int, points: Sequence[HistoryPoint], latest: Mapping[str, Any] | None
           ) -> SupplyChart | None:
    history = [(date.fromisoformat(p.day).toordinal() + 0.5, p.remaining_percent, p.day)
               for p in points if p.remaining_percent is not None]
    start: tuple[float, float] | None = None
    ends: list[float] = []
    if latest is not None and latest.get("days_to_empty") is not None:
        at = _when(str(latest["as_of"]))
        level = latest.get("remaining_percent")
        if level is None and history:
            level = history[-1][1]
        if level is not None:
            start = (at, float(level))
            ends = [at + min(float(latest[k]), FORECAST_CAP_DAYS) for k in
                    ("days_to_empty", "days_to_empty_low", "days_to_empty_high")
                    if latest.get(k) is not None]
    if not history and start is None:
        return None
    xs = [t for t, _, _ in history] + ([start[0], *ends] if start else [])
    t0, t1 = min(xs), max(xs)
    span = max(t1 - t0, 1.0)

    def xy(t: float, pct: float) -> tuple[float, float]:
        x = PAD + (t - t0) / span * (WIDTH - 2 * PAD)
        y = HEIGHT - PAD - max(0.0, min(100.0, pct)) / 100 * (HEIGHT - 2 * PAD)
        return round(x, 1), round(y, 1)

    def line(pairs: Sequence[tuple[float, float]]) -> str:
        return " ".join("%.1f,%.1f" % xy(t, p) for t, p in pairs)

    dots = tuple(Dot(*xy(t, pct), day, pct) for t, pct, day in history)
    forecast = band = ""
    empty_on = None
    if start is not None and ends:
        forecast = line([start, (ends[0], 0.0)])
        empty_on = _day(ends[0])
        if len(ends) == 3:
            band = line([start, (ends[1], 0.0), (ends[2], 0.0)])
    label = str((latest or {}).get("color") or (latest or {}).get("type") or f"supply {index}")
    return SupplyChart(
        index, label,
        _stroke((latest or {}).get("color"), (latest or {}).get("supply_class")), dots,
        line([(t, p) for t, p, _ in history]) if len(history) > 1 else "",
        forecast, band, _day(t0), _day(t1), empty_on)


def supply_charts(points: Sequence[HistoryPoint],
                  latest: Sequence[Mapping[str, Any]]) -> list[SupplyChart]:
    """A chart per supply that has a history or a forecast, by supply index."""
    by_supply: dict[int, list[HistoryPoint]] = {}
    for p in points:
        by_supply.setdefault(p.supply_index, []).append(p)
    newest = {int(r["supply_index"]): r for r in latest}
    charts = [_chart(i, by_supply.get(i, []), newest.get(i))
              for i in sorted(set(by_supply) | set(newest))]
    return [c for c in charts if c is not None]
