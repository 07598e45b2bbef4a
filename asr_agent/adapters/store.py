"""The agent's local memory: devices, supply samples and the outbox (cartridge lives are
read from the samples by asr_agent.domain.consumption, the one model of them).

One SQLite file (WAL) in the data directory; schema changes are numbered migrations.

Durability: WAL with `synchronous=FULL`, so a call that returned has its transaction in
the WAL *and* fsynced: it survives kill -9 (NORMAL would already do that, the data
being in the OS cache) and also a power cut, at one fsync per write transaction, which
a poller writing one transaction per printer reading can afford.

Threads: every thread gets its own connection, opened on first use (`Store` may be
shared). SQLite lets many readers work beside one writer; writers queue on the file
lock for up to `busy_timeout_s`. Other processes (a status command) may open the same
file at the same time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from asr_agent.domain import identity
from asr_agent.domain.consumption import is_replacement
from asr_core import migrations
from asr_core.errors import StoreError
from asr_core.records import Device, LevelState, Reading, Sample, SupplyClass, SupplyType, SupplyUnit

__all__ = [
    "DB_FILE_NAME", "CompactionResult", "OutboxItem", "Store", "StoredDevice",
    "StoredSupply", "device_key", "COMPACT_AFTER_DAYS",
]

DB_FILE_NAME = "asr-agent.sqlite3"
DEVICE_STATES = ("ok", "asleep", "unreachable")
# The forecast looks back this many days; retention shorter than that would starve it.
FORECAST_WINDOW_DAYS = 56
# The agent's ledger keeps migration names without ".sql", as it always has.
_LEDGER = migrations.Ledger("schema_version", "version", name_is_file=False)


@dataclass(frozen=True, slots=True)
class StoredDevice:
    serial: str
    vendor: str | None
    model: str | None
    sys_object_id: str
    sys_descr: str | None
    asr_compatible: bool
    state: str  # ok | asleep | unreachable
    first_seen: datetime
    last_seen: datetime
    consecutive_misses: int
    host: str | None  # latest address
    port: int | None


@dataclass(frozen=True, slots=True)
class AddressRecord:
    host: str
    port: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class StoredSupply:
    serial: str
    index: int
    description: str
    type: SupplyType
    supply_class: SupplyClass
    color: str | None
    unit: SupplyUnit | None
    part_number: str | None
    last_seen: datetime
    latest: Sample | None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    seq: int
    idempotency_key: str
    created_at: datetime
    kind: str
    payload: bytes
    attempts: int
    sent_at: datetime | None
    last_error: str | None
    failed_at: datetime | None = None  # when central refused it for good (then it is parked)


@dataclass(frozen=True, slots=True)
class CompactionResult:
    thinned: int  # samples removed by thinning to one per supply per day
    expired: int  # samples removed for being older than the retention


def device_key(reading_or_device: Reading | Device) -> str:
    """The device's key in the store: the one rule of asr_agent.domain.identity (its serial,
    else the hash of what it says it is; never its address)."""
    device = reading_or_device.device if isinstance(reading_or_device, Reading) else reading_or_device
    return identity.device_key(device)


_COUNTER_WRAP = 2**64
# Samples older than this are thinned to one a day; the config's default (store.compact_after_days).
COMPACT_AFTER_DAYS = 35


def counter_to_db(value: int | None) -> int | None:
    """A Counter64 (0..2^64-1) as SQLite's signed 64-bit INTEGER, without loss: values
    from 2^63 up are kept as their two's complement (negative), which no counter is."""
    if value is None:
        return None
    if not 0 <= value < _COUNTER_WRAP:
        raise ValueError(f"page counter {value} is outside a Counter64 (0..2^64-1)")
    return value - _COUNTER_WRAP if value >= 2**63 else value


def counter_from_db(value: int | None) -> int | None:
    return None if value is None else value + _COUNTER_WRAP if value < 0 else value


def _ts(dt: datetime) -> str:
    if dt.tzinfo is None:
        raise ValueError(f"datetime {dt.isoformat()} has no time zone; pass an aware datetime")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _at(text: str) -> datetime:
    """A NOT NULL time column."""
    return datetime.fromisoformat(text)


def _now() -> datetime:
    return datetime.now(UTC)


def _migrations() -> list[migrations.Migration]:
    return migrations.load(resources.files("asr_agent.adapters").joinpath("migrations"))


class Store:
    """The local SQLite store. Open with `Store(path)` or `Store.in_dir(data_dir)`."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0,
                 clock: Callable[[], datetime] = _now) -> None:
        self.path = Path(path)
        self._busy_ms = int(busy_timeout_s * 1000)
        self._clock = clock
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._create_file()
        self._migrate()

    @classmethod
    def in_dir(cls, data_dir: str | Path, **kwargs) -> Store:
        return cls(Path(data_dir) / DB_FILE_NAME, **kwargs)

    # --- connection, file, schema ---------------------------------------------------

    def _create_file(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Created owner-only before SQLite opens it; SQLite gives the -wal and -shm
            # files the database file's permissions.
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
            os.close(fd)
            if os.name == "posix":
                os.chmod(self.path, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the store {self.path}: {exc.strerror}; check that the "
                             "data directory exists and is writable by this user") from None

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=self._busy_ms / 1000)
            conn.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"store {self.path}: SQLite refused WAL mode ({mode}); put the data "
                                 "directory on a local file system")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}; if the file is damaged, move "
                             "it aside and the agent will start a new one") from None
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self):
        return _Txn(self._conn())

    def schema_version(self) -> int:
        row = self._conn().execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])

    def _migrate(self) -> None:
        migrations.apply(self._conn(), _migrations(), _LEDGER, applied_at=_ts(self._clock()),
                         where=f"store {self.path}", program="agent")

    # --- devices and readings ---------------------------------------------------------

    def upsert_device(self, device: Device, host: str, port: int, at: datetime) -> str:
        """Record that `device` answered at host:port at `at`; returns its key."""
        with self._write() as c:
            return self._upsert_device(c, device, host, port, at)

    def _upsert_device(self, c: sqlite3.Connection, device: Device, host: str, port: int,
                       at: datetime) -> str:
        key = device_key(device)
        t = _ts(at)
        c.execute(
            "INSERT INTO devices (serial, vendor, model, sys_object_id, sys_descr, asr_compatible, state, "
            "first_seen, last_seen, consecutive_misses, host, port) VALUES (?,?,?,?,?,?,'ok',?,?,0,?,?) "
            "ON CONFLICT(serial) DO UPDATE SET vendor=excluded.vendor, model=excluded.model, "
            "sys_object_id=excluded.sys_object_id, sys_descr=excluded.sys_descr, "
            "asr_compatible=excluded.asr_compatible, state='ok', consecutive_misses=0, "
            "last_seen=MAX(last_seen, excluded.last_seen), host=excluded.host, port=excluded.port",
            (key, device.vendor, device.model, device.sys_object_id, device.sys_descr,
             int(device.asr_compatible), t, t, host, port))
        c.execute(
            "INSERT INTO device_addresses (serial, host, port, first_seen, last_seen) VALUES (?,?,?,?,?) "
            "ON CONFLICT(serial, host, port) DO UPDATE SET last_seen=MAX(last_seen, excluded.last_seen)",
            (key, host, port, t, t))
        return key

    def set_device_state(self, serial: str, state: str, *, consecutive_misses: int | None = None) -> None:
        """Discovery's verdict on a known device (ok / asleep / unreachable)."""
        if state not in DEVICE_STATES:
            raise ValueError(f"device state {state!r} is not one of {', '.join(DEVICE_STATES)}")
        with self._write() as c:
            cur = c.execute("UPDATE devices SET state=?, consecutive_misses=COALESCE(?, consecutive_misses) "
                            "WHERE serial=?", (state, consecutive_misses, serial))
            if cur.rowcount == 0:
                raise StoreError(f"no device with serial {serial!r} in the store {self.path}")

    def record_reading(self, reading: Reading) -> None:
        """Store one poll in one transaction: device, address, one sample per supply. Cartridge
        lives are not stored: consumption.analyze reads them from the samples."""
        t = _ts(reading.taken_at)
        with self._write() as c:
            key = self._upsert_device(c, reading.device, reading.host, reading.port, reading.taken_at)
            for s in reading.supplies:
                c.execute(
                    "INSERT INTO supplies (serial, supply_index, description, type, supply_class, color, unit, "
                    "part_number, last_seen) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(serial, supply_index) DO "
                    "UPDATE SET description=excluded.description, type=excluded.type, "
                    "supply_class=excluded.supply_class, color=excluded.color, unit=excluded.unit, "
                    "part_number=COALESCE(excluded.part_number, part_number), "
                    "last_seen=MAX(last_seen, excluded.last_seen)",
                    (key, s.index, s.description, int(s.type), int(s.supply_class), s.color,
                     None if s.unit is None else int(s.unit), s.part_number, t))
                c.execute(
                    "INSERT OR IGNORE INTO samples (serial, supply_index, taken_at, raw_level, raw_capacity, "
                    "level, max_capacity, unit, supply_class, type, level_state, remaining_percent, "
                    "part_number, cartridge_serial, page_count) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (key, s.index, t, s.raw_level, s.raw_capacity, s.level, s.max_capacity,
                     None if s.unit is None else int(s.unit), int(s.supply_class), int(s.type),
                     s.level_state.value, s.remaining_percent, s.part_number, s.cartridge_serial,
                     counter_to_db(reading.page_count)))  # an instant already stored is kept

    # --- reads ---------------------------------------------------------------------------

    def devices(self) -> list[StoredDevice]:
        rows = self._conn().execute("SELECT * FROM devices ORDER BY serial").fetchall()
        return [_device(r) for r in rows]

    def device(self, serial: str) -> StoredDevice | None:
        row = self._conn().execute("SELECT * FROM devices WHERE serial=?", (serial,)).fetchone()
        return _device(row) if row else None

    def addresses(self, serial: str) -> list[AddressRecord]:
        rows = self._conn().execute("SELECT host, port, first_seen, last_seen FROM device_addresses "
                                    "WHERE serial=? ORDER BY first_seen", (serial,)).fetchall()
        return [AddressRecord(r[0], r[1], _at(r[2]), _at(r[3])) for r in rows]

    def supplies_of(self, serial: str) -> list[StoredSupply]:
        return self._supplies_with_latest("WHERE su.serial=?", (serial,)).get(serial, [])

    def all_supplies(self) -> dict[str, list[StoredSupply]]:
        """Every device's supplies with their latest sample, in one query: the status page
        and /metrics read the whole fleet, and a query per supply cost ~0.3 s at 500 printers."""
        return self._supplies_with_latest("", ())

    def _supplies_with_latest(self, where: str, args: tuple[object, ...]) -> dict[str, list[StoredSupply]]:
        # the latest sample by the (serial, supply_index, taken_at) index, one probe per supply
        rows = self._conn().execute(
            "SELECT su.serial, su.supply_index, su.description, su.type, su.supply_class, su.color,"
            " su.unit, su.part_number, su.last_seen, sa.* FROM supplies su"
            " LEFT JOIN samples sa ON sa.id = (SELECT id FROM samples"
            "  WHERE serial=su.serial AND supply_index=su.supply_index"
            "  ORDER BY taken_at DESC LIMIT 1) "
            f"{where} ORDER BY su.serial, su.supply_index", args).fetchall()
        out: dict[str, list[StoredSupply]] = {}
        for r in rows:
            latest = r[9:]
            out.setdefault(r[0], []).append(StoredSupply(
                r[0], r[1], r[2], SupplyType(r[3]), SupplyClass(r[4]), r[5],
                None if r[6] is None else SupplyUnit(r[6]), r[7], _at(r[8]),
                _sample(latest) if latest[0] is not None else None))
        return out

    def samples_for(self, serial: str, supply_index: int, since: datetime | None = None) -> list[Sample]:
        sql = "SELECT * FROM samples WHERE serial=? AND supply_index=?"
        args: list[object] = [serial, supply_index]
        if since is not None:
            sql += " AND taken_at >= ?"
            args.append(_ts(since))
        rows = self._conn().execute(sql + " ORDER BY taken_at", args).fetchall()
        return [_sample(r) for r in rows]

    def sample_count(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def next_sequence(self) -> int:
        """A new outbox sequence number, increasing across restarts (gaps are possible)."""
        with self._write() as c:
            return int(c.execute("UPDATE sequences SET value = value + 1 WHERE name='outbox' "
                                 "RETURNING value").fetchone()[0])

    def enqueue(self, payload: bytes, kind: str, idempotency_key: str, *, seq: int | None = None) -> int:
        """Queue `payload` for central; returns its sequence number.

        Pass `seq` from `next_sequence()` when the payload itself carries it (signed
        summaries do). Enqueuing an idempotency key again returns the first seq and
        stores nothing, so a retry after a crash cannot queue a duplicate.
        """
        if not isinstance(payload, bytes | bytearray | memoryview):
            raise TypeError("outbox payload must be bytes")
        with self._write() as c:
            row = c.execute("SELECT seq FROM outbox WHERE idempotency_key=?", (idempotency_key,)).fetchone()
            if row is not None:
                return int(row[0])
            if seq is None:
                seq = int(c.execute("UPDATE sequences SET value = value + 1 WHERE name='outbox' "
                                    "RETURNING value").fetchone()[0])
            else:
                c.execute("UPDATE sequences SET value = MAX(value, ?) WHERE name='outbox'", (seq,))
            try:
                c.execute("INSERT INTO outbox (seq, idempotency_key, created_at, kind, payload) VALUES (?,?,?,?,?)",
                          (seq, idempotency_key, _ts(self._clock()), kind, bytes(payload)))
            except sqlite3.IntegrityError:
                raise StoreError(f"outbox sequence {seq} is already used; take a new one from "
                                 "next_sequence()") from None
            return seq

    def pending(self, limit: int = 100) -> list[OutboxItem]:
        """Unacknowledged, not permanently refused items, oldest sequence first."""
        rows = self._conn().execute(
            "SELECT id, seq, idempotency_key, created_at, kind, payload, attempts, sent_at, last_error "
            "FROM outbox WHERE acked_at IS NULL AND failed_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        return [OutboxItem(r[0], r[1], r[2], _at(r[3]), r[4], bytes(r[5]), r[6], _dt(r[7]), r[8])
                for r in rows]

    def mark_sent(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        with self._write() as c:
            c.executemany("UPDATE outbox SET sent_at=?, attempts=attempts+1 WHERE id=?",
                          [(_ts(self._clock()), i) for i in ids])

    def mark_acked(self, ids: Iterable[int]) -> None:
        t = _ts(self._clock())
        with self._write() as c:
            c.executemany("UPDATE outbox SET acked_at=COALESCE(acked_at, ?) WHERE id=?", [(t, i) for i in ids])

    def mark_failed(self, id: int, error: str, permanent: bool) -> None:
        """A delivery attempt failed; a permanent failure takes the item out of `pending`."""
        with self._write() as c:
            cur = c.execute("UPDATE outbox SET attempts=attempts+1, last_error=?, failed_at=? WHERE id=?",
                            (error, _ts(self._clock()) if permanent else None, id))
            if cur.rowcount == 0:
                raise StoreError(f"no outbox item with id {id} in the store {self.path}")

    def outbox_depth(self) -> int:
        return int(self._conn().execute(
            "SELECT COUNT(*) FROM outbox WHERE acked_at IS NULL AND failed_at IS NULL").fetchone()[0])

    def refused(self, limit: int = 100) -> list[OutboxItem]:
        """Items central refused for good, newest first (for the status page and logs).

        They are parked, never deleted by the agent: the signed bytes stay for an admin to
        read, and nothing here or in the outbox bound removes them; the admin resends or
        drops them (`asr-agent outbox`)."""
        rows = self._conn().execute(
            "SELECT id, seq, idempotency_key, created_at, kind, payload, attempts, sent_at, last_error, "
            "failed_at FROM outbox WHERE failed_at IS NOT NULL ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [OutboxItem(r[0], r[1], r[2], _at(r[3]), r[4], bytes(r[5]), r[6], _dt(r[7]), r[8],
                           _dt(r[9])) for r in rows]

    def parked_count(self) -> int:
        """How many items central refused for good (kept on disk, see `refused`)."""
        return int(self._conn().execute("SELECT COUNT(*) FROM outbox WHERE failed_at IS NOT NULL").fetchone()[0])

    def requeue_parked(self, id: int, payload: bytes, seq: int) -> None:
        """Put parked item `id` back in the queue as `payload` under sequence `seq` (its
        summary signed anew, `seq` from `next_sequence()`): an admin mended what central
        refused it for. An item that is not parked is refused, so nothing sent is resent."""
        with self._write() as c:
            cur = c.execute("UPDATE outbox SET seq=?, payload=?, failed_at=NULL, last_error=NULL, "
                            "attempts=0, sent_at=NULL WHERE id=? AND failed_at IS NOT NULL "
                            "AND acked_at IS NULL", (seq, bytes(payload), id))
            if cur.rowcount == 0:
                raise StoreError(f"outbox item {id} is not parked; `asr-agent outbox list` "
                                 "lists the parked ones")

    def drop_parked(self, ids: Sequence[int]) -> int:
        """Delete parked items for good (an admin's decision); how many were parked."""
        with self._write() as c:
            return sum(c.execute("DELETE FROM outbox WHERE id=? AND failed_at IS NOT NULL",
                                 (i,)).rowcount for i in ids)

    def delete_outbox(self, ids: Sequence[int]) -> int:
        """Drop items (the uplink's bounding policy decides which)."""
        with self._write() as c:
            return sum(c.execute("DELETE FROM outbox WHERE id=?", (i,)).rowcount for i in ids)

    # --- retention ----------------------------------------------------------------------

    def compact(self, *, now: datetime | None = None, compact_after_days: int = COMPACT_AFTER_DAYS,
                sample_retention_days: int = 400) -> CompactionResult:
        """Thin samples older than `compact_after_days` to the last one per supply per (UTC)
        day, and delete those older than `sample_retention_days`.

        Kept whatever their age: the first sample of each cartridge and the last one before
        each replacement (what premature-replacement and grams-per-page learning read), for
        cartridges still installed or removed within the retention.
        """
        if compact_after_days < 1:
            raise ValueError("compact_after_days must be at least 1 (summaries read the last day in full)")
        if sample_retention_days < max(compact_after_days, FORECAST_WINDOW_DAYS):
            raise ValueError(f"sample_retention_days must be at least {FORECAST_WINDOW_DAYS} (the forecast "
                             "window) and at least compact_after_days")
        now = now or self._clock()
        thin_before = now - timedelta(days=compact_after_days)
        drop_before = now - timedelta(days=sample_retention_days)
        with self._write() as c:
            c.execute("CREATE TEMP TABLE IF NOT EXISTS compact_keep (id INTEGER PRIMARY KEY)")
            c.execute("DELETE FROM compact_keep")
            c.executemany("INSERT OR IGNORE INTO compact_keep (id) VALUES (?)",
                          ((i,) for i in self._boundaries(c, thin_before, drop_before)))
            args = {"thin": _ts(thin_before), "drop": _ts(drop_before)}
            kept = "s.id IN (SELECT id FROM compact_keep)"
            expired = c.execute(f"DELETE FROM samples AS s WHERE s.taken_at < :drop AND NOT {kept}",
                                args).rowcount
            thinned = c.execute(
                f"DELETE FROM samples AS s WHERE s.taken_at < :thin AND NOT {kept} AND s.id NOT IN ("
                "SELECT id FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY serial, supply_index, "
                "substr(taken_at, 1, 10) ORDER BY taken_at DESC) AS rn FROM samples WHERE taken_at < :thin) "
                "WHERE rn = 1)", args).rowcount
            c.execute("DELETE FROM compact_keep")
        return CompactionResult(thinned=thinned, expired=expired)

    @staticmethod
    def _boundaries(c: sqlite3.Connection, thin_before: datetime, drop_before: datetime) -> list[int]:
        """The samples compaction may not touch: each cartridge's first sample and, for one
        replaced at or after `drop_before`, the last sample before its successor.

        Replacements are found by consumption's rule (is_replacement) over the samples
        compaction could delete, plus the first one after them; a replacement later than
        that is newer than `thin_before`, so its cartridge's first sample is kept."""
        keep: list[int] = []
        supplies = c.execute("SELECT DISTINCT serial, supply_index FROM samples WHERE taken_at < ?",
                             (_ts(thin_before),)).fetchall()
        for serial, index in supplies:
            rows = c.execute(
                "SELECT * FROM samples WHERE serial=? AND supply_index=? AND taken_at < ? ORDER BY taken_at",
                (serial, index, _ts(thin_before))).fetchall()
            rows += c.execute(
                "SELECT * FROM samples WHERE serial=? AND supply_index=? AND taken_at >= ? "
                "ORDER BY taken_at LIMIT 1", (serial, index, _ts(thin_before))).fetchall()
            first_id, prev_id, prev = rows[0][0], rows[0][0], _sample(rows[0])
            for row in rows[1:]:
                cur = _sample(row)
                if is_replacement(prev, cur) is not None:
                    if cur.taken_at >= drop_before:  # removed within the retention
                        keep += [first_id, prev_id]
                    first_id = row[0]
                prev_id, prev = row[0], cur
            keep.append(first_id)  # the cartridge installed at thin_before or still installed
        return keep

    def integrity_check(self) -> str:
        return str(self._conn().execute("PRAGMA integrity_check").fetchone()[0])


class _Txn:
    """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


def _device(r: tuple) -> StoredDevice:
    return StoredDevice(serial=r[0], vendor=r[1], model=r[2], sys_object_id=r[3], sys_descr=r[4],
                        asr_compatible=bool(r[5]), state=r[6], first_seen=_at(r[7]),
                        last_seen=_at(r[8]), consecutive_misses=r[9], host=r[10], port=r[11])


def _sample(r: tuple) -> Sample:
    # id, serial, supply_index, taken_at, raw_level, raw_capacity, level, max_capacity, unit,
    # supply_class, type, level_state, remaining_percent, part_number, cartridge_serial, page_count
    return Sample(taken_at=_at(r[3]), level=r[6], max_capacity=r[7],
                  unit=None if r[8] is None else SupplyUnit(r[8]), level_state=LevelState(r[11]),
                  remaining_percent=r[12], cartridge_serial=r[14], part_number=r[13],
                  page_count=counter_from_db(r[15]))
