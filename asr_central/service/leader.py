"""The leader's duties: of the workers serving one database, the one holding its leadership
(`Database.leadership()`) runs the policy after ingest, retention and the alert notifier;
the others serve requests and skip them.

    every worker, every try (the policy interval, at most MAX_TRY_S):
        leadership.try_acquire()  ── no ──► nothing (a follower)
              │ yes
              ├─ policy:    a summary stored since the last run (by any worker), and the
              │             run due (job_runs)  ──► run_policy, then the mark moves on
              ├─ retention: due (job_runs, CHECK_INTERVAL_S)  ──► prune the supply history
              │             (400 days), drop_old_payloads
              └─ notifier:  poke (it sends what is pending from its own thread)

An ingest commit wakes the loop (`wake()`): after a quiet spell the first summary is
planned at once, the summaries stored while a run is not due wait for the next one. When
the leader dies its lock dies with it, and another worker takes over at its next try.

When each job last ran and is next due lives in the database (`storage.shared_state`), so a
new leader keeps the cadence, and a job claimed by two workers at once (a leader that lost
its lock without noticing yet) runs once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from asr_central.service import notify
from asr_central.service.deps import state_of
from asr_central.service.replenish import AFTER_INGEST_INTERVAL_S, run_policy
from asr_central.service.retention import CHECK_INTERVAL_S, drop_old_payloads
from asr_central.storage import policy_inputs, shared_state, supply_history

__all__ = ["LeaderDuties", "POLICY_JOB", "RETENTION_JOB", "MAX_TRY_S", "MIN_TRY_S"]

log = logging.getLogger("asr_central.leader")

POLICY_JOB = "policy"
RETENTION_JOB = "retention"
# A follower tries the leadership at least this often, whatever the policy interval: a
# dead leader's duties wait no longer than this (and the policy interval when shorter).
MAX_TRY_S = 30.0
MIN_TRY_S = 0.05  # a policy interval of 0 must not spin


def worker_name() -> str:
    """How job_runs names the worker that ran a job: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class LeaderDuties:
    """The loop of one app (one worker): started with the app, stopped before its database
    is closed."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.runner = worker_name()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # --- control ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> None:
        with self._start_lock:
            if self._thread is not None or self._stop.is_set():
                return
            self._thread = threading.Thread(target=self._loop, name="leader-duties",
                                            daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """A batch was committed: try the duties now (the loop starts on first use)."""
        self.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """End the loop (a run under way finishes first) and give the leadership up."""
        with self._start_lock:
            self._stop.set()
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout)
        state_of(self.app).db.leadership().release()

    # --- the loop -----------------------------------------------------------------------

    def interval(self) -> float:
        """Seconds between policy runs (`serve --policy-interval`)."""
        value = state_of(self.app).policy_min_interval
        return AFTER_INGEST_INTERVAL_S if value is None else float(value)

    def _loop(self) -> None:
        db = state_of(self.app).db
        while not self._stop.is_set() and not db.closed:
            pause = min(max(self.interval(), MIN_TRY_S), MAX_TRY_S)
            try:
                pause = min(pause, self.tick())
            except Exception:  # the loop must outlive a database hiccup; the next try retries
                log.exception("the leader's duties failed; trying again in %.1f s", pause)
            self._wake.wait(max(pause, MIN_TRY_S))
            self._wake.clear()

    def tick(self) -> float:
        """One try: the duties if this worker leads. Returns the seconds until the policy
        is next due (inf when nothing waits)."""
        state = state_of(self.app)
        db = state.db
        if db.closed or self._stop.is_set() or not db.leadership().try_acquire():
            return float("inf")
        wait = self._policy()
        self._retention()
        notify.poke(self.app)
        return wait

    def _policy(self) -> float:
        """Run the policy if a summary arrived since the last run and the run is due. The
        cadence is real time, as the interval is: the app's clock may be a simulation's."""
        state = state_of(self.app)
        db = state.db
        now = datetime.now(UTC)
        conn = db.connection()
        newest = shared_state.newest_summary_id(conn)
        last = shared_state.job_run(conn, POLICY_JOB)
        if newest <= (last.mark if last is not None else 0):
            return float("inf")  # nothing stored since the last run
        if last is not None and last.next_due_at > now:
            return (last.next_due_at - now).total_seconds()
        interval = timedelta(seconds=self.interval())
        with db.transaction() as wconn:
            if not shared_state.claim_job(wconn, POLICY_JOB, now, interval, self.runner):
                return float("inf")  # another worker took it: it is theirs this interval
        with state.metrics.policy_run.time():
            result = run_policy(db, settings=state.policy_settings, now=state.clock())
        with db.transaction() as wconn:
            # only a run that completed moves the mark: a failed one is retried
            shared_state.set_job_mark(wconn, POLICY_JOB, newest)
        if result.orders or result.new_alerts:
            log.info("policy run: %d order(s), %d line(s), %d new alert(s)",
                     len(result.orders), result.lines, len(result.new_alerts))
        return interval.total_seconds()

    def _retention(self) -> None:
        """Prune the supply history and empty old payloads when due (each CHECK_INTERVAL_S
        on the app's clock, as the retention periods count); a backlog of payloads goes on
        at the next try. The history is pruned even when payloads are kept forever
        (keep_payload_days 0: drop_old_payloads then empties none)."""
        state = state_of(self.app)
        db = state.db
        now = state.clock()
        last = shared_state.job_run(db.connection(), RETENTION_JOB)
        if last is not None and last.next_due_at > now:
            return
        with db.transaction() as wconn:
            if not shared_state.claim_job(wconn, RETENTION_JOB, now,
                                          timedelta(seconds=CHECK_INTERVAL_S), self.runner):
                return
        with db.transaction() as wconn:
            supply_history.prune(wconn, now)
            policy_inputs.prune_usage_changes(
                wconn, now - timedelta(days=supply_history.HISTORY_DAYS))
        _, more = drop_old_payloads(db, now, state.keep_payload_days)
        if more:
            with db.transaction() as wconn:
                shared_state.reschedule_job(wconn, RETENTION_JOB, now)
