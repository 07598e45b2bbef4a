"""The agent's metrics, read back by the reference parser: counters, histogram, snapshot gauges."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from asr_agent.app.metrics import AgentMetrics
from tests.status_fixtures import sample_snapshot


def families(metrics: AgentMetrics) -> dict:
    return {f.name: f for f in text_string_to_metric_families(metrics.render(sample_snapshot()).decode())}


def test_counters_histogram_and_gauges_read_back() -> None:
    m = AgentMetrics()
    m.polls.inc(3)
    m.snmp_requests.inc(4)
    m.snmp_errors.labels("timeout").inc()
    m.snmp_errors.labels('odd "kind"\\\n').inc(2)
    for seconds in (0.005, 0.03, 0.03, 20.0):
        m.poll_duration.observe(seconds)
    got = families(m)
    assert got["asr_polls"].type == "counter"
    assert [s.value for s in got["asr_polls"].samples if s.name == "asr_polls_total"] == [3.0]
    errors = {s.labels["kind"]: s.value for s in got["asr_snmp_errors"].samples if s.name.endswith("_total")}
    assert errors == {"timeout": 1.0, 'odd "kind"\\\n': 2.0}
    hist = {(s.name, s.labels.get("le")): s.value for s in got["asr_poll_duration_seconds"].samples}
    assert hist[("asr_poll_duration_seconds_bucket", "0.01")] == 1
    assert hist[("asr_poll_duration_seconds_bucket", "0.05")] == 3  # cumulative
    assert hist[("asr_poll_duration_seconds_bucket", "10.0")] == 3
    assert hist[("asr_poll_duration_seconds_bucket", "+Inf")] == 4
    assert hist[("asr_poll_duration_seconds_count", None)] == 4
    assert hist[("asr_poll_duration_seconds_sum", None)] == pytest.approx(20.065)
    days = {(s.labels["serial"], s.labels["supply"]): s.value for s in got["asr_supply_days_to_empty"].samples}
    assert days == {("XRX-0001", "1"): 12.5, ("XRX-0001", "10"): 3.0}
    states = {s.labels["serial"]: s.value for s in got["asr_device_state"].samples}
    assert states == {"XRX-0001": 1.0, "CNB1234": 0.5}
    assert got["asr_devices"].samples[0].value == 2

