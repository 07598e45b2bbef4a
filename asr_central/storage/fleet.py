"""What the console shows about printers: the registry's word (site, contact, model, where
it stands) beside the printer's own (reported model, address, state, last seen), their
latest supplies and open alerts, a page at a time; and the alerts a person may see.

A printer is any serial the registry names or that has reported. Its site is the
registry's, else the one it reports from; its contact the registry's, else its site's."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from asr_central.storage.base import Connection

__all__ = ["PrinterInfo", "FleetFilter", "FleetRow", "SupplyRow", "AlertRow", "SiteRow",
           "printer_info", "printer_page", "sites", "contacts_of", "alert_page", "get_alert",
           "STATES", "AgentActivity", "agent_activity", "CartridgeChange", "cartridge_changes"]

# What the state filter may ask for: a reported state, or one of the console's own badges.
STATES = ("ok", "asleep", "unreachable", "silent", "alert", "unreported")


@dataclass(frozen=True, slots=True)
class PrinterInfo:
    serial: str
    site_id: str | None
    model: str | None
    location: str | None  # the registry's note: where the printer stands
    address: str | None
    state: str | None  # ok | asleep | unreachable; None: never reported
    last_seen: str | None


def _marks(values: Collection[str]) -> str:
    return ",".join("?" * len(values))


def printer_info(conn: Connection, serials: Collection[str]) -> dict[str, PrinterInfo]:
    """Serial → what is known of it; serials neither registered nor reporting are absent."""
    wanted = sorted(set(serials))
    if not wanted:
        return {}
    registered = {r[0]: r for r in conn.execute(
        f"SELECT serial, site_id, model, note FROM registry_devices "
        f"WHERE serial IN ({_marks(wanted)})", wanted)}
    reported = {r[0]: r for r in conn.execute(
        f"SELECT serial, site_id, model, address, state, last_seen FROM device_status "
        f"WHERE serial IN ({_marks(wanted)})", wanted)}
    out = {}
    for serial in wanted:
        reg, rep = registered.get(serial), reported.get(serial)
        if reg is None and rep is None:
            continue
        out[serial] = PrinterInfo(
            serial, (reg[1] if reg is not None else None) or (rep[1] if rep else None),
            (reg[2] if reg is not None else None) or (rep[2] if rep else None),
            reg[3] if reg is not None else None, rep[3] if rep else None,
            rep[4] if rep else None, rep[5] if rep else None)
    return out


@dataclass(frozen=True, slots=True)
class FleetFilter:
    """Which printers a page lists; `site_ids` None: every site (else a customer's)."""

    site_ids: frozenset[str] | None = None
    site_id: str | None = None
    contact_id: str | None = None
    state: str | None = None  # one of STATES
    serial_contains: str | None = None
    serial: str | None = None  # exactly this one
    silent_before: str | None = None  # a moment (times.stamp): older last_seen is silent


@dataclass(frozen=True, slots=True)
class SupplyRow:
    supply_index: int
    type: str
    color: str | None
    level: int | None
    level_state: str
    remaining_percent: float | None
    days_to_empty: float | None
    part_number: str | None


@dataclass(frozen=True, slots=True)
class FleetRow:
    serial: str
    site_id: str | None
    contact_id: str | None
    model: str | None
    location: str | None
    address: str | None
    state: str | None
    last_seen: str | None
    open_alerts: int
    supplies: tuple[SupplyRow, ...]


@dataclass(frozen=True, slots=True)
class SiteRow:
    site_id: str
    name: str
    contact_id: str | None
    printers: int


@dataclass(frozen=True, slots=True)
class AlertRow:
    alert_key: str
    kind: str
    severity: str
    device_serial: str
    site_id: str | None
    message: str
    first_seen: str
    last_seen: str
    acknowledged_at: str | None


# Every printer once, with its site and contact as the module docstring says.
_PRINTERS = (
    "WITH serials AS (SELECT serial FROM registry_devices UNION SELECT serial FROM device_status), "
    "printers AS (SELECT p.serial AS serial, coalesce(r.site_id, d.site_id) AS site_id, "
    "r.contact_id AS own_contact, coalesce(r.model, d.model) AS model, r.note AS location, "
    "d.address AS address, d.state AS state, d.last_seen AS last_seen "
    "FROM serials p LEFT JOIN registry_devices r ON r.serial = p.serial "
    "LEFT JOIN device_status d ON d.serial = p.serial) "
    "SELECT {columns} FROM printers p LEFT JOIN sites s ON s.site_id = p.site_id"
)
_COLUMNS = ("p.serial, p.site_id, coalesce(p.own_contact, s.default_contact_id), p.model, "
            "p.location, p.address, p.state, p.last_seen")
# The open alerts are few and indexed by state (central_alerts_open): one set, not a probe
# per printer (central_alerts has no index by device).
_OPEN_ALERT = ("p.serial IN (SELECT a.device_serial FROM central_alerts a "
               "WHERE a.resolved_at IS NULL AND a.acknowledged_at IS NULL)")


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _where(f: FleetFilter) -> tuple[str, list[object]]:
    where: list[str] = []
    args: list[object] = []
    if f.site_ids is not None:
        if not f.site_ids:
            where.append("1 = 0")
        else:
            where.append(f"p.site_id IN ({_marks(f.site_ids)})")
            args += sorted(f.site_ids)
    if f.site_id is not None:
        where.append("p.site_id = ?")
        args.append(f.site_id)
    if f.contact_id is not None:
        where.append("coalesce(p.own_contact, s.default_contact_id) = ?")
        args.append(f.contact_id)
    if f.serial is not None:
        where.append("p.serial = ?")
        args.append(f.serial)
    if f.serial_contains:
        where.append("lower(p.serial) LIKE ? ESCAPE '\\'")
        args.append(_like(f.serial_contains))
    if f.state in ("ok", "asleep", "unreachable"):
        where.append("p.state = ?")
        args.append(f.state)
    elif f.state == "unreported":
        where.append("p.last_seen IS NULL")
    elif f.state == "silent" and f.silent_before is not None:
        where.append("p.last_seen < ?")
        args.append(f.silent_before)
    elif f.state == "alert":
        where.append(_OPEN_ALERT)
    return ((" WHERE " + " AND ".join(where)) if where else ""), args


def printer_page(conn: Connection, f: FleetFilter, *, offset: int = 0,
                 limit: int = 50) -> tuple[list[FleetRow], int]:
    """One page of printers by serial, and how many match."""
    where, args = _where(f)
    total = int(conn.execute(_PRINTERS.format(columns="COUNT(*)") + where,
                             args).fetchone()[0])
    rows = conn.execute(_PRINTERS.format(columns=_COLUMNS) + where
                        + " ORDER BY p.serial LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
    serials = [r[0] for r in rows]
    supplies: dict[str, list[SupplyRow]] = {}
    alerts: dict[str, int] = {}
    if serials:
        for r in conn.execute(
                f"SELECT device_serial, supply_index, type, color, level, level_state, "
                f"remaining_percent, days_to_empty, part_number FROM supply_latest "
                f"WHERE device_serial IN ({_marks(serials)}) "
                f"ORDER BY device_serial, supply_index", serials):
            supplies.setdefault(r[0], []).append(SupplyRow(*r[1:]))
        for r in conn.execute(
                f"SELECT device_serial, COUNT(*) FROM central_alerts "
                f"WHERE device_serial IN ({_marks(serials)}) AND resolved_at IS NULL "
                f"AND acknowledged_at IS NULL GROUP BY device_serial", serials):
            alerts[r[0]] = int(r[1])
    return [FleetRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], alerts.get(r[0], 0),
                     tuple(supplies.get(r[0], ()))) for r in rows], total


def sites(conn: Connection, site_ids: frozenset[str] | None) -> list[SiteRow]:
    """The registry's sites (those among `site_ids`, unless None) with their printer counts."""
    counts = {r[0]: int(r[1]) for r in conn.execute(
        _PRINTERS.format(columns="p.site_id, COUNT(*)") + " GROUP BY p.site_id")}
    out = [SiteRow(r[0], r[1], r[2], counts.get(r[0], 0)) for r in conn.execute(
        "SELECT site_id, name, default_contact_id FROM sites ORDER BY site_id")]
    return [s for s in out if site_ids is None or s.site_id in site_ids]


def contacts_of(conn: Connection, site_ids: frozenset[str] | None) -> list[tuple[str, str]]:
    """(contact id, name) of the contacts a filter may name: all, or those of `site_ids`."""
    rows = conn.execute("SELECT contact_id, name FROM contacts ORDER BY name, contact_id")
    if site_ids is None:
        return [(r[0], r[1]) for r in rows]
    where, args = _where(FleetFilter(site_ids=site_ids))
    mine = {r[0] for r in conn.execute(
        _PRINTERS.format(columns="coalesce(p.own_contact, s.default_contact_id)") + where, args)}
    return [(r[0], r[1]) for r in rows if r[0] in mine]


_ALERTS = (
    "SELECT a.alert_key, a.kind, a.severity, a.device_serial, "
    "coalesce(r.site_id, d.site_id), a.message, a.first_seen, a.last_seen, a.acknowledged_at "
    "FROM central_alerts a LEFT JOIN registry_devices r ON r.serial = a.device_serial "
    "LEFT JOIN device_status d ON d.serial = a.device_serial"
)


def alert_page(conn: Connection, *, site_ids: frozenset[str] | None,
               include_acknowledged: bool = False, device_serial: str | None = None,
               offset: int = 0, limit: int = 50) -> tuple[list[AlertRow], int]:
    """Open alerts (and acknowledged ones if asked), newest first, of printers at `site_ids`
    (None: all)."""
    where = ["a.resolved_at IS NULL"]
    args: list[object] = []
    if not include_acknowledged:
        where.append("a.acknowledged_at IS NULL")
    if device_serial is not None:
        where.append("a.device_serial = ?")
        args.append(device_serial)
    if site_ids is not None:
        if not site_ids:
            return [], 0
        where.append(f"coalesce(r.site_id, d.site_id) IN ({_marks(site_ids)})")
        args += sorted(site_ids)
    clause = " WHERE " + " AND ".join(where)
    total = int(conn.execute(
        "SELECT COUNT(*) FROM central_alerts a LEFT JOIN registry_devices r ON r.serial = "
        "a.device_serial LEFT JOIN device_status d ON d.serial = a.device_serial" + clause,
        args).fetchone()[0])
    rows = conn.execute(_ALERTS + clause + " ORDER BY a.last_seen DESC, a.alert_key "
                        "LIMIT ? OFFSET ?", (*args, limit, offset)).fetchall()
    return [AlertRow(*r) for r in rows], total


def get_alert(conn: Connection, alert_key: str) -> AlertRow | None:
    row = conn.execute(_ALERTS + " WHERE a.alert_key = ?", (alert_key,)).fetchone()
    return None if row is None else AlertRow(*row)


@dataclass(frozen=True, slots=True)
class AgentActivity:
    """What an agent's printers say of it: how many report through it, and when central
    last received a summary of theirs."""

    printers: int
    last_received: str | None
    last_period_end: str | None


def agent_activity(conn: Connection) -> dict[str, AgentActivity]:
    return {r[0]: AgentActivity(int(r[1]), r[2], r[3]) for r in conn.execute(
        "SELECT d.agent_id, COUNT(*), MAX(s.received_at), MAX(d.last_seen) "
        "FROM device_status d LEFT JOIN summaries s ON s.id = d.last_summary_id "
        "GROUP BY d.agent_id")}


@dataclass(frozen=True, slots=True)
class CartridgeChange:
    """A replacement the printer reported: when, which supply, whether the cartridge taken
    out still had toner (premature, with the grams wasted), and which printer the cartridge
    put in was shipped for, when it is one we shipped."""

    replaced_at: str
    supply_index: int
    premature: bool
    grams_wasted: float | None
    removed_percent: float | None
    cartridge_serial: str | None
    previous_serial: str | None
    part_number: str | None
    shipped_for: str | None


def cartridge_changes(conn: Connection, serial: str,
                      limit: int = 200) -> list[CartridgeChange]:
    """The printer's replacements, newest first."""
    return [CartridgeChange(r[0], r[1], bool(r[2]), r[3], r[4], r[5], r[6], r[7], r[8])
            for r in conn.execute(
                "SELECT e.replaced_at, e.supply_index, e.premature, e.grams_wasted, "
                "e.removed_percent, e.cartridge_serial, e.previous_serial, e.part_number, "
                "l.device_serial FROM cartridge_events e "
                "LEFT JOIN shipped_cartridges c ON c.cartridge_serial = e.cartridge_serial "
                "LEFT JOIN order_lines l ON l.line_id = c.line_id "
                "WHERE e.device_serial = ? ORDER BY e.replaced_at DESC, e.supply_index "
                "LIMIT ?", (serial, limit))]
