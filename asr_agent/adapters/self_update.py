"""The running agent's side of self-update: apply a verified release on schedule, restart
into it, and let the new version prove itself or be rolled back.

The updater (asr_agent.adapters.updater) verifies, installs side by side and switches `current`.
An unprivileged service cannot restart itself through systemd, so the daemon exits with
RESTART_EXIT_CODE and `Restart=on-failure` starts the new `current`. The new version is
on trial until its first good poll round: every start during the trial is counted, and
a version that starts MAX_TRIAL_STARTS times without a good round (it crashes, hangs, or
cannot poll) is rolled back to the version before it (boot counting, as in A/B updates).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from asr_core.errors import UpdateError

if TYPE_CHECKING:  # the updater pulls in TUF; callers pass one already built
    from asr_agent.adapters.updater import Updater

log = logging.getLogger("asr.update")

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: not a success, so systemd's Restart=on-failure applies
MAX_TRIAL_STARTS = 3
TRIAL_FILE = "update-trial.json"


@dataclass(frozen=True, slots=True)
class Trial:
    version: str
    previous: str | None
    starts: int = 0


def install_root() -> Path | None:
    """Where versioned environments live: the parent of this interpreter's environment,
    when it sits beside a `current` link (a packaged install); None in a checkout."""
    root = Path(sys.prefix).resolve().parent
    return root if (root / "current").is_symlink() else None


def _path(state_dir: Path) -> Path:
    return Path(state_dir) / "update" / TRIAL_FILE


def read_trial(state_dir: Path) -> Trial | None:
    try:
        return Trial(**json.loads(_path(state_dir).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def _write(state_dir: Path, trial: Trial | None) -> None:
    path = _path(state_dir)
    if trial is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(trial)), encoding="utf-8")
    os.replace(tmp, path)


def scheduled_update(updater: Updater, state_dir: Path) -> bool:
    """Apply the channel's newest release if it is newer; True when the agent must restart
    into it. The updater has no restart hook here: the caller exits instead."""
    previous = updater.current_version()
    outcome = updater.apply()
    if outcome.installed_version is None or outcome.rolled_back:
        log.info("update: %s", outcome.detail)
        return False
    _write(state_dir, Trial(outcome.installed_version, previous))
    log.warning("update: switched to %s; restarting into it (on trial until its first good poll round)",
                outcome.installed_version)
    return True


def on_start(updater: Updater, state_dir: Path, running_version: str) -> bool:
    """Count this start against an open trial; True when the trial failed and the previous
    version was made current again (the caller must exit to restart into it)."""
    trial = read_trial(state_dir)
    if trial is None:
        return False
    if trial.version != running_version:
        _write(state_dir, None)  # the switch did not happen or was undone: nothing on trial
        return False
    trial = Trial(trial.version, trial.previous, trial.starts + 1)
    if trial.starts <= MAX_TRIAL_STARTS:
        _write(state_dir, trial)
        return False
    _write(state_dir, None)
    if trial.previous is None:
        log.error("update: %s never completed a good round and no previous version is recorded", trial.version)
        return False
    try:
        updater.rollback(trial.previous)
    except UpdateError as exc:
        log.error("update: %s never completed a good round, and rolling back failed: %s", trial.version, exc)
        return False
    log.error("update: %s started %d times without a good poll round; rolled back to %s",
              trial.version, MAX_TRIAL_STARTS, trial.previous)
    return True


def confirm(state_dir: Path, running_version: str) -> bool:
    """A good round: the version on trial is kept. True when a trial was closed."""
    trial = read_trial(state_dir)
    if trial is None or trial.version != running_version:
        return False
    _write(state_dir, None)
    log.info("update: %s is healthy and kept", running_version)
    return True
