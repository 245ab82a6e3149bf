"""Search a collection: embed the question, rank pieces by cosine similarity.

multilingual-e5-small scores a question higher against passages in its own
language than against a better answer in another one, so in a mixed pool the
ranking is done among pieces of the question's language by default (detected
from the question, or given). Only rows written by the query's embedder are
compared: vectors of two models share no space.

``language="any"`` searches every language and makes their scores comparable
(also what a search whose scope holds nothing in the question's detected
language does, e.g. a Vietnamese question asked of an English law):
each language's candidates (its ``ANY_POOL`` nearest) are scored by how far
they stand above the mean of that language's own pool, so a question in one
language finds the answer in a law written in the other.

A Vietnamese question typed without diacritics is restored first
(``diacritics.Restorer``, from the Vietnamese texts in the search's scope), and
the restored text is what is embedded (``searched_as`` in the result).

A provision the question names by its identifier (``Điều 21``, ``khoản 2 Điều
10``, ``section 4(2)``, ``Article 5``; read by the citation detector) ranks
first, before the nearest pieces: an identifier is an exact answer, which an
embedding only approximates. Several provisions it names (one per unit in
scope) come in order of similarity; such hits carry ``identified``.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg

from iu_core.domain import citation_store, citations
from iu_core.domain import store as domain_store
from iu_core.domain.eid import piece_eids
from iu_core.errors import IuCoreError
from iu_core.sqlfiles import queries
from iu_core.vector import store
from iu_core.vector.diacritics import Restorer, has_marks
from iu_core.vector.embedder import Embedder, vector_literal
from iu_core.vector.language import Language, detect_language
from iu_core.vector.registry import default_embedder_name, get_embedder, name_for_model
from iu_core.vector.target import NOT_INSTALLED, collection_problem

__all__ = ["SearchHit", "SearchResult", "search", "snippet"]

Conn = psycopg.Connection[Any]

SNIPPET_CHARS = 160
# HNSW candidates per search; with iterative scan the index keeps going until the
# filters (collection, IU, language, model) have let LIMIT rows through. Chosen on
# e5 vectors of 100,000 passages of law (python -m bench.vector_bench --parts
# search): recall@10 0.945 at 100, 0.979 at 200 (p99 8.3 ms), 0.990 at 400.
EF_SEARCH = 200
# Candidates per language from which ``language="any"`` calibrates its scores.
ANY_POOL = 50
ANY = "any"


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
    calibrated: float | None = None  # language="any": the score above its language's pool mean
    identified: bool = False  # the question names this provision by its identifier
    # the provision's stored citations: what its text cites (matched_text, cited_eid, to_code,
    # to_eid, unresolved) and the provisions that cite it (from_code, from_eid, matched_text)
    cites: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    cited_by: tuple[dict[str, Any], ...] = field(default=(), hash=False)

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in self.__slots__}
        out["cites"], out["cited_by"] = list(self.cites), list(self.cited_by)
        return out


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    language: Language | str  # a Language, or "any"
    model: str
    hits: tuple[SearchHit, ...]
    searched_as: str = ""  # the text embedded, when it differs from the query (restored diacritics)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "searched_as": self.searched_as or self.query,
            "language": str(self.language),
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


_restorers: dict[tuple[Any, ...], Restorer] = {}


def _restorer(conn: Conn, collection: str | None, iu_id: uuid.UUID | None, model: str) -> Restorer:
    """A restorer learnt from the Vietnamese texts in scope, kept while they do not change."""
    params = {"collection": collection, "iu_id": iu_id, "model_name": model}
    (count, newest) = conn.execute(queries("vector")["vi_texts_version"], params).fetchone() or (0, None)
    key = (collection, iu_id, model, count, newest)
    found = _restorers.get(key)
    if found is None:
        texts = [r[0] for r in conn.execute(queries("vector")["vi_texts"], params)]
        found = _restorers[key] = Restorer(texts)
    return found


def searched_text(
    conn: Conn,
    query: str,
    language: Language | str,
    collection: str | None,
    iu_id: uuid.UUID | None,
    model: str,
) -> str:
    """What is embedded for ``query``: itself, or a plain Vietnamese question with its marks restored."""
    if language != Language.VI or any(has_marks(word) for word in query.split()):
        return query
    return _restorer(conn, collection, iu_id, model).restore(query)


def _nearest(
    conn: Conn,
    vector: Any,
    model: str,
    collection: str | None,
    iu_id: uuid.UUID | None,
    language: str | None,
    limit: int,
) -> list[Any]:
    with conn.transaction():
        conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(max(EF_SEARCH, limit)),))
        return conn.execute(
            queries("vector")["search"],
            {
                "query": vector_literal(vector),
                "model_name": model,
                "collection": collection,
                "iu_id": iu_id,
                "language": language,
                "limit": limit,
            },
        ).fetchall()


def _calibrated(rows_by_language: dict[str, list[Any]], limit: int) -> list[tuple[Any, float]]:
    """Every language's rows scored by how far they stand above that language's pool mean, best first.

    e5 scores every passage in the question's own language higher, relevant or
    not: an offset per language, which the pool's mean measures. Dividing by the
    pool's spread as well (a z-score) was measured and ranks worse (BENCHMARKS.md).
    """
    scored: list[tuple[Any, float]] = []
    for rows in rows_by_language.values():
        if rows:
            mean = sum(float(r[9]) for r in rows) / len(rows)
            scored.extend((r, float(r[9]) - mean) for r in rows)
    scored.sort(key=lambda pair: (-pair[1], str(pair[0][1])))
    return scored[:limit]


def _identified(
    conn: Conn,
    query: str,
    vector: Any,
    model: str,
    collection: str | None,
    iu_id: uuid.UUID | None,
) -> list[Any]:
    """The indexed provisions ``query`` names by identifier (empty: it names none).

    A provision that is only a heading is not indexed; the pieces under it stand
    for it. The provisions themselves come first, then the pieces under them,
    each group most similar first.
    """
    # A question is not a document: the detector reads a bare identifier opening
    # a line ("Điều 3") as that provision's heading, so the question goes in after
    # a mark that keeps it a reference.
    cited = {
        c.eid
        for language in citations.LANGUAGES
        for c in citations.detect("→ " + query, language=language)
        if c.eid and c.unit is None and not c.unresolved
    }
    if not cited:
        return []
    components = sorted({form for eid in cited for form in citations.last_components(eid)})
    rows = conn.execute(
        queries("vector")["identified"],
        {
            "query": vector_literal(vector),
            "model_name": model,
            "collection": collection,
            "iu_id": iu_id,
            "components": components,
        },
    ).fetchall()
    # How far below a named provision each row stands (0: the provision itself).
    below: dict[Any, int] = {}
    for r in rows:
        parts = r[10].split("__")
        for depth in range(len(parts)):
            prefix = "__".join(parts[: len(parts) - depth])
            if any(citations.names(eid, prefix) for eid in cited):
                below[r[1]] = depth
                break
    named = [r for r in rows if r[1] in below]
    named.sort(key=lambda r: (below[r[1]], -float(r[9])))
    return named


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
    language: Language | str | None = None,
    limit: int = 10,
    embedder: Embedder | None = None,
    restore_marks: bool = True,
) -> SearchResult:
    """The ``limit`` pieces nearest to ``query`` in the query's language (``language``; ``"any"``: all)."""
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
    lang: Language | str = language or detect_language(query)
    text_lang = detect_language(query) if lang == ANY else lang
    searched_as = (
        searched_text(conn, query, text_lang, collection, iu_id, chosen.name) if restore_marks else query
    )
    vector = chosen.embed_query(searched_as)
    calibrated: dict[Any, float] = {}
    rows = [] if lang == ANY else _nearest(conn, vector, chosen.name, collection, iu_id, str(lang), limit)
    if not rows and language is None:
        lang = ANY  # nothing in scope is in the question's language: answer from the others
    if lang == ANY:
        pools = {
            code.value: _nearest(
                conn, vector, chosen.name, collection, iu_id, code.value, max(ANY_POOL, limit)
            )
            for code in Language
        }
        ranked = _calibrated(pools, limit)
        rows = [r for r, _ in ranked]
        calibrated = {r[1]: z for r, z in ranked}

    named = _identified(conn, query, vector, chosen.name, collection, iu_id)
    named_ids = {r[1] for r in named}
    if named:
        rows = (named + [r for r in rows if r[1] not in named_ids])[:limit]

    eids = _eids(conn, rows)
    cites, cited_by = citation_store.links_of_pieces(conn, [r[1] for r in rows])
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
            calibrated=round(calibrated[r[1]], 3) if r[1] in calibrated else None,
            identified=r[1] in named_ids,
            cites=tuple(cites.get(r[1], ())),
            cited_by=tuple(cited_by.get(r[1], ())),
        )
        for r in rows
    )
    return SearchResult(
        query=query,
        language=lang,
        model=chosen.name,
        hits=hits,
        searched_as=searched_as if searched_as != query else "",
    )
