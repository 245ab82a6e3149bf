"""Reading one IU's report content from the database, as frozen records.

``collect(conn, iu_id)`` runs ``fn_iu_structure_report_data`` (one statement,
so one snapshot: the tree, the journal, the relations and the IU's newest
event agree) and turns its JSON into a ``ReportData``. ``ReportData.from_json``
builds the same records from a JSON document, which is how the unit tests
render a fixed structure without a database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]


def _when(value: Any) -> dt.datetime:
    """A timestamp from the JSON of PostgreSQL (ISO 8601 with offset), in UTC."""
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def _uuid(value: Any) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


@dataclass(frozen=True, slots=True)
class UnitFacts:
    iu_id: uuid.UUID
    code: str
    title: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True, slots=True)
class EventFacts:
    """The IU's newest event: the point in its history the report reflects."""

    event_id: uuid.UUID
    event_seq: int
    event_type: str
    occurred_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PieceFacts:
    piece_id: uuid.UUID
    parent_piece_id: uuid.UUID | None
    position: int
    kind: str
    label: str
    heading: str
    status: str
    chars: int
    source: Mapping[str, Any] | None = field(default=None, hash=False)  # where in the ingested file

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class OperationFacts:
    operation_id: uuid.UUID
    operation_seq: int
    operation_type: str
    actor: str
    applied_at: dt.datetime
    parameters: Mapping[str, Any]

    def ids(self, key: str) -> list[uuid.UUID]:
        """The piece ids listed under ``key`` of the parameters (``pieces``, ``created``, …)."""
        out: list[uuid.UUID] = []
        for raw in self.parameters.get(key) or []:
            try:
                out.append(uuid.UUID(str(raw)))
            except ValueError:
                continue
        return out


@dataclass(frozen=True, slots=True)
class RelationFacts:
    relation_type: str
    code: str  # the IU at the other end
    title: str
    actor: str
    created_at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report shows, as read in one snapshot."""

    unit: UnitFacts
    last_event: EventFacts | None
    pieces: tuple[PieceFacts, ...]
    operations: tuple[OperationFacts, ...]  # in the order they were applied
    relations_out: tuple[RelationFacts, ...]
    relations_in: tuple[RelationFacts, ...]

    @property
    def event_seq(self) -> int:
        """The newest event reflected (0 when the IU has none)."""
        return self.last_event.event_seq if self.last_event else 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportData:
        u = data["unit"]
        e = data.get("last_event")
        return cls(
            unit=UnitFacts(
                iu_id=uuid.UUID(str(u["iu_id"])),
                code=str(u["code"]),
                title=str(u["title"]),
                status=str(u["status"]),
                created_at=_when(u["created_at"]),
                updated_at=_when(u["updated_at"]),
            ),
            last_event=None
            if not e
            else EventFacts(
                event_id=uuid.UUID(str(e["event_id"])),
                event_seq=int(e["event_seq"]),
                event_type=str(e["event_type"]),
                occurred_at=_when(e["occurred_at"]),
            ),
            pieces=tuple(
                PieceFacts(
                    piece_id=uuid.UUID(str(p["piece_id"])),
                    parent_piece_id=_uuid(p.get("parent_piece_id")),
                    position=int(p["position"]),
                    kind=str(p["kind"]),
                    label=str(p.get("label") or ""),
                    heading=str(p.get("heading") or ""),
                    status=str(p["status"]),
                    chars=int(p.get("chars") or 0),
                    source=p.get("source"),
                )
                for p in data.get("pieces") or []
            ),
            operations=tuple(
                OperationFacts(
                    operation_id=uuid.UUID(str(o["operation_id"])),
                    operation_seq=int(o["operation_seq"]),
                    operation_type=str(o["operation_type"]),
                    actor=str(o.get("actor") or ""),
                    applied_at=_when(o["applied_at"]),
                    parameters=dict(o.get("parameters") or {}),
                )
                for o in data.get("operations") or []
            ),
            relations_out=_relations(data.get("relations_out")),
            relations_in=_relations(data.get("relations_in")),
        )


def _relations(rows: Any) -> tuple[RelationFacts, ...]:
    return tuple(
        RelationFacts(
            relation_type=str(r["relation_type"]),
            code=str(r["code"]),
            title=str(r.get("title") or ""),
            actor=str(r.get("actor") or ""),
            created_at=_when(r["created_at"]),
        )
        for r in rows or []
    )


def collect(conn: Conn, iu_id: uuid.UUID) -> ReportData | None:
    """The report content of ``iu_id`` (None when there is no such IU)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries("report")["report_data"], {"iu_id": iu_id})
        row = cur.fetchone()
    if row is None or row["data"] is None:
        return None
    return ReportData.from_json(row["data"])
