"""Alerts for the customer and the dealer: silent devices, usage spikes, premature and
unexpected replacements, missing registry data. Pure: facts in, alerts out.

Two sorts of alert. A *condition* (device silent, usage spike, registry data missing,
order held) holds while its facts hold: the store keeps one row per key, refreshes it each
run and resolves it when a run no longer raises it. An *event* (premature replacement,
cartridge not shipped to that device, replacement without a delivery, a device reported by
another site's agent) happened once: it is raised when the event is first processed and
stays until someone acknowledges it (a moved device's, until the move is confirmed).
Every alert has a stable `key` so the same alert is never raised twice.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from asr_core.codes import Code
from asr_central.domain.policy import (
    HeldLine, HoldReason, PolicySettings, SilentState, silent_days, silent_state,
)

__all__ = [
    "CONDITION_KINDS", "Alert", "AlertKind", "DeviceFacts", "ReplacementFacts", "Severity", "SupplyFacts",
    "evaluate", "held_line_alerts", "is_condition", "replacement_alerts",
]


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


# An alert's kind is one of the codes the agent shares (one spelling for both programs).
# DEVICE_MOVED is raised by ingest, not by a run: another site's agent reports the device.
AlertKind = Code

CONDITION_KINDS = frozenset({Code.DEVICE_SILENT, Code.USAGE_SPIKE, Code.REGISTRY_MISSING,
                             Code.ORDER_HELD})


def is_condition(kind: Code) -> bool:
    """A condition holds while its facts hold (resolved by a run); anything else is an event."""
    return kind in CONDITION_KINDS


@dataclass(frozen=True, slots=True)
class Alert:
    kind: Code
    severity: Severity
    device_serial: str
    supply_key: str | None
    message: str
    first_seen: datetime | date
    detail: str = ""  # what makes an event alert distinct (e.g. the replacement instant)

    @property
    def key(self) -> str:
        return f"{self.kind.value}|{self.device_serial}|{self.supply_key or ''}|{self.detail}"


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    device_serial: str
    site_id: str | None
    contact_id: str | None
    last_report_at: datetime | date | None
    registered: bool = True  # the serial is in the registry at all


@dataclass(frozen=True, slots=True)
class SupplyFacts:
    device_serial: str
    supply_key: str
    spike: bool = False  # the agent's own spike flag
    spike_ratio: float | None = None  # recent daily use over the usual daily use


@dataclass(frozen=True, slots=True)
class ReplacementFacts:
    """A cartridge change an agent reported, joined with what was shipped.

    `shipped_to` is the device the installed cartridge's serial was shipped for (None when
    the serial is unknown or was never shipped by us); `delivery_matched` says whether an
    order line for this device and supply was awaiting installation.
    """

    device_serial: str
    supply_key: str
    occurred_at: datetime
    cartridge_serial: str | None
    premature: bool
    grams_wasted: float | None
    percent_at_replacement: float | None
    shipped_to: str | None
    delivery_matched: bool


SPIKE_RATIO = 2.0  # use at least this many times the usual counts as a spike


def evaluate(devices: Iterable[DeviceFacts], supplies: Iterable[SupplyFacts],
             settings: PolicySettings, today: date | datetime,
             spike_ratio: float = SPIKE_RATIO) -> list[Alert]:
    """Condition alerts that hold today, in a stable order."""
    alerts: list[Alert] = []
    for d in devices:
        days = silent_days(d.last_report_at, today)
        state = silent_state(days, settings)
        if state is not SilentState.OK:
            assert days is not None
            severe = state is SilentState.ERROR
            alerts.append(Alert(
                AlertKind.DEVICE_SILENT, Severity.ERROR if severe else Severity.WARNING,
                d.device_serial, None,
                f"printer {d.device_serial} has not reported for {days:.1f} days"
                + (": its supplies are no longer ordered; check that it is powered and that "
                   "its agent runs" if severe else
                   ": check that it is powered and that its agent runs"),
                today))
        missing = [name for name, value in (("site", d.site_id), ("contact", d.contact_id))
                   if not value]
        if not d.registered or missing:
            what = "is not in the registry" if not d.registered else (
                "has no " + " and no ".join(missing))
            alerts.append(Alert(
                AlertKind.REGISTRY_MISSING, Severity.WARNING, d.device_serial, None,
                f"printer {d.device_serial} {what}: nothing can be shipped to it; add it to "
                "the registry with its site and contact", today))
    for s in supplies:
        ratio = s.spike_ratio
        if s.spike or (ratio is not None and ratio >= spike_ratio):
            how = f" ({ratio:.1f}x the usual daily use)" if ratio is not None else ""
            alerts.append(Alert(
                AlertKind.USAGE_SPIKE, Severity.WARNING, s.device_serial, s.supply_key,
                f"printer {s.device_serial}: supply {s.supply_key} use spiked{how}; confirm the "
                "printing is expected (orders follow the higher rate)", today))
    alerts.sort(key=_alert_order)
    return alerts


def held_line_alerts(held: Iterable[HeldLine], today: date | datetime) -> list[Alert]:
    """One alert per held line: the supply is due but will not be ordered blindly."""
    alerts = []
    for h in held:
        why = ("its printer is silent" if h.reason is HoldReason.DEVICE_SILENT
               else "its printer has no site or contact")
        alerts.append(Alert(
            AlertKind.ORDER_HELD, Severity.ERROR, h.device_serial, h.supply_key,
            f"printer {h.device_serial}: supply {h.supply_key} is due ({h.quantity} unit(s), "
            f"{h.cover_days:.0f} days of cover) but held because {why}; fix that, or order "
            "it by hand", today))
    alerts.sort(key=_alert_order)
    return alerts


def replacement_alerts(events: Iterable[ReplacementFacts]) -> list[Alert]:
    """Event alerts for newly processed cartridge changes."""
    alerts = []
    for e in events:
        detail = e.occurred_at.isoformat()
        if e.premature:
            wasted = f", about {e.grams_wasted:.0f} g of toner wasted" if e.grams_wasted else ""
            left = (f" at {e.percent_at_replacement:.0f} %"
                    if e.percent_at_replacement is not None else "")
            alerts.append(Alert(
                AlertKind.PREMATURE_REPLACEMENT, Severity.WARNING, e.device_serial, e.supply_key,
                f"printer {e.device_serial}: supply {e.supply_key} replaced early{left}{wasted}; "
                "remind the site to replace supplies only when the printer says empty",
                e.occurred_at, detail))
        if e.shipped_to is not None and e.shipped_to != e.device_serial:
            alerts.append(Alert(
                AlertKind.CARTRIDGE_MISROUTED, Severity.WARNING, e.device_serial, e.supply_key,
                f"printer {e.device_serial}: installed cartridge {e.cartridge_serial} was "
                f"shipped for printer {e.shipped_to}; that printer will run short — ask the "
                "site to install each cartridge in the printer named on its label",
                e.occurred_at, detail))
        elif not e.delivery_matched and e.shipped_to is None:
            serial = f" {e.cartridge_serial}" if e.cartridge_serial else ""
            alerts.append(Alert(
                AlertKind.REPLACEMENT_WITHOUT_DELIVERY, Severity.WARNING, e.device_serial,
                e.supply_key,
                f"printer {e.device_serial}: supply {e.supply_key}: cartridge{serial} installed with "
                "no delivery awaiting installation; check where it came from",
                e.occurred_at, detail))
    alerts.sort(key=_alert_order)
    return alerts


def _alert_order(alert: Alert) -> tuple[str, str, str, str]:
    return (alert.device_serial, alert.supply_key or "", alert.kind.value, alert.detail)
