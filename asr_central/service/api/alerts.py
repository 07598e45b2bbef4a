"""Alerts API: list the alerts central raised (open ones by default) and acknowledge one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from asr_central.service.deps import AdminDep, DbDep, NowDep
from asr_central.storage import alerts as store

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])


@router.get("")
def list_alerts(_: AdminDep, db: DbDep, include_resolved: bool = False, kind: str | None = None,
                device_serial: str | None = None,
                severity: str | None = None) -> list[dict[str, Any]]:
    return store.list_alerts(db.connection(), include_resolved=include_resolved, kind=kind,
                             device_serial=device_serial, severity=severity)


@router.post("/{alert_key}/acknowledge")
def acknowledge(alert_key: str, _: AdminDep, db: DbDep, now: NowDep) -> dict[str, str]:
    with db.transaction() as conn:
        if not store.acknowledge(conn, alert_key, now):
            raise HTTPException(404, f"no unacknowledged alert with key {alert_key!r}")
    return {"alert_key": alert_key, "status": "acknowledged"}
