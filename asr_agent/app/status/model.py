"""What the status page shows, as plain records: one snapshot of the agent's view.

The page, `/api/status.json` and `/metrics` all render the same snapshot, so they can
never disagree; building it from the store is `asr_agent.app.status.snapshot`'s job.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from asr_agent.domain.levels import level_words


@dataclass(frozen=True, slots=True)
class SupplyView:
    index: int
    description: str
    type: str
    supply_class: str
    color: str | None
    remaining_percent: float | None
    level_state: str
    days_to_empty: float | None = None
    days_to_empty_low: float | None = None
    days_to_empty_high: float | None = None
    daily_grams: float | None = None
    forecast_status: str | None = None  # ok | warming_up
    forecast_reason: str | None = None
    part_number: str | None = None
    order_status: str | None = None  # as reported by central, when known
    flags: tuple[str, ...] = ()  # asr_core.codes.Code values: premature_replacement, usage_spike, …

    @property
    def level_text(self) -> str:
        """A level without a number in words ("some room left" for a waste bottle at -3)."""
        return level_words(self.level_state, self.supply_class)


@dataclass(frozen=True, slots=True)
class DeviceView:
    serial: str
    vendor: str | None
    model: str | None
    address: str | None
    state: str  # ok | asleep | unreachable
    asr_compatible: bool
    last_poll: str | None  # ISO 8601, UTC
    page_count: int | None = None
    supplies: tuple[SupplyView, ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ParkedView:
    """A summary central refused for good: kept on disk, never resent, shown with why."""

    seq: int
    kind: str
    reason: str | None
    refused_at: str | None
    device_serial: str | None = None  # read from the signed payload, when it can be


@dataclass(frozen=True, slots=True)
class UplinkView:
    central_url: str | None  # any password in it masked
    enrolled: bool
    last_success: str | None
    last_error: str | None
    last_error_at: str | None
    outbox_depth: int
    parked: int = 0
    parked_items: tuple[ParkedView, ...] = ()  # the newest few
    clock_skew_s: float | None = None  # this agent's clock minus central's, at the last delivery


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    next_run: str | None
    last_run: str | None = None
    last_outcome: str | None = None  # ok | error: …


@dataclass(frozen=True, slots=True)
class AgentView:
    version: str
    site_id: str | None
    config_path: str | None
    data_dir: str | None
    log_path: str | None
    started_at: str | None


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    generated_at: str
    agent: AgentView
    uplink: UplinkView
    devices: tuple[DeviceView, ...] = ()
    jobs: tuple[JobView, ...] = ()
    healthy: bool = True
    problems: tuple[str, ...] = ()
    # Worth an admin's look, yet the agent works: printers that never answered, parked
    # summaries, a clock off central's. /healthz lists them and stays 200 (`healthy` is
    # about the agent itself; a silent printer is the site's problem, not the agent's).
    warnings: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def device(self, serial: str) -> DeviceView | None:
        return next((d for d in self.devices if d.serial == serial), None)


@dataclass(frozen=True, slots=True)
class LevelPoint:
    """One point of a supply's level history (or forecast) for the device page chart."""

    at: str  # ISO 8601
    remaining_percent: float


@dataclass(frozen=True, slots=True)
class SupplyHistory:
    index: int
    points: tuple[LevelPoint, ...] = ()
    forecast: tuple[LevelPoint, ...] = field(default_factory=tuple)
