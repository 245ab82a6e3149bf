"""Every target kind, registered explicitly in this one place.

For each of the six kinds this module knows how a ``target_ref`` is checked
before a route is written, what a database must have before a route of that
kind may go live, and which target object delivers it:

| kind              | delivered by                               | effect            |
|-------------------|--------------------------------------------|-------------------|
| sql_function      | the SQL seam fn_iu_route_deliver            | exactly once      |
| workflow          | WorkflowTarget (pgqueuer; event_outbox no-op) | exactly once    |
| vector            | VectorTarget (pgvector collection)          | exactly once      |
| report            | ReportTarget (table / dir:PATH)             | exactly once      |
| external_endpoint | the HTTP sender (Standard Webhooks)         | at least once     |
| directus_flow     | the HTTP sender (Directus flow trigger)     | at least once     |

The module-level seam registry stays fail-closed; a worker composes its own
from here.
"""

from __future__ import annotations

from typing import Any

import psycopg

from iu_core.domain.model import (
    IU_CREATED,
    IU_RELATION_ADDED,
    IU_RELATION_REMOVED,
    STRUCTURE_OP_APPLIED,
    STRUCTURE_PIECE_DEPRECATED,
)
from iu_core.targets.transactional import TransactionalTarget
from iu_core.targets.url_check import url_problem

Conn = psycopg.Connection[Any]

# The event types IU Core's operations write; a route for another type needs
# --allow-unknown-event-type (or an event of that type already in the outbox).
KNOWN_EVENT_TYPES = frozenset(
    {STRUCTURE_OP_APPLIED, STRUCTURE_PIECE_DEPRECATED, IU_CREATED, IU_RELATION_ADDED, IU_RELATION_REMOVED}
)

TRANSACTIONAL_KINDS = ("workflow", "vector", "report")
HTTP_KINDS = ("external_endpoint", "directus_flow")


def transactional_target(kind: str) -> TransactionalTarget:
    """A fresh target of one kind written in the delivery's own transaction."""
    # Imported here: each package pulls its own dependencies (pgqueuer, numpy)
    # only when a route of its kind is used.
    if kind == "workflow":
        from iu_core.workflow.target import WorkflowTarget

        return WorkflowTarget()
    if kind == "vector":
        from iu_core.vector.target import VectorTarget

        return VectorTarget()
    if kind == "report":
        from iu_core.report.target import ReportTarget

        return ReportTarget()
    raise ValueError(f"{kind!r} is not a kind written in the delivery's own transaction")


def _consumer_registered(conn: Conn, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM public.iu_internal_consumer WHERE consumer_name = %s", (name,)
    ).fetchone()
    return row is not None


def ref_problem(conn: Conn, kind: str, ref: str) -> str | None:
    """None when ``ref`` is a well-formed target of ``kind``, else why not (one line)."""
    if kind == "sql_function":
        if not _consumer_registered(conn, ref):
            return "not a registered internal consumer (see iu_internal_consumer)"
        return None
    if kind == "external_endpoint":
        return url_problem(ref)
    if kind == "directus_flow":
        from iu_core.targets.directus import parse_flow_ref  # the HTTP stack: only for this kind

        problem = url_problem(ref)
        if problem is None and parse_flow_ref(ref) is None:
            problem = "a Directus flow trigger is https://HOST/flows/trigger/FLOW-UUID"
        return problem
    if kind in TRANSACTIONAL_KINDS:
        return transactional_target(kind).ref_problem(ref)
    return f"unknown target kind {kind!r}"


def readiness_problem(conn: Conn, kind: str, ref: str) -> str | None:
    """None when this database can take live deliveries of ``kind`` to ``ref``, else why not."""
    if kind in TRANSACTIONAL_KINDS:
        return transactional_target(kind).readiness_problem(conn, ref)
    return ref_problem(conn, kind, ref)
