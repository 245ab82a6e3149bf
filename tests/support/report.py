"""Helpers of the structure report tests (no tests here)."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.delivery.transactional import EventDelivery, load_event_delivery
from iu_core.delivery_seam import DeliveryRequest
from iu_core.domain import ingest_document

Conn = psycopg.Connection[Any]

SMALL_DOCUMENT = """# {title}

## Chapter I. General

### Article 1. Scope

1. This applies to every instrument.

### Article 2. Definitions

Words mean what they say.
"""


def ingest_small(conn: Conn, code: str, title: str = "A small rule") -> uuid.UUID:
    """Ingest a three-level document as ``code``; returns its IU id."""
    return ingest_document(conn, SMALL_DOCUMENT.format(title=title), code=code, actor="tester").unit.iu_id


def events_of(conn: Conn, iu_id: uuid.UUID, event_type: str | None = None) -> list[tuple[uuid.UUID, int]]:
    """(event_id, event_seq) of an IU's events, oldest first."""
    rows = conn.execute(
        "SELECT event_id, event_seq FROM event_outbox WHERE aggregate_id = %s "
        "AND (%s::text IS NULL OR event_type = %s::text) ORDER BY event_seq",
        (iu_id, event_type, event_type),
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def request_for(
    event_id: uuid.UUID, *, route: str = "report.table", target_ref: str = "table"
) -> DeliveryRequest:
    """The request the worker would make for ``event_id`` on ``route`` (its key: route:event)."""
    return DeliveryRequest(
        route_code=route,
        event_ref=str(event_id),
        target_kind="report",
        target_ref=target_ref,
        idempotency_key=f"{route}:{event_id}",
    )


def delivery_for(conn: Conn, event_id: uuid.UUID, **kwargs: Any) -> EventDelivery:
    delivery = load_event_delivery(conn, request_for(event_id, **kwargs))
    assert delivery is not None
    return delivery


def report_row(conn: Conn, code: str) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT r.* FROM iu_structure_report r JOIN information_unit u USING (iu_id) WHERE u.code = %s",
            (code,),
        )
        return cur.fetchone()
