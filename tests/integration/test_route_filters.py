"""Route filters against the real database: evaluated by the fan-out trigger, in the event's transaction.

A filtered-out event gets no delivery row (a dry-run route logs the refusal
with the filter instead); backfill applies the route's current filter; a
changed filter never re-delivers what was written before it; a replayed dead
letter is delivered whatever the filter says now.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from iu_core import domain
from iu_core.ops import dead_letters as dead_letter_ops
from iu_core.ops import routes as route_ops
from iu_core.ops import unit_tags
from iu_core.ops.filters import FIELDS, FilterError, compile_filter, matches
from tests.support.routes import add_route
from tests.support.worker import once, scalar, states

Conn = psycopg.Connection[Any]

LAW = "Chapter 1\nArticle 1. Scope\nThe law applies.\nChapter 2\nArticle 2. Duties\nEveryone obeys.\n"
SHORT = "Chapter 1\nArticle 1. Scope\nThe rule applies.\n"
VIETNAMESE = "Chương 1\nĐiều 1. Phạm vi điều chỉnh\nLuật này quy định về việc được phép làm.\n"


def _units_with_deliveries(conn: Conn, route: str) -> list[str]:
    rows = conn.execute(
        "SELECT u.code FROM iu_delivery d JOIN event_outbox o ON o.event_id = d.event_id"
        " JOIN information_unit u ON u.iu_id = o.aggregate_id WHERE d.route_code = %s ORDER BY o.event_seq",
        (route,),
    ).fetchall()
    return [r[0] for r in rows]


def _ingest(conn: Conn, **docs: str) -> None:
    for code, text in docs.items():
        domain.ingest_document(conn, text, code=code.replace("_", "-"))


def test_a_unit_filter_delivers_only_those_units_and_the_others_get_no_row(
    conn: Conn, database_url: str
) -> None:
    add_route(conn, "laws", live=True, filter="iu:LAW-*")
    add_route(conn, "everything", live=True)
    _ingest(conn, LAW_1=LAW, REG_1=SHORT, LAW_2=SHORT)
    assert _units_with_deliveries(conn, "laws") == ["LAW-1", "LAW-2"]
    assert _units_with_deliveries(conn, "everything") == ["LAW-1", "REG-1", "LAW-2"]
    # A live route logs no decision: the refused event simply has no delivery.
    assert scalar(conn, "SELECT count(*) FROM iu_route_decision WHERE route_code = 'laws'") == 0
    once(database_url, routes=("laws",))
    assert states(conn, "laws") == {"sent": 2}


def test_a_dry_run_route_logs_which_filter_refused_the_event(conn: Conn) -> None:
    add_route(conn, "watch", filter="iu:LAW-* and not tag:draft")
    _ingest(conn, REG_1=SHORT)
    rows = conn.execute(
        "SELECT x.decision, x.filter_source, o.payload ->> 'iu_id' FROM iu_route_decision x"
        " JOIN event_outbox o ON o.event_id = x.event_ref WHERE x.route_code = 'watch'"
    ).fetchall()
    iu_id = str(domain.get_unit(conn, "REG-1").iu_id)
    assert rows == [("filtered_out", "iu:LAW-* and not tag:draft", iu_id)]
    assert _units_with_deliveries(conn, "watch") == []


def test_tags_are_matched_when_the_event_is_written(conn: Conn) -> None:
    add_route(conn, "labour", filter="tag:labour")
    _ingest(conn, LAW_1=SHORT)
    domain.ingest_document(conn, SHORT, code="LAW-2")
    unit_tags.tag(conn, "LAW-2", ["labour", "2026"])
    domain.ingest_document(conn, LAW, code="LAW-2", replace=True)
    domain.ingest_document(conn, LAW, code="LAW-1", replace=True)
    assert _units_with_deliveries(conn, "labour") == ["LAW-2"]
    assert unit_tags.tags_of(conn, "LAW-2") == ["2026", "labour"]
    assert unit_tags.untag(conn, "LAW-2", ["labour"]).changed
    assert not unit_tags.untag(conn, "LAW-2", ["labour"]).changed


def test_an_eid_prefix_matches_any_eid_the_event_names(conn: Conn) -> None:
    add_route(conn, "chapter-two", filter="eid:chp_2__*")
    _ingest(conn, LAW_1=LAW, LAW_2=SHORT)
    assert _units_with_deliveries(conn, "chapter-two") == ["LAW-1"]


def test_not_and_or_combine(conn: Conn) -> None:
    add_route(conn, "mixed", filter="(iu:LAW-1 or iu:REG-*) and not iu:REG-2")
    add_route(conn, "neither", filter="not (iu:LAW-* or iu:REG-*)")
    _ingest(conn, LAW_1=SHORT, LAW_2=SHORT, REG_1=SHORT, REG_2=SHORT, DEC_1=SHORT)
    assert _units_with_deliveries(conn, "mixed") == ["LAW-1", "REG-1"]
    assert _units_with_deliveries(conn, "neither") == ["DEC-1"]


def test_language_kind_and_operation_type(conn: Conn) -> None:
    add_route(conn, "vi", event_type="iu_created", filter="lang:vi")
    add_route(conn, "articles", event_type="structure_piece_deprecated", filter="kind:article")
    add_route(conn, "renames", filter="op:rename")
    _ingest(conn, LAW_1=LAW, LUAT_1=VIETNAMESE)
    assert _units_with_deliveries(conn, "vi") == ["LUAT-1"]
    tree = domain.tree_as_dict(domain.get_tree(conn, "LAW-1"))
    chapter_two = tree["children"][1]
    article = chapter_two["children"][0]
    domain.rename_piece(conn, article["piece_id"], heading="Obligations")
    domain.deprecate_piece(conn, article["piece_id"])
    kinds = conn.execute(
        "SELECT p.kind FROM iu_delivery d JOIN event_outbox o ON o.event_id = d.event_id"
        " JOIN iu_piece p ON p.piece_id = (o.payload ->> 'piece_id')::uuid WHERE d.route_code = 'articles'"
    ).fetchall()
    assert kinds == [("article",)]
    ops = conn.execute(
        "SELECT o.payload ->> 'operation_type' FROM iu_delivery d JOIN event_outbox o USING (event_id)"
        " WHERE d.route_code = 'renames'"
    ).fetchall()
    assert ops == [("rename",)]


def test_setting_another_option_keeps_the_filter_and_no_filter_clears_it(conn: Conn) -> None:
    route_ops.add_route(
        conn, "r", event_type="structure_op_applied", target_kind="report", target_ref="table", filter="iu:A*"
    )
    kept = route_ops.set_route(conn, "r", route_ops.RouteChanges(max_attempts=3))
    assert (kept.filter, kept.filter_tree, kept.max_attempts) == ("iu:A*", {"iu": "A%"}, 3)
    changed = route_ops.set_route(conn, "r", route_ops.RouteChanges(filter="op:split or op:merge"))
    assert changed.filter_tree == {"or": [{"op": "split"}, {"op": "merge"}]}
    cleared = route_ops.set_route(conn, "r", route_ops.RouteChanges(filter=""))
    assert (cleared.filter, cleared.filter_tree) == (None, None)


def test_a_changed_filter_never_redelivers_and_backfill_applies_the_current_one(conn: Conn) -> None:
    add_route(conn, "late-laws", kind="report", ref="table", filter="iu:LAW-*")
    _ingest(conn, LAW_1=SHORT, REG_1=SHORT)
    assert _units_with_deliveries(conn, "late-laws") == ["LAW-1"]
    route_ops.set_route(conn, "late-laws", route_ops.RouteChanges(filter="iu:REG-*"))
    assert _units_with_deliveries(conn, "late-laws") == ["LAW-1"]  # nothing re-delivered
    _ingest(conn, REG_2=SHORT, LAW_2=SHORT)
    assert _units_with_deliveries(conn, "late-laws") == ["LAW-1", "REG-2"]
    # A route added after the events: backfill queues only what its filter passes now.
    route_ops.add_route(
        conn, "older", event_type="structure_op_applied", target_kind="report", target_ref="table",
        filter="iu:REG-*",
    )  # fmt: skip
    assert route_ops.backfill(conn, "older").data["added"] == 2
    assert sorted(_units_with_deliveries(conn, "older")) == ["REG-1", "REG-2"]


def test_a_replayed_dead_letter_is_delivered_whatever_the_filter_says_now(
    conn: Conn, database_url: str
) -> None:
    add_route(conn, "laws", live=True, filter="iu:LAW-*")
    _ingest(conn, LAW_1=SHORT)
    event_id = scalar(conn, "SELECT event_id FROM iu_delivery WHERE route_code = 'laws'")
    conn.execute(
        "UPDATE iu_delivery SET state = 'dead', attempts = 5, finished_at = now() WHERE route_code = 'laws'"
    )
    conn.execute(
        "INSERT INTO iu_route_dead_letter (route_code, event_ref, reason, attempts)"
        " VALUES ('laws', %s, 'boom', 5)",
        (event_id,),
    )
    route_ops.set_route(conn, "laws", route_ops.RouteChanges(filter="iu:NOTHING"))
    replayed = dead_letter_ops.replay(conn, dead_letter_ops.Selection(route_code="laws"), reason="fixed")
    assert replayed.data["count"] == 1
    once(database_url, routes=("laws",))
    assert states(conn, "laws") == {"sent": 1}


def test_filter_changes_and_tags_are_audited_with_the_actor(conn: Conn) -> None:
    route_ops.add_route(
        conn, "r", event_type="structure_op_applied", target_kind="report", target_ref="table",
        filter="iu:A*", actor="olga",
    )  # fmt: skip
    route_ops.set_route(conn, "r", route_ops.RouteChanges(filter="tag:x"), actor="pat")
    _ingest(conn, LAW_1=SHORT)
    unit_tags.tag(conn, "LAW-1", ["labour"], actor="ann")
    unit_tags.untag(conn, "LAW-1", ["labour"], actor="ann")
    rows = conn.execute(
        "SELECT actor, object_type, object_key, action, before ->> 'filter_source',"
        " after ->> 'filter_source', coalesce(after, before) ->> 'tag'"
        " FROM iu_operator_audit WHERE object_type IN ('route', 'unit') AND object_key IN ('r', 'LAW-1')"
        " ORDER BY audit_id"
    ).fetchall()
    assert rows == [
        ("olga", "route", "r", "insert", None, "iu:A*", None),
        ("pat", "route", "r", "update", "iu:A*", "tag:x", None),
        ("ann", "unit", "LAW-1", "insert", None, None, "labour"),
        ("ann", "unit", "LAW-1", "delete", None, None, "labour"),
    ]


def test_a_bad_filter_writes_nothing(conn: Conn) -> None:
    before = scalar(conn, "SELECT count(*) FROM iu_operator_audit")
    with pytest.raises(FilterError, match="bad filter at column 9"):
        route_ops.add_route(
            conn, "r", event_type="structure_op_applied", target_kind="report", target_ref="table",
            filter="iu:A and",
        )  # fmt: skip
    with pytest.raises(FilterError, match="bad filter at column 6"):
        route_ops.set_route(
            conn, "structure_op_applied.workflow", route_ops.RouteChanges(max_attempts=2, filter="(iu:A")
        )
    assert scalar(conn, "SELECT count(*) FROM iu_operator_audit") == before
    assert scalar(conn, "SELECT count(*) FROM iu_outbound_route WHERE route_code = 'r'") == 0
    assert (
        scalar(
            conn,
            "SELECT max_attempts FROM iu_outbound_route WHERE route_code = 'structure_op_applied.workflow'",
        )
        == 5
    )


def test_a_tree_written_by_hand_that_the_function_cannot_read_matches_nothing(conn: Conn) -> None:
    unit = uuid.uuid4()
    for tree in (
        {"colour": "red"},
        {"and": "iu"},
        {"or": {"iu": "%"}},
        {"and": [["and"]]},
        {"iu": 5},
        {"eid": "%", "eids": 1},
    ):
        got = scalar(
            conn,
            "SELECT fn_iu_route_filter_match(%s, %s, %s)",
            (Jsonb(tree), unit, Jsonb({"code": "LAW-1", "eids": "chp_1", "previous_eids": [1]})),
        )
        assert got is False, tree


def test_the_console_route_page_shows_the_filter_and_what_it_refused(database_url: str, conn: Conn) -> None:
    from tests.support.console import client, login, make_user

    add_route(conn, "watch", filter='iu:LAW-* and not tag:"<b>draft</b>"')
    add_route(conn, "plain")
    _ingest(conn, REG_1=SHORT)
    make_user(conn)
    with client(database_url) as c:
        login(c)
        page = c.get("/routes/watch").text
        plain = c.get("/routes/plain").text
    (shown,) = re.findall(r'<p id="route-filter">(.*?)</p>', page, flags=re.DOTALL)
    assert "<code>iu:LAW-* and not tag:&#34;&lt;b&gt;draft&lt;/b&gt;&#34;</code>" in shown, shown
    assert "nothing: refused by the filter" in page and "<b>draft" not in page
    assert "filter_tree" not in page and "Filter tree" not in page
    assert "none: every structure_op_applied event" in plain


# --- The database's evaluation equals the language's reference evaluation --------------------------

_VALUES = {
    "iu": ["LAW-1", "LAW-22", "REG-1", "a_b%c"],
    "tag": ["labour", "tax", "x_y"],
    "lang": ["en", "vi"],
    "kind": ["article", "chapter", "clause"],
    "eid": ["chp_1__art_1", "chp_2__art_3", "body"],
    "op": ["split", "merge", "rename"],
}
_PATTERNS = {
    field: [*values, "*", "LAW-*", "chp_2__*", "a_b%c", "a?b*", "art*", "?", "*_*"]
    for field, values in _VALUES.items()
}


@st.composite
def _filters(draw: st.DrawFn, depth: int = 0) -> str:
    if depth >= 3 or draw(st.booleans()):
        field = draw(st.sampled_from(FIELDS))
        return f'{field}:"{draw(st.sampled_from(_PATTERNS[field]))}"'
    shape = draw(st.sampled_from(["and", "or", "not"]))
    if shape == "not":
        return f"not ({draw(_filters(depth + 1))})"
    return f"({draw(_filters(depth + 1))}) {shape} ({draw(_filters(depth + 1))})"


_facts = st.fixed_dictionaries(
    {field: st.lists(st.sampled_from(values), max_size=2, unique=True) for field, values in _VALUES.items()}
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_filters(), facts=_facts)
def test_the_sql_function_agrees_with_the_reference(
    conn: Conn, text: str, facts: dict[str, list[str]]
) -> None:
    tree = compile_filter(text)
    # One code and one language per unit (its own when the payload has none), one operation type.
    code = facts["iu"][0] if facts["iu"] else f"UNIT-{uuid.uuid4()}"
    facts = {**facts, "iu": [code], "lang": facts["lang"][:1] or ["en"], "op": facts["op"][:1]}
    unit = uuid.uuid4()
    # The first eid in eids, a second one as an earlier eid (previous_eids).
    payload: dict[str, Any] = {
        "eids": facts["eid"][:1],
        "previous_eids": {str(unit): e for e in facts["eid"][1:]},
    }
    if facts["lang"] != ["en"]:
        payload["language"] = facts["lang"][0]  # else the unit's own (en: its body is empty)
    if facts["op"]:
        payload["operation_type"] = facts["op"][0]
    if facts["kind"]:  # one kind of the event's own (the payload's), the others through its pieces
        payload["kind"] = facts["kind"][0]
    with conn.transaction(force_rollback=True):
        conn.execute("INSERT INTO information_unit (iu_id, code, title) VALUES (%s, %s, 't')", (unit, code))
        for tag in facts["tag"]:
            conn.execute("INSERT INTO iu_unit_tag (iu_id, tag) VALUES (%s, %s)", (unit, tag))
        if len(facts["kind"]) > 1:
            piece = uuid.uuid4()
            conn.execute(
                "INSERT INTO iu_piece (piece_id, iu_id, position, kind) VALUES (%s, %s, 0, %s)",
                (piece, unit, facts["kind"][1]),
            )
            payload["pieces"] = [str(piece)]
        got = scalar(conn, "SELECT fn_iu_route_filter_match(%s, %s, %s)", (Jsonb(tree), unit, Jsonb(payload)))
    expected = matches(tree, facts)
    assert got is expected, json.dumps({"filter": text, "tree": tree, "facts": facts})
