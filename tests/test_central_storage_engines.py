"""Central's two engines from one schema and one contract: the migration files build the
same tables on SQLite and PostgreSQL, both refuse a newer schema, `db status` reads both,
and the PostgreSQL engine keeps the SQLite one's promises (group commit with a savepoint per
job, one writer at a time, a password that never shows, a clear error for a server that
is not there). Against a real PostgreSQL server (tests/support_postgres.py)."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from support_db import query, tables
from support_postgres import PostgresServer

from asr_core.errors import StoreError
from asr_central.cli import main as central_cli
from asr_central.storage import migrations as schema
from asr_central.storage import open_database
from asr_central.storage.postgres.dialect import ddl, placeholders

# Declared SQLite type -> what it is; PostgreSQL's type -> the same words.
_SQLITE_FAMILY = {"INTEGER": "integer", "BIGINT": "integer", "TEXT": "text", "REAL": "real",
                  "BLOB": "bytes"}
_POSTGRES_FAMILY = {"bigint": "integer", "text": "text", "double precision": "real",
                    "bytea": "bytes"}


def _sqlite_schema(url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in tables(url):
        if table == "sqlite_sequence":  # SQLite's own AUTOINCREMENT bookkeeping
            continue
        info = query(url, f"PRAGMA table_info({table})")
        pk = [r["name"] for r in sorted(info, key=lambda r: r["pk"]) if r["pk"]]
        columns = {r["name"]: (_SQLITE_FAMILY[r["type"]],
                               bool(r["notnull"]) or r["name"] in pk) for r in info}
        unique, indexes = set(), {}
        for index in query(url, f"PRAGMA index_list({table})"):
            cols = tuple(r["name"] for r in query(url, f"PRAGMA index_info({index['name']})"))
            if index["origin"] == "u":
                unique.add(cols)
            elif index["origin"] == "c":
                indexes[index["name"]] = (cols, bool(index["unique"]))
        out[table] = {"columns": columns, "pk": pk, "unique": unique, "indexes": indexes}
    return out


def _postgres_schema(url: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for table in tables(url):
        info = query(url, "SELECT column_name, data_type, is_nullable, collation_name "
                          "FROM information_schema.columns WHERE table_schema = "
                          "current_schema() AND table_name = ? ORDER BY ordinal_position",
                     (table,))
        for r in info:  # text compares by code point, as SQLite's does
            assert r["data_type"] != "text" or r["collation_name"] == "C", (table, r)
        columns = {r["column_name"]: (_POSTGRES_FAMILY[r["data_type"]],
                                      r["is_nullable"] == "NO") for r in info}
        constraints = query(url, """
            SELECT c.contype, c.conname, array_agg(a.attname ORDER BY k.ord) AS cols
            FROM pg_constraint c
            JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord) ON true
            JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
            WHERE c.conrelid = ?::regclass AND c.contype IN ('p', 'u')
            GROUP BY c.contype, c.conname""", (table,))
        pk = next((list(r["cols"]) for r in constraints if r["contype"] == "p"), [])
        unique = {tuple(r["cols"]) for r in constraints if r["contype"] == "u"}
        named = {r["conname"] for r in constraints}
        indexes = {}
        for r in query(url, """
                SELECT i.relname AS name, ix.indisunique AS uniq,
                       array_agg(a.attname ORDER BY k.ord) AS cols
                FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid
                JOIN unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord) ON true
                JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum
                WHERE ix.indrelid = ?::regclass GROUP BY i.relname, ix.indisunique""",
                (table,)):
            if r["name"] not in named:
                indexes[r["name"]] = (tuple(r["cols"]), r["uniq"])
        out[table] = {"columns": columns, "pk": pk, "unique": unique, "indexes": indexes}
    return out


def test_both_engines_migrate_to_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'central.db'}"
    for url in (sqlite_url, postgres_url):
        open_database(url).close()
    lite, pg = _sqlite_schema(sqlite_url), _postgres_schema(postgres_url)
    assert set(lite) == set(pg)
    assert "summaries" in lite and "schema_migrations" in lite
    for table in lite:
        assert lite[table] == pg[table], table
    # integers are 64-bit on both: a page count up to 2^63-1 fits the column
    assert pg["device_status"]["columns"]["page_count"] == ("integer", False)
    assert query(postgres_url, "SELECT data_type FROM information_schema.columns WHERE "
                               "table_name = 'device_status' AND column_name = 'page_count'"
                 )[0][0] == "bigint"


def test_the_ddl_mapping_reads_past_comments_and_leaves_other_statements() -> None:
    mapped = ddl("-- a comment that says INTEGER\nCREATE TABLE t (\n"
                 "    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order\n"
                 "    n INTEGER NOT NULL, x REAL, b BLOB, s TEXT)")
    assert mapped == ('CREATE TABLE t (\n    id BIGINT GENERATED BY DEFAULT AS IDENTITY '
                      'PRIMARY KEY,  \n    n BIGINT NOT NULL, x DOUBLE PRECISION, b BYTEA, '
                      's TEXT COLLATE "C")')
    update = "UPDATE t SET s = 'INTEGER' WHERE s LIKE '%+00:00'"
    assert ddl(update) == update


def test_placeholders_outside_quotes_are_numbered_and_the_rest_is_left() -> None:
    assert placeholders("SELECT ? FROM t WHERE a = '?' AND b LIKE '%z' AND c = ?") == (
        "SELECT $1 FROM t WHERE a = '?' AND b LIKE '%z' AND c = $2")
    assert placeholders("SELECT 'it''s ?', \"odd?\", ?") == "SELECT 'it''s ?', \"odd?\", $1"


def test_a_newer_schema_is_refused_on_postgres_and_db_status_says_so(
        postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert central_cli(["db", "status", "--db", postgres_url]) == 1
    shipped = schema.files()
    # never migrated: every file pending
    assert f"pending: {len(shipped)}" in capsys.readouterr().out
    open_database(postgres_url).close()
    assert central_cli(["db", "status", "--db", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "engine: postgresql" in out and f"schema version: {shipped[-1].number}" in out
    assert "pending: none" in out and shipped[-1].name in out
    query(postgres_url, "INSERT INTO schema_migrations (number, name, applied_at) "
                        "VALUES (999, '999_future.sql', '2031-01-01T00:00:00Z')")
    with pytest.raises(StoreError, match="schema version 999, newer than this central"):
        open_database(postgres_url)
    assert central_cli(["db", "status", "--db", postgres_url]) == 1
    assert "newer than this version" in capsys.readouterr().out


def test_db_status_on_sqlite_and_a_missing_file(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    assert central_cli(["db", "status", "--db", url]) == 2
    assert "no central database there" in capsys.readouterr().err
    assert not (tmp_path / "central.db").exists()
    open_database(url).close()
    assert central_cli(["db", "status", "--db", url]) == 0
    out = capsys.readouterr().out
    newest = schema.files()[-1].number
    assert "engine: sqlite" in out and f"schema version: {newest}" in out
    assert "pending: none" in out


def test_workers_starting_at_once_migrate_once(postgres_url: str) -> None:
    opened: list[Any] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            opened.append(open_database(postgres_url))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for db in opened:
        db.close()
    assert errors == [] and len(opened) == 4
    numbers = [r[0] for r in query(postgres_url, "SELECT number FROM schema_migrations "
                                                 "ORDER BY number")]
    assert numbers == [m.number for m in schema.files()]


def test_a_password_never_shows_and_an_absent_server_is_named(
        postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port(socket.SOCK_STREAM)  # nobody listens there
    url = f"postgresql://asr:s3cret-pw@127.0.0.1:{port}/central"
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as raised:
        open_database(url)
    message = str(raised.value)
    assert "s3cret-pw" not in message and "s3cret-pw" not in caplog.text
    assert f"'central' on 127.0.0.1 port {port}: cannot connect" in message
    assert "check that the server runs" in message
    # a wrong password: the server's refusal, and still not the password
    wrong = postgres_server.url("postgres").replace("@", ":not-the-pw@", 1)
    wrong = wrong.replace(f"{postgres_server.user}:", "nosuchuser:", 1)
    with pytest.raises(StoreError) as raised:
        open_database(wrong)
    assert "not-the-pw" not in str(raised.value) and "nosuchuser" in str(raised.value)


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Any]:
    db = open_database(postgres_url)
    yield db
    db.close()


@pytest.fixture
def either(central_db_url: str) -> Iterator[Any]:
    """A database on each engine in turn: the group commit is one code for both."""
    db = open_database(central_db_url)
    yield db
    db.close()


def test_group_commit_rolls_a_failing_job_back_alone(either: Any) -> None:
    pg = either
    def ok(n: int) -> Any:
        return lambda unit: unit.execute(
            "INSERT INTO replenish_state (name, value) VALUES (?, ?) RETURNING name",
            (f"k{n}", str(n))).fetchone()[0]

    def bad(unit: Any) -> None:
        unit.execute("INSERT INTO replenish_state (name, value) VALUES ('bad', 'x')")
        unit.execute("INSERT INTO replenish_state (name, value) VALUES ('k1', 'clash')")

    async def main() -> list[Any]:
        return await asyncio.gather(pg.write(ok(1)), pg.write(bad), pg.write(ok(2)),
                                    return_exceptions=True)

    first, failed, last = asyncio.run(main())
    assert (first, last) == ("k1", "k2")
    assert "duplicate key" in str(failed) or "UNIQUE constraint failed" in str(failed)
    assert sorted(tuple(r) for r in pg.connection().execute(
        "SELECT name, value FROM replenish_state")) == [("k1", "1"), ("k2", "2")]


def test_one_writer_at_a_time_across_connections(pg: Any, postgres_url: str) -> None:
    """A second process's transaction waits for the first: the subject modules' checks
    then writes rely on it, as they did on SQLite."""
    other = open_database(postgres_url)
    order: list[str] = []
    inside = threading.Event()

    def first() -> None:
        with pg.transaction() as unit:
            inside.set()
            unit.execute("SELECT pg_sleep(0.4)")
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    try:
        with other.transaction():
            order.append("second")
    finally:
        thread.join()
        other.close()
    assert order == ["first", "second"]


def test_identities_are_set_past_rows_loaded_with_their_ids(pg: Any, tmp_path: Path) -> None:
    with pg.transaction() as unit:
        unit.execute("INSERT INTO orders (order_id, site_id, contact_id, status, created_on, "
                     "created_at) VALUES (41, 's', 'c', 'created', '2027-01-01', "
                     "'2027-01-01T00:00:00Z')")
    pg.reset_identities()
    with pg.transaction() as unit:
        new = unit.execute("INSERT INTO orders (site_id, contact_id, status, created_on, "
                           "created_at) VALUES ('s', 'c', 'shipped', '2027-01-02', "
                           "'2027-01-02T00:00:00Z') RETURNING order_id").fetchone()[0]
    assert new == 42
    lite = open_database(f"sqlite:///{tmp_path / 'central.db'}")
    try:
        lite.reset_identities()  # nothing to do there, and nothing fails
    finally:
        lite.close()


def test_rows_answer_by_name_and_position_and_blobs_come_back_as_bytes(pg: Any) -> None:
    with pg.transaction() as unit:
        unit.execute("INSERT INTO agents (agent_id, site_id, name, created_at) "
                     "VALUES ('a1', 's1', 'n', '2027-01-01T00:00:00Z')")
        unit.execute("INSERT INTO agent_keys (key_id, agent_id, public_key, created_at) "
                     "VALUES (?, ?, ?, ?)", ("k1", "a1", b"\x00\xff" * 16,
                                             "2027-01-01T00:00:00Z"))
    row = pg.connection().execute("SELECT * FROM agent_keys").fetchone()
    assert row["key_id"] == row[0] == "k1"
    assert type(row["public_key"]) is bytes and row["public_key"] == b"\x00\xff" * 16
    assert dict(row)["agent_id"] == "a1"
    assert pg.connection().execute("UPDATE agents SET name = 'm'").rowcount == 1


def test_a_job_alone_in_its_group_that_fails_leaves_nothing(either: Any) -> None:
    pg = either
    def bad(unit: Any) -> None:
        unit.execute("INSERT INTO replenish_state (name, value) VALUES ('half', 'done')")
        raise ValueError("the job's own error")

    with pytest.raises(ValueError, match="the job's own error"):
        asyncio.run(pg.write(bad))
    assert pg.connection().execute("SELECT count(*) FROM replenish_state").fetchone()[0] == 0
    assert asyncio.run(pg.write(lambda unit: unit.execute(
        "INSERT INTO replenish_state (name, value) VALUES ('next', 'ok')").rowcount)) == 1
