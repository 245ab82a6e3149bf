"""The knowledge domain: information units, autocut, structure operations, relations.

Every write is one transaction that writes its domain rows and its events in
``event_outbox`` together. The public API, re-exported here::

    ingest_document(conn, source, *, code, title=None, replace=False, actor=None) -> IngestResult
    split_piece / merge_pieces / move_piece / rename_piece / deprecate_piece / restore_piece
    apply_operation(conn, operation_type, *, actor=None, **parameters) -> OperationResult
    relate(conn, from_code, relation_type, to_code, *, actor=None) -> Relation
    unrelate(...), list_relations(conn, code=None)
    list_units, get_unit, get_tree, tree_as_dict, list_operations, list_events, tree_problems
    autocut(text) -> CutNode, join_text(root) -> str
    unit_event_problems(conn, iu_id), operation_problems(conn, operation_id)  # audits
    sample_path(name) -> Path, SAMPLES
    build_demo_corpus(conn, *, actor="demo") -> CorpusResult   # samples + story: 56 structure events

See each module's docstring for the semantics.
"""

from __future__ import annotations

from iu_core.domain.audit import operation_problems, unit_event_problems
from iu_core.domain.autocut import CutNode, autocut, classify_line, join_text
from iu_core.domain.corpus import DEMO_CODES, DEMO_STRUCTURE_EVENTS, CorpusResult, build_demo_corpus
from iu_core.domain.ingest import SAMPLES, IngestResult, ingest_document, read_document, sample_path
from iu_core.domain.model import (
    OPERATION_TYPES,
    RELATION_TYPES,
    STRUCTURE_EVENT_TYPES,
    OperationResult,
    Piece,
    Tree,
    Unit,
)
from iu_core.domain.operations import (
    apply_operation,
    deprecate_piece,
    merge_pieces,
    move_piece,
    paragraph_offsets,
    rename_piece,
    restore_piece,
    split_piece,
)
from iu_core.domain.queries import (
    get_tree,
    get_unit,
    list_events,
    list_operations,
    list_units,
    tree_as_dict,
    tree_problems,
)
from iu_core.domain.relations import Relation, list_relations, relate, unrelate

__all__ = [
    "DEMO_CODES",
    "DEMO_STRUCTURE_EVENTS",
    "OPERATION_TYPES",
    "RELATION_TYPES",
    "SAMPLES",
    "STRUCTURE_EVENT_TYPES",
    "CorpusResult",
    "CutNode",
    "IngestResult",
    "OperationResult",
    "Piece",
    "Relation",
    "Tree",
    "Unit",
    "apply_operation",
    "autocut",
    "build_demo_corpus",
    "classify_line",
    "deprecate_piece",
    "get_tree",
    "get_unit",
    "ingest_document",
    "join_text",
    "list_events",
    "list_operations",
    "list_relations",
    "list_units",
    "merge_pieces",
    "move_piece",
    "operation_problems",
    "paragraph_offsets",
    "read_document",
    "relate",
    "rename_piece",
    "restore_piece",
    "sample_path",
    "split_piece",
    "tree_as_dict",
    "tree_problems",
    "unit_event_problems",
    "unrelate",
]
