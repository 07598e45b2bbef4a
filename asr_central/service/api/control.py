"""Signed control messages from an enrolled agent (key changes, order status): the envelope
body they arrive in and the check that one is genuine and asks for the expected action."""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException
from pydantic import BaseModel, Field

from asr_core.wire import Envelope, WireError
from asr_central.service.api import ingest as ingest_api
from asr_central.storage.base import UnitOfWork
from asr_central.storage import agents as agents_store

__all__ = ["EnvelopeBody", "control_message"]


class EnvelopeBody(BaseModel):
    agent_id: str
    key_id: str
    alg: str = "ed25519"
    payload: str = Field(description="canonical JSON bytes, base64")
    signature: str = Field(description="Ed25519 signature over the payload bytes, base64")


def control_message(conn: UnitOfWork, body: EnvelopeBody, action: str
                    ) -> tuple[agents_store.AgentRow, dict[str, Any]]:
    """The agent and the payload of a genuine `action` message, or an HTTPException."""
    try:
        env = Envelope.from_dict(body.model_dump())
        agent, payload = ingest_api.authenticate(conn, env)
        data = json.loads(payload)
    except WireError as exc:
        raise HTTPException(400, f"malformed: {exc}") from None
    except ingest_api.Refused as exc:
        raise HTTPException(exc.code, exc.reason) from None
    except ValueError as exc:
        raise HTTPException(400, f"malformed: payload is not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("action") != action:
        raise HTTPException(400, f"malformed: payload action must be {action!r}")
    if data.get("agent_id") != env.agent_id:
        raise HTTPException(403, "agent_mismatch: payload agent_id differs from the envelope's")
    return agent, data
