"""Database I/O of the vector index and the sync of one IU into one collection.

A sync makes the collection's rows of one IU equal to its active pieces:
pieces whose embedded text (heading path + text) or model changed are
(re-)embedded and upserted, pieces no longer active are deleted, the rest is
left alone (not re-embedded, not rewritten). Everything runs on the caller's
connection inside the caller's transaction; nothing here commits.

``sync_units`` plans every IU first, embeds all the texts that need it in
batches, then writes, so one delivery batch costs one pass through the model.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from iu_core.domain import store as domain_store
from iu_core.sqlfiles import queries
from iu_core.vector.embedder import Embedder, Matrix, vector_literal
from iu_core.vector.passages import Passage, passages_of

__all__ = [
    "EMBED_BATCH",
    "StoredRow",
    "SyncPlan",
    "SyncResult",
    "applied_keys",
    "apply_plan",
    "current_passages",
    "embed_in_batches",
    "plan_sync",
    "record_delivery",
    "sync_units",
    "vector_available",
    "vector_ready",
]

Conn = psycopg.Connection[Any]

# Texts per call into the embedder: large enough to keep the model's threads busy,
# small enough that a progress bar moves.
EMBED_BATCH = 32


def _q(name: str) -> str:
    return queries("vector")[name]


@dataclass(frozen=True, slots=True)
class StoredRow:
    """What the collection holds for one piece (the vector itself is not read back)."""

    piece_id: uuid.UUID
    content_hash: str
    model_name: str
    model_version: str


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """The changes one sync will write for one IU in one collection."""

    collection: str
    iu_id: uuid.UUID
    to_embed: tuple[Passage, ...]
    unchanged: int
    keep: tuple[uuid.UUID, ...]  # every active piece: the rows that stay


@dataclass(frozen=True, slots=True)
class SyncResult:
    collection: str
    iu_id: uuid.UUID
    embedded: int
    unchanged: int
    removed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "iu_id": str(self.iu_id),
            "embedded": self.embedded,
            "unchanged": self.unchanged,
            "removed": self.removed,
        }


def vector_ready(conn: Conn) -> bool:
    """True when this database has the vector tables (pgvector installed, migration 010 ran)."""
    row = conn.execute(_q("vector_ready")).fetchone()
    return bool(row and row[0])


def vector_available(conn: Conn) -> bool:
    """True when the server offers pgvector, installed here or not."""
    row = conn.execute(_q("vector_available")).fetchone()
    return bool(row and row[0])


def due_units(conn: Conn, route_code: str, limit: int) -> list[uuid.UUID]:
    """The units of the next ``limit`` due deliveries of ``route_code`` (read, never locked)."""
    return [r[0] for r in conn.execute(_q("due_units"), {"route_code": route_code, "limit": limit})]


def applied_keys(conn: Conn, keys: Sequence[str]) -> set[str]:
    """The idempotency keys among ``keys`` whose delivery was applied already."""
    return {r[0] for r in conn.execute(_q("applied_keys"), {"keys": list(keys)})}


def record_delivery(conn: Conn, idempotency_key: str, event_ref: uuid.UUID, result: SyncResult) -> None:
    """Record that the delivery ``idempotency_key`` was applied by the sync ``result``."""
    conn.execute(
        _q("record_delivery"),
        {
            "idempotency_key": idempotency_key,
            "collection": result.collection,
            "event_ref": event_ref,
            "iu_id": result.iu_id,
            "embedded": result.embedded,
            "removed": result.removed,
        },
    )


def current_passages(conn: Conn, iu_id: uuid.UUID) -> list[Passage]:
    """The passages the IU should have now: none when it is gone or archived."""
    state = conn.execute(_q("unit_state"), {"iu_id": iu_id}).fetchone()
    if state is None or state[0] != "active":
        return []
    tree = domain_store.load_tree(conn, iu_id)
    if not tree.pieces:
        return []
    return passages_of(tree)


def _stored(conn: Conn, collection: str, iu_id: uuid.UUID) -> dict[uuid.UUID, StoredRow]:
    rows = conn.execute(_q("rows_of_unit"), {"collection": collection, "iu_id": iu_id}).fetchall()
    return {r[0]: StoredRow(r[0], r[1], r[2], r[3]) for r in rows}


def plan_sync(conn: Conn, collection: str, iu_id: uuid.UUID, embedder: Embedder) -> SyncPlan:
    """Lock (collection, IU) for this transaction, then compare the tree with the stored rows."""
    conn.execute(_q("lock_unit_collection"), {"collection": collection, "iu_id": str(iu_id)})
    wanted = current_passages(conn, iu_id)
    stored = _stored(conn, collection, iu_id)
    to_embed: list[Passage] = []
    for passage in wanted:
        row = stored.get(passage.piece_id)
        same = (
            row is not None
            and row.content_hash == passage.content_hash
            and row.model_name == embedder.name
            and row.model_version == embedder.version
        )
        if not same:
            to_embed.append(passage)
    return SyncPlan(
        collection=collection,
        iu_id=iu_id,
        to_embed=tuple(to_embed),
        unchanged=len(wanted) - len(to_embed),
        keep=tuple(p.piece_id for p in wanted),
    )


def embed_in_batches(
    embedder: Embedder,
    texts: Sequence[str],
    *,
    batch: int = EMBED_BATCH,
    progress: Callable[[int], None] | None = None,
) -> Matrix:
    """``embedder.embed_passages`` over ``texts`` in slices of ``batch``; ``progress(n)`` after each."""
    parts: list[Matrix] = []
    for start in range(0, len(texts), batch):
        chunk = texts[start : start + batch]
        vectors = embedder.embed_passages(chunk)
        if vectors.shape != (len(chunk), embedder.dims):
            shape = vectors.shape
            raise ValueError(f"embedder {embedder.name} returned shape {shape} for {len(chunk)} texts")
        parts.append(vectors)
        if progress is not None:
            progress(len(chunk))
    if not parts:
        return np.zeros((0, embedder.dims), dtype=np.float32)
    return np.concatenate(parts)


def apply_plan(conn: Conn, plan: SyncPlan, vectors: Matrix, embedder: Embedder) -> SyncResult:
    """Write ``plan``: upsert its passages with ``vectors`` (same order), delete what left."""
    if len(vectors) != len(plan.to_embed):
        raise ValueError("one vector per passage to embed")
    params = [
        {
            "collection": plan.collection,
            "piece_id": p.piece_id,
            "iu_id": p.iu_id,
            "language": p.language.value,
            "model_name": embedder.name,
            "model_version": embedder.version,
            "content_hash": p.content_hash,
            "heading_path": p.heading_path,
            "embedding": vector_literal(v),
        }
        for p, v in zip(plan.to_embed, vectors, strict=True)
    ]
    with conn.cursor() as cur:
        if params:
            cur.executemany(_q("upsert_piece"), params)
        cur.execute(
            _q("delete_missing"),
            {"collection": plan.collection, "iu_id": plan.iu_id, "keep": list(plan.keep)},
        )
        removed = cur.rowcount
    return SyncResult(plan.collection, plan.iu_id, len(plan.to_embed), plan.unchanged, removed)


def sync_units(
    conn: Conn,
    collection: str,
    iu_ids: Iterable[uuid.UUID],
    embedder: Embedder,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[SyncResult]:
    """Sync each IU into ``collection``: plan all, embed in batches, write all."""
    plans = [plan_sync(conn, collection, iu_id, embedder) for iu_id in iu_ids]
    texts = [p.text for plan in plans for p in plan.to_embed]
    vectors = embed_in_batches(embedder, texts, progress=progress)
    results: list[SyncResult] = []
    start = 0
    for plan in plans:
        end = start + len(plan.to_embed)
        results.append(apply_plan(conn, plan, vectors[start:end], embedder))
        start = end
    return results
