"""The ``workflow`` target kind: events handed to a PostgreSQL job engine in the delivery's transaction.

- ``ref``: the target_ref grammar (``event_outbox`` | ``ENGINE:ENTRYPOINT``);
- ``engine``: the ``WorkflowEngine`` Protocol every engine adapter implements;
- ``pgqueuer_engine``: the pgqueuer adapter;
- ``target``: ``WorkflowTarget``, the ``TransactionalTarget`` the worker drives;
- ``status``: backlog per workflow route beside the engine's queue depth.
"""

from __future__ import annotations

from iu_core.workflow.engine import EngineJob, InstallResult, QueueDepth, WorkflowEngine, not_installed
from iu_core.workflow.pgqueuer_engine import PgQueuerEngine
from iu_core.workflow.ref import NOOP_REF, RefError, WorkflowRef, parse_ref
from iu_core.workflow.target import WorkflowTarget, job_payload

__all__ = [
    "NOOP_REF",
    "EngineJob",
    "InstallResult",
    "PgQueuerEngine",
    "QueueDepth",
    "RefError",
    "WorkflowEngine",
    "WorkflowRef",
    "WorkflowTarget",
    "job_payload",
    "not_installed",
    "parse_ref",
]
