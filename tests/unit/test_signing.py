"""Standard Webhooks signing: the published test vector, signed by the signer every delivery uses."""

from __future__ import annotations

from iu_core.targets.webhook import Signer

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_standard_webhooks_published_test_vector() -> None:
    # The test vector Standard Webhooks publishes with its reference libraries.
    header = Signer([SECRET]).header("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
