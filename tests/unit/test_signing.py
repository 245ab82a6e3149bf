"""Standard Webhooks signing: the published test vector."""

from __future__ import annotations

from iu_core.targets.webhook import signature_header

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_standard_webhooks_published_test_vector() -> None:
    # The test vector Standard Webhooks publishes with its reference libraries.
    header = signature_header([SECRET], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert header == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
