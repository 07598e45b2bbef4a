"""One point per supply per day, for the printer page's chart: written by ingest beside
supply_latest (storage/summaries.py, one multi-row upsert per batch), read per printer,
pruned by the retention job after HISTORY_DAYS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from asr_central.storage.base import Connection

__all__ = ["HISTORY_DAYS", "HistoryPoint", "HEAD", "TAIL", "WIDTH", "history", "prune"]

HISTORY_DAYS = 400

# The upsert ingest writes (see summaries._update_supplies): a day's newest reading wins,
# a late delivery of an earlier reading of that day changes nothing.
HEAD = ("INSERT INTO supply_history (device_serial, supply_index, day, level, "
        "remaining_percent, as_of)")
WIDTH = 6
TAIL = (" ON CONFLICT (device_serial, supply_index, day) DO UPDATE SET "
        "level = excluded.level, remaining_percent = excluded.remaining_percent, "
        "as_of = excluded.as_of WHERE excluded.as_of >= supply_history.as_of")


@dataclass(frozen=True, slots=True)
class HistoryPoint:
    supply_index: int
    day: str
    level: int | None
    remaining_percent: float | None


def history(conn: Connection, serial: str, since_day: str) -> list[HistoryPoint]:
    """The printer's points from `since_day` on, by supply then day."""
    return [HistoryPoint(int(r[0]), r[1], r[2], None if r[3] is None else float(r[3]))
            for r in conn.execute(
                "SELECT supply_index, day, level, remaining_percent FROM supply_history "
                "WHERE device_serial = ? AND day >= ? ORDER BY supply_index, day",
                (serial, since_day))]


def prune(conn: Connection, now: datetime, keep_days: int = HISTORY_DAYS) -> int:
    """Points older than `keep_days` deleted; how many."""
    before = (now - timedelta(days=keep_days)).date().isoformat()
    return conn.execute("DELETE FROM supply_history WHERE day < ?", (before,)).rowcount
