"""Search a collection: embed the question, rank pieces by cosine similarity.

multilingual-e5-small scores a question higher against passages in its own
language than against a better answer in another one, so in a mixed pool the
ranking is done among pieces of the question's language by default (detected
from the question, or given). Only rows written by the query's embedder are
compared: vectors of two models share no space.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from iu_core.domain import store as domain_store
from iu_core.domain.eid import piece_eids
from iu_core.errors import IuCoreError
from iu_core.sqlfiles import queries
from iu_core.vector import store
from iu_core.vector.embedder import Embedder, vector_literal
from iu_core.vector.language import Language, detect_language
from iu_core.vector.registry import default_embedder_name, get_embedder, name_for_model
from iu_core.vector.target import NOT_INSTALLED, collection_problem

__all__ = ["SearchHit", "SearchResult", "search", "snippet"]

Conn = psycopg.Connection[Any]

SNIPPET_CHARS = 160
# HNSW candidates per search; with iterative scan the index keeps going until the
# filters (collection, IU, language, model) have let LIMIT rows through.
EF_SEARCH = 100


@dataclass(frozen=True, slots=True)
class SearchHit:
    score: float
    collection: str
    code: str
    piece_id: uuid.UUID
    eid: str | None  # the provision's legal identifier (Akoma Ntoso naming)
    kind: str
    label: str
    heading: str
    heading_path: str
    language: str
    snippet: str

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    language: Language
    model: str
    hits: tuple[SearchHit, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "language": self.language.value,
            "model": self.model,
            "hits": [h.as_dict() for h in self.hits],
        }


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """The text on one line, cut at a word boundary near ``limit`` characters."""
    flat = re.sub(r"\s+", " ", text).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[:limit].rsplit(" ", 1)[0]
    return cut + " …"


def _choose_embedder(conn: Conn, collection: str | None, iu_id: uuid.UUID | None) -> Embedder:
    """The embedder of the rows in scope when they are all of one model, else the default."""
    rows = conn.execute(queries("vector")["collection_models"], {"collection": collection, "iu_id": iu_id})
    models = [r[0] for r in rows]
    if not models:
        where = f"collection {collection!r}" if collection else "any collection"
        raise IuCoreError(f"nothing is indexed in {where} yet (iu-core vector reindex COLLECTION)")
    if len(models) == 1:
        name = name_for_model(models[0])
        if name is None:
            raise IuCoreError(f"no embedder is registered for model {models[0]!r}")
        return get_embedder(name)
    return get_embedder(default_embedder_name())


def _eids(conn: Conn, rows: list[Any]) -> dict[uuid.UUID, str | None]:
    """The eid of each hit: as stored, or computed from its tree where none is stored yet."""
    out: dict[uuid.UUID, str | None] = {r[1]: r[10] for r in rows}
    for iu_id in {r[11] for r in rows if r[10] is None}:
        out.update(piece_eids(domain_store.load_tree(conn, iu_id)))
    return {r[1]: out.get(r[1]) for r in rows}


def search(
    conn: Conn,
    query: str,
    *,
    collection: str | None = None,
    iu_code: str | None = None,
    language: Language | None = None,
    limit: int = 10,
    embedder: Embedder | None = None,
) -> SearchResult:
    """The ``limit`` pieces nearest to ``query`` in the query's language (or ``language``)."""
    if not query.strip():
        raise IuCoreError("the search query is empty")
    if not 1 <= limit <= 1000:
        raise IuCoreError("--limit must be between 1 and 1000")
    if collection is not None and (problem := collection_problem(collection)):
        raise IuCoreError(problem)
    if not store.vector_ready(conn):
        raise IuCoreError(NOT_INSTALLED)
    iu_id = domain_store.unit_by_code(conn, iu_code).iu_id if iu_code else None
    chosen = embedder or _choose_embedder(conn, collection, iu_id)
    lang = language or detect_language(query)
    vector = chosen.embed_query(query)
    with conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(EF_SEARCH, limit)),))
        rows = conn.execute(
            queries("vector")["search"],
            {
                "query": vector_literal(vector),
                "model_name": chosen.name,
                "collection": collection,
                "iu_id": iu_id,
                "language": lang.value,
                "limit": limit,
            },
        ).fetchall()
    eids = _eids(conn, rows)
    hits = tuple(
        SearchHit(
            score=round(float(r[9]), 4),
            collection=r[0],
            piece_id=r[1],
            eid=eids.get(r[1]),
            code=r[2],
            kind=r[3],
            label=r[4],
            heading=r[5],
            heading_path=r[6],
            language=r[7],
            snippet=snippet(r[8]),
        )
        for r in rows
    )
    return SearchResult(query=query, language=lang, model=chosen.name, hits=hits)
