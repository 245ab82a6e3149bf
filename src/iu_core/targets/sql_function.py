"""The ``sql_function`` kind as a seam ``DeliveryTarget``: one delivery through ``fn_iu_route_deliver``.

The SQL function is the seam of record for this kind: it checks the gate, the
route, the allowlist, dry-run and the consumer registry, then calls the
registered internal consumer with the event's payload, all in the caller's
transaction. This target only carries one request (its ``safe_payload`` is the
payload) to it on a given connection and turns the answer, or the refusal it
raised, into a ``DeliveryOutcome``; the worker's own path
(``fn_iu_worker_deliver_sql_batch``) classifies failures the same way.

Each call runs in its own savepoint (a transaction when the connection is in
autocommit), so a refusal or a failure writes nothing and leaves the caller's
transaction usable. A statement timeout bounds a call that waits on a lock.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from iu_core.delivery import DeliveryOutcome, DeliveryRequest, TargetKind, failed_outcome

__all__ = ["SqlFunctionTarget", "consumer_problem", "is_retryable"]

Conn = psycopg.Connection[Any]

_IS_REFUSAL = "SELECT public.fn_iu_is_refusal(%s)"
_CONSUMER = "SELECT 1 FROM public.iu_internal_consumer WHERE consumer_name = %s"
_DELIVER = "SELECT public.fn_iu_route_deliver(%s, %s, %s)"
_SHOW_TIMEOUT = "SELECT current_setting('statement_timeout')"
_SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"


def is_retryable(sqlstate: str | None) -> bool:
    """A malformed event (IU006) and data or integrity errors never succeed on a retry."""
    state = sqlstate or ""
    return not (state == "IU006" or state[:2] in {"22", "23"})


def consumer_problem(conn: Conn, ref: str) -> str | None:
    """A ``sql_function`` ref names a registered internal consumer (the kind table's check)."""
    if conn.execute(_CONSUMER, (ref,)).fetchone() is None:
        return "not a registered internal consumer (see iu_internal_consumer)"
    return None


def _failed(reason: str, *, retryable: bool, failure: str, sqlstate: str | None = None) -> DeliveryOutcome:
    extra = {"failure": failure} if sqlstate is None else {"failure": failure, "sqlstate": sqlstate}
    return failed_outcome(TargetKind.SQL_FUNCTION, reason, retryable=retryable, **extra)


class SqlFunctionTarget:
    """Delivers ``sql_function`` requests on ``conn`` through the SQL seam; never raises for a delivery."""

    target_kind = TargetKind.SQL_FUNCTION.value

    def __init__(self, conn: Conn, *, timeout_s: float = 30.0) -> None:
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        self.conn = conn
        self.timeout_s = timeout_s

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        if request.target_kind != self.target_kind:
            raise ValueError(f"a sql_function target cannot deliver kind {request.target_kind!r}")
        try:
            with self.conn.transaction():
                result = self._call(request)
        except psycopg.errors.QueryCanceled as exc:
            return _failed(
                f"the consumer did not finish within {self.timeout_s:g} s",
                retryable=True,
                failure="timeout",
                sqlstate=exc.sqlstate,
            )
        except psycopg.Error as exc:
            state = exc.sqlstate
            reason = exc.diag.message_primary or type(exc).__name__
            if self._is_refusal(state):
                return _failed(reason, retryable=True, failure="not_live", sqlstate=state)
            return _failed(reason, retryable=is_retryable(state), failure="consumer_error", sqlstate=state)
        return DeliveryOutcome(
            status=str(result["status"]),
            delivered=bool(result["delivered"]),
            target_kind=self.target_kind,
            detail=dict(result.get("detail") or {}),
        )

    def _is_refusal(self, sqlstate: str | None) -> bool:
        """Whether the seam refused (the route may not deliver now): SQL keeps the one list."""
        row = self.conn.execute(_IS_REFUSAL, (sqlstate,)).fetchone()
        return bool(row and row[0])

    def _call(self, request: DeliveryRequest) -> dict[str, Any]:
        """The seam call under a statement timeout, restored afterwards for the caller."""
        previous = self.conn.execute(_SHOW_TIMEOUT).fetchone()
        self.conn.execute(_SET_TIMEOUT, (f"{int(self.timeout_s * 1000)}ms",))
        row = self.conn.execute(
            _DELIVER, (request.route_code, request.event_ref, Jsonb(dict(request.safe_payload)))
        ).fetchone()
        self.conn.execute(_SET_TIMEOUT, (previous[0] if previous else "0",))
        assert row is not None  # a function call returns one row
        result: dict[str, Any] = row[0]
        return result
