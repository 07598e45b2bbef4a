"""What several central workers share through the database, on each engine: policy runs
racing through two Database objects order each supply once; a nonce is used once; a job is
claimed by one worker per interval; the admin throttle's `limits` storage counts every
worker's hits."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from limits import parse, strategies
from support_central import make_summary

from asr_agent.adapters import keys as signing
from asr_core.records import LevelState, SupplyClass, SupplyType
from asr_core.wire import SupplySummary, check_summary
from asr_central.domain.policy import PolicySettings
from asr_central.service.replenish import run_policy
from asr_central.storage import Database, open_database
from asr_central.storage import agents, policy_inputs, registry, shared_state, summaries
from asr_central.storage import alerts as alert_store
from asr_central.storage import orders as order_store

NOW = datetime(2026, 1, 6, 12, tzinfo=UTC)

REGISTRY = """\
contacts:
  - {id: claire, name: Claire Martin, email: facilities@lyon.example}
  - {id: paul, name: Paul Roux, email: it@paris.example}
sites:
  - {id: lyon, name: Lyon HQ, contact: claire}
  - {id: paris, name: Paris office, contact: paul}
"""
# Serial -> site: three printers, four due toners, two orders (one per site and contact);
# and a printer silent for six days, with a full toner: one alert, no order.
PRINTERS = {"XRX-L1": "lyon", "XRX-L2": "lyon", "XRX-P1": "paris", "XRX-P9": "paris"}
SILENT = "XRX-P9"


def _due(index: int, color: str) -> SupplySummary:
    """A toner about ten days from empty: inside the 21-day lead time."""
    return SupplySummary(index, SupplyType.TONER, SupplyClass.CONSUMED, color, 20,
                         LevelState.OK, 20.0, 5.0, 5.0, 2.0, 10.0, 8.0, 12.0, "ok", None)


@pytest.fixture
def db(central_db_url: str) -> Iterator[Database]:
    database = open_database(central_db_url)
    yield database
    database.close()


def _fleet(db: Database, key_dir: Path) -> int:
    """The registry and one summary per printer, stored as ingest stores them; returns the
    number of supplies due."""
    key = signing.load_or_create(key_dir)
    due = 0
    with db.transaction() as conn:
        registry.save_document(conn, registry.parse_registry_yaml(REGISTRY), NOW)
        agent_of = {site: agents.create_agent(conn, site, f"agent-{site}", NOW)
                    for site in sorted(set(PRINTERS.values()))}
        for seq, (serial, site) in enumerate(sorted(PRINTERS.items()), start=1):
            supplies = (_due(1, "black"), _due(2, "cyan")) if serial == "XRX-L1" else (
                _due(1, "black"),)
            heard = NOW - timedelta(hours=6)
            if serial == SILENT:
                supplies = (dataclasses.replace(supplies[0], days_to_empty=200.0,
                                                days_to_empty_low=190.0,
                                                days_to_empty_high=210.0),)
                heard = NOW - timedelta(days=6)
            else:
                due += len(supplies)
            summary = dataclasses.replace(
                make_summary(agent_of[site], seq, site_id=site, serial=serial,
                             period_start=heard),
                supplies=supplies, cartridge_events=())
            env = signing.seal(summary, key)
            summaries.store_summaries(conn, [(check_summary(summary.to_dict()), env)], NOW)
    return due


def _open(db: Database) -> list[order_store.OrderView]:
    return order_store.list_orders(db.connection(), status="created")


ROUNDS = 500  # two runs a round: 1,000 policy runs


@pytest.mark.slow
def test_a_thousand_policy_runs_racing_order_each_supply_once(
        central_db_url: str, db: Database, tmp_path: Path) -> None:
    """Two workers (each its own Database, as two processes have) run the policy at the
    same moment, 500 times; after each round an admin cancels what was ordered, so that the
    next round orders again. Each round places one order per site and contact and one line
    per due supply, however the two runs interleave."""
    due = _fleet(db, tmp_path / "key")
    second = open_database(central_db_url)
    barrier = threading.Barrier(3)  # the two workers and this thread, which checks a round
    errors: list[BaseException] = []
    new_alerts: list[str] = []  # raised as new, by whichever run
    settings = PolicySettings()

    def work(worker: Database) -> None:
        try:
            for _ in range(ROUNDS):
                barrier.wait(60)  # start together
                new_alerts.extend(run_policy(worker, settings=settings, now=NOW).new_alerts)
                barrier.wait(60)  # done: the round is checked
        except threading.BrokenBarrierError:
            pass
        except BaseException as exc:  # noqa: BLE001 - raised in the test below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in (db, second)]
    for t in threads:
        t.start()
    rounds: list[tuple[int, int]] = []
    try:
        for _ in range(ROUNDS):
            barrier.wait(60)
            barrier.wait(60)
            placed = _open(db)
            rounds.append((len(placed), sum(len(o.lines) for o in placed)))
            with db.transaction() as conn:
                for order in placed:
                    order_store.cancel(conn, order.order_id, NOW)
    except threading.BrokenBarrierError:
        assert errors, "a worker broke the barrier without an error"
    finally:
        barrier.abort()
        for t in threads:
            t.join(60)
        second.close()
    assert not errors, repr(errors[0])
    twice = [r for r in rounds if r != (2, due)]
    assert not twice, (f"{len(twice)} of {ROUNDS} rounds ordered other than once: "
                       f"{twice[:5]} (orders, lines); expected (2, {due})")
    every = order_store.list_orders(db.connection(), limit=10 * ROUNDS)
    assert sum(len(o.lines) for o in every) == ROUNDS * due
    # the silent printer's alert: stored once, raised as new by one run
    assert len(new_alerts) == 1 and SILENT in new_alerts[0], new_alerts
    assert [a["device_serial"] for a in alert_store.list_alerts(db.connection())] == [SILENT]


def test_a_nonce_is_used_once_per_agent_and_forgotten_once_stale(
        central_db_url: str, db: Database) -> None:
    other = open_database(central_db_url)  # another worker
    try:
        with db.transaction() as conn:
            assert shared_state.first_use(conn, "agent-1", "n-0123456789abcdef", NOW)
        with other.transaction() as conn:
            assert not shared_state.first_use(conn, "agent-1", "n-0123456789abcdef", NOW)
            # another agent's nonce is its own
            assert shared_state.first_use(conn, "agent-2", "n-0123456789abcdef", NOW)
        with db.transaction() as conn:
            assert shared_state.prune_nonces(conn, NOW + timedelta(seconds=1)) == 2
            assert shared_state.first_use(conn, "agent-1", "n-0123456789abcdef", NOW)
    finally:
        other.close()


def test_a_due_job_is_claimed_by_one_worker_per_interval(
        central_db_url: str, db: Database) -> None:
    other = open_database(central_db_url)
    every = timedelta(seconds=30)
    try:
        with db.transaction() as conn:
            assert shared_state.claim_job(conn, "policy", NOW, every, "w1", mark=7)
        with other.transaction() as conn:
            assert not shared_state.claim_job(conn, "policy", NOW, every, "w2")
            assert not shared_state.claim_job(conn, "policy", NOW + every / 2, every, "w2")
            assert shared_state.claim_job(conn, "policy", NOW + every, every, "w2")
        with db.transaction() as conn:
            run = shared_state.job_run(conn, "policy")
            assert run is not None
            assert (run.runner, run.mark, run.next_due_at) == ("w2", 7, NOW + 2 * every)
            shared_state.reschedule_job(conn, "policy", NOW)  # a backlog: due at once
            assert shared_state.claim_job(conn, "policy", NOW + every, every, "w1", mark=9)
            assert shared_state.job_run(conn, "policy").mark == 9  # type: ignore[union-attr]
    finally:
        other.close()


def test_the_admin_throttle_counts_every_workers_failures(
        central_db_url: str, db: Database) -> None:
    """`limits`' moving window over the database: nine failures through one worker and
    one through another reach the limit for both."""
    clock = [1_000_000.0]
    other = open_database(central_db_url)
    try:
        one, two = (strategies.MovingWindowRateLimiter(
            shared_state.RateLimitStorage(d, clock=lambda: clock[0])) for d in (db, other))
        limit = parse("10/minute")
        for _ in range(9):
            assert one.hit(limit, "admin", "127.0.0.9")
        assert two.test(limit, "admin", "127.0.0.9")
        assert two.hit(limit, "admin", "127.0.0.9")
        assert not one.test(limit, "admin", "127.0.0.9")
        assert not two.hit(limit, "admin", "127.0.0.9")
        assert one.test(limit, "admin", "127.0.0.8")  # another address is not held up
        stats = two.get_window_stats(limit, "admin", "127.0.0.9")
        assert (stats.reset_time, stats.remaining) == (1_000_060.0, 0)
        clock[0] += 61  # the window slid past every hit
        assert one.test(limit, "admin", "127.0.0.9") and one.hit(limit, "admin", "127.0.0.9")
        clock[0] += shared_state.MAX_WINDOW_S + 1  # a day on, another address's hit
        assert two.hit(limit, "admin", "127.0.0.7")
        left = db.connection().execute(  # type: ignore[attr-defined]
            "SELECT limit_key FROM rate_limit_hits").fetchall()
        assert [r[0] for r in left] == [limit.key_for("admin", "127.0.0.7")]
    finally:
        other.close()


def test_the_throttle_storage_keeps_fixed_window_counters_too(db: Database) -> None:
    clock = [2_000_000.0]
    limiter = strategies.FixedWindowRateLimiter(
        shared_state.RateLimitStorage(db, clock=lambda: clock[0]))
    limit = parse("2/minute")
    assert limiter.hit(limit, "k") and limiter.hit(limit, "k")
    assert not limiter.hit(limit, "k")
    clock[0] += 60
    assert limiter.hit(limit, "k")


def test_cartridge_events_are_processed_by_one_of_two_runs_that_read_the_same_cursor(
        central_db_url: str, db: Database) -> None:
    """The events' cursor moves only from where a run read it: a second run that read it
    at the same time processes none of them (an installation is counted once)."""
    other = open_database(central_db_url)
    try:
        with db.transaction() as conn:
            assert policy_inputs.events_seen_through(conn) == 0
            assert policy_inputs.claim_events(conn, 0, 5)
        with other.transaction() as conn:
            assert not policy_inputs.claim_events(conn, 0, 5)  # read 0 too: too late
            assert policy_inputs.events_seen_through(conn) == 5
            assert policy_inputs.claim_events(conn, 5, 8)
        with db.transaction() as conn:
            assert not policy_inputs.claim_events(conn, 5, 8)
            assert policy_inputs.events_seen_through(conn) == 8
    finally:
        other.close()
