"""The agent key: owner-only storage, stable id, signatures, rotation, no leaks."""

from __future__ import annotations

import os
import pickle
import stat
from pathlib import Path

import pytest

from asr_agent.adapters import keys as signing
from asr_core.signing import key_id_for, verify
from asr_core.errors import SigningError
from asr_core.wire import Envelope
from support_central import make_summary

def test_key_is_created_owner_only_at_first_start(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    key = signing.load_or_create(key_dir)
    assert stat.S_IMODE((key_dir / signing.KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE(key_dir.stat().st_mode) == 0o700
    assert signing.load_or_create(key_dir).key_id == key.key_id  # same key on the next start


def test_a_key_readable_by_others_is_refused(tmp_path: Path) -> None:
    signing.load_or_create(tmp_path)
    os.chmod(tmp_path / signing.KEY_FILE, 0o644)
    with pytest.raises(SigningError, match="chmod 600"):
        signing.load(tmp_path)


def test_key_id_is_a_hash_of_the_public_key(tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path)
    assert key.key_id == key_id_for(key.public_raw)
    assert key.key_id.startswith("ed25519:") and len(key.key_id) == len("ed25519:") + 32


def test_key_never_shows_its_private_bytes(tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path)
    pem = (tmp_path / signing.KEY_FILE).read_text()
    for text in (repr(key), str(key), f"{key}"):
        assert text == f"AgentKey({key.key_id})"
        assert pem.splitlines()[1] not in text
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(key)


def test_signature_verifies_and_any_changed_byte_fails(tmp_path: Path) -> None:
    key = signing.load_or_create(tmp_path)
    env = signing.seal(make_summary("agt_1", 1), key)
    assert verify(env, key.public_raw) == env.payload
    for i in (0, len(env.payload) // 2, len(env.payload) - 1):
        altered = bytearray(env.payload)
        altered[i] ^= 0x01
        with pytest.raises(SigningError, match="does not match"):
            verify(Envelope(env.agent_id, env.key_id, bytes(altered), env.signature),
                           key.public_key)


def test_signature_by_another_key_fails(tmp_path: Path) -> None:
    mine = signing.load_or_create(tmp_path / "a")
    theirs = signing.load_or_create(tmp_path / "b")
    env = signing.seal(make_summary("agt_1", 1), theirs)
    with pytest.raises(SigningError):
        verify(env, mine.public_key)


def test_rotation_is_resumable_then_replaces_the_key(tmp_path: Path) -> None:
    first = signing.load_or_create(tmp_path)
    current, nxt = signing.rotate(tmp_path)
    assert current.key_id == first.key_id != nxt.key_id
    assert signing.rotate(tmp_path)[1].key_id == nxt.key_id  # interrupted rotation resumes
    assert signing.load(tmp_path).key_id == first.key_id  # not in use until committed
    assert signing.commit_rotation(tmp_path).key_id == nxt.key_id
    assert signing.load(tmp_path).key_id == nxt.key_id
    assert not (tmp_path / signing.NEXT_KEY_FILE).exists()


def test_a_corrupt_key_file_names_the_file_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / signing.KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    os.close(fd)
    with pytest.raises(SigningError, match=r"agent_ed25519\.pem.*re-enroll"):
        signing.load(tmp_path)
