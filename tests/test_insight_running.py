"""The agent's analyses carried from summary to summary (insight.RunningAnalyses) say what
a fresh analysis of the store says, run after run, on a real SQLite store: the daemon's
summaries and `asr-agent status` (which analyses afresh) never disagree."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from asr_agent.adapters.store import Store
from asr_agent.app.insight import RunningAnalyses, Settings, device_insights
from asr_agent.domain.catalog import load_catalog
from tests.test_store import reading, toner, waste

CATALOG = load_catalog()
START = datetime(2027, 3, 1, tzinfo=UTC)


def test_running_analyses_equal_a_fresh_analysis_of_the_store_after_every_run(
        tmp_path: Path) -> None:
    rng = random.Random(11)
    running = RunningAnalyses()
    settings = Settings(tz=ZoneInfo("Europe/Paris"))
    black, bottle, no = 5300, 100, 1
    at = START
    compared = 0
    with Store.in_dir(tmp_path / "data") as store:
        for run in range(60):  # a summary every eight hours, twenty days
            for _ in range(8):  # hourly readings
                if 7 <= at.hour < 19 and at.weekday() < 5:
                    black -= rng.choice([0, 10, 30, 60])
                    if rng.random() < 0.2:
                        bottle -= 1
                if black <= 300 or (run == 34 and at.hour == 12):  # empty, once long before
                    black, no = 5300, no + 1
                store.record_reading(reading(at, toner(max(0, black), serial=f"CRUM{no:04d}"),
                                             waste(bottle)))
                at += timedelta(hours=1)
            now = at
            carried = device_insights(store, "XRX001", now=now, settings=settings,
                                      catalog=CATALOG, running=running)
            fresh = device_insights(store, "XRX001", now=now, settings=settings, catalog=CATALOG)
            assert carried.keys() == fresh.keys()
            for index, got in carried.items():
                assert got.analysis == fresh[index].analysis, (run, index)
                assert got.forecast == fresh[index].forecast, (run, index)
                compared += 1
        assert len(running) == 2  # both supplies settled: carried, not re-read
    assert compared == 120
    assert any(life.premature for life in carried[1].analysis.lives)
