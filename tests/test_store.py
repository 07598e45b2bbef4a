"""The local store on real SQLite files: migrations, readings, outbox, retention."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import asr_agent.adapters.store as store_mod
from asr_agent.domain.catalog import load_catalog
from asr_agent.domain.consumption import CartridgeLife, analyze
from asr_core.errors import StoreError
from asr_core.migrations import Migration
from asr_core.records import Device, LevelState, Reading, Supply, SupplyClass, SupplyType, SupplyUnit
from asr_agent.adapters.store import Store

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday
XEROX = Device("1.3.6.1.4.1.253.8.62.1.35.2.3.1.1", "Xerox AltaLink C8045; SS 100.002", "XRX001",
               "xerox", "AltaLink C8045", True)


def toner(level: int, *, index: int = 1, serial: str | None = None, capacity: int = 5300,
          unit: SupplyUnit | None = SupplyUnit.TENTHS_OF_GRAMS) -> Supply:
    return Supply(index, "Black Toner", SupplyType.TONER, SupplyClass.CONSUMED, "black", unit, capacity,
                  level, 100.0 * level / capacity, LevelState.OK, "006R01509", serial, level, capacity)


def waste(level: int) -> Supply:
    return Supply(10, "Waste Toner Container", SupplyType.WASTE_TONER, SupplyClass.RECEPTACLE, None,
                  SupplyUnit.PERCENT, 100, level, float(level), LevelState.OK, "008R13061", None, level, 100)


def reading(at: datetime, *supplies: Supply, host: str = "127.0.0.1", port: int = 16100,
            device: Device = XEROX, pages: int | None = None) -> Reading:
    return Reading(host, port, at, device, tuple(supplies), page_count=pages)


@pytest.fixture
def store(tmp_path: Path):
    s = Store.in_dir(tmp_path / "data")
    yield s
    s.close()


# --- file, pragmas, migrations ---------------------------------------------------------


def test_new_store_applies_every_migration_and_records_it(store: Store) -> None:
    rows = store._conn().execute("SELECT version, name FROM schema_version").fetchall()
    assert rows == [(1, "initial"), (2, "no_cartridge_table")]
    tables = {r[0] for r in store._conn().execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"devices", "device_addresses", "samples", "outbox", "schema_version"} <= tables
    assert "cartridges" not in tables  # consumption.analyze reads cartridge lives from the samples


def test_store_runs_in_wal_with_full_sync(store: Store) -> None:
    c = store._conn()
    assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_store_file_is_owner_only(store: Store) -> None:
    store.record_reading(reading(T0, toner(5000)))
    for p in (store.path, Path(f"{store.path}-wal")):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    Store(tmp_path / "a.db").close()
    s = Store(tmp_path / "a.db")
    assert s._conn().execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 2
    s.close()


def test_store_newer_than_the_agent_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "a.db").close()
    with sqlite3.connect(tmp_path / "a.db") as c:
        c.execute("INSERT INTO schema_version VALUES (99, 'future', '2030-01-01')")
    with pytest.raises(StoreError, match="schema version 99, newer than this agent"):
        Store(tmp_path / "a.db")


def test_failed_migration_applies_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store(tmp_path / "a.db").close()
    real = store_mod._migrations()
    # A broken migration cannot be shipped for real; inject one to prove the rollback.
    broken = "CREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    monkeypatch.setattr(store_mod, "_migrations",
                        lambda: [*real, Migration(3, "003_broken.sql", broken)])
    with pytest.raises(StoreError, match="migration 003_broken.sql failed"):
        Store(tmp_path / "a.db")
    with sqlite3.connect(tmp_path / "a.db") as c:
        assert c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == 2
        assert c.execute("SELECT name FROM sqlite_master WHERE name='half_done'").fetchone() is None


def test_a_file_that_is_not_a_database_is_named_in_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="bad.db.*move it aside"):
        Store(bad)


# --- readings --------------------------------------------------------------------------


def test_record_reading_stores_device_address_and_one_sample_per_supply(store: Store) -> None:
    store.record_reading(reading(T0, toner(5000), waste(80), pages=1234))
    [dev] = store.devices()
    assert (dev.serial, dev.vendor, dev.asr_compatible, dev.state) == ("XRX001", "xerox", True, "ok")
    assert [(a.host, a.port) for a in store.addresses("XRX001")] == [("127.0.0.1", 16100)]
    supplies = store.supplies_of("XRX001")
    assert [(s.index, s.type, s.supply_class) for s in supplies] == [
        (1, SupplyType.TONER, SupplyClass.CONSUMED), (10, SupplyType.WASTE_TONER, SupplyClass.RECEPTACLE)]
    [sample] = store.samples_for("XRX001", 1)
    assert (sample.level, sample.max_capacity, sample.unit, sample.page_count) == (
        5000, 5300, SupplyUnit.TENTHS_OF_GRAMS, 1234)
    assert sample.taken_at == T0


def test_all_supplies_reads_each_devices_latest_sample_as_supplies_of_does(store: Store) -> None:
    other = Device(XEROX.sys_object_id, XEROX.sys_descr, "XRX002", "xerox", "AltaLink C8045", True)
    for h, level in enumerate((5000, 4900, 4800)):
        store.record_reading(reading(T0 + timedelta(hours=h), toner(level), waste(80 - h)))
        store.record_reading(reading(T0 + timedelta(hours=h, minutes=5), toner(level - 1000),
                                     device=other, host="127.0.0.2"))
    everything = store.all_supplies()
    assert set(everything) == {"XRX001", "XRX002"}
    for serial, supplies in everything.items():
        assert supplies == store.supplies_of(serial)
    [toner_1, waste_1] = everything["XRX001"]
    assert (toner_1.latest.level, waste_1.latest.level) == (4800, 78)  # the newest, not the first
    assert toner_1.latest.taken_at == T0 + timedelta(hours=2)
    assert [s.latest.level for s in everything["XRX002"]] == [3800]
    assert store.supplies_of("nobody") == []


def test_same_instant_recorded_twice_is_stored_once(store: Store) -> None:
    store.record_reading(reading(T0, toner(5000)))
    store.record_reading(reading(T0, toner(5000)))
    assert store.sample_count() == 1


def test_a_new_address_is_history_not_a_new_device(store: Store) -> None:
    store.record_reading(reading(T0, toner(5000), host="127.0.0.2"))
    store.record_reading(reading(T0 + timedelta(hours=1), toner(4990), host="127.0.0.3"))
    [dev] = store.devices()
    assert dev.host == "127.0.0.3"
    assert [a.host for a in store.addresses("XRX001")] == ["127.0.0.2", "127.0.0.3"]


def test_samples_for_since_returns_only_newer(store: Store) -> None:
    for h in range(5):
        store.record_reading(reading(T0 + timedelta(hours=h), toner(5000 - h)))
    got = store.samples_for("XRX001", 1, since=T0 + timedelta(hours=3))
    assert [s.level for s in got] == [4997, 4996]


def test_device_state_is_set_and_reset_by_the_next_reading(store: Store) -> None:
    store.record_reading(reading(T0, toner(5000)))
    store.set_device_state("XRX001", "asleep", consecutive_misses=1)
    assert store.device("XRX001").state == "asleep"  # type: ignore[union-attr]
    store.record_reading(reading(T0 + timedelta(hours=1), toner(4990)))
    dev = store.device("XRX001")
    assert dev is not None and (dev.state, dev.consecutive_misses) == ("ok", 0)
    with pytest.raises(ValueError, match="not one of"):
        store.set_device_state("XRX001", "sleepy")


def lives(store: Store, index: int = 1) -> list[CartridgeLife]:
    """Cartridge lives as the agent knows them: consumption's analysis of the stored samples."""
    [supply] = [s for s in store.supplies_of("XRX001") if s.index == index]
    return list(analyze(store.samples_for("XRX001", index), supply_type=supply.type,
                        supply_class=supply.supply_class, catalog=load_catalog()).lives)


def test_premature_replacement_read_from_the_stored_samples(store: Store) -> None:
    store.record_reading(reading(T0, toner(5300)))
    store.record_reading(reading(T0 + timedelta(days=3), toner(2000)))
    store.record_reading(reading(T0 + timedelta(days=3, hours=1), toner(5300)))
    old, new = lives(store)
    assert old.removed_at == T0 + timedelta(days=3, hours=1)
    assert old.last_seen_at == T0 + timedelta(days=3)
    assert old.replaced_because == "level_jump"
    assert old.premature and old.grams_wasted == pytest.approx(200.0)
    assert old.level_at_removal == pytest.approx(100 * 2000 / 5300)
    assert new.removed_at is None and not new.premature


def test_new_cartridge_serial_is_a_replacement_even_at_the_same_level(store: Store) -> None:
    store.record_reading(reading(T0, toner(100, serial="CRUM-A")))
    store.record_reading(reading(T0 + timedelta(hours=1), toner(100, serial="CRUM-B")))
    a, b = lives(store)
    assert (a.cartridge_serial, a.replaced_because, b.cartridge_serial) == ("CRUM-A", "serial_change", "CRUM-B")


def test_a_store_with_the_old_cartridge_table_loses_it_and_keeps_its_samples(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    with sqlite3.connect(db) as c:  # a store as the first schema left it
        c.executescript(store_mod._migrations()[0].sql)
        c.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                  "applied_at TEXT NOT NULL)")
        c.execute("INSERT INTO schema_version VALUES (1, 'initial', '2026-01-01')")
    with Store(db) as old:
        assert old.schema_version() == 2
    with Store(db) as s:
        s.record_reading(reading(T0, toner(5300)))
        assert len(s.samples_for("XRX001", 1)) == 1
        assert s._conn().execute("SELECT name FROM sqlite_master WHERE name='cartridges'").fetchone() is None


def test_each_thread_uses_its_own_connection(store: Store) -> None:
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for h in range(20):
                store.record_reading(reading(T0 + timedelta(minutes=2 * h + offset), toner(5000 - h)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.sample_count() == 40


# --- outbox ----------------------------------------------------------------------------


def test_outbox_hands_out_pending_items_in_sequence_order(store: Store) -> None:
    s1 = store.enqueue(b"one", "summary", "key-1")
    s2 = store.enqueue(b"two", "summary", "key-2")
    assert s2 > s1
    items = store.pending(10)
    assert [(i.seq, i.payload, i.kind) for i in items] == [(s1, b"one", "summary"), (s2, b"two", "summary")]
    assert store.outbox_depth() == 2
    store.mark_acked([items[0].id])
    assert [i.seq for i in store.pending(10)] == [s2]
    assert store.outbox_depth() == 1


def test_enqueueing_an_idempotency_key_again_stores_nothing(store: Store) -> None:
    s1 = store.enqueue(b"one", "summary", "key-1")
    assert store.enqueue(b"one again", "summary", "key-1") == s1
    assert store.outbox_depth() == 1


def test_sequence_keeps_increasing_across_restarts(tmp_path: Path) -> None:
    s = Store(tmp_path / "a.db")
    seqs = [s.next_sequence(), s.enqueue(b"x", "summary", "k")]
    s.close()
    s = Store(tmp_path / "a.db")
    seqs += [s.next_sequence(), s.enqueue(b"y", "summary", "k2")]
    s.close()
    assert seqs == sorted(seqs) and len(set(seqs)) == 4


def test_enqueue_with_a_sequence_taken_earlier(store: Store) -> None:
    seq = store.next_sequence()
    assert store.enqueue(b"signed with seq", "summary", "k", seq=seq) == seq
    assert store.next_sequence() > seq
    with pytest.raises(StoreError, match=f"sequence {seq} is already used"):
        store.enqueue(b"other", "summary", "k2", seq=seq)


def test_transient_failure_keeps_the_item_and_counts_attempts(store: Store) -> None:
    store.enqueue(b"x", "summary", "k")
    [item] = store.pending()
    store.mark_failed(item.id, "503 from central", permanent=False)
    [again] = store.pending()
    assert (again.attempts, again.last_error) == (1, "503 from central")


def test_permanent_failure_takes_the_item_out_of_pending(store: Store) -> None:
    store.enqueue(b"x", "summary", "k")
    [item] = store.pending()
    store.mark_failed(item.id, "signature rejected", permanent=True)
    assert store.pending() == [] and store.outbox_depth() == 0
    assert [i.last_error for i in store.refused()] == ["signature rejected"]
    with pytest.raises(StoreError, match="no outbox item with id 999"):
        store.mark_failed(999, "x", permanent=True)


# --- retention -------------------------------------------------------------------------


def test_compaction_thins_old_samples_to_one_per_day_and_keeps_cartridge_boundaries(store: Store) -> None:
    # 10 days, 6 readings a day; a premature replacement on day 4 at 13:00.
    level = 5300
    for day in range(10):
        for h in (8, 10, 12, 13, 15, 17):
            at = T0.replace(hour=h) + timedelta(days=day)
            level = 5300 if (day, h) == (4, 13) else level - 100
            store.record_reading(reading(at, toner(level)))
    now = T0 + timedelta(days=15)
    result = store.compact(now=now, compact_after_days=8, sample_retention_days=400)
    kept = store.samples_for("XRX001", 1)
    old = [s for s in kept if s.taken_at < now - timedelta(days=8)]
    by_day: dict = {}
    for s in old:
        by_day.setdefault(s.taken_at.date(), []).append(s.taken_at.hour)
    # The last of each day, plus each cartridge's first sample (day 0 08:00, day 4 13:00) and
    # the last sample before the replacement (day 4 12:00).
    assert by_day.pop(T0.date()) == [8, 17]
    assert by_day.pop(T0.date() + timedelta(days=4)) == [12, 13, 17]
    assert list(by_day.values()) == [[17]] * 5
    assert (result.thinned, result.expired) == (42 - 10, 0)
    assert len([s for s in kept if s.taken_at >= now - timedelta(days=8)]) == 18  # days 7..9 untouched


def test_retention_deletes_old_samples_but_keeps_the_installed_cartridge_start(store: Store) -> None:
    for day in range(5):
        store.record_reading(reading(T0 + timedelta(days=day), toner(5000 - day)))
    result = store.compact(now=T0 + timedelta(days=500), compact_after_days=14, sample_retention_days=400)
    assert result.expired == 4
    [s] = store.samples_for("XRX001", 1)
    assert s.taken_at == T0  # the installed cartridge's first sample: grams used since install need it


def test_retention_shorter_than_the_forecast_window_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="forecast window"):
        store.compact(now=T0, compact_after_days=7, sample_retention_days=30)
