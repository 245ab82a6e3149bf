"""A vector delivery embeds before its transaction: no delivery row is locked while the model runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.vector import VectorTarget
from iu_core.vector.embedder import Matrix
from iu_core.worker import store
from iu_core.worker.in_transaction import deliver_in_transaction
from tests.support.routes import add_route
from tests.support.vector import CountingEmbedder, ingest_sample, require_pgvector, rows

Conn = psycopg.Connection[Any]
ROUTE = "structure_op_applied.vec"


class LockProbingEmbedder(CountingEmbedder):
    """Before each embedding, asks from another session whether any delivery of the route is locked."""

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self.database_url = database_url
        self.locked_during: list[int] = []  # passages embedded while a delivery row was locked

    def embed_passages(self, texts: Sequence[str]) -> Matrix:
        with psycopg.connect(self.database_url, autocommit=True) as other:
            try:
                with other.transaction():
                    other.execute("SET LOCAL lock_timeout = '50ms'")
                    other.execute(
                        "SELECT 1 FROM iu_delivery WHERE route_code = %s FOR UPDATE NOWAIT", (ROUTE,)
                    )
            except psycopg.errors.LockNotAvailable:
                self.locked_during.append(len(texts))
        return super().embed_passages(texts)


@pytest.fixture
def live_vector_route(conn: Conn) -> store.Route:
    require_pgvector(conn)
    add_route(conn, ROUTE, kind="vector", ref="law", live=True)
    (route,) = [r for r in store.load_routes(conn) if r.route_code == ROUTE]
    return route


def test_the_model_runs_before_the_claim_takes_its_locks(
    conn: Conn, database_url: str, live_vector_route: store.Route
) -> None:
    iu_id = ingest_sample(conn, "regulation_en.md", "REG-EN")
    tree = domain.get_tree(conn, "REG-EN")
    piece = next(p for _, p in tree.walk() if p.text and not tree.children(p.piece_id))
    domain.rename_piece(conn, piece.piece_id, heading="Renamed by the test")
    embedder = LockProbingEmbedder(database_url)
    target = VectorTarget(embedder)
    with psycopg.connect(database_url) as worker_conn:
        batch = deliver_in_transaction(worker_conn, live_vector_route, 50, "test-worker", target)
    assert batch.sent >= 1
    assert embedder.passages > 0  # the model ran ...
    assert embedder.locked_during == []  # ... and never while a delivery row was locked
    assert rows(conn, "law", iu_id)  # and the vectors were written by the delivery's transaction


def test_a_text_changed_after_preparing_is_embedded_in_the_transaction(
    conn: Conn, database_url: str, live_vector_route: store.Route
) -> None:
    iu_id = ingest_sample(conn, "regulation_en.md", "REG-EN")
    embedder = CountingEmbedder()
    target = VectorTarget(embedder)
    with psycopg.connect(database_url) as worker_conn:
        target.prepare(worker_conn, ROUTE, "law", 50)
        prepared = embedder.passages
        assert prepared > 0
        tree = domain.get_tree(conn, "REG-EN")
        piece = next(p for _, p in tree.walk() if p.text and not tree.children(p.piece_id))
        domain.rename_piece(conn, piece.piece_id, heading="Changed between prepare and claim")
        while deliver_in_transaction(worker_conn, live_vector_route, 50, "test-worker", target).claimed:
            pass
    # Only the renamed piece was embedded again, in the transaction.
    assert embedder.passages - prepared == 1
    stored = rows(conn, "law", iu_id)
    assert any("Changed between prepare and claim" in path for _, path in stored.values())
