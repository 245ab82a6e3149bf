"""The six target kinds and THE table of how each one is delivered and checked.

Every other module asks this table; none lists kinds of its own.

| kind              | path           | effect        | target_ref checked by          | ready when         |
|-------------------|----------------|---------------|--------------------------------|--------------------|
| sql_function      | SQL batch      | exactly once  | a registered internal consumer | the same           |
| workflow          | in transaction | exactly once  | ``WorkflowTarget``             | engine installed   |
| vector            | in transaction | exactly once  | ``VectorTarget``               | pgvector, embedder |
| report            | in transaction | exactly once  | ``ReportTarget``               | table (directory)  |
| external_endpoint | asyncio HTTP   | at least once | an http(s) URL                 | the same           |
| directus_flow     | asyncio HTTP   | at least once | ``…/flows/trigger/<uuid>``     | the same           |

- **SQL batch**: the worker calls ``fn_iu_worker_deliver_sql_batch``; the
  consumer runs in the transaction that records the attempts.
- **in transaction**: the worker claims, calls the kind's
  ``TransactionalTarget.deliver_batch`` on its own connection, records and
  commits once (``iu_core.worker.in_transaction``).
- **asyncio HTTP**: the worker's event loop POSTs (``iu_core.targets.http``).

The adapters are named here by import path, not imported: this package is
the port, and a kind's adapter (and what it pulls in: pgqueuer, numpy, the
HTTP stack) is loaded only when a route of that kind is checked or worked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, cast

import psycopg

if TYPE_CHECKING:
    from iu_core.delivery.transactional import TransactionalTarget

__all__ = [
    "KINDS",
    "DeliveryPath",
    "KindSpec",
    "TargetKind",
    "kinds_on",
    "readiness_problem",
    "ref_problem",
    "spec",
    "transactional_target",
]

Conn = psycopg.Connection[Any]
RefCheck = Callable[[Conn, str], "str | None"]


class TargetKind(StrEnum):
    """The kinds a route may deliver to (mirrors the CHECK on ``iu_outbound_route.target_kind``)."""

    SQL_FUNCTION = "sql_function"
    WORKFLOW = "workflow"
    VECTOR = "vector"
    REPORT = "report"
    DIRECTUS_FLOW = "directus_flow"
    EXTERNAL_ENDPOINT = "external_endpoint"


class DeliveryPath(StrEnum):
    """How the worker delivers a live route of a kind."""

    SQL_BATCH = "sql batch"
    IN_TRANSACTION = "in transaction"
    ASYNC_HTTP = "asyncio http"


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One row of the table: the path, the effect, and where the checks live.

    ``ref_check`` and ``readiness_check`` are ``module:function`` names of
    ``(conn, target_ref) -> str | None`` (None: fine, else why not); for a
    kind delivered in transaction they are None and the kind's ``target``
    (a ``module:Class`` building a ``TransactionalTarget``) answers both.
    """

    kind: TargetKind
    path: DeliveryPath
    exactly_once: bool
    target: str | None = None
    ref_check: str | None = None
    readiness_check: str | None = None


_CONSUMER = "iu_core.targets.sql_function:consumer_problem"
_URL = "iu_core.targets.refs:endpoint_problem"
_FLOW = "iu_core.targets.refs:flow_problem"

KINDS: Mapping[TargetKind, KindSpec] = MappingProxyType(
    {
        TargetKind.SQL_FUNCTION: KindSpec(
            TargetKind.SQL_FUNCTION,
            DeliveryPath.SQL_BATCH,
            True,
            ref_check=_CONSUMER,
            readiness_check=_CONSUMER,
        ),
        TargetKind.WORKFLOW: KindSpec(
            TargetKind.WORKFLOW,
            DeliveryPath.IN_TRANSACTION,
            True,
            target="iu_core.workflow.target:WorkflowTarget",
        ),
        TargetKind.VECTOR: KindSpec(
            TargetKind.VECTOR, DeliveryPath.IN_TRANSACTION, True, target="iu_core.vector.target:VectorTarget"
        ),
        TargetKind.REPORT: KindSpec(
            TargetKind.REPORT, DeliveryPath.IN_TRANSACTION, True, target="iu_core.report.target:ReportTarget"
        ),
        TargetKind.EXTERNAL_ENDPOINT: KindSpec(
            TargetKind.EXTERNAL_ENDPOINT, DeliveryPath.ASYNC_HTTP, False, ref_check=_URL, readiness_check=_URL
        ),
        TargetKind.DIRECTUS_FLOW: KindSpec(
            TargetKind.DIRECTUS_FLOW, DeliveryPath.ASYNC_HTTP, False, ref_check=_FLOW, readiness_check=_FLOW
        ),
    }
)


def spec(kind: str) -> KindSpec | None:
    """The table's row for ``kind`` (None: not a kind)."""
    try:
        return KINDS[TargetKind(kind)]
    except ValueError:
        return None


def kinds_on(path: DeliveryPath) -> tuple[TargetKind, ...]:
    """The kinds delivered on ``path``, in the table's order."""
    return tuple(kind for kind, row in KINDS.items() if row.path is path)


def _load(name: str) -> Any:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def transactional_target(kind: str) -> TransactionalTarget:
    """A fresh target of a kind delivered in the delivery's own transaction."""
    row = spec(kind)
    if row is None or row.target is None:
        raise ValueError(f"{kind!r} is not a kind delivered in the delivery's own transaction")
    return cast("TransactionalTarget", _load(row.target)())


def ref_problem(conn: Conn, kind: str, ref: str) -> str | None:
    """None when ``ref`` is a well-formed target of ``kind``, else why not (one line)."""
    row = spec(kind)
    if row is None:
        return f"unknown target kind {kind!r}"
    if row.ref_check is None:
        return transactional_target(kind).ref_problem(ref)
    check: RefCheck = _load(row.ref_check)
    return check(conn, ref)


def readiness_problem(conn: Conn, kind: str, ref: str) -> str | None:
    """None when this database can take live deliveries of ``kind`` to ``ref``, else why not."""
    row = spec(kind)
    if row is None:
        return f"unknown target kind {kind!r}"
    if row.readiness_check is None:
        return transactional_target(kind).readiness_problem(conn, ref)
    check: RefCheck = _load(row.readiness_check)
    return check(conn, ref)
