"""The typed results of the ``ops`` read functions: frozen records built from query rows.

Each record's fields are its query's columns, in order. A record is read by
attribute; ``as_dict()`` gives the columns in order (what ``--json`` prints),
and ``record["column"]`` reads a column by name for templates and callers
that print rows generically.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Self

__all__ = [
    "Attempt",
    "AuditEntry",
    "DeadLetter",
    "Delivery",
    "DeliveryHistory",
    "Fingerprint",
    "Record",
    "RouteStatus",
    "Session",
    "TableHealth",
    "plain",
]


def plain(value: Any) -> Any:
    """``value`` with every record in it turned into its dict (for JSON)."""
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


class Record:
    """Base of the records: ``from_row``, ``as_dict`` and read-only access by column name."""

    __slots__ = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls)})  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return {f.name: plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    def __getitem__(self, column: str) -> Any:
        if column not in {f.name for f in fields(self)}:  # type: ignore[arg-type]
            raise KeyError(column)
        return getattr(self, column)


@dataclass(frozen=True, slots=True)
class AuditEntry(Record):
    """One row of the operator audit trail."""

    audit_id: int
    changed_at: dt.datetime
    actor: str
    context: str | None
    object_type: str
    object_key: str
    action: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class DeadLetter(Record):
    """A delivery that failed permanently or ran out of attempts."""

    dead_letter_id: int
    route_code: str
    event_ref: uuid.UUID
    event_type: str | None
    iu_id: uuid.UUID | None
    reason: str
    attempts: int
    status: str
    created_at: dt.datetime
    resolved_at: dt.datetime | None
    resolved_by: str | None
    resolution_note: str | None


@dataclass(frozen=True, slots=True)
class Delivery(Record):
    """One delivery of one event on one route, as ``deliveries list`` shows it."""

    delivery_id: int
    route_code: str
    target_kind: str | None
    target_ref: str | None
    event_id: uuid.UUID
    event_seq: int
    event_type: str | None
    iu_id: uuid.UUID | None
    iu_code: str | None
    state: str
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Attempt(Record):
    """One attempt of a delivery: when, how it ended, how long, what the target answered."""

    attempt_no: int
    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    latency_ms: int | None
    http_status: str | None
    reason: str
    response_snippet: str


@dataclass(frozen=True, slots=True)
class DeliveryHistory(Delivery):
    """A delivery with its attempts, oldest first."""

    attempts_history: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class Fingerprint(Record):
    """A route credential by fingerprint (never the secret)."""

    kind: str
    fingerprint: str
    created_at: dt.datetime
    current: bool
    valid_until: dt.datetime | None
    active: bool


@dataclass(frozen=True, slots=True)
class RouteStatus(Record):
    """A route in the status overview: settings, circuit, backlog, lag, dead letters."""

    route_code: str
    event_type: str
    target_kind: str
    target_ref: str
    dry_run: bool
    enabled: bool
    disabled_reason: str | None
    ordering_policy: str
    allowlisted: bool
    consecutive_failures: int
    circuit_open_until: dt.datetime | None
    circuit: str
    backlog: int
    pending: int
    in_flight: int
    retrying: int
    held: int
    lag_s: float | None
    dead_letters: int
    mode: str


@dataclass(frozen=True, slots=True)
class Session(Record):
    """A database session that holds a transaction open."""

    kind: str
    pid: int
    application_name: str | None
    age_s: float | None


@dataclass(frozen=True, slots=True)
class TableHealth(Record):
    """Live and dead rows and vacuum times of one outbox table."""

    table: str
    n_live_tup: int | None
    n_dead_tup: int | None
    last_autovacuum: dt.datetime | None
    last_vacuum: dt.datetime | None
    total_bytes: int
