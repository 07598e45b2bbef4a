"""Console accounts: who may sign in, with which role, and (customer accounts) which sites
they see. Only password hashes are stored; hashing is the caller's (argon2, in the console)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from asr_core.errors import AsrError
from asr_central.storage.times import stamp
from asr_central.storage.base import Connection

__all__ = ["ROLES", "User", "UserExists", "UserNotFound", "add_user", "get_user",
           "list_users", "set_password", "replace_hash", "disable_user"]

# admin: users and registry, and all an operator may do; operator: ship, deliver, cancel,
# acknowledge; viewer: reads everything; customer: reads its own sites only.
ROLES = ("admin", "operator", "viewer", "customer")


class UserExists(AsrError):
    pass


class UserNotFound(AsrError):
    pass


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: str
    sites: frozenset[str]  # the sites a customer sees; empty for the other roles
    password_hash: str
    created_at: str
    disabled_at: str | None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


def _check(role: str, sites: frozenset[str]) -> None:
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if role == "customer" and not sites:
        raise ValueError("a customer account needs at least one site (--site SITE_ID)")
    if role != "customer" and sites:
        raise ValueError(f"only customer accounts are scoped to sites; a {role} sees them all")


def add_user(conn: Connection, username: str, password_hash: str, role: str,
             now: datetime, sites: Iterable[str] = ()) -> User:
    scope = frozenset(sites)
    _check(role, scope)
    if get_user(conn, username) is not None:
        raise UserExists(f"user {username!r} exists; use `users passwd` to change its password")
    at = stamp(now)
    conn.execute("INSERT INTO console_users (username, password_hash, role, created_at, "
                 "updated_at) VALUES (?, ?, ?, ?, ?)", (username, password_hash, role, at, at))
    for site_id in sorted(scope):
        conn.execute("INSERT INTO console_user_sites (username, site_id) VALUES (?, ?)",
                     (username, site_id))
    return User(username, role, scope, password_hash, at, None)


def get_user(conn: Connection, username: str) -> User | None:
    row = conn.execute("SELECT username, role, password_hash, created_at, disabled_at "
                       "FROM console_users WHERE username = ?", (username,)).fetchone()
    if row is None:
        return None
    sites = frozenset(r[0] for r in conn.execute(
        "SELECT site_id FROM console_user_sites WHERE username = ?", (username,)))
    return User(row[0], row[1], sites, row[2], row[3], row[4])


def list_users(conn: Connection) -> list[User]:
    sites: dict[str, set[str]] = {}
    for r in conn.execute("SELECT username, site_id FROM console_user_sites"):
        sites.setdefault(r[0], set()).add(r[1])
    return [User(r[0], r[1], frozenset(sites.get(r[0], ())), r[2], r[3], r[4])
            for r in conn.execute("SELECT username, role, password_hash, created_at, "
                                  "disabled_at FROM console_users ORDER BY username")]


def _require(conn: Connection, username: str) -> None:
    if get_user(conn, username) is None:
        raise UserNotFound(f"no user {username!r}; `users add` creates one")


def set_password(conn: Connection, username: str, password_hash: str,
                 now: datetime) -> None:
    """A new password; the account's sessions end (whoever held one must sign in again)."""
    _require(conn, username)
    conn.execute("UPDATE console_users SET password_hash = ?, updated_at = ? WHERE username = ?",
                 (password_hash, stamp(now), username))
    conn.execute("DELETE FROM console_sessions WHERE username = ?", (username,))


def replace_hash(conn: Connection, username: str, password_hash: str,
                 now: datetime) -> None:
    """The same password hashed anew (stronger parameters): sessions stay."""
    conn.execute("UPDATE console_users SET password_hash = ?, updated_at = ? WHERE username = ?",
                 (password_hash, stamp(now), username))


def disable_user(conn: Connection, username: str, now: datetime) -> None:
    """No more sign-ins, and every open session of the account ends now."""
    _require(conn, username)
    at = stamp(now)
    conn.execute("UPDATE console_users SET disabled_at = coalesce(disabled_at, ?), "
                 "updated_at = ? WHERE username = ?", (at, at, username))
    conn.execute("DELETE FROM console_sessions WHERE username = ?", (username,))
