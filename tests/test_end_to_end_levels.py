"""poll → store → consumption → status, against a simulated printer whose levels drop.

snmpsim's `sql` variation serves the level, description and page-counter objects from a
SQLite table that the test updates between polls, as a printer's own counters would move.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asr_agent.domain.catalog import load_catalog
from asr_agent.cli import main as cli_main
from asr_agent.domain.consumption import analyze
from asr_core.codes import Code
from asr_agent.domain.forecast import forecast
from asr_agent.app.poller import poll_printer
from asr_core.records import Reading, SupplyClass, SupplyType
from asr_agent.adapters.snmp import SnmpClient, SnmpCredential
from asr_agent.adapters.store import Store

RECORDING = Path(__file__).parent / "recordings" / "xerox_colour_mfp.snmprec"
LEVEL = "1.3.6.1.2.1.43.11.1.1.9.1.{}"
DESCR = "1.3.6.1.2.1.43.11.1.1.6.1.{}"
PAGES = "1.3.6.1.2.1.43.10.2.1.4.1.1"
VARIED = {LEVEL.format(1), LEVEL.format(2), DESCR.format(2), PAGES}


def _sql_oid(oid: str) -> str:
    return ".".join("%10s" % arc for arc in oid.split("."))  # how the sql module keys rows


class Printer:
    """The values the simulated printer reports, kept in the sql variation's table."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def set(self, oid: str, value: int | str) -> None:
        with sqlite3.connect(self.db) as c:
            c.execute("UPDATE levels SET value=? WHERE oid=?", (str(value), _sql_oid(oid)))
        c.close()


@pytest.fixture
def printer(tmp_path: Path, snmpsim, udp_port: int) -> Iterator[tuple[Printer, tuple[str, int]]]:
    data = tmp_path / "data"
    data.mkdir()
    db = tmp_path / "levels.db"
    lines, rows = [], []
    for line in RECORDING.read_text().splitlines():
        oid, tag, value = line.split("|", 2)
        if oid in VARIED:
            lines.append(f"{oid}|{tag}:sql|levels")
            rows.append((_sql_oid(oid), tag, value, "read-only"))
        else:
            lines.append(line)
    (data / "public.snmprec").write_text("\n".join(lines) + "\n")
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE levels (oid text, tag text, value text, maxaccess text)")
        c.executemany("INSERT INTO levels VALUES (?,?,?,?)", rows)
    c.close()
    endpoint = ("127.0.0.1", udp_port)
    snmpsim(data, [endpoint], variation_options=[f"sql:dbtype:sqlite3,database:{db}"])
    yield Printer(db), endpoint


def test_levels_lowered_between_polls_become_grams_lives_and_days_to_empty(printer, tmp_path: Path) -> None:
    sim, (host, port) = printer
    catalog = load_catalog()
    store = Store.in_dir(tmp_path / "agent")
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=4)
    polls = 13  # every 8 hours over 4 days

    async def run() -> list[Reading]:
        readings: list[Reading] = []
        async with SnmpClient(timeout=1.0, retries=1) as client:
            previous = None
            for i in range(polls):
                black = 5000 - 40 * i  # 4 g per 8 hours = 12 g a day (tenths of grams)
                sim.set(LEVEL.format(1), black)
                sim.set(PAGES, 120344 + 200 * i)
                if i == 6:  # cyan swapped at 1800/3000 (60 %): a new cartridge serial, full
                    sim.set(DESCR.format(2), "Cyan Toner, PN 006R01747;SN99999999E0000001")
                    sim.set(LEVEL.format(2), 3000)
                elif i < 6:
                    sim.set(LEVEL.format(2), 1980 - 30 * i)
                else:
                    sim.set(LEVEL.format(2), 3000 - 30 * (i - 6))
                reading = await poll_printer(client, host, port, SnmpCredential.v2c("public"),
                                             now=start + timedelta(hours=8 * i), previous=previous)
                store.record_reading(reading)
                readings.append(reading)
                previous = reading
        return readings

    readings = asyncio.run(run())
    assert readings[-1].supplies[0].level == 5000 - 40 * (polls - 1)  # the poller saw the drop

    serial = readings[0].device.serial
    assert serial and [d.serial for d in store.devices()] == [serial]
    black = store.samples_for(serial, 1)
    assert [s.level for s in black] == [5000 - 40 * i for i in range(polls)]
    assert black[-1].page_count == 120344 + 200 * (polls - 1)

    a = analyze(black, supply_type=SupplyType.TONER, supply_class=SupplyClass.CONSUMED, catalog=catalog)
    assert a.estimate == "level" and a.grams_basis == "measured"
    assert a.grams_used == pytest.approx(4.0 * (polls - 1))
    f = forecast(a.daily, remaining=a.remaining_percent, now=now, readings=a.readings, span_h=a.span_h)
    assert f.status == "ok" and f.daily_grams == pytest.approx(12.0, rel=0.05)
    # 4520 tenths of grams left at 12 g a day ≈ 37.7 days.
    assert f.days_to_empty == pytest.approx(452 / 12, rel=0.05)
    assert f.days_to_empty_low < f.days_to_empty < f.days_to_empty_high  # type: ignore[operator]

    cyan = analyze(store.samples_for(serial, 2), supply_type=SupplyType.TONER,
                   supply_class=SupplyClass.CONSUMED, catalog=catalog)
    assert [life.cartridge_serial for life in cyan.lives] == ["461E7A80E0000489", "99999999E0000001"]
    assert cyan.lives[0].premature and cyan.lives[0].grams_wasted == pytest.approx(183.0)
    assert [fl.kind for fl in cyan.flags] == [Code.PREMATURE_REPLACEMENT]
    old, new = cyan.lives
    assert old.premature and old.replaced_because == "serial_change" and new.removed_at is None
    store.close()


def test_status_command_prints_the_stored_forecast(printer, tmp_path: Path, capsys) -> None:
    sim, (host, port) = printer
    store = Store.in_dir(tmp_path / "agent")
    start = datetime.now(UTC) - timedelta(days=3)

    async def run() -> None:
        async with SnmpClient(timeout=1.0, retries=1) as client:
            for i in range(7):
                sim.set(LEVEL.format(1), 5000 - 60 * i)
                store.record_reading(await poll_printer(client, host, port, SnmpCredential.v2c("public"),
                                                        now=start + timedelta(hours=12 * i)))

    asyncio.run(run())
    store.close()
    assert cli_main(["status", "--data-dir", str(tmp_path / "agent"), "--json",
                     "--config", str(tmp_path / "absent.yaml")]) == 2  # a named config must exist
    capsys.readouterr()
    cfg = tmp_path / "config.yaml"
    cfg.write_text("site:\n  id: test-site\n")
    assert cli_main(["status", "--data-dir", str(tmp_path / "agent"), "--json", "--config", str(cfg)]) == 0
    [device] = json.loads(capsys.readouterr().out)
    black = next(s for s in device["supplies"] if s["index"] == 1)
    assert black["forecast_status"] == "ok" and black["daily_grams"] == pytest.approx(12.0, rel=0.05)
    assert black["days_to_empty_low"] < black["days_to_empty"] < black["days_to_empty_high"]
    assert cli_main(["status", "--data-dir", str(tmp_path / "agent"), "--config", str(cfg)]) == 0
    table = capsys.readouterr().out
    assert device["serial"] in table and "Black Toner" in table
