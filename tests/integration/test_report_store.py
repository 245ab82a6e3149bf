"""The report table and its target on a real database: monotonic, idempotent, one regeneration per batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg

from iu_core.domain import build_demo_corpus, get_tree, relate, rename_piece
from iu_core.report import ReportTarget, regenerate
from iu_core.report import files as report_files
from tests.support.report import delivery_for, events_of, ingest_small, report_row

Conn = psycopg.Connection[Any]


def _piece(conn: Conn, code: str, label: str) -> Any:
    return next(p for _, p in get_tree(conn, code).walk() if p.label == label)


def test_a_delivery_writes_the_report_row(conn: Conn) -> None:
    iu = ingest_small(conn, "R-1")
    (event_id, seq), *_ = events_of(conn, iu, "structure_op_applied")
    outcome = ReportTarget().deliver_batch(conn, [delivery_for(conn, event_id)])[0]
    assert outcome.status == "sent", outcome.detail
    row = report_row(conn, "R-1")
    assert row is not None
    last_seq = events_of(conn, iu)[-1][1]
    assert row["event_seq"] == last_seq >= seq
    assert row["generation"] == 1
    assert "Article 1" in row["markdown"] and "Article 1" in row["html"]
    assert row["json"]["unit"]["code"] == "R-1"
    assert [h["operation_type"] for h in row["json"]["history"]] == ["autocut"]


def test_redelivery_of_the_same_event_changes_nothing(conn: Conn) -> None:
    iu = ingest_small(conn, "R-2")
    event_id = events_of(conn, iu, "structure_op_applied")[0][0]
    target = ReportTarget()
    first = target.deliver_batch(conn, [delivery_for(conn, event_id)])[0]
    before = report_row(conn, "R-2")
    second = target.deliver_batch(conn, [delivery_for(conn, event_id)])[0]
    after = report_row(conn, "R-2")
    assert first.status == "sent"
    assert second.status == "skipped", second.detail
    assert before == after  # generated_at and generation included


def test_an_older_event_never_overwrites_a_newer_report(conn: Conn) -> None:
    iu = ingest_small(conn, "R-3")
    old_event = events_of(conn, iu, "structure_op_applied")[0][0]
    rename_piece(conn, _piece(conn, "R-3", "Article 1").piece_id, heading="Reach", actor="editor")
    new_event = events_of(conn, iu, "structure_op_applied")[-1][0]
    target = ReportTarget()
    assert target.deliver_batch(conn, [delivery_for(conn, new_event)])[0].status == "sent"
    current = report_row(conn, "R-3")
    assert current is not None and "Reach" in current["markdown"]
    late = target.deliver_batch(conn, [delivery_for(conn, old_event)])[0]
    assert late.status == "skipped"
    assert "already reflects" in late.detail["reason"]
    assert report_row(conn, "R-3") == current


def test_a_stale_generation_loses_against_the_stored_row(conn: Conn) -> None:
    """The row itself refuses an older event_seq (two writers racing on one IU)."""
    iu = ingest_small(conn, "R-4")
    regenerate(conn, iu)
    stored = report_row(conn, "R-4")
    assert stored is not None
    # Same content, older event: the upsert's WHERE refuses it.
    conn.execute("UPDATE iu_structure_report SET event_seq = event_seq + 100 WHERE iu_id = %s", (iu,))
    done = regenerate(conn, iu)
    assert done.row_written is False
    row = report_row(conn, "R-4")
    assert row is not None and row["event_seq"] == stored["event_seq"] + 100
    assert row["generation"] == 1


def test_many_events_of_one_iu_in_a_batch_regenerate_it_once(conn: Conn) -> None:
    iu = ingest_small(conn, "R-5")
    for heading in ("One", "Two", "Three"):
        rename_piece(conn, _piece(conn, "R-5", "Article 2").piece_id, heading=heading)
    events = [e for e, _ in events_of(conn, iu)]
    assert len(events) >= 5
    outcomes = ReportTarget().deliver_batch(conn, [delivery_for(conn, e) for e in events])
    assert len(outcomes) == len(events)
    assert {o.status for o in outcomes} == {"sent"}
    row = report_row(conn, "R-5")
    assert row is not None
    assert row["generation"] == 1  # one write for the whole batch
    assert row["event_seq"] == events_of(conn, iu)[-1][1]
    assert "Article 2** Three" in row["markdown"]
    history = row["json"]["history"]
    assert [h["operation_type"] for h in history] == ["autocut", "rename", "rename", "rename"]
    renamed = [h["pieces"][0] for h in history[1:]]
    assert [(p["before"]["heading"], p["after"]["heading"]) for p in renamed] == [
        ("Definitions", "One"),
        ("One", "Two"),
        ("Two", "Three"),
    ]


def test_a_relation_event_regenerates_both_ends(conn: Conn) -> None:
    a, b = ingest_small(conn, "R-A"), ingest_small(conn, "R-B")
    target = ReportTarget()
    for iu in (a, b):
        target.deliver_batch(conn, [delivery_for(conn, events_of(conn, iu)[-1][0])])
    relation = relate(conn, "R-A", "cites", "R-B", actor="editor")
    outcome = target.deliver_batch(conn, [delivery_for(conn, relation.event_id)])[0]
    assert outcome.status == "sent", outcome.detail
    a_row, b_row = report_row(conn, "R-A"), report_row(conn, "R-B")
    assert a_row is not None and b_row is not None
    assert a_row["json"]["relations"]["outgoing"][0]["code"] == "R-B"
    assert b_row["json"]["relations"]["incoming"][0]["code"] == "R-A"
    assert b_row["generation"] == 2


def test_dir_target_writes_both_files_and_the_row(conn: Conn, tmp_path: Path) -> None:
    iu = ingest_small(conn, "R:6")  # ":" is encoded in the file name
    event_id = events_of(conn, iu)[-1][0]
    ref = f"dir:{tmp_path}"
    target = ReportTarget()
    assert target.readiness_problem(conn, ref) is None
    dir_delivery = delivery_for(conn, event_id, route="report.dir", target_ref=ref)
    outcome = target.deliver_batch(conn, [dir_delivery])[0]
    assert outcome.status == "sent", outcome.detail
    assert sorted(p.name for p in tmp_path.iterdir()) == ["R%3A6.html", "R%3A6.md"]
    md = (tmp_path / "R%3A6.md").read_text(encoding="utf-8")
    row = report_row(conn, "R:6")
    assert row is not None
    assert report_files.strip_marker(md) == row["markdown"]
    assert (tmp_path / "R%3A6.html").read_text(encoding="utf-8") == row["html"]
    # The same event again: the files already reflect it, nothing is rewritten.
    stamp = (tmp_path / "R%3A6.md").stat().st_mtime_ns
    again = target.deliver_batch(conn, [dir_delivery])[0]
    assert again.status == "skipped"
    assert (tmp_path / "R%3A6.md").stat().st_mtime_ns == stamp


def test_dir_route_writes_files_even_when_the_table_route_was_first(conn: Conn, tmp_path: Path) -> None:
    iu = ingest_small(conn, "R-7")
    event_id = events_of(conn, iu, "structure_op_applied")[0][0]
    target = ReportTarget()
    assert target.deliver_batch(conn, [delivery_for(conn, event_id)])[0].status == "sent"
    ref = f"dir:{tmp_path}"
    dir_delivery = delivery_for(conn, event_id, route="report.dir", target_ref=ref)
    outcome = target.deliver_batch(conn, [dir_delivery])[0]
    assert outcome.status == "sent", outcome.detail
    assert outcome.detail["files_written"] is True and outcome.detail["row_written"] is False
    assert (tmp_path / "R-7.html").is_file()


def test_refs_are_checked(conn: Conn, tmp_path: Path) -> None:
    target = ReportTarget()
    assert target.ref_problem("table") is None
    assert target.ref_problem(f"dir:{tmp_path}") is None
    for bad in ("", "tables", "dir:", "dir:relative/path", "dir:/a/../b", "file:/tmp"):
        assert target.ref_problem(bad), bad
    missing = tmp_path / "missing"
    problem = target.readiness_problem(conn, f"dir:{missing}")
    assert problem is not None and "does not exist" in problem
    iu = ingest_small(conn, "R-8")
    outcome = target.deliver_batch(
        conn, [delivery_for(conn, events_of(conn, iu)[-1][0], target_ref=f"dir:{missing}")]
    )[0]
    assert outcome.status == "failed" and outcome.detail["retryable"] is True
    assert report_row(conn, "R-8") is None


def test_demo_corpus_report_has_the_full_history_in_order(conn: Conn) -> None:
    build_demo_corpus(conn, actor="demo")
    iu = conn.execute("SELECT iu_id FROM information_unit WHERE code = 'REG-EN'").fetchone()
    assert iu is not None
    regenerate(conn, iu[0])
    row = report_row(conn, "REG-EN")
    assert row is not None
    ops = conn.execute(
        "SELECT operation_type FROM iu_structure_operation WHERE iu_id = %s ORDER BY operation_seq", (iu[0],)
    ).fetchall()
    assert [h["operation_type"] for h in row["json"]["history"]] == [o[0] for o in ops]
    outline = row["json"]["outline"]
    tree = get_tree(conn, "REG-EN")
    assert [o["piece_id"] for o in outline if o["status"] == "active"] == [
        str(p.piece_id) for _, p in tree.walk()
    ]
    assert row["json"]["relations"]["incoming"][0]["code"] == "QC-VI"
    json.dumps(row["json"])  # plain JSON all the way down
