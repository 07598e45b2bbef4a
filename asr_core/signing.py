"""Ed25519 signature verification and key ids: the half of signing both programs share.

The agent's private keys and their files live in `asr_agent.adapters.keys`; central only
ever verifies, so it needs this module and nothing of the agent's.
"""

from __future__ import annotations

import base64
import hashlib

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from asr_core.errors import SigningError
from asr_core.wire import Envelope

__all__ = ["key_id_for", "public_key_from_b64", "verify"]


def key_id_for(public_raw: bytes) -> str:
    """Names a public key without revealing anything secret: a hash of the public bytes."""
    return "ed25519:" + hashlib.sha256(public_raw).hexdigest()[:32]


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"not a base64 raw Ed25519 public key (32 bytes): {exc}") from exc


def verify(envelope: Envelope, public_key: Ed25519PublicKey | bytes) -> bytes:
    """The payload bytes if the signature is good; SigningError otherwise.

    Verified by libsodium (PyNaCl): about twice as fast as cryptography's Ed25519 here,
    and central verifies every summary it receives. Signing stays with cryptography.
    """
    if not isinstance(public_key, bytes):
        public_key = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(public_key) != nacl.bindings.crypto_sign_PUBLICKEYBYTES:
        raise SigningError(f"key {envelope.key_id}: stored public key is unusable")
    try:
        nacl.bindings.crypto_sign_open(envelope.signature + envelope.payload, public_key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError, TypeError):
        raise SigningError(f"signature by key {envelope.key_id} does not match the payload "
                           f"(agent {envelope.agent_id}): altered in transit or wrong key") from None
    return envelope.payload

