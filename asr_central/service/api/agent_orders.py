"""What an enrolled agent may learn back from central: the open order lines of its own
devices, asked for in a signed, fresh, single-use control message.

    agent ──POST /v1/agent/order-status {envelope: action=order_status, issued_at, nonce}──►
        verified against the agent's enrolled key (as key changes are), issued_at within
        CONTROL_MAX_AGE_S of central's wall clock, nonce not seen in that window
    ◄── {"agent_id", "as_of", "lines": [OrderStatus...]}  newest open line per supply

The answer carries no signature: TLS authenticates central, as it does for every answer.
Nonces are remembered in the database (storage.shared_state), so a request used through one
worker is a replay through every other; they are forgotten once stale (twice the window: a
request issued at the future edge stays refused as long as it is fresh).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException

from asr_core.wire import (
    CONTROL_MAX_AGE_S, ORDER_STATUS_ACTION, WireError, format_time, parse_time,
)
from asr_central.service.api.control import EnvelopeBody, control_message
from asr_central.service.deps import DbDep, NowDep
from asr_central.storage import orders as order_store
from asr_central.storage import shared_state

router = APIRouter(tags=["agents"])

_MAX_NONCE = 200


def check_fresh(data: dict[str, Any], now: datetime) -> None:
    """Refuse a control message whose issued_at is missing or outside the window."""
    try:
        issued = parse_time(data.get("issued_at"), "issued_at")
    except WireError as exc:
        raise HTTPException(400, f"malformed: {exc}") from None
    skew = (now - issued) / timedelta(seconds=1)
    if abs(skew) > CONTROL_MAX_AGE_S:
        direction = "old" if skew > 0 else "far in the future"
        raise HTTPException(
            403, f"stale: request issued at {format_time(issued)} is {abs(skew):.0f} s {direction}"
                 f" (central's clock says {format_time(now)}; allowed {CONTROL_MAX_AGE_S:.0f} s);"
                 " check the agent machine's clock")


@router.post("/v1/agent/order-status")
def order_status(body: EnvelopeBody, db: DbDep, now: NowDep) -> dict[str, Any]:
    """The newest open order line (created, shipped or delivered, not yet all installed)
    for each supply of the devices this agent reports; signed by the agent."""
    conn = db.connection()
    agent, data = control_message(conn, body, ORDER_STATUS_ACTION)
    # Freshness is about real elapsed time, so the wall clock, not the app's clock (which a
    # time-lapse demo or a simulation runs faster); the agent signs with its wall clock too.
    wall = datetime.now(UTC)
    check_fresh(data, wall)
    nonce = data.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= _MAX_NONCE:
        raise HTTPException(400, "malformed: nonce must be a string of 16 to "
                                 f"{_MAX_NONCE} characters")
    with db.transaction() as wconn:
        fresh = shared_state.first_use(wconn, agent.agent_id, nonce, wall)
        shared_state.prune_nonces(wconn, wall - timedelta(seconds=2 * CONTROL_MAX_AGE_S))
    if not fresh:
        raise HTTPException(409, "replay: this signed request was already used; sign a new one")
    lines = order_store.open_lines_for_agent(conn, agent.agent_id, agent.site_id)
    return {"agent_id": agent.agent_id, "as_of": format_time(now),
            "lines": [line.to_dict() for line in lines]}
