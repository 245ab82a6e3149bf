"""A report rendered three ways (Markdown, HTML, JSON), with the digest that makes rewrites idempotent.

The digest is the SHA-256 of the three renderings with the generation time
left out: the same IU state rendered twice has the same digest, so a second
generation from the same event writes nothing (see ``store``). It covers the
renderings themselves, so a new version of the page layout does count as a
change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from iu_core.report.model import Report, Touched
from iu_core.report.render_html import render_html
from iu_core.report.render_md import render_markdown, when

FORMAT = "iu-core.structure-report/1"

# Stands for the generation time while the digest is taken; replaced afterwards.
_TIME = "@@generated-at@@"


@dataclass(frozen=True, slots=True)
class Rendered:
    """One generation of one IU's report."""

    report: Report
    markdown: str
    html: str
    json: dict[str, Any]
    digest: str

    @property
    def event_seq(self) -> int:
        return self.report.data.event_seq


def _touched(t: Touched) -> dict[str, Any]:
    return {
        "piece_id": str(t.piece_id),
        "before": t.before.as_dict() if t.before else None,
        "after": t.after.as_dict() if t.after else None,
    }


def render_json(report: Report, generated: str) -> dict[str, Any]:
    """The report as a JSON document (everything the pages show, touched pieces all listed)."""
    data = report.data
    u, event = data.unit, data.last_event
    return {
        "format": FORMAT,
        "unit": {
            "iu_id": str(u.iu_id),
            "code": u.code,
            "title": u.title,
            "status": u.status,
            "created_at": u.created_at.isoformat(),
            "updated_at": u.updated_at.isoformat(),
        },
        "counts": report.counts.as_dict(),
        "generated": {
            "at": generated,
            "event_seq": data.event_seq,
            "event_id": str(event.event_id) if event else None,
            "event_type": event.event_type if event else None,
        },
        "outline": [
            {
                "depth": e.depth,
                "piece_id": str(e.piece.piece_id),
                "eid": e.piece.eid,
                "parent_piece_id": str(e.piece.parent_piece_id) if e.piece.parent_piece_id else None,
                "position": e.piece.position,
                "kind": e.piece.kind,
                "label": e.piece.label,
                "heading": e.piece.heading,
                "status": e.piece.status,
                "chars": e.piece.chars,
                "source": e.piece.source,
            }
            for e in report.outline
        ],
        "history": [
            {
                "operation_id": str(h.operation.operation_id),
                "operation_seq": h.operation.operation_seq,
                "operation_type": h.operation.operation_type,
                "actor": h.operation.actor,
                "applied_at": h.operation.applied_at.isoformat(),
                "summary": h.summary,
                "pieces": [_touched(t) for t in h.touched],
            }
            for h in report.history
        ],
        "relations": {
            direction: [
                {
                    "relation_type": r.relation_type,
                    "code": r.code,
                    "title": r.title,
                    "actor": r.actor,
                    "created_at": r.created_at.isoformat(),
                }
                for r in relations
            ]
            for direction, relations in (
                ("outgoing", report.relations_out),
                ("incoming", report.relations_in),
            )
        },
        "citations": {
            direction: [
                {
                    "from_eid": c.from_eid,
                    "text": c.text,
                    "code": c.code,
                    "eid": c.eid,
                    "unresolved": c.unresolved,
                }
                for c in citations
            ]
            for direction, citations in (
                ("outgoing", report.citations_out),
                ("incoming", report.citations_in),
            )
        },
    }


def render(report: Report) -> Rendered:
    """Markdown, HTML and JSON of ``report`` and their digest."""
    markdown = render_markdown(report, _TIME)
    html = render_html(report, _TIME)
    document = render_json(report, _TIME)
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256("\x00".join((markdown, html, canonical)).encode("utf-8")).hexdigest()
    shown = when(report.generated_at)
    document["generated"]["at"] = report.generated_at.isoformat()
    return Rendered(report, markdown.replace(_TIME, shown), html.replace(_TIME, shown), document, digest)


def generation_time() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
