"""What an enrolled agent may learn back from central: the open order lines of its own
devices, asked for in a signed, fresh, single-use control message.

    agent ──POST /v1/agent/order-status {envelope: action=order_status, issued_at, nonce}──►
        verified against the agent's enrolled key (as key changes are), issued_at within
        CONTROL_MAX_AGE_S of central's wall clock, nonce not seen in that window
    ◄── {"agent_id", "as_of", "lines": [OrderStatus...]}  newest open line per supply

The answer carries no signature: TLS authenticates central, as it does for every answer.
Nonces are remembered in this process only; with several workers a request could be
replayed once per worker within the window, which discloses nothing the agent was not
already told.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Request

from asr_core.wire import (
    CONTROL_MAX_AGE_S, ORDER_STATUS_ACTION, WireError, format_time, parse_time,
)
from asr_central.service.api.control import EnvelopeBody, control_message
from asr_central.service.deps import DbDep, NowDep, state_of
from asr_central.storage import orders as order_store

router = APIRouter(tags=["agents"])

_MAX_NONCE = 200


class NonceCache:
    """Nonces seen within the freshness window; a second use is a replay."""

    def __init__(self, window_s: float = CONTROL_MAX_AGE_S) -> None:
        self.window_s = window_s
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def first_use(self, agent_id: str, nonce: str) -> bool:
        now = time.monotonic()
        with self._lock:
            # twice the window: a request issued at the future edge stays refused as long
            # as it is fresh
            horizon = now - 2 * self.window_s
            for k in [k for k, t in self._seen.items() if t < horizon]:
                del self._seen[k]
            if (agent_id, nonce) in self._seen:
                return False
            self._seen[(agent_id, nonce)] = now
            return True


_CACHE_LOCK = threading.Lock()


def _nonces(request: Request) -> NonceCache:
    with _CACHE_LOCK:
        state = state_of(request.app)
        if state.control_nonces is None:
            state.control_nonces = NonceCache()
        return state.control_nonces


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
def order_status(body: EnvelopeBody, request: Request, db: DbDep,
                 now: NowDep) -> dict[str, Any]:
    """The newest open order line (created, shipped or delivered, not yet all installed)
    for each supply of the devices this agent reports; signed by the agent."""
    conn = db.connection()
    agent, data = control_message(conn, body, ORDER_STATUS_ACTION)
    # Freshness is about real elapsed time, so the wall clock, not the app's clock (which a
    # time-lapse demo or a simulation runs faster); the agent signs with its wall clock too.
    check_fresh(data, datetime.now(UTC))
    nonce = data.get("nonce")
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= _MAX_NONCE:
        raise HTTPException(400, "malformed: nonce must be a string of 16 to "
                                 f"{_MAX_NONCE} characters")
    if not _nonces(request).first_use(agent.agent_id, nonce):
        raise HTTPException(409, "replay: this signed request was already used; sign a new one")
    lines = order_store.open_lines_for_agent(conn, agent.agent_id, agent.site_id)
    return {"agent_id": agent.agent_id, "as_of": format_time(now),
            "lines": [line.to_dict() for line in lines]}
