"""Simulated printers on loopback whose supply levels fall as (simulated) time passes:
real SNMP agents (snmpsim) serving the bundled recordings, with each level held in a
SQLite table that snmpsim's `sql` variation reads at every request.

Used by `asr-agent demo` and by the daemon's tests and benchmark; never binds anything
but loopback (SnmpSim refuses other addresses).
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path

from asr_dev.snmpsim_process import EngineGroup, SnmpSim

LEVEL_COLUMN = "1.3.6.1.2.1.43.11.1.1.9.1."
CAPACITY_COLUMN = "1.3.6.1.2.1.43.11.1.1.8.1."
SERIAL_OID = "1.3.6.1.2.1.43.5.1.1.17.1"
PAGES_OID = "1.3.6.1.2.1.43.10.2.1.4.1.1"
# The weekly shape of office printing, Monday first (weekends print little).
OFFICE_WEEK = (1.0, 1.0, 1.0, 1.0, 1.0, 0.1, 0.0)


def recording(name: str) -> str:
    """One of the bundled recordings in asr_dev/data/simulated, by file stem."""
    return (resources.files("asr_dev") / "data" / "simulated" / f"{name}.snmprec").read_text()


def _sql_oid(oid: str) -> str:
    return ".".join("%10s" % arc for arc in oid.split("."))  # how snmpsim's sql module keys rows


@dataclass
class SimulatedPrinter:
    """One printer: a recording, a serial, an address, and how fast each supply goes.

    `serial` None leaves prtGeneralSerialNumber out (an RFC 1759-era printer that has none);
    "" serves it empty. `use_pct_per_day[index]` is the share of the supply's capacity used
    (for a waste bottle: filled) per full working day; `start_pct[index]` overrides the
    recording's level.
    """

    name: str
    recording: str
    serial: str | None
    host: str
    port: int
    use_pct_per_day: Mapping[int, float] = field(default_factory=dict)
    start_pct: Mapping[int, float] = field(default_factory=dict)
    pages_per_day: int = 400
    week: Sequence[float] = OFFICE_WEEK
    capacities: dict[int, int] = field(default_factory=dict, init=False)
    levels: dict[int, float] = field(default_factory=dict, init=False)
    pages: float = field(default=0.0, init=False)


class SimulatedFleet:
    """Start with start(), move time with advance(now), stop with stop().

    Up to `per_process` printers share one snmpsim process, each as its own SNMP engine
    with its own data (a process costs ~1 s to start, an engine in it ~80 ms).
    """

    def __init__(self, printers: Sequence[SimulatedPrinter], workdir: Path | None = None, *,
                 per_process: int = 50) -> None:
        self.printers = list(printers)
        self.per_process = max(1, per_process)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="asr-printers-")
            workdir = Path(self._tmp.name)
        self.workdir = Path(workdir)
        self.db = self.workdir / "levels.sqlite"
        self._sims: list[SnmpSim] = []
        self._clock: datetime | None = None

    def start(self, now: datetime) -> SimulatedFleet:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(self.db) as conn:
            for n, printer in enumerate(self.printers):
                table = f"p{n}"
                conn.execute(f"DROP TABLE IF EXISTS {table}")
                conn.execute(f"CREATE TABLE {table} (oid text, tag text, value text, maxaccess text)")
                lines, rows = self._prepare(printer, table)
                data_dir = self.workdir / table
                data_dir.mkdir(exist_ok=True)
                (data_dir / "public.snmprec").write_text("\n".join(lines) + "\n")
                conn.executemany(f"INSERT INTO {table} VALUES (?,?,?,?)", rows)
        conn.close()
        self._clock = now
        try:
            for first in range(0, len(self.printers), self.per_process):
                batch = range(first, min(first + self.per_process, len(self.printers)))
                groups = [EngineGroup(self.workdir / f"p{n}", [(self.printers[n].host, self.printers[n].port)])
                          for n in batch]
                sim = SnmpSim(groups[0].data_dir, groups[0].endpoints, groups=groups[1:],
                              variation_options=[f"sql:dbtype:sqlite3,database:{self.db}"],
                              startup_timeout=20.0 + 0.5 * len(groups))
                self._sims.append(sim.launch())
            for sim in self._sims:
                sim.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _prepare(printer: SimulatedPrinter, table: str) -> tuple[list[str], list[tuple[str, str, str, str]]]:
        lines: list[str] = []
        rows: list[tuple[str, str, str, str]] = []
        source = recording(printer.recording).splitlines()
        for line in source:
            oid, _, value = line.split("|", 2)
            if oid.startswith(CAPACITY_COLUMN):
                printer.capacities[int(oid.rsplit(".", 1)[1])] = int(value)
        for line in source:
            oid, tag, value = line.split("|", 2)
            if oid == SERIAL_OID:
                if printer.serial is None:
                    continue
                line = f"{oid}|{tag}|{printer.serial}"
            elif oid == PAGES_OID:
                printer.pages = float(value)
                lines.append(f"{oid}|{tag}:sql|{table}")
                rows.append((_sql_oid(oid), tag, value, "read-only"))
                continue
            elif oid.startswith(LEVEL_COLUMN):
                index = int(oid.rsplit(".", 1)[1])
                capacity = printer.capacities.get(index, 0)
                level = float(value)
                if index in printer.start_pct and capacity > 0:
                    level = capacity * printer.start_pct[index] / 100
                printer.levels[index] = level
                lines.append(f"{oid}|{tag}:sql|{table}")
                rows.append((_sql_oid(oid), tag, str(round(level)), "read-only"))
                continue
            lines.append(line)
        return lines, rows

    def advance(self, now: datetime) -> None:
        """Print from the last call to `now`: levels fall (waste bottles fill) by the week's shape."""
        if self._clock is None or now <= self._clock:
            return
        days = _working_days(self._clock, now, OFFICE_WEEK)
        self._clock = now
        with sqlite3.connect(self.db) as conn:
            for n, printer in enumerate(self.printers):
                work = _working_days_for(printer, days)
                for index, pct in printer.use_pct_per_day.items():
                    capacity = printer.capacities.get(index, 0)
                    if capacity <= 0 or index not in printer.levels:
                        continue
                    printer.levels[index] = max(0.0, printer.levels[index] - capacity * pct / 100 * work)
                    conn.execute(f"UPDATE p{n} SET value=? WHERE oid=?",
                                 (str(round(printer.levels[index])), _sql_oid(f"{LEVEL_COLUMN}{index}")))
                printer.pages += printer.pages_per_day * work
                conn.execute(f"UPDATE p{n} SET value=? WHERE oid=?", (str(int(printer.pages)), _sql_oid(PAGES_OID)))
        conn.close()

    def stop(self) -> None:
        for sim in self._sims:
            sim.stop()
        self._sims.clear()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimulatedFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _working_days(start: datetime, end: datetime, week: Sequence[float]) -> float:
    """Working-day equivalents between two instants, weighting each day by `week`."""
    total = 0.0
    cursor = start
    while cursor < end:
        next_midnight = datetime.combine(cursor.date(), datetime.min.time(), cursor.tzinfo).timestamp() + 86400
        step_end = min(end.timestamp(), next_midnight)
        total += (step_end - cursor.timestamp()) / 86400 * week[cursor.weekday()]
        cursor = datetime.fromtimestamp(step_end, cursor.tzinfo)
    return total


def _working_days_for(printer: SimulatedPrinter, office_days: float) -> float:
    return office_days  # every simulated printer follows the office week for now
