"""What a delivery carried and what came back: the event's payload, the request, each answer.

The request is rebuilt from the event, as the HTTP kinds build it: the body
is the same on every retry (its timestamp is when the event occurred), and of
the headers only the per-attempt ones are not stored. Signatures and tokens
are never shown, not even rebuilt. Each answer is what the attempt's
``detail`` recorded: status, headers (without cookies or credentials), the
start of the body.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import psycopg
from psycopg.rows import dict_row

from iu_core.delivery.kinds import DeliveryPath, TargetKind, kinds_on
from iu_core.sqlfiles import queries
from iu_core.targets.webhook import event_body
from iu_core.worker.records import idempotency_key

Conn = psycopg.Connection[Any]

HTTP_KINDS = frozenset(str(k) for k in kinds_on(DeliveryPath.ASYNC_HTTP))
USER_AGENT = "iu-core-webhooks/1"  # as the transport sends it
NOT_SHOWN = "(not shown: a secret)"


def pretty(value: Any) -> str:
    """JSON for people: indented, keys in their order, non-ASCII as it is."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def event(conn: Conn, delivery_id: int) -> dict[str, Any] | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(queries("console")["delivery_event"], {"delivery_id": delivery_id}).fetchone()
    if row is None:
        return None
    return {**row, "payload_json": pretty(row["payload"])}


def sent_request(delivery: dict[str, Any], ev: dict[str, Any] | None) -> dict[str, Any] | None:
    """The HTTP request of this delivery (None for a kind that is not delivered over HTTP)."""
    kind = delivery.get("target_kind")
    if ev is None or kind not in HTTP_KINDS:
        return None
    webhook_id = idempotency_key(delivery["route_code"], ev["event_id"])
    payload = ev["payload"] if isinstance(ev["payload"], dict) else {"value": ev["payload"]}
    event_type = str(payload.get("event_type") or ev["event_type"])
    occurred_at: dt.datetime = ev["occurred_at"]
    body = json.loads(event_body(webhook_id, event_type, occurred_at, payload))
    headers = [
        ("content-type", "application/json"),
        ("user-agent", USER_AGENT),
        ("webhook-id", webhook_id),
    ]
    if kind == TargetKind.DIRECTUS_FLOW:
        headers.append(("authorization", f"Bearer {NOT_SHOWN}"))
    else:
        headers += [
            ("webhook-timestamp", "(the attempt's time, not stored)"),
            ("webhook-signature", f"v1,{NOT_SHOWN}"),
        ]
    return {
        "method": "POST",
        "url": delivery.get("target_ref") or "",
        "webhook_id": webhook_id,
        "headers": headers,
        "body_json": pretty(body),
    }


def answers(conn: Conn, delivery_id: int) -> list[dict[str, Any]]:
    """Each attempt with what the receiver answered, as its detail recorded it."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(queries("console")["delivery_answers"], {"delivery_id": delivery_id}).fetchall()
    out = []
    for row in rows:
        detail: dict[str, Any] = row["detail"] if isinstance(row["detail"], dict) else {}
        headers = detail.get("response_headers")
        out.append(
            {
                "attempt_id": row["attempt_id"],
                "attempt_no": row["attempt_no"],
                "status": row["status"],
                "started_at": row["started_at"],
                "latency_ms": row["latency_ms"],
                "http_status": detail.get("http_status"),
                "reason": detail.get("reason") or "",
                "failure": detail.get("failure"),
                "address": detail.get("address"),
                "headers": sorted(headers.items()) if isinstance(headers, dict) else None,
                "body": detail.get("response_body"),
                "truncated": bool(detail.get("response_truncated")),
                "consumer": detail.get("consumer"),
            }
        )
    return out
