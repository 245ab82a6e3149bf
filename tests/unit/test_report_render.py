"""Rendering a report from a fixed structure: outline, history with names before/after, escaping, digest."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from iu_core.report import files
from iu_core.report.collect import ReportData
from iu_core.report.model import build
from iu_core.report.render import render

ROOT, CH1, A1, A2, NEW = (f"{n:08x}-0000-4000-8000-000000000000" for n in range(1, 6))
OP1, OP2, OP3 = (f"{n:08x}-1111-4000-8000-000000000000" for n in range(1, 4))
T0 = "2025-03-01T10:00:00+00:00"
EVIL = "<script>alert(1)</script> *x* [y](http://example.com)"


def fixed() -> dict[str, Any]:
    def piece(
        pid: str, parent: str | None, pos: int, kind: str, label: str, heading: str, status: str = "active"
    ):
        return {
            "piece_id": pid, "parent_piece_id": parent, "position": pos, "kind": kind, "label": label,
            "heading": heading, "status": status, "chars": 10,
        }  # fmt: skip

    return {
        "unit": {
            "iu_id": "99999999-0000-4000-8000-000000000000",
            "code": "FIX-1",
            "title": "Fixed rules",
            "status": "active",
            "created_at": T0,
            "updated_at": T0,
        },
        "last_event": {
            "event_id": "eeeeeeee-0000-4000-8000-000000000000",
            "event_seq": 42,
            "event_type": "structure_op_applied",
            "occurred_at": T0,
        },
        "pieces": [
            piece(ROOT, None, 0, "document", "", "Fixed rules"),
            piece(CH1, ROOT, 0, "chapter", "Chapter I", "General"),
            piece(A1, CH1, 0, "article", "Article 1", "Reach"),
            piece(A2, CH1, 1, "article", "Article 2", "Old words", "deprecated"),
            piece(NEW, ROOT, 1, "chapter", "Chapter II", EVIL),
        ],
        "operations": [
            {
                "operation_id": OP1,
                "operation_seq": 1,
                "operation_type": "autocut",
                "actor": "alice",
                "applied_at": "2025-03-01T10:00:00+00:00",
                "parameters": {"pieces": [ROOT, CH1, A1, A2], "created": [ROOT, CH1, A1, A2]},
            },
            {
                "operation_id": OP2,
                "operation_seq": 2,
                "operation_type": "rename",
                "actor": "bob",
                "applied_at": "2025-03-01T11:00:00+00:00",
                "parameters": {
                    "piece_id": A1,
                    "heading": "Reach",
                    "pieces": [A1],
                    "created": [],
                    "deprecated": [],
                    "previous_label": "Article 1",
                    "previous_heading": "Scope",
                },
            },
            {
                "operation_id": OP3,
                "operation_seq": 3,
                "operation_type": "deprecate",
                "actor": "carol",
                "applied_at": "2025-03-01T12:00:00+00:00",
                "parameters": {"piece_id": A2, "pieces": [A2], "created": [], "deprecated": [A2]},
            },
        ],
        "relations_out": [
            {
                "relation_type": "cites",
                "code": "OTHER",
                "title": "Other rules",
                "actor": "bob",
                "created_at": T0,
            }
        ],
        "relations_in": [],
    }


AT = dt.datetime(2025, 3, 2, 9, 30, tzinfo=dt.UTC)


def test_outline_is_indented_in_document_order_with_deprecated_marked() -> None:
    md = render(build(ReportData.from_json(fixed()), AT)).markdown
    outline = md.split("## Outline\n\n")[1].split("\n\n")[0].splitlines()
    assert outline == [
        "- Fixed rules — document · `00000001`",
        "  - **Chapter I** General — chapter · `chp_I` · `00000002`",
        "    - **Article 1** Reach — article · `chp_I__art_1` · `00000003`",
        "    - ~~**Article 2** Old words~~ — article · `00000004` · deprecated",
        "  - **Chapter II** \\<script\\>alert(1)\\</script\\> \\*x\\* \\[y\\](http://example.com)"
        " — chapter · `chp_II` · `00000005`",
    ]


def test_history_names_pieces_before_and_after_each_operation() -> None:
    report = build(ReportData.from_json(fixed()), AT)
    assert [h.operation.operation_type for h in report.history] == ["autocut", "rename", "deprecate"]
    autocut, rename, deprecate = report.history
    assert all(t.before is None for t in autocut.touched)
    # The autocut named Article 1 "Scope": the rename came later.
    assert autocut.touched[2].after is not None and autocut.touched[2].after.title == "Article 1 Scope"
    (renamed,) = rename.touched
    assert renamed.before is not None and renamed.after is not None
    assert (renamed.before.title, renamed.after.title) == ("Article 1 Scope", "Article 1 Reach")
    assert rename.summary == "renamed Article 1 Scope to Article 1 Reach"
    (gone,) = deprecate.touched
    assert gone.before is not None and gone.after is not None
    assert (gone.before.status, gone.after.status) == ("active", "deprecated")
    md = render(report).markdown
    assert "2. **rename** — 2025-03-01 11:00:00 UTC by bob — renamed Article 1 Scope to Article 1 Reach" in md
    assert "   - `00000003` Article 1 Scope → Article 1 Reach" in md
    assert "   - `00000004` Article 2 Old words → ~~Article 2 Old words~~ (deprecated)" in md
    assert "| Generated | 2025-03-02 09:30:00 UTC from event #42 (`structure_op_applied`" in md


def test_html_is_self_contained_escaped_and_printable() -> None:
    html = render(build(ReportData.from_json(fixed()), AT)).html
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"<(link|img|iframe|object|embed)\b", html)
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "url(" not in html and "@import" not in html
    assert "@media print" in html
    assert 'Article 1 Scope <span class="arrow">→</span> Article 1 Reach' in html
    assert 'class="deprecated"' in html


def test_json_holds_counts_outline_history_and_relations() -> None:
    doc = render(build(ReportData.from_json(fixed()), AT)).json
    assert doc["counts"] == {
        "active_pieces": 4, "deprecated_pieces": 1, "operations": 3, "relations_out": 1, "relations_in": 0,
    }  # fmt: skip
    assert doc["generated"] == {
        "at": "2025-03-02T09:30:00+00:00",
        "event_seq": 42,
        "event_id": "eeeeeeee-0000-4000-8000-000000000000",
        "event_type": "structure_op_applied",
    }
    assert [o["depth"] for o in doc["outline"]] == [0, 1, 2, 2, 1]
    assert doc["history"][1]["pieces"][0]["before"]["heading"] == "Scope"
    assert doc["relations"]["outgoing"][0]["code"] == "OTHER"


def test_digest_ignores_the_generation_time_but_not_the_content() -> None:
    data = ReportData.from_json(fixed())
    one = render(build(data, AT))
    two = render(build(data, AT + dt.timedelta(hours=5)))
    assert one.markdown != two.markdown
    assert one.digest == two.digest
    changed = copy.deepcopy(fixed())
    changed["pieces"][2]["heading"] = "Range"
    assert render(build(ReportData.from_json(changed), AT)).digest != one.digest


def test_file_names_keep_safe_codes_and_encode_the_rest() -> None:
    assert files.file_stem("REG-EN") == "REG-EN"
    assert files.file_stem("a:b") == "a%3Ab"
    assert files.file_stem("a/b") == "a%2Fb"
    assert files.file_stem(".hidden") == "%2Ehidden"
    long_one, long_two = files.file_stem("x" * 300), files.file_stem("x" * 299 + "y")
    assert len(long_one) <= 200 and long_one != long_two
