"""Standard Webhooks v1a (Ed25519) signing against a fixed key and message."""

from __future__ import annotations

import base64

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from iu_core.targets.http.sender import RoutePlan
from iu_core.targets.webhook import Ed25519Signer, Signer, new_key_pair, public_key_of

# RFC 8032, section 7.1, TEST 1: the private key (its 32 raw bytes) and its public key.
RFC_PRIVATE = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
PRIVATE = "whsk_" + base64.b64encode(RFC_PRIVATE).decode()
WEBHOOK_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"
STAMP = 1674087231
BODY = b'{"type":"example"}'
# Ed25519 is deterministic: this key over "{id}.{timestamp}.{body}" gives exactly this signature.
EXPECTED = "v1a,S26CuLjpVgKGG3K6Rg7jokHbcT6LhCUmZhu6b/Yqaiho+Jw0PlrxO85E2Mv+a9ctNO/N0vYeBwvoQ+2NQDcGCg=="


def _verify(public_key: str, header: str, webhook_id: str, stamp: int, body: bytes) -> int:
    """How many ``v1a`` signatures of ``header`` verify with ``public_key`` (Standard Webhooks v1a)."""
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    content = f"{webhook_id}.{stamp}.".encode() + body
    good = 0
    for part in header.split(" "):
        version, _, sig = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(sig), content)
            good += 1
        except InvalidSignature:
            pass
    return good


def test_public_key_of_the_rfc_8032_key_is_the_published_one() -> None:
    assert public_key_of(PRIVATE) == "whpk_" + base64.b64encode(RFC_PUBLIC).decode()


def test_fixed_key_and_message_give_the_fixed_signature() -> None:
    header = Ed25519Signer([PRIVATE]).header(WEBHOOK_ID, STAMP, BODY)
    assert header == EXPECTED
    assert _verify(public_key_of(PRIVATE), header, WEBHOOK_ID, STAMP, BODY) == 1


@pytest.mark.parametrize(
    ("webhook_id", "stamp", "body"),
    [("msg_other", STAMP, BODY), (WEBHOOK_ID, STAMP + 1, BODY), (WEBHOOK_ID, STAMP, b'{"type":"examplf"}')],
)
def test_a_changed_id_timestamp_or_body_does_not_verify(webhook_id: str, stamp: int, body: bytes) -> None:
    assert _verify(public_key_of(PRIVATE), EXPECTED, webhook_id, stamp, body) == 0


def test_two_keys_sign_space_separated_current_first() -> None:
    new_private, new_public = new_key_pair()
    assert new_private.startswith("whsk_") and new_public.startswith("whpk_")
    assert public_key_of(new_private) == new_public
    header = Ed25519Signer([new_private, PRIVATE]).header(WEBHOOK_ID, STAMP, BODY)
    first, second = header.split(" ")
    assert second == EXPECTED
    assert _verify(new_public, first, WEBHOOK_ID, STAMP, BODY) == 1
    assert _verify(new_public, second, WEBHOOK_ID, STAMP, BODY) == 0


def test_signer_repr_never_shows_a_key() -> None:
    assert "nWGx" not in repr(Ed25519Signer([PRIVATE]))


def _settings(signature: str, *credentials: dict[str, object]) -> dict[str, object]:
    return {
        "target_kind": "external_endpoint",
        "target_ref": "http://127.0.0.1:9/hook",
        "timeout_s": 1,
        "connect_timeout_s": 1,
        "signature": signature,
        "credentials": list(credentials),
    }


def test_the_route_plan_signs_with_what_the_route_chose() -> None:
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hmac_cred = {"kind": "webhook_secret", "secret": secret, "current": True}
    key_cred = {"kind": "signing_key", "secret": PRIVATE, "current": True}
    assert isinstance(RoutePlan.build("r", _settings("hmac", hmac_cred, key_cred)).signer, Signer)
    plan = RoutePlan.build("r", _settings("ed25519", hmac_cred, key_cred))
    assert isinstance(plan.signer, Ed25519Signer)
    assert plan.signer.header(WEBHOOK_ID, STAMP, BODY) == EXPECTED
    keyless = RoutePlan.build("r", _settings("ed25519", hmac_cred))
    assert keyless.signer is None
    assert keyless.refusal is not None and "route key rotate r" in keyless.refusal
    assert keyless.refusal_retryable
