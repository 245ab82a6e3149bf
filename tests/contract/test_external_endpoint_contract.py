"""The contract, run against the external_endpoint target and a real receiver on 127.0.0.1.

The kind is at least once: a re-delivery POSTs again with the same
``webhook-id``, and a Standard Webhooks receiver applies each id once. The
receiver here does exactly that (it applies a request only when its signature
verifies), so an effect is one applied webhook-id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from iu_core.delivery_seam import DeliveryRequest
from tests.contract.base import TargetContract, TargetHarness
from tests.support.receivers import (
    Receiver,
    Reply,
    add_route,
    outbox_event,
    request_for,
    set_secret,
    targets,
    worker_client_calls,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTE = "contract.hook"
TIMEOUT_S = 1.0


def applied(rx: Receiver) -> dict[str, int]:
    """Webhook-id -> how many requests with that id verified (what a receiver would apply once)."""
    counts: dict[str, int] = {}
    for seen in rx.seen:
        Webhook(SECRET).verify(seen.body, seen.headers)  # raises on a bad signature
        counts[seen.headers["webhook-id"]] = counts.get(seen.headers["webhook-id"], 0) + 1
    return counts


class TestExternalEndpointContract(TargetContract):
    target_kind = "external_endpoint"

    @pytest.fixture
    def receiver(self) -> Iterator[Receiver]:
        with Receiver() as rx:
            yield rx

    @pytest.fixture
    def harness(
        self, conn: psycopg.Connection[Any], database_url: str, other_database_url: str, receiver: Receiver
    ) -> Iterator[TargetHarness]:
        rx = receiver
        # Live, loopback allowed (the address policy refuses it otherwise), a short timeout.
        add_route(conn, ROUTE, rx.url, timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S)
        set_secret(conn, ROUTE, SECRET)

        def make_request() -> DeliveryRequest:
            return request_for(ROUTE, rx.url, event_ref=outbox_event(conn))

        def effects(key: str) -> int:
            return min(1, applied(rx).get(key, 0))

        @contextlib.contextmanager
        def slow() -> Iterator[None]:
            before = rx.default
            rx.default = Reply(delay_s=TIMEOUT_S * 4)
            try:
                yield
            finally:
                rx.default = before

        # Another installation where the same route is live but has no signing secret.
        with psycopg.connect(other_database_url, autocommit=True) as other:
            add_route(other, ROUTE, rx.url)
        with targets(database_url) as built, targets(other_database_url) as unconfigured:
            yield TargetHarness(
                target=built["external_endpoint"],
                make_request=make_request,
                effects=effects,
                unconfigured=unconfigured["external_endpoint"],
                secrets=[SECRET, SECRET.removeprefix("whsec_")],
                slow=slow,
                deadline_s=10.0,
            )

    def test_a_redelivery_repeats_the_webhook_id(self, harness: TargetHarness, receiver: Receiver) -> None:
        request = harness.make_request()
        assert harness.target.deliver(request).status == "sent"
        assert harness.target.deliver(request).status == "sent"
        assert applied(receiver) == {request.idempotency_key: 2}  # both verify, one id: applied once

    def test_an_unconfigured_target_sends_nothing(self, harness: TargetHarness, receiver: Receiver) -> None:
        outcome = harness.unconfigured.deliver(harness.make_request())
        assert outcome.detail["failure"] == "misconfigured"
        assert receiver.connections == 0

    def test_delivers_through_the_workers_http_client(
        self, harness: TargetHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # What this suite proves is what the worker runs: the same sender and client.
        with worker_client_calls(monkeypatch) as calls:
            outcome = harness.target.deliver(harness.make_request())
        assert outcome.status == "sent", outcome.detail
        assert [name for name, _target in calls] == ["iu-core-http-sync"]
