"""Central alerts, one row per alert key: conditions refreshed and resolved run by run, events
kept until acknowledged, so the same alert is never raised (or notified) twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from asr_central.domain.alerts import CONDITION_KINDS, Alert
from asr_central.storage import batches, times
from asr_central.storage.base import Connection

__all__ = ["acknowledge", "list_alerts", "sync_alerts", "unnotified", "mark_notified"]


def _iso(when: datetime | date) -> str:
    if isinstance(when, datetime):
        return times.stamp(when)
    return when.isoformat()  # a day, not a moment


def sync_alerts(conn: Connection, conditions: Iterable[Alert], events: Iterable[Alert],
                now: datetime) -> list[str]:
    """Store this run's alerts; conditions absent from `conditions` are resolved.
    Returns the keys raised for the first time (or again after being resolved), in the
    order given.

    A few statements for the whole run, whatever the fleet (storage/batches.py): a fleet of
    20,000 printers holds tens of thousands of open conditions, each refreshed every run."""
    stamp = _iso(now)
    current = {a.key: a for a in conditions}  # a key given twice: the last one counts
    happened = {a.key: a for a in events if a.key not in current}
    stored = {row[0]: row for row in batches.select_in(
        conn, "SELECT alert_key, resolved_at, severity, message FROM central_alerts "
        "WHERE alert_key", [*current, *happened])}
    fresh = [a for key, a in current.items() if key not in stored]
    fresh += [a for key, a in happened.items() if key not in stored]
    back = [a for key, a in current.items() if key in stored and stored[key][1] is not None]
    still = [a for key, a in current.items() if key in stored and stored[key][1] is None]
    for alert in back:
        # the condition came back: a new occurrence, notified again
        conn.execute("UPDATE central_alerts SET severity = ?, message = ?, first_seen = ?, "
                     "last_seen = ?, resolved_at = NULL, acknowledged_at = NULL, "
                     "notified_at = NULL WHERE alert_key = ?",
                     (alert.severity.value, alert.message, stamp, stamp, alert.key))
    for alert in still:
        if (alert.severity.value, alert.message) != (stored[alert.key][2], stored[alert.key][3]):
            conn.execute("UPDATE central_alerts SET severity = ?, message = ? "
                         "WHERE alert_key = ?", (alert.severity.value, alert.message, alert.key))
    batches.update_in(conn, "UPDATE central_alerts SET last_seen = ? WHERE alert_key",
                      [a.key for a in still], before=(stamp,))
    inserted = _insert(conn, fresh, stamp)
    condition_kinds = {k.value for k in CONDITION_KINDS}
    gone = [key for key, kind in conn.execute(
        "SELECT alert_key, kind FROM central_alerts WHERE resolved_at IS NULL").fetchall()
        if kind in condition_kinds and key not in current]
    batches.update_in(conn, "UPDATE central_alerts SET resolved_at = ? WHERE alert_key",
                      gone, before=(stamp,))
    raised = inserted | {a.key for a in back}
    return [key for key in [*current, *happened] if key in raised]


_INSERT_HEAD = ("INSERT INTO central_alerts (alert_key, kind, severity, device_serial, "
                "supply_key, message, first_seen, last_seen)")


def _insert(conn: Connection, alerts: list[Alert], stamp: str) -> set[str]:
    """Store new alerts; the keys stored. One that a policy run beside this one stored
    first is left out (two workers: theirs is the same alert, and it is theirs to report
    as new)."""
    params: list[Any] = []
    for a in alerts:
        params += (a.key, a.kind.value, a.severity.value, a.device_serial, a.supply_key,
                   a.message, _iso(a.first_seen), stamp)
    rows = batches.write_rows(conn, _INSERT_HEAD, 8,
                              " ON CONFLICT (alert_key) DO NOTHING RETURNING alert_key", params)
    return {row[0] for row in rows}


def list_alerts(conn: Connection, *, include_resolved: bool = False,
                kind: str | None = None, device_serial: str | None = None,
                severity: str | None = None) -> list[dict[str, Any]]:
    where, args = [], []
    if not include_resolved:
        where.append("resolved_at IS NULL")
    for column, value in (("kind", kind), ("device_serial", device_serial),
                          ("severity", severity)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    sql = "SELECT * FROM central_alerts"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY first_seen, alert_key"
    return [dict(r) for r in conn.execute(sql, args)]


def acknowledge(conn: Connection, key: str, now: datetime) -> bool:
    return conn.execute("UPDATE central_alerts SET acknowledged_at = ? WHERE alert_key = ? "
                        "AND acknowledged_at IS NULL", (_iso(now), key)).rowcount > 0


def unnotified(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        "SELECT * FROM central_alerts WHERE notified_at IS NULL AND resolved_at IS NULL "
        "AND acknowledged_at IS NULL ORDER BY first_seen, alert_key")]


def mark_notified(conn: Connection, keys: Iterable[str], now: datetime) -> None:
    conn.executemany("UPDATE central_alerts SET notified_at = ? WHERE alert_key = ?",
                     [(_iso(now), k) for k in keys])
