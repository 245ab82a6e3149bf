"""A report as Markdown: a summary table, the indented outline, the history, the relations, the citations."""

from __future__ import annotations

import datetime as dt
import re

from iu_core.report.collect import CitationFacts
from iu_core.report.model import Name, Report

# How many touched pieces an operation lists (the JSON lists them all).
TOUCHED_SHOWN = 25

# Characters with a meaning inside a line of Markdown (user text is never at a line start).
_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def escape(text: str) -> str:
    """User text as literal Markdown on one line (no markup, no line breaks, no raw HTML)."""
    one_line = " ".join(text.split())
    return _SPECIAL.sub(r"\\\1", one_line)


def when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short(piece_id: object) -> str:
    return str(piece_id)[:8]


def _name(name: Name | None, *, new: str = "(new)") -> str:
    if name is None:
        return new
    text = escape(name.title)
    return f"~~{text}~~ (deprecated)" if name.status == "deprecated" else text


def render_markdown(report: Report, generated: str) -> str:
    """The Markdown page; ``generated`` is the generation time as shown."""
    data, c = report.data, report.counts
    u = data.unit
    event = data.last_event
    source = (
        f"event #{event.event_seq} (`{event.event_type}`, `{event.event_id}`)" if event else "no event yet"
    )
    lines = [
        f"# {escape(u.code)} — {escape(u.title)}",
        "",
        "| | |",
        "|---|---|",
        f"| Code | {escape(u.code)} |",
        f"| Title | {escape(u.title)} |",
        f"| Status | {escape(u.status)} |",
        f"| Pieces | {c.active_pieces} active, {c.deprecated_pieces} deprecated |",
        f"| Operations | {c.operations} |",
        f"| Relations | {c.relations_out} outgoing, {c.relations_in} incoming |",
        f"| Generated | {generated} from {source} |",
        "",
        "## Outline",
        "",
    ]
    for entry in report.outline:
        p = entry.piece
        title = f"**{escape(p.label)}** {escape(p.heading)}".strip() if p.label else escape(entry.title)
        if not p.active:
            title = f"~~{title}~~"
        tail = " · deprecated" if not p.active else ""
        eid = f" · `{p.eid}`" if p.eid and p.parent_piece_id is not None else ""
        lines.append(f"{'  ' * entry.depth}- {title} — {escape(p.kind)}{eid} · `{short(p.piece_id)}`{tail}")
    lines += ["", "## History", ""]
    if not report.history:
        lines.append("No structure operation yet.")
    for number, item in enumerate(report.history, 1):
        op = item.operation
        lines.append(
            f"{number}. **{op.operation_type}** — {when(op.applied_at)} by {escape(op.actor)} — "
            f"{escape(item.summary)}"
        )
        indent = " " * len(f"{number}. ")  # a nested list starts under the item's text
        for touched in item.touched[:TOUCHED_SHOWN]:
            before, after = _name(touched.before), _name(touched.after, new="(gone)")
            change = after if before == after else f"{before} → {after}"
            lines.append(f"{indent}- `{short(touched.piece_id)}` {change}")
        hidden = len(item.touched) - TOUCHED_SHOWN
        if hidden > 0:
            lines.append(f"{indent}- … and {hidden} more piece{'s' if hidden != 1 else ''}")
    lines += ["", "## Relations", ""]
    for heading, relations, arrow in (
        ("Outgoing", report.relations_out, "→"),
        ("Incoming", report.relations_in, "←"),
    ):
        lines += [f"### {heading}", ""]
        if not relations:
            lines.append("None.")
        for r in relations:
            lines.append(
                f"- {escape(r.relation_type)} {arrow} **{escape(r.code)}** {escape(r.title)} "
                f"(by {escape(r.actor)}, {when(r.created_at)})"
            )
        lines.append("")
    lines += ["## Citations", ""]
    for heading, citations in (("Outgoing", report.citations_out), ("Incoming", report.citations_in)):
        lines += [f"### {heading}", ""]
        if not citations:
            lines.append("None.")
        for cite in citations:
            lines.append(f"- {_citation(cite, own=u.code, incoming=heading == 'Incoming')}")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _eid(eid: str | None, missing: str) -> str:
    """An eid as a code span (eids are letters, digits, ``_ . -``; anything else is dropped)."""
    return "`" + re.sub(r"[^\w.-]", "", eid) + "`" if eid else missing


def _citation(c: CitationFacts, *, own: str, incoming: bool) -> str:
    """``sec_3`` “section 2” → ``sec_2`` (another unit's code before its eids; why, when unresolved)."""
    source = _eid(c.from_eid, "?")
    target = _eid(c.eid, "(the unit)")
    if incoming:
        source = f"**{escape(c.code or '?')}** {source}"
    elif c.code is not None and c.code != own:
        target = f"**{escape(c.code)}** {target}"
    why = f" ({escape(c.unresolved)})" if c.unresolved else ""
    return f"{source} “{escape(c.text)}” → {target}{why}"
