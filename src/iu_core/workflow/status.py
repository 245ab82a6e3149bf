"""What ``iu-core workflow status`` shows: each workflow route's backlog beside its engine's queue."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.sqlfiles import queries
from iu_core.workflow.engine import QueueDepth
from iu_core.workflow.ref import RefError
from iu_core.workflow.target import WorkflowTarget

__all__ = ["EngineState", "RouteBacklog", "WorkflowStatus", "workflow_status"]

Conn = psycopg.Connection[Any]


@dataclass(frozen=True, slots=True)
class EngineState:
    """One engine: whether it is installed here, and its unfinished jobs per entrypoint."""

    prefix: str
    problem: str | None
    queues: tuple[QueueDepth, ...]

    @property
    def installed(self) -> bool:
        return self.problem is None

    def depth(self, entrypoint: str) -> QueueDepth:
        for queue in self.queues:
            if queue.entrypoint == entrypoint:
                return queue
        return QueueDepth(entrypoint=entrypoint, queued=0, picked=0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "engine": self.prefix,
            "installed": self.installed,
            "problem": self.problem,
            "queues": [{**asdict(q), "total": q.total} for q in self.queues],
        }


@dataclass(frozen=True, slots=True)
class RouteBacklog:
    """A workflow route: IU Core's unfinished deliveries and the engine's jobs for its entrypoint."""

    route_code: str
    event_type: str
    target_ref: str
    mode: str
    pending: int
    inflight: int
    retrying: int
    held: int
    engine: str | None
    entrypoint: str | None
    queued: int | None  # None: no engine (event_outbox, a bad ref) or the engine is not installed
    picked: int | None

    @property
    def backlog(self) -> int:
        return self.pending + self.inflight + self.retrying + self.held

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "backlog": self.backlog}


@dataclass(frozen=True, slots=True)
class WorkflowStatus:
    engines: tuple[EngineState, ...]
    routes: tuple[RouteBacklog, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "engines": [e.as_dict() for e in self.engines],
            "routes": [r.as_dict() for r in self.routes],
        }


def workflow_status(conn: Conn, target: WorkflowTarget) -> WorkflowStatus:
    """Engines (installed? queue depth) and every workflow route's backlog, read in one snapshot."""
    engines: dict[str, EngineState] = {}
    for prefix, engine in target.engines.items():
        problem = engine.installed_problem(conn)
        queues = () if problem else tuple(engine.queue_depth(conn))
        engines[prefix] = EngineState(prefix=prefix, problem=problem, queues=queues)
    routes: list[RouteBacklog] = []
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries("workflow")["route_backlog"]).fetchall()
    for row in rows:
        engine_prefix = entrypoint = None
        queued = picked = None
        try:
            ref = target.parse(row["target_ref"])
        except RefError:
            ref = None
        if ref is not None and ref.engine is not None and ref.entrypoint is not None:
            engine_prefix, entrypoint = ref.engine, ref.entrypoint
            state = engines[ref.engine]
            if state.installed:
                depth = state.depth(ref.entrypoint)
                queued, picked = depth.queued, depth.picked
        routes.append(
            RouteBacklog(
                route_code=row["route_code"],
                event_type=row["event_type"],
                target_ref=row["target_ref"],
                mode="dry-run" if row["dry_run"] else "live",
                pending=row["pending"],
                inflight=row["inflight"],
                retrying=row["retrying"],
                held=row["held"],
                engine=engine_prefix,
                entrypoint=entrypoint,
                queued=queued,
                picked=picked,
            )
        )
    return WorkflowStatus(engines=tuple(engines.values()), routes=tuple(routes))
