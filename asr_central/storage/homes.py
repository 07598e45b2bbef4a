"""Which site each device belongs to (the registry's word, else the site that reported it
first), a report from another site held as a `device_moved` alert, and a confirmed move.

Functions take an open connection; writes belong in the caller's transaction.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from asr_central.storage.times import stamp
from asr_central.domain.alerts import AlertKind, Severity
from asr_central.domain.trust import Home
from asr_central.storage.base import Connection

__all__ = ["Moved", "MoveRefused", "homes", "hold", "rehome", "move", "unconfirmed_moves"]

_MOST = 500  # serials per lookup: below SQLite's least limit on parameters (999)


def homes(conn: Connection, serials: Collection[str]) -> tuple[dict[str, Home],
                                                                        dict[str, str]]:
    """(home of each serial that has one, the site its reported state is stored under)."""
    out: dict[str, Home] = {}
    stored: dict[str, str] = {}
    registered: dict[str, str] = {}
    wanted = list(serials)
    for start in range(0, len(wanted), _MOST):
        part = wanted[start:start + _MOST]
        # one statement for both tables: ingest asks this for every batch
        for serial, site, in_registry in conn.execute(_homes_sql(len(part)), part + part):
            (registered if in_registry else stored)[serial] = site
    for serial, site in stored.items():
        out[serial] = Home(site, False)
    for serial, site in registered.items():
        out[serial] = Home(site, True)  # the registry is the admin's word: it wins
    return out, stored


@functools.cache
def _homes_sql(count: int) -> str:
    marks = ",".join("?" * count)
    return (f"SELECT serial, site_id, 0 FROM device_status WHERE serial IN ({marks}) "
            f"UNION ALL SELECT serial, site_id, 1 FROM registry_devices WHERE serial IN ({marks}) "
            "AND site_id IS NOT NULL")


def _key(serial: str, site_id: str) -> str:
    # as asr_central.domain.alerts.Alert.key words it: kind|serial|supply|detail
    return f"{AlertKind.DEVICE_MOVED.value}|{serial}||{site_id}"


def hold(conn: Connection, serial: str, home: Home, site_id: str, agent_id: str,
         now: datetime) -> None:
    """Raise (or refresh) the alert that the agent of `site_id` reports a device of another
    site: a printer that moved, or an agent that must not speak for it."""
    at = stamp(now)
    message = (f"printer {serial} of site {home.site_id!r} is reported by agent {agent_id} of "
               f"site {site_id!r}; its reports are refused until an admin confirms the move "
               f"(POST /v1/admin/devices/{serial}/move {{\"site_id\": \"{site_id}\"}} or the "
               "registry), or finds why that agent sees it")
    # A new occurrence after a resolved one is raised (and notified) afresh; an open one
    # only records that it is still seen.
    conn.execute(
        "INSERT INTO central_alerts (alert_key, kind, severity, device_serial, supply_key, "
        "message, first_seen, last_seen) VALUES (?, ?, ?, ?, NULL, ?, ?, ?) "
        "ON CONFLICT (alert_key) DO UPDATE SET last_seen = excluded.last_seen, "
        "message = excluded.message, "
        "first_seen = CASE WHEN central_alerts.resolved_at IS NULL "
        "THEN central_alerts.first_seen ELSE excluded.first_seen END, "
        "acknowledged_at = CASE WHEN central_alerts.resolved_at IS NULL "
        "THEN central_alerts.acknowledged_at END, "
        "notified_at = CASE WHEN central_alerts.resolved_at IS NULL "
        "THEN central_alerts.notified_at END, "
        "resolved_at = NULL",
        (_key(serial, site_id), AlertKind.DEVICE_MOVED.value, Severity.WARNING.value, serial,
         message, at, at))


def _resolve_held(conn: Connection, serial: str, site_id: str | None,
                  now: datetime) -> None:
    """The move to `site_id` (None: to any site) is settled."""
    sql = ("UPDATE central_alerts SET resolved_at = ? WHERE kind = ? AND device_serial = ? "
           "AND resolved_at IS NULL")
    args: tuple[str, ...] = (stamp(now), AlertKind.DEVICE_MOVED.value, serial)
    if site_id is not None:
        sql += " AND alert_key = ?"
        args += (_key(serial, site_id),)
    conn.execute(sql, args)


def rehome(conn: Connection, serial: str, site_id: str, now: datetime) -> None:
    """The registry moved a device that reported from another site: its stored state is
    now that of `site_id` (whose agent reports it next) and the move is settled."""
    conn.execute("UPDATE device_status SET site_id = ? WHERE serial = ?", (site_id, serial))
    _resolve_held(conn, serial, site_id, now)


@dataclass(frozen=True, slots=True)
class Moved:
    serial: str
    site_id: str
    previous_site_id: str | None


class MoveRefused(Exception):
    """Why a move cannot be made; `code` is the HTTP status to answer."""

    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(message)


def move(conn: Connection, serial: str, site_id: str, now: datetime) -> Moved:
    """An admin confirms that `serial` now belongs to `site_id`: the registry entry (if any)
    and the stored state move there, its contact becomes the new site's default, and the
    held reports' alerts are resolved. From then on that site's agent is accepted for it
    and every other site's agent refused."""
    found, stored = homes(conn, [serial])
    home = found.get(serial)
    if home is None:
        raise MoveRefused(f"device {serial} is neither in the registry nor reported by any "
                          "agent: nothing to move (add it to the registry instead)", 404)
    known = conn.execute("SELECT 1 FROM sites WHERE site_id = ? UNION ALL "
                         "SELECT 1 FROM agents WHERE site_id = ? LIMIT 1",
                         (site_id, site_id)).fetchone()
    if known is None:
        raise MoveRefused(f"site {site_id!r} is unknown: no registry entry and no agent; "
                          "check the spelling or add the site first", 422)
    if home.registered:
        if conn.execute("SELECT 1 FROM sites WHERE site_id = ?", (site_id,)).fetchone() is None:
            raise MoveRefused(f"device {serial} is in the registry but site {site_id!r} is "
                              "not: add the site to the registry first", 422)
        conn.execute("UPDATE registry_devices SET site_id = ?, contact_id = NULL, "
                     "updated_at = ? WHERE serial = ?", (site_id, stamp(now), serial))
    if serial in stored:
        conn.execute("UPDATE device_status SET site_id = ? WHERE serial = ?", (site_id, serial))
    _resolve_held(conn, serial, None, now)
    return Moved(serial, site_id, home.site_id)


def unconfirmed_moves(conn: Connection) -> set[str]:
    """Serials whose stored state was reported from another site than the registry's: the
    registry moved them and their new site's agent has not reported yet (or that state
    predates the site checks). Nothing is ordered for them from those numbers."""
    return {r[0] for r in conn.execute(
        "SELECT d.serial FROM device_status d JOIN registry_devices r ON r.serial = d.serial "
        "WHERE r.site_id IS NOT NULL AND r.site_id != d.site_id")}
