"""The attempt ``detail``: one typed record, its keys named as the SQL that reads them.

Every outcome's ``detail`` is written to ``iu_route_attempt.detail`` (jsonb)
as it is. ``fn_iu_worker_record`` reads four of its keys to decide what
happens next; the SQL batch writes the same keys for its own failures
(``fn_iu_worker_deliver_sql_batch``). A test reads both SQL files and checks
that they use exactly these names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from iu_core.delivery.seam import DeliveryOutcome

__all__ = ["SQL_READS", "AttemptDetail", "failed_outcome", "with_failure_defaults"]


class AttemptDetail(TypedDict, total=False):
    """What an attempt's ``detail`` may say; the first four are read by SQL."""

    reason: str  # one line, never a secret; the dead letter's reason
    retryable: bool  # a later attempt may succeed (default true)
    retry_after_s: float | None  # the receiver's Retry-After, honoured by the backoff
    disable_route: bool  # HTTP 410: the route is disabled until an operator enables it
    failure: str | None  # a short name of what failed (refused, timeout, consumer_error, ...)
    sqlstate: str  # the SQLSTATE a database consumer raised
    consumer: str  # the internal consumer that took the event (sql_function)
    unbuilt: bool  # no target is built for the kind
    # HTTP kinds (``iu_core.targets.classify``)
    http_status: int | None
    latency_ms: float
    response_body: str | None
    response_headers: dict[str, str] | None
    response_truncated: bool
    address: str | None
    webhook_id: str | None


# The keys fn_iu_worker_record reads (``detail ->> 'KEY'``).
SQL_READS = ("reason", "retryable", "retry_after_s", "disable_route")

DEFAULT_FAILURE_REASON = "the target reported a failure"


def with_failure_defaults(status: str, detail: Mapping[str, Any]) -> Mapping[str, Any]:
    """``detail`` as recorded: a failure always says whether it is retryable, and why."""
    if status != "failed" or ("retryable" in detail and "reason" in detail):
        return detail
    recorded = dict(detail)
    recorded.setdefault("retryable", True)
    recorded.setdefault("reason", DEFAULT_FAILURE_REASON)
    return recorded


def failed_outcome(target_kind: str, reason: str, *, retryable: bool, **extra: Any) -> DeliveryOutcome:
    """A failed outcome whose detail carries ``reason`` and ``retryable`` (and ``extra``)."""
    detail: dict[str, Any] = {"reason": reason, "retryable": retryable, **extra}
    return DeliveryOutcome(status="failed", delivered=False, target_kind=target_kind, detail=detail)
