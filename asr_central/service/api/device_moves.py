"""Admin API on devices as sites see them: confirm that a printer moved to another site.

A printer reported by another site's agent is held (its reports refused, a `device_moved`
alert raised, see asr_central.domain.trust); this is how an admin settles it, besides the registry.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from asr_central.service.deps import AdminDep, DbDep, NowDep
from asr_central.storage import homes

router = APIRouter(prefix="/v1/admin/devices", tags=["admin"])


class MoveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site_id: str = Field(min_length=1, description="the site the printer now belongs to")


@router.post("/{serial}/move")
def move_device(serial: str, body: MoveBody, _: AdminDep, db: DbDep,
                now: NowDep) -> dict[str, Any]:
    """The printer now belongs to `site_id`: that site's agent is accepted for it from now
    on, every other site's refused; its registry entry (if any) moves with it."""
    with db.transaction() as conn:
        try:
            moved = homes.move(conn, serial, body.site_id, now)
        except homes.MoveRefused as exc:
            raise HTTPException(exc.code, str(exc)) from None
    return {"serial": moved.serial, "site_id": moved.site_id,
            "previous_site_id": moved.previous_site_id}
