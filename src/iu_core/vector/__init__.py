"""The vector index: one embedding per active piece and collection, searchable.

API::

    VectorTarget(embedder=None, *, embedder_name=None)   # the ``vector`` TransactionalTarget
    get_embedder(name=None) -> Embedder                  # "e5" (default, IU_CORE_EMBEDDER) or "hashing"
    sync_units(conn, collection, iu_ids, embedder) -> list[SyncResult]
    reindex(conn, collection, embedder, *, iu_code=None) -> ReindexResult
    search(conn, query, *, collection=None, iu_code=None, language=None, limit=10) -> SearchResult
    collection_status(conn) -> list[CollectionStatus]
    detect_language(text) -> Language

See each module's docstring for the semantics.
"""

from __future__ import annotations

from iu_core.vector.embedder import DIMS, Embedder
from iu_core.vector.language import Language, detect_language
from iu_core.vector.passages import Passage, passages_of
from iu_core.vector.registry import default_embedder_name, embedder_names, get_embedder
from iu_core.vector.reindex import ReindexResult, reindex
from iu_core.vector.search import SearchHit, SearchResult, search
from iu_core.vector.status import CollectionStatus, collection_status
from iu_core.vector.store import SyncResult, sync_units, vector_available, vector_ready
from iu_core.vector.target import NOT_INSTALLED, VectorTarget, collection_problem

__all__ = [
    "DIMS",
    "NOT_INSTALLED",
    "CollectionStatus",
    "Embedder",
    "Language",
    "Passage",
    "ReindexResult",
    "SearchHit",
    "SearchResult",
    "SyncResult",
    "VectorTarget",
    "collection_problem",
    "collection_status",
    "default_embedder_name",
    "detect_language",
    "embedder_names",
    "get_embedder",
    "passages_of",
    "reindex",
    "search",
    "sync_units",
    "vector_available",
    "vector_ready",
]
