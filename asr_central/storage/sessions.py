"""Console sessions: a random id in the browser's cookie, its SHA-256 here (a copy of the
table signs nobody in), the session's CSRF token, and its expiry."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from asr_central.storage.times import stamp
from asr_central.storage.base import Connection

__all__ = ["Session", "create_session", "find_session", "end_session", "purge_expired"]


@dataclass(frozen=True, slots=True)
class Session:
    username: str
    csrf_token: str
    expires_at: str


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def create_session(conn: Connection, username: str, now: datetime, ttl: timedelta,
                   address: str | None) -> tuple[str, Session]:
    """A new session for `username`: (the id for the cookie, the session)."""
    session_id = secrets.token_urlsafe(32)
    session = Session(username, secrets.token_urlsafe(32), stamp(now + ttl))
    conn.execute("INSERT INTO console_sessions (session_hash, username, csrf_token, "
                 "created_at, expires_at, address) VALUES (?, ?, ?, ?, ?, ?)",
                 (_hash(session_id), username, session.csrf_token, stamp(now),
                  session.expires_at, address))
    return session_id, session


def find_session(conn: Connection, session_id: str, now: datetime) -> Session | None:
    """The session with this id if it has not expired and its account is not disabled."""
    row = conn.execute(
        "SELECT s.username, s.csrf_token, s.expires_at FROM console_sessions s "
        "JOIN console_users u ON u.username = s.username "
        "WHERE s.session_hash = ? AND s.expires_at > ? AND u.disabled_at IS NULL",
        (_hash(session_id), stamp(now))).fetchone()
    return None if row is None else Session(row[0], row[1], row[2])


def end_session(conn: Connection, session_id: str) -> None:
    conn.execute("DELETE FROM console_sessions WHERE session_hash = ?", (_hash(session_id),))


def purge_expired(conn: Connection, now: datetime) -> int:
    return conn.execute("DELETE FROM console_sessions WHERE expires_at <= ?",
                        (stamp(now),)).rowcount
