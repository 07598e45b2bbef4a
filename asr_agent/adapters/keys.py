"""The agent's Ed25519 identity: key generation, owner-only storage, signing.

Verification and key ids are shared with central: `asr_core.signing`.

The private key never leaves this module's objects: reprs show the key id only.

Storage: `<key_dir>/agent_ed25519.pem` (PKCS#8, unencrypted: the agent runs unattended),
mode 0600 in a directory of mode 0700. A key file readable by anyone else is refused,
as ssh does. On Windows, POSIX modes mean little: the installer must give the data
directory an ACL granting only the service account and Administrators (see
packaging/windows/README.md); this module then relies on that ACL.

Rotation: `rotate()` writes a new key beside the current one; once central has
registered it (a request signed by the old key), `commit_rotation()` makes it current and
deletes the old private key. Summaries already in the outbox keep their old signatures;
central accepts any key of the agent that is not revoked or retired, and the uplink
retires the old key id once no queued envelope uses it.
"""

from __future__ import annotations

import base64
import os
import stat
import sys
from pathlib import Path
from typing import NoReturn

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from asr_core.errors import SigningError
from asr_core.signing import key_id_for
from asr_core.wire import Envelope, Summary, canonical_bytes, encode_summary

KEY_FILE = "agent_ed25519.pem"
NEXT_KEY_FILE = "agent_ed25519.next.pem"

__all__ = ["AgentKey", "load_or_create", "load",
           "rotate", "commit_rotation", "sign_payload", "seal", "seal_data"]


class AgentKey:
    """An Ed25519 private key with its key id; prints as its id, never its bytes."""

    __slots__ = ("_private", "key_id", "path")

    def __init__(self, private: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._private = private
        self.key_id = key_id_for(self.public_raw)
        self.path = path

    @property
    def public_raw(self) -> bytes:
        return self._private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._private.public_key()

    @property
    def public_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode("ascii")

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def __repr__(self) -> str:
        return f"AgentKey({self.key_id})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("an AgentKey is not picklable: the private key must not leave the process")


# --- storage --------------------------------------------------------------------------------

def _is_windows() -> bool:
    return sys.platform == "win32"


def _secure_dir(key_dir: Path) -> None:
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not _is_windows():
        mode = stat.S_IMODE(key_dir.stat().st_mode)
        if mode & 0o077:
            os.chmod(key_dir, 0o700)  # a directory we created or own: tighten, do not refuse


def _check_private_file(path: Path) -> None:
    if _is_windows():
        return
    st = path.stat()
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise SigningError(
            f"{path}: the agent key is readable by others (mode {mode:o}); "
            f"run `chmod 600 {path}`, or delete it and re-enroll if it may have leaked")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SigningError(f"{path}: the agent key belongs to another user (uid {st.st_uid}); "
                           "run the agent as the key's owner")


def _write_private(path: Path, key: Ed25519PrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    tmp = path.with_name(path.name + ".tmp")
    # Created 0600 from the start: no window in which the file is world-readable.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read_private(path: Path) -> AgentKey:
    _check_private_file(path)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not a readable Ed25519 private key ({exc}); "
                           "delete it and re-enroll the agent") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: holds a {type(key).__name__}, not an Ed25519 key")
    return AgentKey(key, path)


def load(key_dir: Path) -> AgentKey:
    path = Path(key_dir) / KEY_FILE
    if not path.exists():
        raise SigningError(f"{path}: no agent key; run `asr-agent enroll` first")
    return _read_private(path)


def load_or_create(key_dir: Path) -> AgentKey:
    """The agent's key, generated on first start."""
    key_dir = Path(key_dir)
    _secure_dir(key_dir)
    path = key_dir / KEY_FILE
    if path.exists():
        return _read_private(path)
    _write_private(path, Ed25519PrivateKey.generate())
    return _read_private(path)


def rotate(key_dir: Path) -> tuple[AgentKey, AgentKey]:
    """(current, next): a next key written beside the current one, not yet in use.

    Calling it again before `commit_rotation` returns the same next key, so a rotation
    interrupted before central confirmed it resumes instead of forking identities.
    """
    key_dir = Path(key_dir)
    current = load(key_dir)
    nxt_path = key_dir / NEXT_KEY_FILE
    if not nxt_path.exists():
        _write_private(nxt_path, Ed25519PrivateKey.generate())
    return current, _read_private(nxt_path)


def commit_rotation(key_dir: Path) -> AgentKey:
    """Make the next key current (after central registered it); the old private key is gone."""
    key_dir = Path(key_dir)
    nxt_path = key_dir / NEXT_KEY_FILE
    if not nxt_path.exists():
        raise SigningError(f"{nxt_path}: no rotation in progress")
    os.replace(nxt_path, key_dir / KEY_FILE)
    return load(key_dir)


# --- signing --------------------------------------------------------------------------------

def sign_payload(key: AgentKey, agent_id: str, payload: bytes) -> Envelope:
    return Envelope(agent_id=agent_id, key_id=key.key_id, payload=payload,
                    signature=key.sign(payload))


def seal(summary: Summary, key: AgentKey) -> Envelope:
    """A summary in its canonical bytes, signed."""
    return sign_payload(key, summary.agent_id, encode_summary(summary))


def seal_data(data: dict[str, object], key: AgentKey, agent_id: str) -> Envelope:
    """Any control message (key registration, retirement) signed the same way."""
    return sign_payload(key, agent_id, canonical_bytes(data))
