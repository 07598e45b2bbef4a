"""The site's time zone cuts days the same way for the daemon's summaries and for
`asr-agent status`: the same store read by both gives the same daily use, in the zone
`site.timezone` names, else the host's local zone."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from asr_agent.adapters.store import Store
from asr_agent.app.config import load_config
from asr_agent.app.insight import Settings, device_insights
from asr_agent.app.jobs.summarize import SummarizeJob
from asr_agent.cli import main
from asr_agent.domain.catalog import load_catalog
from asr_core.errors import ConfigError
from asr_core.records import Reading
from tests.test_store import reading, toner

HOST_ZONE = "America/New_York"


@pytest.fixture
def host_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local zone is New York for the test (status used to cut days in it)."""
    monkeypatch.setenv("TZ", HOST_ZONE)
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def write_config(tmp_path: Path, timezone: str | None) -> Path:
    path = tmp_path / "config.yaml"
    zone = f"\n  timezone: {timezone}" if timezone else ""
    path.write_text(f"site:\n  id: tz-site{zone}\nstore:\n  data_dir: {tmp_path / 'data'}\n"
                    "status_page:\n  enabled: false\n")
    return path


def twelve_days(data_dir: Path, now: datetime) -> Reading:
    """Hourly readings whose printing falls around midnight in the Americas and in UTC's
    small hours: where each day ends moves use from one day to the next."""
    rng = random.Random(7)
    level = 5300
    last = None
    with Store.in_dir(data_dir) as store:
        at = now.replace(minute=0, second=0, microsecond=0) - timedelta(days=12)
        while at < now - timedelta(hours=1):
            if at.hour in (2, 3, 4):
                level -= rng.choice([0, 0, 30, 60])
            last = reading(at, toner(level))
            store.record_reading(last)
            at += timedelta(hours=1)
    assert last is not None
    return last


def daemon_daily_percent(config_path: Path, last: Reading, now: datetime) -> float | None:
    """What the daemon's summarize job puts in the next summary's daily_percent."""
    cfg = load_config(config_path)
    with Store.in_dir(cfg.paths(config_file=config_path).data_dir) as store:
        job = SummarizeJob(store, load_catalog(cfg.consumption.supply_catalog), lambda: now)
        job.run(cfg, [last], None, config_path.parent / "keys")
        return job.insights["XRX001"][1].forecast.daily_percent


def status_daily_percent(config_path: Path, capsys: pytest.CaptureFixture[str]) -> float | None:
    assert main(["status", "--config", str(config_path), "--json"]) == 0
    [device] = json.loads(capsys.readouterr().out)
    return next(s["daily_percent"] for s in device["supplies"] if s["index"] == 1)


def cut_in(zone: tzinfo, data_dir: Path, now: datetime) -> float | None:
    with Store.in_dir(data_dir) as store:
        insights = device_insights(store, "XRX001", now=now, settings=Settings(tz=zone),
                                   catalog=load_catalog())
    return insights[1].forecast.daily_percent


@pytest.mark.parametrize("site_zone", [None, "Pacific/Auckland"])
def test_daemon_and_status_cut_days_in_the_same_zone(tmp_path: Path, host_zone: None, site_zone: str | None,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    config_path = write_config(tmp_path, site_zone)
    now = datetime.now(UTC)
    last = twelve_days(tmp_path / "data", now)
    expected = cut_in(ZoneInfo(site_zone or HOST_ZONE), tmp_path / "data", now)
    # The zone matters for this store: cut in UTC, the daily use differs.
    assert expected != pytest.approx(cut_in(UTC, tmp_path / "data", now), rel=1e-4)

    from_daemon = daemon_daily_percent(config_path, last, now)
    from_status = status_daily_percent(config_path, capsys)

    assert from_daemon == pytest.approx(expected, rel=1e-6)
    assert from_status == pytest.approx(expected, rel=1e-6)


def test_site_timezone_must_be_an_iana_name(tmp_path: Path) -> None:
    path = write_config(tmp_path, "Mars/Olympus_Mons")
    with pytest.raises(ConfigError, match=r"site\.timezone.*Mars/Olympus_Mons.*IANA"):
        load_config(path)


def test_site_timezone_defaults_to_the_host_zone(tmp_path: Path, host_zone: None) -> None:
    cfg = load_config(write_config(tmp_path, None))
    winter = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert winter.astimezone(cfg.site.tz()).utcoffset() == timedelta(hours=-5)
    assert load_config(write_config(tmp_path, "Pacific/Auckland")).site.tz() == ZoneInfo("Pacific/Auckland")


def test_the_host_zone_keeps_its_daylight_saving_rules(tmp_path: Path, host_zone: None) -> None:
    zone = load_config(write_config(tmp_path, None)).site.tz()
    summer = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)
    assert summer.astimezone(zone).utcoffset() == timedelta(hours=-4)
