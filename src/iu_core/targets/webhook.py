"""Standard Webhooks: the event body, its signature headers, and signing secrets.

A delivery is ``{"id", "type", "timestamp", "data"}`` serialised ONCE to
bytes; those exact bytes are both signed and sent (re-serialising would let
key order or whitespace drift and break the receiver's verification).

Headers (https://www.standardwebhooks.com):
- ``webhook-id``: the delivery's idempotency key — identical on every retry,
  so a receiver that dedupes on it applies an event once;
- ``webhook-timestamp``: integer seconds, new on every attempt (receivers
  reject stale timestamps, so a retry must be re-signed);
- ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` per active secret,
  space-separated: during a rotation window the new and the previous secret
  both sign, so a receiver holding either one verifies. A route set to
  ``ed25519`` signs instead with its Ed25519 key pair(s): ``v1a,<base64
  Ed25519 signature>``, verified with the route's public key (``whpk_…``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

__all__ = [
    "PUBLIC_KEY_PREFIX",
    "SECRET_PREFIX",
    "SIGNING_KEY_PREFIX",
    "Ed25519Signer",
    "Signer",
    "event_body",
    "fingerprint",
    "new_key_pair",
    "new_secret",
    "public_key_of",
]

SECRET_PREFIX = "whsec_"
SIGNING_KEY_PREFIX = "whsk_"  # an Ed25519 private key (its raw 32 bytes, base64)
PUBLIC_KEY_PREFIX = "whpk_"  # an Ed25519 public key (its raw 32 bytes, base64)
_SECRET_BYTES = 32  # Standard Webhooks recommends 24 to 64 bytes


def new_secret() -> str:
    """A fresh ``whsec_…`` secret (32 random bytes, base64)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode("ascii")


def fingerprint(secret: str) -> str:
    """A short, one-way name for a secret or token: safe to show, log and compare."""
    return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()[:16]


def event_body(
    webhook_id: str, event_type: str, occurred_at: dt.datetime, payload: Mapping[str, Any]
) -> bytes:
    """The bytes sent (and signed): compact JSON, UTF-8.

    ``timestamp`` is when the event occurred (not the attempt), so the body is
    the same on every retry; only the signature headers change.
    """
    body = {
        "id": webhook_id,
        "type": event_type,
        "timestamp": occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": dict(payload),
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")


class Signer:
    """Signs many deliveries with the same secrets: each key is decoded once.

    The same algorithm as ``standardwebhooks.Webhook.sign`` (HMAC-SHA256 over
    ``"{id}.{timestamp}.{body}"``, base64, prefixed ``v1,``), through
    ``hmac``/``hashlib`` directly on the body's bytes: no per-call object, no
    decode of the body to text and back. A test checks every signature with
    ``standardwebhooks`` verification.
    """

    __slots__ = ("_keyed",)

    def __init__(self, secrets_: Sequence[str]) -> None:
        # One keyed HMAC per secret, copied per signature. ``hmac.digest`` would set the key
        # up on every call and release the GIL around it: on the worker's HTTP loop thread
        # that hands the GIL to the database threads once per delivery and waits to get it
        # back. A copy costs half the CPU and keeps the GIL for bodies under 2 KiB.
        self._keyed = tuple(
            hmac.new(
                base64.b64decode(s[len(SECRET_PREFIX) :] if s.startswith(SECRET_PREFIX) else s),
                digestmod="sha256",
            )
            for s in secrets_
        )

    def __bool__(self) -> bool:
        return bool(self._keyed)

    def __repr__(self) -> str:  # never the keys
        return f"Signer({len(self._keyed)} key(s))"

    def header(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """``webhook-signature``: ``v1,<sig>`` per key, space-separated."""
        content = f"{webhook_id}.{timestamp}.".encode() + body
        signatures = []
        for keyed in self._keyed:
            mac = keyed.copy()
            mac.update(content)
            signatures.append("v1," + base64.b64encode(mac.digest()).decode("ascii"))
        return " ".join(signatures)


def _raw_key(text: str, prefix: str) -> bytes:
    raw = base64.b64decode(text[len(prefix) :] if text.startswith(prefix) else text, validate=True)
    if len(raw) != 32:
        raise ValueError("an Ed25519 key is 32 bytes")
    return raw


def new_key_pair() -> tuple[str, str]:
    """A fresh Ed25519 key pair: (``whsk_…`` private key, ``whpk_…`` public key)."""
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return SIGNING_KEY_PREFIX + base64.b64encode(raw).decode("ascii"), _public_text(key)


def _public_text(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode("ascii")


def public_key_of(private_key: str) -> str:
    """The ``whpk_…`` public key of a ``whsk_…`` private key."""
    return _public_text(Ed25519PrivateKey.from_private_bytes(_raw_key(private_key, SIGNING_KEY_PREFIX)))


class Ed25519Signer:
    """Signs per Standard Webhooks ``v1a``: Ed25519 over ``"{id}.{timestamp}.{body}"``, base64.

    Each private key is decoded once; during a rotation window the current and
    the previous key both sign, space-separated (current first), as the HMAC
    rotation does.
    """

    __slots__ = ("_keys",)

    def __init__(self, private_keys: Sequence[str]) -> None:
        self._keys = tuple(
            Ed25519PrivateKey.from_private_bytes(_raw_key(k, SIGNING_KEY_PREFIX)) for k in private_keys
        )

    def __bool__(self) -> bool:
        return bool(self._keys)

    def __repr__(self) -> str:  # never the keys
        return f"Ed25519Signer({len(self._keys)} key(s))"

    def header(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """``webhook-signature``: ``v1a,<sig>`` per key, space-separated."""
        content = f"{webhook_id}.{timestamp}.".encode() + body
        return " ".join("v1a," + base64.b64encode(key.sign(content)).decode("ascii") for key in self._keys)
