"""Self-update as the running agent does it: a verified release is switched to, the new
version is on trial until a good poll round, and one that never gets there is rolled back.
Real TUF repository on a loopback port (the updater tests' fixtures), real symlinks."""

from __future__ import annotations

import os
from pathlib import Path

from asr_agent.adapters import self_update
from tests.test_updater import (  # noqa: F401  (fixtures)
    RUNNING, ScriptInstaller, install_root, make_updater, publisher, served,
)


def _updater(tmp_path: Path, served, publisher, install_root: Path):
    return make_updater(tmp_path, served[1], install_root, publisher.root_bytes(),
                        installer=ScriptInstaller(), restarts=None)


def test_scheduled_update_switches_and_opens_a_trial(tmp_path, served, publisher, install_root) -> None:
    publisher.release("0.2.0", b"wheel 0.2.0")
    updater = _updater(tmp_path, served, publisher, install_root)
    assert self_update.scheduled_update(updater, tmp_path / "state") is True
    assert os.readlink(install_root / "current") == "0.2.0"
    assert self_update.read_trial(tmp_path / "state") == self_update.Trial("0.2.0", RUNNING, 0)


def test_no_newer_release_means_no_restart(tmp_path, served, publisher, install_root) -> None:
    publisher.release(RUNNING)
    updater = _updater(tmp_path, served, publisher, install_root)
    assert self_update.scheduled_update(updater, tmp_path / "state") is False
    assert self_update.read_trial(tmp_path / "state") is None


def test_a_good_round_keeps_the_new_version(tmp_path, served, publisher, install_root) -> None:
    publisher.release("0.2.0", b"wheel 0.2.0")
    updater = _updater(tmp_path, served, publisher, install_root)
    state = tmp_path / "state"
    self_update.scheduled_update(updater, state)
    assert self_update.on_start(updater, state, "0.2.0") is False  # first start of 0.2.0
    assert self_update.confirm(state, "0.2.0") is True
    for _ in range(self_update.MAX_TRIAL_STARTS + 2):  # later restarts count for nothing
        assert self_update.on_start(updater, state, "0.2.0") is False
    assert os.readlink(install_root / "current") == "0.2.0"


def test_a_version_that_never_gets_a_good_round_is_rolled_back(tmp_path, served, publisher, install_root) -> None:
    publisher.release("0.2.0", b"wheel 0.2.0")
    updater = _updater(tmp_path, served, publisher, install_root)
    state = tmp_path / "state"
    self_update.scheduled_update(updater, state)
    outcomes = [self_update.on_start(updater, state, "0.2.0")
                for _ in range(self_update.MAX_TRIAL_STARTS + 1)]
    assert outcomes == [False] * self_update.MAX_TRIAL_STARTS + [True]
    assert os.readlink(install_root / "current") == RUNNING
    assert self_update.read_trial(state) is None
    # The old version starting again has nothing on trial.
    assert self_update.on_start(updater, state, RUNNING) is False


def test_a_checkout_is_not_a_packaged_install() -> None:
    assert self_update.install_root() is None
