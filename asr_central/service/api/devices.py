"""Devices API: a device's latest state as central stored it from its agent's summaries —
its identity, page counter (a Counter64, exact) and each supply's latest forecast."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from asr_central.service.deps import AdminDep, DbDep
from asr_central.storage import summaries as store

router = APIRouter(prefix="/v1/devices", tags=["devices"])

_HIDDEN = {"page_count_big"}  # folded into page_count


@router.get("/{serial}")
def get_device(serial: str, _: AdminDep, db: DbDep) -> dict[str, Any]:
    conn = db.connection()
    rows = store.device_status(conn, serial)
    if not rows:
        raise HTTPException(404, f"device {serial!r} has sent no summary yet")
    device = {k: rows[0][k] for k in rows[0].keys() if k not in _HIDDEN}
    device["page_count"] = store.page_count(rows[0])
    device["supplies"] = [dict(r) for r in store.supply_latest(conn, serial)]
    return device
