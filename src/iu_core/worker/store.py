"""Database I/O of the worker: one function per named query of ``sql/queries/worker.sql``.

Every function takes an open connection and runs ONE statement (one round
trip); the state transitions themselves are plpgsql functions of
``sql/functions/worker_*.sql``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def _q(name: str) -> str:
    return queries("worker")[name]


@dataclass(frozen=True, slots=True)
class Route:
    """A route as the scheduler sees it, and whether it may deliver now.

    ``refusal`` is ``fn_iu_route_refusal``'s reason (gate_closed, disabled,
    not_allowlisted, dry_run, circuit_open; None: it may deliver), read in the
    snapshot that loaded the route. A circuit's refusal holds until
    ``circuit_open_until``: the scheduler reloads its routes then.
    """

    route_code: str
    event_type: str
    target_kind: str
    target_ref: str
    dry_run: bool
    enabled: bool
    ordering_policy: str
    max_attempts: int
    timeout_s: float
    connect_timeout_s: float
    max_in_flight: int
    rate_limit_per_s: float | None
    refusal: str | None
    circuit_open_until: dt.datetime | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Route:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def live(self) -> bool:
        return not self.dry_run

    @property
    def workable(self) -> bool:
        """A live route works while SQL lets it deliver; a dry-run route records decisions while enabled."""
        return self.enabled if self.dry_run else self.refusal is None

    def refusal_expired(self, now: dt.datetime) -> bool:
        """True once an open circuit's cool-down is over: the refusal read with the route is stale."""
        return (
            self.refusal == "circuit_open"
            and self.circuit_open_until is not None
            and self.circuit_open_until <= now
        )


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to this worker for dispatch outside the database."""

    delivery_id: int
    event_id: uuid.UUID
    event_seq: int
    aggregate_id: uuid.UUID
    event_type: str
    payload: Mapping[str, Any]
    occurred_at: dt.datetime
    attempt_no: int
    lease_token: uuid.UUID
    traceparent: str | None = None  # the event's stored trace context (tracing on when it was written)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Claimed:
        payload = row["payload"] if isinstance(row["payload"], Mapping) else {}
        return cls(
            delivery_id=row["delivery_id"],
            event_id=row["event_id"],
            event_seq=row["event_seq"],
            aggregate_id=row["aggregate_id"],
            event_type=row["event_type"],
            payload=payload,
            occurred_at=row["occurred_at"],
            attempt_no=row["attempt_no"],
            lease_token=row["lease_token"],
            traceparent=row.get("traceparent"),
        )


@dataclass(frozen=True, slots=True)
class SqlBatch:
    """What one batch delivered in one transaction did (SQL batch or in transaction)."""

    claimed: int
    sent: int
    retrying: int
    dead: int
    blocked: int
    paused: str | None
    skipped: int = 0  # finished without effect (a transactional target's ``skipped``), not in ``sent``


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording a set of outcomes did (``auto_disabled``: the reason, when the
    route was disabled for failing too long)."""

    sent: int
    skipped: int
    retrying: int
    dead: int
    fenced: int
    auto_disabled: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome of one dispatched delivery, waiting to be recorded."""

    route_code: str
    delivery_id: int
    attempt_no: int
    lease_token: uuid.UUID
    status: str
    detail: Mapping[str, Any]
    started_at: dt.datetime
    finished_at: dt.datetime
    target_kind: str = ""  # for the metrics; not recorded in the database
    traceparent: str | None = None  # the attempt's span, parent of the record span; not recorded


def _dict_cursor(conn: Conn) -> psycopg.Cursor[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row)


def load_routes(conn: Conn) -> list[Route]:
    with _dict_cursor(conn) as cur:
        return [Route.from_row(row) for row in cur.execute(_q("load_routes")).fetchall()]


def decide_batch(conn: Conn, route_code: str, limit: int) -> int:
    row = conn.execute(_q("decide_batch"), {"route_code": route_code, "limit": limit}).fetchone()
    return int(row[0]) if row else 0


def deliver_sql_batch(conn: Conn, route_code: str, limit: int, *, durable: bool = False) -> SqlBatch:
    """One sql_function batch in one transaction; ``durable``: its commit waits for the WAL flush."""
    params = {"route_code": route_code, "limit": limit, "durable": durable}
    with _dict_cursor(conn) as cur:
        row = cur.execute(_q("deliver_sql_batch"), params).fetchone()
    if row is None:
        return SqlBatch(0, 0, 0, 0, 0, None)
    return SqlBatch(**row)


def claim(conn: Conn, route_code: str, limit: int, worker: str, lease_s: float) -> list[Claimed]:
    params = {"route_code": route_code, "limit": limit, "worker": worker, "lease_s": lease_s}
    with _dict_cursor(conn) as cur:
        return [Claimed.from_row(row) for row in cur.execute(_q("claim"), params).fetchall()]


def claim_http(
    conn: Conn, route_code: str, limit: int, worker: str, lease_s: float
) -> tuple[list[Claimed], dict[str, Any] | None]:
    """Claim deliveries of an HTTP route and, in the same round trip, its settings and credentials."""
    params = {"route_code": route_code, "limit": limit, "worker": worker, "lease_s": lease_s}
    with _dict_cursor(conn) as cur:
        rows = cur.execute(_q("claim_http"), params).fetchall()
    settings = next((row["settings"] for row in rows if row["settings"] is not None), None)
    return [Claimed.from_row(row) for row in rows], settings


def _clean_text(text: str) -> str:
    # jsonb holds neither NUL nor lone surrogates: a receiver's body may have both.
    if text.isascii():
        return text.replace("\x00", "\ufffd") if "\x00" in text else text
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\x00", "\ufffd")


def clean_json(value: Any) -> Any:
    """A JSON-ready copy that jsonb accepts: NUL and lone surrogates replaced by U+FFFD,
    values that are not JSON (a datetime, a Decimal, bytes) written as text."""
    if isinstance(value, str):
        return _clean_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {_clean_text(str(k)): clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean_json(v) for v in value]
    if isinstance(value, bytes):
        return _clean_text(value.decode("utf-8", errors="replace"))
    return _clean_text(str(value))


def record(conn: Conn, route_code: str, results: Sequence[Result]) -> Recorded:
    # One JSON document for the whole batch: one json.dumps instead of eight
    # arrays dumped (and escaped) element by element in Python.
    batch = [
        {
            "i": i,
            "id": r.delivery_id,
            "n": r.attempt_no,
            "s": r.status,
            "d": clean_json(r.detail),
            "t0": r.started_at.isoformat(),
            "t1": r.finished_at.isoformat(),
            "l": str(r.lease_token) if r.lease_token is not None else None,
        }
        for i, r in enumerate(results)
    ]
    params = {"route_code": route_code, "batch": Jsonb(batch)}
    with _dict_cursor(conn) as cur:
        row = cur.execute(_q("record"), params).fetchone()
    return Recorded(**row) if row else Recorded(0, 0, 0, 0, len(results))


def release(conn: Conn, leases: Sequence[tuple[int, uuid.UUID]]) -> int:
    """Give claimed, never-sent deliveries back without counting an attempt."""
    params = {"ids": [d for d, _ in leases], "leases": [t for _, t in leases]}
    row = conn.execute(_q("release"), params).fetchone()
    return int(row[0]) if row else 0


def renew(conn: Conn, leases: Sequence[tuple[int, uuid.UUID]], lease_s: float) -> int:
    """Extend the leases of deliveries still in flight; returns how many were still ours."""
    params = {"ids": [d for d, _ in leases], "leases": [t for _, t in leases], "lease_s": lease_s}
    row = conn.execute(_q("renew"), params).fetchone()
    return int(row[0]) if row else 0


def sweep(conn: Conn) -> int:
    row = conn.execute(_q("sweep")).fetchone()
    return int(row[0]) if row else 0


def next_due(conn: Conn, route_codes: Sequence[str]) -> float | None:
    """Seconds until the earliest delivery of these routes is due; None when none waits."""
    if not route_codes:
        return None
    row = conn.execute(_q("next_due"), {"routes": list(route_codes)}).fetchone()
    return None if row is None or row[0] is None else float(row[0])
