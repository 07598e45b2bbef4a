"""The alert store's life cycle on both engines: raised once, refreshed, resolved, back
again; events once. Sizes past one statement's piece (storage/batches.py), so that the
batched statements are the ones checked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from asr_core.codes import Code
from asr_central.domain.alerts import Alert, Severity
from asr_central.storage import open_database
from asr_central.storage import alerts as store

T0 = datetime(2027, 3, 1, 8, tzinfo=UTC)
MANY = 1_300  # more than two pieces of the largest IN list and VALUES statement


def silent(serial: str, message: str = "silent", severity: Severity = Severity.WARNING) -> Alert:
    return Alert(Code.DEVICE_SILENT, severity, serial, None, message, T0)


def premature(serial: str) -> Alert:
    return Alert(Code.PREMATURE_REPLACEMENT, Severity.INFO, serial, "1", "early", T0,
                 detail="2027-02-27T10:00:00Z")


def rows(db) -> dict[str, dict]:
    return {r["alert_key"]: r for r in store.list_alerts(db.connection(), include_resolved=True)}


def test_conditions_are_raised_once_refreshed_resolved_and_raised_again(central_db_url):
    db = open_database(central_db_url)
    try:
        first = [silent(f"S{i:05d}") for i in range(MANY)]
        with db.transaction() as conn:
            raised = store.sync_alerts(conn, first, [premature("S00000")], T0)
        assert raised == [a.key for a in first] + [premature("S00000").key]

        later = T0 + timedelta(hours=1)
        again = [silent(f"S{i:05d}") for i in range(MANY - 300)]  # 300 recovered
        again[5] = silent("S00005", "silent for days", Severity.ERROR)
        with db.transaction() as conn:
            assert store.sync_alerts(conn, again, [premature("S00000")], later) == []
        stored = rows(db)
        assert len(stored) == MANY + 1
        open_keys = {k for k, r in stored.items() if r["resolved_at"] is None}
        assert open_keys == {a.key for a in again} | {premature("S00000").key}
        assert all(stored[a.key]["last_seen"] == stored[again[0].key]["last_seen"] !=
                   stored[a.key]["first_seen"] for a in again)
        assert stored[again[5].key]["severity"] == "error"
        assert stored[again[5].key]["message"] == "silent for days"

        back = T0 + timedelta(hours=2)
        returning = silent(f"S{MANY - 1:05d}")
        with db.transaction() as conn:
            assert store.sync_alerts(conn, [*again, returning], [], back) == [returning.key]
        stored = rows(db)
        assert stored[returning.key]["resolved_at"] is None
        assert stored[returning.key]["notified_at"] is None
        assert sum(r["resolved_at"] is None for r in stored.values()) == MANY - 300 + 2
    finally:
        db.close()


def test_a_key_given_twice_in_one_run_is_one_alert(central_db_url):
    db = open_database(central_db_url)
    try:
        with db.transaction() as conn:
            raised = store.sync_alerts(conn, [silent("A", "one"), silent("A", "two")], [], T0)
        assert raised == [silent("A").key]
        assert [r["message"] for r in rows(db).values()] == ["two"]
    finally:
        db.close()
