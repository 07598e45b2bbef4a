"""Whether a known printer is ok, asleep or unreachable, and whether it moved address.

Pure: poll outcomes and times in, new state and transitions out; the daemon logs the
transitions and raises or clears the silent-device alarm they carry.

    ok ──miss──► asleep ──N misses in a row, or H hours silent──► unreachable
     ▲              │                                                 │
     └──answer──────┴─────────────────────answer──────────────────────┘

A printer in energy saving often answers only after the poller's retries have woken it:
that is an answer (outcome WOKE), never a miss, so it raises nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any


class DeviceState(enum.Enum):
    OK = "ok"
    ASLEEP = "asleep"
    UNREACHABLE = "unreachable"


class PollOutcome(enum.Enum):
    ANSWERED = "answered"   # answered the first request
    WOKE = "woke"           # answered, but only within its wake-up retries
    MISSED = "missed"       # no answer after every retry


@dataclass(frozen=True, slots=True)
class StatePolicy:
    """Defaults match the config's device_state section.

    Unreachable when either limit is reached (misses or hours of silence); with
    `both_required`, only when both are, which spares printers switched off for a weekend
    when polls are frequent.
    """

    asleep_after_misses: int = 1
    unreachable_after_misses: int = 4
    unreachable_after: timedelta = timedelta(hours=24)
    both_required: bool = False

    @classmethod
    def from_config(cls, section: Any, *, both_required: bool = False) -> StatePolicy:
        """From the config's `device_state` section."""
        return cls(section.asleep_after_misses, section.unreachable_after_misses,
                   timedelta(hours=section.unreachable_after_h), both_required)

    def __post_init__(self) -> None:
        if self.asleep_after_misses < 1:
            raise ValueError("asleep_after_misses must be at least 1")
        if self.unreachable_after_misses < self.asleep_after_misses:
            raise ValueError("unreachable_after_misses must be at least asleep_after_misses")
        if self.unreachable_after <= timedelta(0):
            raise ValueError("unreachable_after must be a positive duration")


@dataclass(frozen=True, slots=True)
class Health:
    """What the state machine remembers about one device between polls."""

    state: DeviceState = DeviceState.OK
    consecutive_misses: int = 0
    last_answer: datetime | None = None
    silent_since: datetime | None = None   # the first miss of the current silence


@dataclass(frozen=True, slots=True)
class Transition:
    old: DeviceState
    new: DeviceState
    at: datetime
    reason: str
    raise_alarm: bool = False   # the device just became unreachable: tell someone
    clear_alarm: bool = False   # it answers again after an alarm was raised


def observe(health: Health, outcome: PollOutcome, at: datetime,
            policy: StatePolicy = StatePolicy()) -> tuple[Health, Transition | None]:
    """Fold one poll outcome into a device's health; a Transition when the state changed."""
    if outcome is not PollOutcome.MISSED:
        new = Health(DeviceState.OK, 0, at, None)
        if health.state is DeviceState.OK:
            return new, None
        how = "after its wake-up retries" if outcome is PollOutcome.WOKE else "again"
        return new, Transition(health.state, DeviceState.OK, at, f"answers {how}",
                               clear_alarm=health.state is DeviceState.UNREACHABLE)
    misses = health.consecutive_misses + 1
    since = health.silent_since or at
    silent_for = at - since
    # Hours count from the last answer when known: a device silent since before the
    # first miss we saw has been silent at least that long.
    if health.last_answer is not None:
        silent_for = max(silent_for, at - health.last_answer)
    new_health = replace(health, consecutive_misses=misses, silent_since=since)
    if health.state is DeviceState.UNREACHABLE:
        return new_health, None
    by_misses = misses >= policy.unreachable_after_misses
    by_hours = silent_for >= policy.unreachable_after
    if (by_misses and by_hours) if policy.both_required else (by_misses or by_hours):
        why = " and ".join(
            ([f"{misses} polls missed in a row"] if by_misses else [])
            + ([f"silent for {_hours(silent_for)}"] if by_hours else []))
        return (replace(new_health, state=DeviceState.UNREACHABLE),
                Transition(health.state, DeviceState.UNREACHABLE, at, why, raise_alarm=True))
    if health.state is DeviceState.OK and misses >= policy.asleep_after_misses:
        return (replace(new_health, state=DeviceState.ASLEEP),
                Transition(DeviceState.OK, DeviceState.ASLEEP, at,
                           f"{misses} poll{'s' if misses > 1 else ''} missed"))
    return new_health, None


def _hours(span: timedelta) -> str:
    return f"{span.total_seconds() / 3600:.1f} h"


# ---- address changes ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class DeviceAddress:
    identity: str
    host: str
    port: int = 161


class AddressChange(enum.Enum):
    UNCHANGED = "unchanged"   # known identity, same address
    MOVED = "moved"           # known identity, new address (DHCP): record, keep the device
    NEW = "new"               # identity never seen: a new device


@dataclass(frozen=True, slots=True)
class AddressDecision:
    kind: AddressChange
    identity: str
    address: tuple[str, int]
    previous: tuple[str, int] | None = None   # where the known device was (MOVED)
    displaced: str | None = None              # a different known device that had this address


def merge_address_change(known: Iterable[DeviceAddress], seen: DeviceAddress) -> AddressDecision:
    """Decide whether `seen` is a known device at its known address, a move, or a new device.

    Identity (the serial) decides, never the address: a new serial at a known address is a
    new device (and the old one is `displaced`, to be found elsewhere or to fall asleep).
    """
    address = (seen.host, seen.port)
    previous: tuple[str, int] | None = None
    displaced: str | None = None
    for device in known:
        where = (device.host, device.port)
        if device.identity == seen.identity:
            previous = where
        elif where == address:
            displaced = device.identity
    if previous is None:
        return AddressDecision(AddressChange.NEW, seen.identity, address, None, displaced)
    if previous == address:
        return AddressDecision(AddressChange.UNCHANGED, seen.identity, address, previous)
    return AddressDecision(AddressChange.MOVED, seen.identity, address, previous, displaced)


__all__ = [
    "AddressChange", "AddressDecision", "DeviceAddress", "DeviceState", "Health", "PollOutcome",
    "StatePolicy", "Transition", "merge_address_change", "observe",
]
