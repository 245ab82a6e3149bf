"""Per collection: pieces, stale pieces, model, dims, index size.

A piece is stale when its row no longer matches the current tree: the
piece is active but has no row, its heading path or text changed since it
was embedded, its row is of another model than the collection's main one
(the model most of its rows have), or the piece is no longer active. A
collection with live routes and a running worker has 0 stale pieces between
worker rounds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from iu_core.errors import IuCoreError
from iu_core.sqlfiles import queries
from iu_core.vector import store
from iu_core.vector.target import NOT_INSTALLED

__all__ = ["CollectionStatus", "collection_status"]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class CollectionStatus:
    collection: str
    pieces: int
    stale: int
    model: str
    model_version: str
    other_models: tuple[str, ...]
    dims: int
    index_bytes: int  # the HNSW index, shared by all collections

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


def _stale(conn: Conn, collection: str, model: str, version: str) -> int:
    q = queries("vector")
    rows = conn.execute(q["hashes_of_collection"], {"collection": collection}).fetchall()
    stored = {r[0]: (r[2], r[3], r[4]) for r in rows}
    units: set[uuid.UUID] = {r[1] for r in rows}
    wanted: dict[uuid.UUID, str] = {}
    for iu_id in units:
        for passage in store.current_passages(conn, iu_id):
            wanted[passage.piece_id] = passage.content_hash
    stale = sum(1 for piece_id in stored if piece_id not in wanted)  # rows of pieces that left
    for piece_id, content_hash in wanted.items():
        row = stored.get(piece_id)
        if row is None or row != (content_hash, model, version):
            stale += 1
    return stale


def collection_status(conn: Conn) -> list[CollectionStatus]:
    """One status per collection, by name."""
    if not store.vector_ready(conn):
        raise IuCoreError(NOT_INSTALLED)
    q = queries("vector")
    index_row = conn.execute(q["index_size"]).fetchone()
    index_bytes = int(index_row[0]) if index_row else 0
    by_collection: dict[str, list[tuple[Any, ...]]] = {}
    for row in conn.execute(q["collections"]):
        by_collection.setdefault(row[0], []).append(tuple(row))
    out: list[CollectionStatus] = []
    for collection, rows in sorted(by_collection.items()):
        main = rows[0]  # most rows first
        out.append(
            CollectionStatus(
                collection=collection,
                pieces=sum(int(r[3]) for r in rows),
                stale=_stale(conn, collection, main[1], main[2]),
                model=main[1],
                model_version=main[2],
                other_models=tuple(f"{r[1]} {r[2]}" for r in rows[1:]),
                dims=int(main[4]),
                index_bytes=index_bytes,
            )
        )
    return out
