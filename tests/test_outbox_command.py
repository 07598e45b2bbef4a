"""`asr-agent outbox`: what central refused for good, in an admin's hands. A printer that
moved to this agent's site has its reports refused until an admin confirms the move at
central; then `resend` delivers them after all (signed anew, once), `list` shows the
parked ones with central's reason, and `drop --yes` deletes what cannot be mended. Real
daemon, real central on loopback, each engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import queue_summary
from asr_agent.app.config import load_config
from asr_agent.cli import main as agent_cli
from tests.agent_harness import agent_config, run_agent
from tests.support_central import (  # noqa: F401  (fixture)
    central, enrolled_agent, make_summary, post_summaries,
)


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = agent_cli(["outbox", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_moved_printers_refused_report_is_resent_once_the_move_is_confirmed(
        tmp_path: Path, central, capsys) -> None:  # noqa: F811
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    # lyon's agent reported XRX-M first: central holds it as lyon's
    lyon_key, lyon = enrolled_agent(central, tmp_path / "lyon-keys", site_id="lyon")
    post_summaries(central, {"lyon": (lyon_key, lyon.agent_id)},
                   [make_summary(lyon.agent_id, 1, site_id="lyon", serial="XRX-M",
                                 period_start=start - timedelta(days=1))])
    config = agent_config(tmp_path, [], central_url=central.url)
    paths = load_config(config).paths(config_file=config)
    key, me = enrolled_agent(central, paths.key_dir)  # site-1, where the printer now stands
    with Store.in_dir(paths.data_dir) as store:
        moved = make_summary(me.agent_id, store.next_sequence(), serial="XRX-M", period_start=start)
        queue_summary(store, moved, key)
        queue_summary(store, make_summary(me.agent_id, store.next_sequence(), serial="XRX-OK",
                                          period_start=start), key)
    run_agent(config, lambda d: d.store.parked_count() == 1 and d.store.outbox_depth() == 0)
    assert [r["device_serial"] for r in central.summaries(me.agent_id)] == ["XRX-OK"]

    code, out, _ = _cli(capsys, "list", "--config", str(config))
    assert code == 0 and "XRX-M" in out and "other_site" in out and f"seq {moved.sequence}" in out
    item = int(out.split()[1])
    r = central.admin("POST", "/v1/admin/devices/XRX-M/move", json={"site_id": "site-1"})
    assert r.status_code == 200, r.text

    code, out, _ = _cli(capsys, "resend", "--all", "--config", str(config))
    assert code == 0 and out.startswith(f"item {item}: queued again as seq ")
    fresh = int(out.split()[-1])
    assert fresh > moved.sequence
    run_agent(config, lambda d: d.store.parked_count() == 0 and d.store.outbox_depth() == 0)
    rows = central.summaries(me.agent_id)
    assert sorted(r["device_serial"] for r in rows) == ["XRX-M", "XRX-OK"]
    assert [r["sequence"] for r in rows if r["device_serial"] == "XRX-M"] == [fresh]
    assert _cli(capsys, "list", "--config", str(config))[1] == "no parked summary\n"
    # resending what is no longer parked is refused: nothing is sent twice
    code, _, err = _cli(capsys, "resend", str(item), "--config", str(config))
    assert code == 2 and f"no parked item {item}" in err


def test_an_unreadable_parked_row_is_left_parked_by_resend_and_dropped_only_with_yes(
        tmp_path: Path, capsys) -> None:
    config = agent_config(tmp_path, [], central_url="http://127.0.0.1:9")
    paths = load_config(config).paths(config_file=config)
    enrolled = paths.key_dir
    enrolled.mkdir(parents=True, exist_ok=True)
    from asr_agent.adapters import keys
    from asr_agent.adapters.uplink import AgentIdentity

    key = keys.load_or_create(enrolled)
    AgentIdentity("agent-1", "site-1", "http://127.0.0.1:9", key.key_id).save(enrolled)
    with Store.in_dir(paths.data_dir) as store:
        store.enqueue(b"\xff not an envelope", "summary", "garbage-1")
        [row] = store.pending()
        store.mark_failed(row.id, "422: envelope: not JSON", permanent=True)

    code, out, _ = _cli(capsys, "list", "--config", str(config))
    assert code == 0 and "(unreadable)" in out and "422: envelope: not JSON" in out
    code, out, err = _cli(capsys, "resend", str(row.id), "--config", str(config))
    assert code == 1 and "not a readable summary, left parked" in err
    code, _, err = _cli(capsys, "drop", "--all", "--config", str(config))
    assert code == 2 and "add --yes" in err
    code, out, _ = _cli(capsys, "drop", "--all", "--yes", "--config", str(config))
    assert (code, out) == (0, "dropped 1\n")
    with Store.in_dir(paths.data_dir) as store:
        assert store.parked_count() == 0 and store.outbox_depth() == 0
