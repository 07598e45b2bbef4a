"""The simulator's shared bookkeeping records: order lines, parcels and what is on order per
supply. Kept apart so the loop and the pipeline both use them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Line:
    serial: str
    supply_id: str
    quantity: int


@dataclass(slots=True)
class Parcel:
    site_id: str
    created_day: int
    arrive_day: int
    lines: list[Line]


@dataclass(slots=True)
class SupplyLink:
    """The simulator's bookkeeping for one device supply: what is on order and on hand.

    Central derives the same from its orders' states and the replacements agents report
    (asr_central.storage.orders.stock, record_installation); these counters give its numbers
    day by day (tests/test_simulate_central_year.py) because every simulated install uses a
    unit the simulator delivered and the agent reports each install once, so reported
    installs never exceed deliveries. A replacement central cannot match to a shipped or
    delivered line (a cartridge from elsewhere) would count here and not there.
    """

    on_order: int = 0
    last_pct: float | None = None  # last reported remaining percent (threshold policy)
    delivered: int = 0  # units delivered so far
    installs_reported: int = 0  # replacements central has heard of from the agent

    @property
    def on_hand_known(self) -> int:
        """Units on hand as central knows them: delivered, not yet reported installed.

        Not the printer room's true count: a unit swapped in after the day's last reading
        is still on hand for central until the agent reports the new cartridge.
        """
        return max(0, self.delivered - self.installs_reported)


__all__ = ["Line", "Parcel", "SupplyLink"]
