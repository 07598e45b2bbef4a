"""Console passwords: argon2id hashes (argon2-cffi's defaults, constant-time verify).

A sign-in with an unknown username verifies against a fixed hash all the same, so that the
answer's timing does not tell which usernames exist."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["MIN_LENGTH", "hash_password", "verify", "needs_rehash", "check_new_password"]

MIN_LENGTH = 10

_HASHER = PasswordHasher()
_NOBODY = _HASHER.hash("no account has this password")


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; None (no such account) costs a verification too."""
    try:
        return _HASHER.verify(password_hash or _NOBODY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's defaults."""
    return _HASHER.check_needs_rehash(password_hash)


def check_new_password(password: str) -> None:
    """Raises ValueError naming what is wrong with a password about to be set."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"the password has {len(password)} characters; use at least "
                         f"{MIN_LENGTH}")
    if password != password.strip():
        raise ValueError("the password starts or ends with white space; remove it (a "
                         "password file's trailing newline is already dropped)")
