"""A configured printer that has never answered (here: a wrong community, which SNMP
answers with silence) is a warning in the log once, on the status page and in /healthz,
which stays 200 because the agent itself works."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from asr_dev.simulated_printers import recording
from tests.agent_harness import agent_config, asr_log, run_agent, serve_recording

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all


def test_wrong_community_is_a_warning_in_log_page_and_healthz(tmp_path: Path, snmpsim) -> None:
    silent_port = serve_recording(snmpsim, tmp_path, "silent", recording("xerox_altalink_c8135"))
    good_port = serve_recording(snmpsim, tmp_path, "good", recording("hp_laserjet_m507"))
    config_path = agent_config(
        tmp_path, [("127.0.0.1", silent_port), ("127.0.0.1", good_port)], central_url=None,
        communities={"lab": "public", "typo": "pubilc"}, host_credentials={silent_port: ["typo"]})
    rounds = []

    def three_rounds(daemon) -> bool:
        record = daemon.jobs.get("poll")
        if record is not None and record.last_run not in rounds:
            rounds.append(record.last_run)
        return len(rounds) >= 4 and daemon.store.device("PHBLK12345") is not None

    with asr_log() as log:
        pages = run_agent(config_path, three_rounds)

    address = f"127.0.0.1:{silent_port}"
    warned = [line for line in log.lines(logging.WARNING) if "never answered" in line]
    assert len(warned) == 1, warned  # once per change of state, not every round
    assert f"address={address}" in warned[0] and "'typo'" in warned[0] and "community" in warned[0]
    health = pages["/healthz"]
    assert health.status_code == 200
    body = health.json()
    assert body["healthy"] is True
    [warning] = body["warnings"]
    assert f"printer {address} has never answered" in warning and "community" in warning
    assert f"printer {address} has never answered" in pages["/"].text
    assert pages["/api/status.json"].json()["warnings"] == [warning]
    assert f"127.0.0.1:{good_port}" not in warning
