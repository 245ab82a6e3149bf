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

from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest

__all__ = ["REFUSAL_SQLSTATES", "SqlFunctionTarget", "is_retryable"]

Conn = psycopg.Connection[Any]

# The seam's refusals: gate closed, not allowlisted, dry-run, unknown route,
# disabled route, a kind SQL does not deliver. The route may not deliver now.
REFUSAL_SQLSTATES = frozenset({"IU001", "IU002", "IU003", "IU004", "IU008", "0A000"})

_DELIVER = "SELECT public.fn_iu_route_deliver(%s, %s, %s)"
_SHOW_TIMEOUT = "SELECT current_setting('statement_timeout')"
_SET_TIMEOUT = "SELECT set_config('statement_timeout', %s, true)"


def is_retryable(sqlstate: str | None) -> bool:
    """A malformed event (IU006) and data or integrity errors never succeed on a retry."""
    state = sqlstate or ""
    return not (state == "IU006" or state[:2] in {"22", "23"})


def _failed(reason: str, *, retryable: bool, failure: str, sqlstate: str | None = None) -> DeliveryOutcome:
    detail: dict[str, Any] = {"reason": reason, "retryable": retryable, "failure": failure}
    if sqlstate is not None:
        detail["sqlstate"] = sqlstate
    return DeliveryOutcome(status="failed", delivered=False, target_kind="sql_function", detail=detail)


class SqlFunctionTarget:
    """Delivers ``sql_function`` requests on ``conn`` through the SQL seam; never raises for a delivery."""

    target_kind = "sql_function"

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
            if state in REFUSAL_SQLSTATES:
                return _failed(reason, retryable=True, failure="not_live", sqlstate=state)
            return _failed(reason, retryable=is_retryable(state), failure="consumer_error", sqlstate=state)
        return DeliveryOutcome(
            status=str(result["status"]),
            delivered=bool(result["delivered"]),
            target_kind=self.target_kind,
            detail=dict(result.get("detail") or {}),
        )

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
