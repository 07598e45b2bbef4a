"""`asr-central db copy`: a central holding a simulated stretch copied into an empty
database answers every API call as the original did, keeps refusing what it refused
(replays), and goes on numbering after the copied rows; a destination holding data or of a
newer schema is refused; the per-table check finds a changed row.

The destination runs on each engine (`central_db_url`); the source is a SQLite file, as
when a dealer moves central up to PostgreSQL.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from asr_agent.adapters.keys import seal
from asr_core.wire import Summary, idempotency_key
from asr_central.cli import main as central_main
from asr_central.simulate.fleet import parse_fleet
from asr_central.simulate.loop import simulate
from asr_central.storage import open_database
from asr_central.storage import copy
from support_central import (
    FAR, CentralServer, Clock, post_summaries, register_fleet, run_late,
)
from test_central_ops import UrlServer
from test_simulate_central import FLEET

# Every read the API offers over what a simulated month leaves behind.
READS = ("/v1/orders", "/v1/orders.csv", "/v1/alerts", "/v1/registry",
         "/v1/admin/agents")


def _answers(server: CentralServer, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for path in READS + extra:
        r = server.admin("GET", path)
        assert r.status_code == 200, (path, r.text)
        out[path] = r.text if path.endswith(".csv") else r.json()
    return out


@pytest.fixture(scope="module")
def simulated() -> tuple[Any, list[Summary]]:
    fleet = parse_fleet(FLEET)
    captured: list[Summary] = []
    result = simulate(fleet, "asr", summaries=captured)
    assert result.parcels
    return fleet, captured


def _filled_source(tmp_path: Path, simulated: tuple[Any, list[Summary]]
                   ) -> tuple[Path, dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """A central that took the month's summaries, ordered and shipped; its API answers,
    the agents, and one envelope it already stored (for the replay check)."""
    fleet, captured = simulated
    clock = Clock(FAR)
    db = tmp_path / "source.db"
    server = CentralServer(db, clock=clock).start()
    try:
        agents = register_fleet(server, fleet, tmp_path)
        assert post_summaries(server, agents, captured) == len(captured)
        last = max(s.period_start.date() for s in captured)
        run_late(server, clock, last)
        orders = server.admin("GET", "/v1/orders").json()
        assert orders, "the month must leave orders behind"
        r = server.admin("POST", f"/v1/orders/{orders[0]['order_id']}/ship",
                         json={"tracking": "TRACK-1"})
        assert r.status_code == 200, r.text
        extra = tuple(f"/v1/orders/{o['order_id']}" for o in orders) + tuple(
            f"/v1/devices/{d.serial}" for _, d in fleet.devices())
    finally:
        server.stop()
    # Read back by a fresh server: the policy runs ingest started are over by then.
    server = CentralServer(db, clock=clock).start()
    try:
        before = _answers(server, extra)
        before["extra"] = extra
        s = captured[0]
        key, agent_id = agents[s.site_id]
        stored = seal(dataclasses.replace(s, agent_id=agent_id, idempotency_key=idempotency_key(
            agent_id, s.device.serial, s.period_start, s.period_end)), key).to_dict()
        return db, before, agents, [stored]
    finally:
        server.stop()


def test_a_copied_central_answers_every_api_call_as_the_original(
        central_db_url: str, tmp_path: Path, simulated: tuple[Any, list[Summary]],
        capsys: pytest.CaptureFixture[str]) -> None:
    source, before, agents, stored = _filled_source(tmp_path, simulated)
    assert central_main(["db", "copy", f"sqlite:///{source}", central_db_url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["table", "source", "rows", "copied", "rows", "digest", "check"]
    rows = {line.split()[0]: line.split() for line in table[1:]}
    assert set(rows) == {t.name for t in copy.TABLES}
    assert all(r[-1] == "ok" and r[1] == r[2] for r in rows.values())
    assert int(rows["summaries"][1]) == len(simulated[1])

    copied = UrlServer(central_db_url, tmp_path)
    copied.clock = Clock(FAR)
    copied.start()
    try:
        after = _answers(copied, before["extra"])
        after["extra"] = before["extra"]
        assert after == before
        # what was stored is still known: a replay is a duplicate, not a second summary
        r = httpx.post(f"{copied.url}/v1/summaries", json={"envelopes": stored},
                       trust_env=False, timeout=10)
        assert [x["status"] for x in r.json()["results"]] == ["duplicate"], r.text
        # and the next order or summary is numbered after the copied ones
        fleet, captured = simulated
        shift = timedelta(days=40)
        later = [dataclasses.replace(s, period_start=s.period_start + shift,
                                     period_end=s.period_end + shift, sequence=s.sequence + 10_000)
                 for s in captured[-2:]]
        post_summaries(copied, agents, later)
    finally:
        copied.stop()
    db = open_database(central_db_url)
    try:
        conn = db.connection()
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM summaries ORDER BY id")]  # type: ignore[attr-defined]
    finally:
        db.close()
    assert len(ids) == len(set(ids)) == len(captured) + 2
    assert ids[:-2] == list(range(1, len(captured) + 1))  # the copied ids, unchanged
    assert min(ids[-2:]) > len(captured)


def test_a_destination_holding_data_is_refused_and_left_alone(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, dest = tmp_path / "a.db", tmp_path / "b.db"
    open_database(f"sqlite:///{source}").close()
    db = open_database(f"sqlite:///{dest}")
    try:
        with db.transaction() as conn:
            conn.execute("INSERT INTO contacts (contact_id, name, email, updated_at) "  # type: ignore[attr-defined]
                         "VALUES ('c1', 'C', 'c@example.com', '2027-01-01T00:00:00Z')")
    finally:
        db.close()
    assert central_main(["db", "copy", f"sqlite:///{source}", f"sqlite:///{dest}"]) == 2
    assert "is not empty (rows in contacts)" in capsys.readouterr().err
    assert sqlite3.connect(dest).execute("SELECT COUNT(*) FROM contacts").fetchone() == (1,)


def test_a_destination_of_a_newer_schema_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, dest = tmp_path / "a.db", tmp_path / "b.db"
    open_database(f"sqlite:///{source}").close()
    open_database(f"sqlite:///{dest}").close()
    with sqlite3.connect(dest) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (999, '999_later.sql', '2030-01-01')")
    assert central_main(["db", "copy", f"sqlite:///{source}", f"sqlite:///{dest}"]) == 2
    assert "schema version 999, newer than" in capsys.readouterr().err


def test_the_check_finds_a_changed_row(tmp_path: Path) -> None:
    a, b = (open_database(f"sqlite:///{tmp_path / name}") for name in ("a.db", "b.db"))
    try:
        with a.transaction() as conn:
            conn.execute("INSERT INTO replenish_state (name, value) VALUES ('x', '1')")  # type: ignore[attr-defined]
        table = next(t for t in copy.TABLES if t.name == "replenish_state")
        with b.transaction() as conn:
            copy.copy_rows(a.connection(), conn, table)
        assert copy.check_table(a.connection(), b.connection(), table).ok
        with b.transaction() as conn:
            conn.execute("UPDATE replenish_state SET value = '2'")  # type: ignore[attr-defined]
        check = copy.check_table(a.connection(), b.connection(), table)
        assert (check.source_rows, check.dest_rows, check.ok) == (1, 1, False)
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(("one", "other"), [
    (b"\x00\xff", memoryview(b"\x00\xff")), (5, 5.0), (1, True), (2.5, 2.5),
])
def test_values_both_engines_return_alike_digest_alike(one: object, other: object) -> None:
    assert copy.normalise(one) == copy.normalise(other)


def test_distinct_values_stay_distinct() -> None:
    values = [None, "5", 5, 5.5, b"5", "b:35"]
    assert len({repr(copy.normalise(v)) for v in values}) == len(values)


def test_every_table_of_the_schema_is_copied_after_the_tables_it_references(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'c.db'}")
    conn = sqlite3.connect(tmp_path / "c.db")
    db.close()
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {t.name for t in copy.TABLES} == names - {"schema_migrations", "sqlite_sequence"} \
        - copy.TRANSIENT
    order = [t.name for t in copy.TABLES]
    for t in copy.TABLES:
        keys = [r[5] for r in sorted(conn.execute(f"PRAGMA table_info({t.name})"))
                if r[5]]
        assert len(keys) == len(t.key), t.name
        pk = [r[1] for r in sorted(conn.execute(f"PRAGMA table_info({t.name})"), key=lambda r: r[5]) if r[5]]
        assert tuple(pk) == t.key, t.name
        for parent in {r[2] for r in conn.execute(f"PRAGMA foreign_key_list({t.name})")}:
            assert order.index(parent) < order.index(t.name), (t.name, parent)
