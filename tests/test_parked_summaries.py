"""A summary central refuses for good is parked: kept on disk, counted in /metrics, listed
on the status page with central's reason, and the rest of the outbox is delivered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr_agent.adapters import keys as signing
from asr_agent.app.config import load_config
from asr_agent.adapters.store import Store
from asr_agent.adapters.uplink import queue_summary
from asr_core.wire import Envelope
from tests.agent_harness import agent_config, run_agent
from tests.support_central import central, enrolled_agent, make_summary  # noqa: F401  (fixture)

pytestmark = pytest.mark.trust  # issue 14's attacks: `scripts/test -m trust` runs them all


def test_a_refused_summary_is_parked_counted_listed_and_the_rest_delivered(
        tmp_path: Path, central) -> None:  # noqa: F811
    config_path = agent_config(tmp_path, [], central_url=central.url)
    paths = load_config(config_path).paths(config_file=config_path)
    key, identity = enrolled_agent(central, paths.key_dir)
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    with Store.in_dir(paths.data_dir) as store:
        first = make_summary(identity.agent_id, store.next_sequence(), serial="XRX-A", period_start=start)
        queue_summary(store, first, key)
        # signed by a key central does not know, under the enrolled key's id: refused alone
        bad = make_summary(identity.agent_id, store.next_sequence(), serial="XRX-BAD", period_start=start)
        forged = signing.seal(bad, signing.load_or_create(tmp_path / "other-keys"))
        forged = Envelope(forged.agent_id, key.key_id, forged.payload, forged.signature)
        forged_bytes = json.dumps(forged.to_dict()).encode()
        store.enqueue(forged_bytes, "summary", bad.idempotency_key, seq=bad.sequence)
        last = make_summary(identity.agent_id, store.next_sequence(), serial="XRX-C", period_start=start)
        queue_summary(store, last, key)

    pages = run_agent(config_path, lambda d: d.store.parked_count() == 1 and d.store.outbox_depth() == 0)

    assert sorted(r["device_serial"] for r in central.summaries(identity.agent_id)) == ["XRX-A", "XRX-C"]
    with Store.in_dir(paths.data_dir) as store:
        [parked] = store.refused()
        assert parked.payload == forged_bytes  # kept on disk as it was signed
        assert parked.seq == bad.sequence and parked.failed_at is not None
        assert parked.last_error is not None and parked.last_error.startswith("422")
    assert "asr_outbox_parked 1.0" in pages["/metrics"].text
    status = pages["/api/status.json"].json()
    assert status["uplink"]["parked"] == 1
    [item] = status["uplink"]["parked_items"]
    assert (item["seq"], item["device_serial"]) == (bad.sequence, "XRX-BAD")
    assert item["reason"] == parked.last_error
    html = pages["/"].text
    assert 'id="parked"' in html and "XRX-BAD" in html and parked.last_error.split(":")[0] in html
    health = pages["/healthz"]
    assert health.status_code == 200 and any("parked" in w for w in health.json()["warnings"])
