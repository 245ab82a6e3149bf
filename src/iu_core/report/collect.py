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
from dataclasses import dataclass, field, replace
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.domain import store as domain_store
from iu_core.domain.eid import assign
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
    eid: str | None = None  # the legal identifier (Akoma Ntoso naming)

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
class CitationFacts:
    """A stored citation: outgoing, ``code`` is the cited unit (None: not held); incoming, the citing one."""

    from_eid: str | None  # the citing provision
    text: str
    code: str | None
    eid: str | None  # the cited provision (as stored, or as the text names it when unresolved)
    unresolved: str | None


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report shows, as read in one snapshot."""

    unit: UnitFacts
    last_event: EventFacts | None
    pieces: tuple[PieceFacts, ...]
    operations: tuple[OperationFacts, ...]  # in the order they were applied
    relations_out: tuple[RelationFacts, ...]
    relations_in: tuple[RelationFacts, ...]
    # the references written in the unit, and those of other units to it (now: not kept for --as-of)
    citations_out: tuple[CitationFacts, ...] = ()
    citations_in: tuple[CitationFacts, ...] = ()

    @property
    def event_seq(self) -> int:
        """The newest event reflected (0 when the IU has none)."""
        return self.last_event.event_seq if self.last_event else 0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReportData:
        built = cls._from_json(data)
        return replace(built, pieces=with_eids(built.pieces))

    @classmethod
    def _from_json(cls, data: Mapping[str, Any]) -> ReportData:
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
                    eid=p.get("eid"),
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
            citations_out=_citations(data.get("citations_out")),
            citations_in=_citations(data.get("citations_in")),
        )


def with_eids(pieces: tuple[PieceFacts, ...]) -> tuple[PieceFacts, ...]:
    """The pieces, each active one with its eid (computed where none is stored yet)."""
    if all(p.eid is not None for p in pieces if p.active):
        return pieces
    by_id = {p.piece_id: p for p in pieces}
    children: dict[uuid.UUID | None, list[PieceFacts]] = {}
    for piece in pieces:
        if piece.active:
            children.setdefault(piece.parent_piece_id, []).append(piece)
    for kids in children.values():
        kids.sort(key=lambda p: p.position)
    roots = children.get(None, [])
    if len(roots) != 1:
        return pieces
    computed = assign(
        roots[0].piece_id,
        lambda pid: [k.piece_id for k in children.get(pid, [])],
        lambda pid: by_id[pid].kind,
        lambda pid: by_id[pid].label,
    )
    return tuple(replace(p, eid=computed.get(p.piece_id, p.eid)) for p in pieces)


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


def _citations(rows: Any) -> tuple[CitationFacts, ...]:
    return tuple(
        CitationFacts(
            from_eid=r.get("from_eid"),
            text=" ".join(str(r.get("text") or "").split()),
            code=r.get("code"),
            eid=r.get("eid"),
            unresolved=r.get("unresolved"),
        )
        for r in rows or []
    )


def collect(conn: Conn, iu_id: uuid.UUID, as_of: dt.datetime | None = None) -> ReportData | None:
    """The report content of ``iu_id`` (None when there is no such IU), now or at ``as_of``.

    At ``as_of`` the pieces are rebuilt from the structure history, and the
    journal, the relations and the newest event are those up to that instant.
    """
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries("report")["report_data"], {"iu_id": iu_id})
        row = cur.fetchone()
    if row is None or row["data"] is None:
        return None
    data = ReportData.from_json(row["data"])
    if as_of is None:
        return data
    tree = domain_store.load_tree_as_of(conn, iu_id, as_of)
    pieces = tuple(
        PieceFacts(
            piece_id=p.piece_id,
            parent_piece_id=p.parent_piece_id,
            position=p.position,
            kind=p.kind,
            label=p.label,
            heading=p.heading,
            status=p.status,
            chars=len(p.text),
            eid=p.eid,
        )
        for p in (tree.pieces.values() if tree else ())
    )
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(queries("report")["last_event_as_of"], {"iu_id": iu_id, "as_of": as_of})
        last = cur.fetchone()
    return replace(
        data,
        pieces=with_eids(pieces),
        operations=tuple(o for o in data.operations if o.applied_at <= as_of),
        relations_out=tuple(r for r in data.relations_out if r.created_at <= as_of),
        relations_in=tuple(r for r in data.relations_in if r.created_at <= as_of),
        citations_out=(),  # citations are kept as they are now, not as they were
        citations_in=(),
        last_event=None
        if last is None
        else EventFacts(last["event_id"], last["event_seq"], last["event_type"], _when(last["occurred_at"])),
    )
