"""Enrollment tokens, agents and their public keys, revocation.

Functions take an open connection (from `Database.transaction()` for writes); times are
passed in so the rules can be tested without a clock.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from asr_central.storage.times import stamp
from asr_central.storage.base import Connection, Row

__all__ = [
    "AgentRow", "KeyRow", "EnrollmentRefused", "create_token", "consume_token",
    "create_agent", "get_agent", "list_agents", "add_key", "get_key", "get_signer",
    "signer_usable", "agent_keys",
    "revoke_agent", "revoke_key", "retire_key", "AgentContact", "note_batch", "contacts",
]


class EnrollmentRefused(Exception):
    """Why an enrollment or key change is refused; `code` is the HTTP status to answer."""

    def __init__(self, message: str, code: int) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent_id: str
    site_id: str
    name: str
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class KeyRow:
    key_id: str
    agent_id: str
    public_key: bytes
    created_at: str
    retired_at: str | None
    revoked_at: str | None

    @property
    def usable(self) -> bool:
        return self.retired_at is None and self.revoked_at is None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(conn: Connection, site_id: str, now: datetime, *,
                 ttl: timedelta = timedelta(days=7), note: str | None = None) -> tuple[str, str]:
    """A new one-time token bound to `site_id`: (token, expires_at). Only its hash is kept."""
    token = "asr-enroll-" + secrets.token_urlsafe(24)
    expires = stamp(now + ttl)
    conn.execute("INSERT INTO enrollment_tokens (token_hash, site_id, note, created_at, expires_at)"
                 " VALUES (?, ?, ?, ?, ?)", (_hash(token), site_id, note, stamp(now), expires))
    return token, expires


def consume_token(conn: Connection, token: str, site_id: str, agent_id: str,
                  now: datetime) -> None:
    row = conn.execute("SELECT site_id, expires_at, used_at FROM enrollment_tokens "
                       "WHERE token_hash = ?", (_hash(token),)).fetchone()
    if row is None:
        raise EnrollmentRefused("enrollment token unknown: ask the central admin for a new one", 401)
    if row["used_at"] is not None:
        raise EnrollmentRefused("enrollment token already used: tokens are one-time, ask for "
                                "a new one", 401)
    if row["expires_at"] < stamp(now):
        raise EnrollmentRefused(f"enrollment token expired at {row['expires_at']}: ask for a "
                                "new one", 401)
    if row["site_id"] != site_id:
        raise EnrollmentRefused(f"this token is for site {row['site_id']!r}, the agent says "
                                f"{site_id!r}: fix site_id in the agent config", 403)
    conn.execute("UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?",
                 (stamp(now), agent_id, _hash(token)))


def create_agent(conn: Connection, site_id: str, name: str, now: datetime) -> str:
    agent_id = "agt_" + uuid.uuid4().hex
    conn.execute("INSERT INTO agents (agent_id, site_id, name, created_at) VALUES (?, ?, ?, ?)",
                 (agent_id, site_id, name, stamp(now)))
    return agent_id


def _agent(row: Row) -> AgentRow:
    return AgentRow(row["agent_id"], row["site_id"], row["name"], row["created_at"],
                    row["revoked_at"])


def get_agent(conn: Connection, agent_id: str) -> AgentRow | None:
    row = conn.execute("SELECT * FROM agents WHERE agent_id = ?", (agent_id,)).fetchone()
    return None if row is None else _agent(row)


def list_agents(conn: Connection, site_id: str | None = None) -> list[AgentRow]:
    if site_id is None:
        rows = conn.execute("SELECT * FROM agents ORDER BY created_at, agent_id").fetchall()
    else:
        rows = conn.execute("SELECT * FROM agents WHERE site_id = ? ORDER BY created_at, agent_id",
                            (site_id,)).fetchall()
    return [_agent(r) for r in rows]


def add_key(conn: Connection, agent_id: str, key_id: str, public_raw: bytes,
            now: datetime) -> None:
    """Register a key; registering the same key again is a no-op (enrollment retried)."""
    existing = get_key(conn, key_id)
    if existing is not None:
        if existing.agent_id != agent_id:
            raise EnrollmentRefused(f"key {key_id} already belongs to another agent", 409)
        if existing.revoked_at is not None:
            raise EnrollmentRefused(f"key {key_id} was revoked: generate a new key", 403)
        return
    conn.execute("INSERT INTO agent_keys (key_id, agent_id, public_key, created_at) "
                 "VALUES (?, ?, ?, ?)", (key_id, agent_id, public_raw, stamp(now)))


def _key(row: Row) -> KeyRow:
    return KeyRow(row["key_id"], row["agent_id"], bytes(row["public_key"]), row["created_at"],
                  row["retired_at"], row["revoked_at"])


def get_key(conn: Connection, key_id: str) -> KeyRow | None:
    row = conn.execute("SELECT * FROM agent_keys WHERE key_id = ?", (key_id,)).fetchone()
    return None if row is None else _key(row)


def get_signer(conn: Connection, agent_id: str, key_id: str
               ) -> tuple[AgentRow | None, KeyRow | None]:
    """The agent and its key `key_id` in one query (the key is None when it is unknown or
    belongs to another agent): ingest asks this for every envelope it verifies."""
    row = conn.execute(
        "SELECT a.agent_id, a.site_id, a.name, a.created_at, a.revoked_at, "
        "k.key_id, k.public_key, k.created_at AS key_created_at, "
        "k.retired_at AS key_retired_at, k.revoked_at AS key_revoked_at "
        "FROM agents a LEFT JOIN agent_keys k ON k.key_id = ? AND k.agent_id = a.agent_id "
        "WHERE a.agent_id = ?", (key_id, agent_id)).fetchone()
    if row is None:
        return None, None
    key = None if row["key_id"] is None else KeyRow(
        row["key_id"], row["agent_id"], bytes(row["public_key"]), row["key_created_at"],
        row["key_retired_at"], row["key_revoked_at"])
    return _agent(row), key


def signer_usable(conn: Connection, agent_id: str, key_id: str) -> bool:
    """True if the agent is not revoked and `key_id` is its key, neither revoked nor
    retired: ingest asks this in the transaction that stores what the key signed."""
    row = conn.execute(
        "SELECT 1 FROM agent_keys k JOIN agents a ON a.agent_id = k.agent_id "
        "WHERE k.key_id = ? AND k.agent_id = ? AND k.revoked_at IS NULL "
        "AND k.retired_at IS NULL AND a.revoked_at IS NULL", (key_id, agent_id)).fetchone()
    return row is not None


def agent_keys(conn: Connection, agent_id: str) -> list[KeyRow]:
    rows = conn.execute("SELECT * FROM agent_keys WHERE agent_id = ? ORDER BY created_at, key_id",
                        (agent_id,)).fetchall()
    return [_key(r) for r in rows]


def revoke_agent(conn: Connection, agent_id: str, now: datetime,
                 reason: str | None = None) -> bool:
    """Revoke the agent and every key it has; False when there is no such agent."""
    cur = conn.execute("UPDATE agents SET revoked_at = COALESCE(revoked_at, ?), revoked_reason = ?"
                       " WHERE agent_id = ?", (stamp(now), reason, agent_id))
    conn.execute("UPDATE agent_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE agent_id = ?",
                 (stamp(now), agent_id))
    return cur.rowcount > 0


def revoke_key(conn: Connection, key_id: str, now: datetime) -> bool:
    cur = conn.execute("UPDATE agent_keys SET revoked_at = COALESCE(revoked_at, ?) "
                       "WHERE key_id = ?", (stamp(now), key_id))
    return cur.rowcount > 0


def retire_key(conn: Connection, agent_id: str, key_id: str, now: datetime) -> bool:
    """The agent says nothing signed with this key is still queued: stop accepting it."""
    cur = conn.execute("UPDATE agent_keys SET retired_at = COALESCE(retired_at, ?) "
                       "WHERE key_id = ? AND agent_id = ?", (stamp(now), key_id, agent_id))
    return cur.rowcount > 0


@dataclass(frozen=True, slots=True)
class AgentContact:
    """What an agent's latest accepted batch said about the agent itself."""

    version: str | None
    clock_skew_s: int | None  # its clock minus central's; None when it sent no Date
    at: str


def note_batch(conn: Connection, agent_id: str, now: datetime, version: str | None,
               clock_skew_s: int | None) -> None:
    """Keep the agent's version and clock skew from the batch that just came: one UPDATE
    per batch (ingest is benchmarked per summary)."""
    conn.execute("UPDATE agents SET agent_version = ?, clock_skew_s = ?, last_batch_at = ? "
                 "WHERE agent_id = ?", (version, clock_skew_s, stamp(now), agent_id))


def contacts(conn: Connection) -> dict[str, AgentContact]:
    """The latest batch's facts for each agent that has sent one."""
    return {r[0]: AgentContact(r[1], None if r[2] is None else int(r[2]), r[3])
            for r in conn.execute("SELECT agent_id, agent_version, clock_skew_s, last_batch_at "
                                  "FROM agents WHERE last_batch_at IS NOT NULL")}
