"""Helpers of the vector tests: a counting embedder, samples in a database, deliveries of real events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.delivery.transactional import EventDelivery, load_event_delivery
from iu_core.delivery_seam import DeliveryRequest
from iu_core.vector import store
from iu_core.vector.embedder import Matrix, Vector
from iu_core.vector.hashing import HashingEmbedder
from iu_core.vector.passages import passages_of

Conn = psycopg.Connection[Any]


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the passages it was asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.passages = 0
        self.calls = 0

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        self.calls += 1
        self.passages += len(texts)
        return super().embed_passages(texts)

    def embed_query(self, text: str) -> Vector:
        return super().embed_query(text)


def require_pgvector(conn: Conn) -> None:
    """Skip where the test server has no pgvector (e.g. a user's PostgreSQL 15)."""
    if not store.vector_ready(conn):
        pytest.skip("pgvector is not installed in this database")


def ingest_sample(conn: Conn, name: str, code: str) -> uuid.UUID:
    return domain.ingest_document(conn, domain.sample_path(name), code=code).unit.iu_id


def piece_by_title(conn: Conn, code: str, title: str) -> domain.Piece:
    """The active piece of IU ``code`` whose ``label heading`` is ``title``."""
    tree = domain.get_tree(conn, code)
    found = [p for _, p in tree.walk() if p.title == title]
    assert len(found) == 1, [p.title for _, p in tree.walk()]
    return found[0]


def rows(conn: Conn, collection: str, iu_id: uuid.UUID | None = None) -> dict[uuid.UUID, tuple[str, str]]:
    """piece_id -> (content_hash, heading_path) of a collection (one IU's rows, or all)."""
    found = conn.execute(
        "SELECT piece_id, content_hash, heading_path FROM iu_vector_piece"
        " WHERE collection = %s AND (%s::uuid IS NULL OR iu_id = %s)",
        (collection, iu_id, iu_id),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in found}


def indexed_piece_ids(conn: Conn, iu_id: uuid.UUID) -> set[uuid.UUID]:
    """The active pieces the index holds a passage for (the rule itself is tested in tests/unit)."""
    (code,) = conn.execute("SELECT code FROM information_unit WHERE iu_id = %s", (iu_id,)).fetchone() or ("",)
    return {passage.piece_id for passage in passages_of(domain.get_tree(conn, code))}


def deliveries_of(conn: Conn, iu_id: uuid.UUID, collection: str, route: str = "vec") -> list[EventDelivery]:
    """One delivery per event of the IU, as the worker would claim them for a vector route."""
    events = conn.execute(
        "SELECT event_id, payload FROM event_outbox WHERE aggregate_id = %s ORDER BY event_seq", (iu_id,)
    ).fetchall()
    out = []
    for event_id, payload in events:
        request = DeliveryRequest(
            route_code=route,
            event_ref=str(event_id),
            target_kind="vector",
            target_ref=collection,
            idempotency_key=f"{route}:{event_id}",
            safe_payload=payload,
        )
        delivery = load_event_delivery(conn, request)
        assert delivery is not None
        out.append(delivery)
    return out
