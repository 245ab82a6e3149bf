"""The vector target passes the delivery-target contract on the real PostgreSQL with pgvector."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.delivery.transactional import bind
from iu_core.delivery_seam import DeliveryRequest
from iu_core.vector import VectorTarget
from iu_core.vector.hashing import HashingEmbedder
from tests.contract.base import TargetContract, TargetHarness
from tests.support.vector import ingest_sample, piece_by_title, require_pgvector


class TestVectorContract(TargetContract):
    target_kind = "vector"

    @pytest.fixture
    def harness(self, conn: psycopg.Connection[Any]) -> Iterator[TargetHarness]:
        require_pgvector(conn)
        ingest_sample(conn, "regulation_en.md", "REG")
        piece = piece_by_title(conn, "REG", "Article 3 Booking").piece_id
        counter = itertools.count(1)

        def make_request() -> DeliveryRequest:
            # A new structure event each time: rename the article.
            result = domain.rename_piece(conn, piece, heading=f"Booking {next(counter)}")
            event_id = result.event_ids[0]
            payload = conn.execute("SELECT payload FROM event_outbox WHERE event_id = %s", (event_id,))
            return DeliveryRequest(
                route_code="vec",
                event_ref=str(event_id),
                target_kind="vector",
                target_ref="contract",
                idempotency_key=f"vec:{event_id}",
                safe_payload=payload.fetchone()[0],  # type: ignore[index]
            )

        def effects(key: str) -> int:
            row = conn.execute("SELECT count(*) FROM iu_vector_delivery WHERE idempotency_key = %s", (key,))
            return int(row.fetchone()[0])  # type: ignore[index]

        yield TargetHarness(
            target=bind(VectorTarget(HashingEmbedder()), conn),
            make_request=make_request,
            effects=effects,
            unconfigured=bind(VectorTarget(embedder_name="not-configured"), conn),
            slow=None,  # the embedders shipped run in-process: nothing to hang on
        )
