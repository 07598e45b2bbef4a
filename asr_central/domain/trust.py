"""Who may say what about which device, and when: the rules central applies to every summary
before storing it. Pure: the facts (the device's home, the clock) are passed in.

The full model is in docs/security.md ("Who may say what", "Time").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asr_core.wire import format_time

__all__ = ["DEFAULT_MAX_CLOCK_SKEW", "Home", "TimeBounds", "site_refusal",
           "time_refusal"]

# How far ahead of central's clock an agent's clock may run: NTP keeps real machines within
# seconds; minutes leave room for a badly kept one without letting a wrong clock decide
# which report is the newest.
DEFAULT_MAX_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The times a summary may speak of, around central's clock (the years any summary may
    speak of, whatever the clock, are the wire's: `wire_ranges.YEARS`)."""

    max_skew: timedelta = DEFAULT_MAX_CLOCK_SKEW


@dataclass(frozen=True, slots=True)
class Home:
    """The site a device belongs to, and why: the registry says so, or (no registry entry)
    its first accepted summary came from that site's agent."""

    site_id: str
    registered: bool


def time_refusal(period_end: datetime, events: Iterable[datetime], now: datetime,
                 bounds: TimeBounds) -> str | None:
    """Why a summary's times cannot be true (its reason, "future: …"), or None.

    A summary from the future is refused rather than stored: ingest keeps the newest report
    of each device, so one dated 2099 would hide every real one after it."""
    latest = max([period_end, *events])
    ahead = latest - now
    if ahead > bounds.max_skew:
        return (f"future: the summary speaks of {format_time(latest)}, "
                f"{ahead.total_seconds():.0f} s after central's clock ({format_time(now)}; "
                f"allowed skew {bounds.max_skew.total_seconds():.0f} s): check the agent "
                "machine's clock; the summary will not be accepted")
    return None


def site_refusal(serial: str, home: Home | None, site_id: str) -> str | None:
    """Why an agent of `site_id` may not report `serial` (its reason, "other_site: …"), or
    None when the device is that site's or nobody's yet."""
    if home is None or home.site_id == site_id:
        return None
    why = "the registry puts it there" if home.registered else (
        "that site reported it first; the registry does not list it")
    return (f"other_site: device of another site: {serial} belongs to site {home.site_id!r} "
            f"({why}), not to this agent's site {site_id!r}; if the printer really moved, an "
            f"admin confirms it (POST /v1/admin/devices/{serial}/move or the registry)")
