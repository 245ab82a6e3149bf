"""The vector index: one embedding per active piece and collection, searchable.

API::

    VectorTarget(embedder=None, *, embedder_name=None)   # the ``vector`` TransactionalTarget
    get_embedder(name=None) -> Embedder   # "e5" (default, IU_CORE_EMBEDDER), "e5-q4" or "hashing"
    sync_units(conn, collection, iu_ids, embedder) -> list[SyncResult]
    reindex(conn, collection, embedder, *, iu_code=None) -> ReindexResult
    search(conn, query, *, collection=None, iu_code=None, language=None, limit=10) -> SearchResult
    collection_status(conn) -> list[CollectionStatus]
    detect_language(text) -> Language

See each module's docstring for the semantics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iu_core.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from iu_core.vector.embedder import DIMS, Embedder
    from iu_core.vector.language import Language, detect_language
    from iu_core.vector.passages import Passage, passages_of
    from iu_core.vector.registry import default_embedder_name, embedder_names, get_embedder
    from iu_core.vector.reindex import ReindexResult, reindex
    from iu_core.vector.search import SearchHit, SearchResult, search
    from iu_core.vector.status import CollectionStatus, collection_status
    from iu_core.vector.store import SyncResult, sync_units, vector_available, vector_ready
    from iu_core.vector.target import NOT_INSTALLED, VectorTarget, collection_problem

# Imported on first use (numpy, the store): `iu-core` commands that never touch
# the vector index start without them.
_HOME = {
    "DIMS": "iu_core.vector.embedder",
    "Embedder": "iu_core.vector.embedder",
    "Language": "iu_core.vector.language",
    "detect_language": "iu_core.vector.language",
    "Passage": "iu_core.vector.passages",
    "passages_of": "iu_core.vector.passages",
    "default_embedder_name": "iu_core.vector.registry",
    "embedder_names": "iu_core.vector.registry",
    "get_embedder": "iu_core.vector.registry",
    "ReindexResult": "iu_core.vector.reindex",
    "reindex": "iu_core.vector.reindex",
    "SearchHit": "iu_core.vector.search",
    "SearchResult": "iu_core.vector.search",
    "search": "iu_core.vector.search",
    "CollectionStatus": "iu_core.vector.status",
    "collection_status": "iu_core.vector.status",
    "SyncResult": "iu_core.vector.store",
    "sync_units": "iu_core.vector.store",
    "vector_available": "iu_core.vector.store",
    "vector_ready": "iu_core.vector.store",
    "NOT_INSTALLED": "iu_core.vector.target",
    "VectorTarget": "iu_core.vector.target",
    "collection_problem": "iu_core.vector.target",
}

__getattr__ = lazy_exports(__name__, _HOME)


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
