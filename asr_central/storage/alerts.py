"""Central alerts, one row per alert key: conditions refreshed and resolved run by run, events
kept until acknowledged, so the same alert is never raised (or notified) twice."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from asr_central.domain.alerts import CONDITION_KINDS, Alert
from asr_central.storage import times
from asr_central.storage.base import Connection

__all__ = ["acknowledge", "list_alerts", "sync_alerts", "unnotified", "mark_notified"]


def _iso(when: datetime | date) -> str:
    if isinstance(when, datetime):
        return times.stamp(when)
    return when.isoformat()  # a day, not a moment


def sync_alerts(conn: Connection, conditions: Iterable[Alert], events: Iterable[Alert],
                now: datetime) -> list[str]:
    """Store this run's alerts; conditions absent from `conditions` are resolved.
    Returns the keys raised for the first time (or again after being resolved)."""
    stamp = _iso(now)
    new: list[str] = []
    current: set[str] = set()
    for alert in conditions:
        current.add(alert.key)
        row = conn.execute("SELECT resolved_at FROM central_alerts WHERE alert_key = ?",
                           (alert.key,)).fetchone()
        if row is None:
            if _insert(conn, alert, stamp):
                new.append(alert.key)
        elif row[0] is not None:
            # the condition came back: a new occurrence, notified again
            conn.execute("UPDATE central_alerts SET severity = ?, message = ?, first_seen = ?, "
                         "last_seen = ?, resolved_at = NULL, acknowledged_at = NULL, "
                         "notified_at = NULL WHERE alert_key = ?",
                         (alert.severity.value, alert.message, stamp, stamp, alert.key))
            new.append(alert.key)
        else:
            conn.execute("UPDATE central_alerts SET severity = ?, message = ?, last_seen = ? "
                         "WHERE alert_key = ?",
                         (alert.severity.value, alert.message, stamp, alert.key))
    open_conditions = conn.execute(
        "SELECT alert_key, kind FROM central_alerts WHERE resolved_at IS NULL").fetchall()
    condition_kinds = {k.value for k in CONDITION_KINDS}
    for key, kind in open_conditions:
        if kind in condition_kinds and key not in current:
            conn.execute("UPDATE central_alerts SET resolved_at = ? WHERE alert_key = ?",
                         (stamp, key))
    for alert in events:
        if conn.execute("SELECT 1 FROM central_alerts WHERE alert_key = ?",
                        (alert.key,)).fetchone() is None and _insert(conn, alert, stamp):
            new.append(alert.key)
    return new


def _insert(conn: Connection, alert: Alert, stamp: str) -> bool:
    """Store a new alert; False if a policy run beside this one stored it first (two
    workers: theirs is the same alert, and it is theirs to report as new)."""
    return conn.execute(
        "INSERT INTO central_alerts (alert_key, kind, severity, device_serial, supply_key, "
        "message, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (alert_key) DO NOTHING RETURNING alert_key",
        (alert.key, alert.kind.value, alert.severity.value, alert.device_serial,
         alert.supply_key, alert.message, _iso(alert.first_seen), stamp)).fetchone() is not None


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
