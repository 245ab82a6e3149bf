"""Build or rebuild a collection from the current trees.

IUs are taken in chunks, each chunk in its own transaction (a savepoint when
the caller's connection is already in one): plan, embed, write. Pieces whose
text and model did not change are not embedded again, so reindexing a current
collection is cheap; reindexing with another embedder rewrites every row.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from iu_core.errors import IuCoreError
from iu_core.sqlfiles import queries
from iu_core.vector import store
from iu_core.vector.embedder import Embedder
from iu_core.vector.target import NOT_INSTALLED, collection_problem

__all__ = ["ReindexResult", "reindex"]

Conn = psycopg.Connection[Any]

UNITS_PER_CHUNK = 16


@dataclass(frozen=True, slots=True)
class ReindexResult:
    collection: str
    model: str
    units: int
    embedded: int
    unchanged: int
    removed: int

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def reindex(
    conn: Conn,
    collection: str,
    embedder: Embedder,
    *,
    iu_code: str | None = None,
    on_total: Callable[[int], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReindexResult:
    """Sync every IU (or the one ``iu_code``) into ``collection``.

    ``on_total(pieces)`` is called once with the number of active pieces to
    look at, ``on_progress(n)`` as pieces are done.
    """
    if problem := collection_problem(collection):
        raise IuCoreError(problem)
    if not store.vector_ready(conn):
        raise IuCoreError(NOT_INSTALLED)
    q = queries("vector")
    units: list[uuid.UUID] = [
        r[0] for r in conn.execute(q["unit_ids"], {"code": iu_code, "collection": collection})
    ]
    if iu_code is not None and not units:
        raise IuCoreError(f"unknown information unit {iu_code!r}")
    total_row = conn.execute(q["piece_count"], {"iu_ids": units}).fetchone()
    if on_total is not None:
        on_total(int(total_row[0]) if total_row else 0)
    embedded = unchanged = removed = 0
    for start in range(0, len(units), UNITS_PER_CHUNK):
        chunk = units[start : start + UNITS_PER_CHUNK]
        with conn.transaction():
            plans = [store.plan_sync(conn, collection, iu_id, embedder) for iu_id in chunk]
            if on_progress is not None:
                on_progress(sum(p.unchanged for p in plans))
            texts = [p.text for plan in plans for p in plan.to_embed]
            vectors = store.embed_in_batches(embedder, texts, progress=on_progress)
            offset = 0
            for plan in plans:
                end = offset + len(plan.to_embed)
                result = store.apply_plan(conn, plan, vectors[offset:end], embedder)
                offset = end
                embedded += result.embedded
                unchanged += result.unchanged
                removed += result.removed
    return ReindexResult(collection, embedder.name, len(units), embedded, unchanged, removed)
