"""Sleep-aware device state and address-change decisions: pure, time passed in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from asr_agent.domain.device_state import (
    AddressChange,
    DeviceAddress,
    DeviceState,
    Health,
    PollOutcome,
    StatePolicy,
    merge_address_change,
    observe,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
POLICY = StatePolicy(asleep_after_misses=1, unreachable_after_misses=3,
                     unreachable_after=timedelta(hours=12))


def run(outcomes: list[PollOutcome], step: timedelta = HOUR, policy: StatePolicy = POLICY):
    health = Health(last_answer=T0)
    transitions = []
    for i, outcome in enumerate(outcomes, start=1):
        health, transition = observe(health, outcome, T0 + i * step, policy)
        if transition is not None:
            transitions.append(transition)
    return health, transitions


def test_one_missed_poll_makes_a_printer_asleep_without_an_alarm() -> None:
    health, transitions = run([PollOutcome.MISSED])
    assert health.state is DeviceState.ASLEEP
    [t] = transitions
    assert (t.old, t.new, t.raise_alarm) == (DeviceState.OK, DeviceState.ASLEEP, False)


def test_n_consecutive_misses_make_it_unreachable_and_raise_the_alarm_once() -> None:
    health, transitions = run([PollOutcome.MISSED] * 5)
    assert health.state is DeviceState.UNREACHABLE
    assert [(t.new, t.raise_alarm) for t in transitions] == [
        (DeviceState.ASLEEP, False), (DeviceState.UNREACHABLE, True)]
    assert "3 polls missed" in transitions[1].reason
    assert health.consecutive_misses == 5


def test_hours_of_silence_make_it_unreachable_before_the_miss_count() -> None:
    health, transitions = run([PollOutcome.MISSED] * 2, step=timedelta(hours=7))
    assert health.state is DeviceState.UNREACHABLE
    assert transitions[-1].raise_alarm and "silent for 14.0 h" in transitions[-1].reason


def test_answering_again_returns_to_ok_and_clears_the_alarm() -> None:
    health, transitions = run([PollOutcome.MISSED] * 3 + [PollOutcome.ANSWERED])
    assert health == Health(DeviceState.OK, 0, T0 + 4 * HOUR, None)
    assert (transitions[-1].new, transitions[-1].clear_alarm) == (DeviceState.OK, True)


def test_waking_within_retries_is_not_a_miss_and_raises_nothing() -> None:
    health, transitions = run([PollOutcome.WOKE] * 10)
    assert health.state is DeviceState.OK and health.consecutive_misses == 0
    assert transitions == []


def test_a_woken_sleeper_clears_nothing_because_no_alarm_was_raised() -> None:
    health, transitions = run([PollOutcome.MISSED, PollOutcome.WOKE])
    assert health.state is DeviceState.OK
    assert [(t.new, t.clear_alarm) for t in transitions] == [
        (DeviceState.ASLEEP, False), (DeviceState.OK, False)]
    assert "wake-up retries" in transitions[-1].reason


def test_interleaved_answers_reset_the_miss_count() -> None:
    pattern = [PollOutcome.MISSED, PollOutcome.MISSED, PollOutcome.ANSWERED] * 4
    health, transitions = run(pattern)
    assert all(not t.raise_alarm for t in transitions)
    assert health.state is DeviceState.OK


def test_policy_refuses_unreachable_before_asleep() -> None:
    with pytest.raises(ValueError, match="at least asleep_after_misses"):
        StatePolicy(asleep_after_misses=3, unreachable_after_misses=2)


KNOWN = [DeviceAddress("SN1", "127.0.0.10"), DeviceAddress("SN2", "127.0.0.11")]


def test_same_serial_same_address_is_unchanged() -> None:
    decision = merge_address_change(KNOWN, DeviceAddress("SN1", "127.0.0.10"))
    assert decision.kind is AddressChange.UNCHANGED


def test_same_serial_new_address_is_a_move_not_a_new_device() -> None:
    decision = merge_address_change(KNOWN, DeviceAddress("SN1", "127.0.0.99"))
    assert decision.kind is AddressChange.MOVED
    assert (decision.previous, decision.address) == (("127.0.0.10", 161), ("127.0.0.99", 161))
    assert decision.displaced is None


def test_serials_swapping_addresses_are_two_moves() -> None:
    first = merge_address_change(KNOWN, DeviceAddress("SN1", "127.0.0.11"))
    assert (first.kind, first.displaced) == (AddressChange.MOVED, "SN2")


def test_new_serial_at_a_known_address_is_a_new_device_displacing_the_old() -> None:
    decision = merge_address_change(KNOWN, DeviceAddress("SN3", "127.0.0.10"))
    assert (decision.kind, decision.displaced) == (AddressChange.NEW, "SN1")


def test_both_required_waits_for_misses_and_hours() -> None:
    policy = StatePolicy(1, 3, timedelta(hours=12), both_required=True)
    health, transitions = run([PollOutcome.MISSED] * 6, step=HOUR, policy=policy)
    assert health.state is DeviceState.ASLEEP  # 6 misses but only 6 h of silence
    health, transitions = run([PollOutcome.MISSED] * 13, step=HOUR, policy=policy)
    assert health.state is DeviceState.UNREACHABLE
    assert transitions[-1].reason == "12 polls missed in a row and silent for 12.0 h"


def test_policy_from_the_config_section() -> None:
    from asr_agent.app.config import default_config

    policy = StatePolicy.from_config(default_config().device_state)
    assert policy == StatePolicy(1, 4, timedelta(hours=24))
