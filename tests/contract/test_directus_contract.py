"""The contract, run against the directus_flow target and a real Directus on 127.0.0.1.

The kind is at least once: a re-delivery triggers the flow again with the same
id in the body, and the flow's reader applies each id once. An effect is one
id written by the flow into ``iu_events``; a test of this kind below shows a
re-delivery arriving twice with that same id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from iu_core.delivery_seam import DeliveryRequest
from iu_core.targets.http import sync as http_sync
from tests.contract.base import TargetContract, TargetHarness
from tests.support.directus import Directus
from tests.support.receivers import (
    add_route,
    outbox_event,
    request_for,
    set_token,
    targets,
    worker_client_calls,
)

pytestmark = [pytest.mark.directus, pytest.mark.timeout(300)]

TIMEOUT_S = 3.0


class TestDirectusFlowContract(TargetContract):
    target_kind = "directus_flow"

    @pytest.fixture
    def flow_ref(self, directus: Directus) -> Iterator[str]:
        flow = directus.create_flow()
        try:
            yield f"{directus.url}/flows/trigger/{flow}"
        finally:
            http_sync.close()
            # Directus without a license allows only a few active flows: remove this test's.
            while directus.flows:
                directus.api("DELETE", f"/flows/{directus.flows.pop()}")

    @pytest.fixture
    def harness(
        self,
        directus: Directus,
        flow_ref: str,
        conn: psycopg.Connection[Any],
        database_url: str,
        other_database_url: str,
    ) -> Iterator[TargetHarness]:
        route = f"contract.directus.{uuid.uuid4().hex[:8]}"
        add_route(
            conn, route, flow_ref, kind="directus_flow", timeout_s=TIMEOUT_S, connect_timeout_s=TIMEOUT_S
        )
        set_token(conn, route, directus.token)

        def make_request() -> DeliveryRequest:
            return request_for(route, flow_ref, kind="directus_flow", event_ref=outbox_event(conn))

        def effects(key: str) -> int:
            return len({item["event_id"] for item in directus.items(key)})

        @contextlib.contextmanager
        def slow() -> Iterator[None]:
            os.killpg(directus.pgid, signal.SIGSTOP)  # the server accepts connections and never answers
            try:
                yield
            finally:
                os.killpg(directus.pgid, signal.SIGCONT)
                directus.wait_ready()

        # Another installation where the same route is live but has no access token.
        with psycopg.connect(other_database_url, autocommit=True) as other:
            add_route(other, route, flow_ref, kind="directus_flow")
        with targets(database_url) as built, targets(other_database_url) as unconfigured:
            yield TargetHarness(
                target=built["directus_flow"],
                make_request=make_request,
                effects=effects,
                unconfigured=unconfigured["directus_flow"],
                secrets=[directus.token],
                slow=slow,
                deadline_s=20.0,
            )

    def test_a_redelivery_arrives_again_with_the_same_id(
        self, harness: TargetHarness, directus: Directus
    ) -> None:
        request = harness.make_request()
        assert harness.target.deliver(request).status == "sent"
        assert harness.target.deliver(request).status == "sent"
        items = directus.items(request.idempotency_key)
        assert [item["event_id"] for item in items] == [request.idempotency_key] * 2

    def test_delivers_through_the_workers_http_client(
        self, harness: TargetHarness, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # What this suite proves is what the worker runs: the same sender and client.
        with worker_client_calls(monkeypatch) as calls:
            outcome = harness.target.deliver(harness.make_request())
        assert outcome.status == "sent", outcome.detail
        assert [name for name, _target in calls] == ["iu-core-http-sync"]
