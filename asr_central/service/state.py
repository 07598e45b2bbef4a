"""What a central app holds between requests: one typed record, `app.state`, instead of
attributes set here and there and read back with `getattr` defaults.

`create_app` builds it; `serve` fills in the operator's settings. What several workers on
one database share (control-message nonces, the admin throttle's counts, when the leader's
jobs last ran) lives in the database, not here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from asr_core.wire import Summary
from asr_central.domain.policy import PolicySettings
from asr_central.service.api.admin_guard import AdminGuard
from asr_central.service.metrics import CentralMetrics
from asr_central.service.console.guard import SignInGuard
from asr_central.storage.base import Database, UnitOfWork

Clock = Callable[[], datetime]
# Called for each summary stored, in its transaction: (unit of work, summary, its id, now).
SummaryHook = Callable[[UnitOfWork, Summary, int, datetime], None]


class Duties(Protocol):
    """The leader's loop (asr_central.service.leader), as the app sees it: woken when
    there is work. A protocol, so that this record needs none of the modules that read it."""

    def wake(self) -> None: ...


class AlertNotifier(Protocol):
    """The alert webhook's sender (asr_central.service.notify), as the app sees it."""

    def poke(self) -> None: ...

# Days a summary's signed payload is kept (see asr_central.service.retention).
DEFAULT_KEEP_PAYLOAD_DAYS = 400.0


@dataclass(slots=True, eq=False)
class CentralState:
    """Mutable on purpose: `serve` and tests set settings after `create_app`; `slots` makes
    a misspelt attribute fail instead of being ignored."""

    db: Database
    clock: Clock
    admin_token: str | None = None
    admin_guard: AdminGuard = field(default_factory=AdminGuard)
    # The bearer token /metrics wants (None: /metrics is off), and this process's counters.
    metrics_token: str | None = None
    metrics: CentralMetrics = field(default_factory=CentralMetrics)
    sign_in_guard: SignInGuard = field(default_factory=SignInGuard)  # the console's
    summary_hooks: list[SummaryHook] = field(default_factory=list)
    policy_settings: PolicySettings = field(default_factory=PolicySettings)
    # Seconds between policy runs after ingest; None: the orders module's default.
    policy_min_interval: float | None = None
    keep_payload_days: float = DEFAULT_KEEP_PAYLOAD_DAYS
    duties: Duties | None = None
    alert_notifier: AlertNotifier | None = None

    @property
    def is_leader(self) -> bool:
        """Whether this worker runs the policy, retention and the notifier (at its last try
        of the leadership; see asr_central.service.leader)."""
        return self.db.leadership().held
