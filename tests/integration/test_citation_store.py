"""Stored citations: kept current by every operation, listed by the commands, impacts routed once."""

from __future__ import annotations

import json
import threading
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain import citation_store
from iu_core.errors import Refused
from tests.conftest import CliRunner
from tests.support.routes import add_route
from tests.support.worker import once

ACT = """Test Act 2020

Section 1 Purpose
This Act applies as set out in section 2.

Section 2 Scope
(1) It covers everything.

Section 3 Offences
A person who breaches section 2 or section 2(1) commits an offence.

Section 4 Penalty
A person guilty of an offence under section 3 is liable to a fine.
"""

OTHER = """Other Act 2021

Section 1 Link
Section 2 of the Test Act 2020 applies here too.
"""

CONSUMER = "citation_impacts_seen"


def _piece(conn: psycopg.Connection[Any], code: str, eid: str) -> Any:
    row = conn.execute(
        "SELECT p.piece_id FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code = %s AND p.eid = %s AND p.status = 'active'",
        (code, eid),
    ).fetchone()
    assert row is not None, (code, eid)
    return row[0]


def _register_consumer(conn: psycopg.Connection[Any]) -> None:
    """A routed consumer of its own: records each event it is handed, once per event."""
    conn.execute("CREATE TABLE impacts_seen (event_ref uuid PRIMARY KEY, payload jsonb NOT NULL)")
    conn.execute(
        f"""CREATE FUNCTION {CONSUMER}(event_ref uuid, payload jsonb) RETURNS integer
            LANGUAGE plpgsql SET search_path = pg_catalog, public AS $$
            DECLARE n integer;
            BEGIN
                INSERT INTO impacts_seen VALUES (event_ref, payload) ON CONFLICT DO NOTHING;
                GET DIAGNOSTICS n = ROW_COUNT;
                RETURN n;
            END $$"""
    )
    conn.execute(
        "INSERT INTO iu_internal_consumer (consumer_name, consumer) VALUES (%s, %s::regprocedure)",
        (CONSUMER, f"{CONSUMER}(uuid, jsonb)"),
    )


def test_renumbering_a_cited_section_reaches_a_routed_consumer_once_per_citing_provision(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    domain.ingest_document(conn, ACT, code="TA")
    domain.ingest_document(conn, OTHER, code="OA", title="Other Act 2021")
    conn.execute("UPDATE information_unit SET title = 'Test Act 2020' WHERE code = 'TA'")
    domain.ingest_document(conn, OTHER.replace("too.", "also."), code="OA", replace=True)
    cited = {(r["eid"], r["to_eid"]) for r in citation_store.citations_of(conn, "TA")}
    assert cited == {("sec_1", "sec_2"), ("sec_3", "sec_2"), ("sec_3", "sec_2__subsec_1"), ("sec_4", "sec_3")}
    assert [(r["to_code"], r["to_eid"]) for r in citation_store.citations_of(conn, "OA")] == [("TA", "sec_2")]

    _register_consumer(conn)
    add_route(conn, "impacts.seen", ref=CONSUMER, event_type="iu_citation_impacted", live=True)
    domain.rename_piece(conn, _piece(conn, "TA", "sec_2"), label="Section 5")

    once(database_url)
    once(database_url)  # a second pass delivers nothing again
    seen = [
        r[0]
        for r in conn.execute(
            "SELECT payload FROM impacts_seen ORDER BY payload ->> 'code', payload ->> 'eid'"
        )
    ]
    # one per citing provision: sec_1, sec_3 (two citations, one event) and OA's sec_1; not sec_4
    assert [(p["code"], p["eid"]) for p in seen] == [("OA", "sec_1"), ("TA", "sec_1"), ("TA", "sec_3")]
    for payload in seen:
        assert payload["schema_version"] == "1.0" and payload["operation_type"] == "rename"
        assert payload["cited_code"] == "TA"
        for c in payload["citations"]:
            assert c["old_eid"].startswith("sec_2") and c["new_eid"].startswith("sec_5")
            assert c["unresolved"] == "no such provision" and c["reason"] == "unresolved"
    three = next(p for p in seen if p["eid"] == "sec_3")
    assert [(c["text"], c["old_eid"], c["new_eid"]) for c in three["citations"]] == [
        ("section 2", "sec_2", "sec_5"),
        ("section 2(1)", "sec_2__subsec_1", "sec_5__subsec_1"),
    ]
    events = conn.execute(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'iu_citation_impacted'"
    ).fetchone()
    assert events == (3,)
    delivered = conn.execute(
        "SELECT state, count(*) FROM iu_delivery WHERE route_code = 'impacts.seen' GROUP BY state"
    ).fetchall()
    assert delivered == [("sent", 3)]
    attempts = conn.execute(
        "SELECT count(*) FROM iu_route_attempt WHERE route_code = 'impacts.seen'"
    ).fetchone()
    assert attempts == (3,)  # each event handed to the consumer exactly once
    # the stored citations now say why they no longer resolve
    unresolved = citation_store.citations_of(conn, "TA", unresolved_only=True)
    assert {(r["eid"], r["matched_text"]) for r in unresolved} == {
        ("sec_1", "section 2"),
        ("sec_3", "section 2"),
        ("sec_3", "section 2(1)"),
    }


def test_deprecating_a_cited_provision_is_an_impact_and_restoring_it_resolves_again(
    conn: psycopg.Connection[Any],
) -> None:
    domain.ingest_document(conn, ACT, code="TA")
    section = _piece(conn, "TA", "sec_3")
    domain.deprecate_piece(conn, section)
    payloads = [
        r[0]
        for r in conn.execute("SELECT payload FROM event_outbox WHERE event_type = 'iu_citation_impacted'")
    ]
    assert [(p["eid"], p["citations"][0]["reason"], p["citations"][0]["new_eid"]) for p in payloads] == [
        ("sec_4", "deprecated", None)
    ]
    assert citation_store.citations_of(conn, "TA", eid="sec_4")[0]["unresolved"] == "no such provision"
    domain.restore_piece(conn, section)
    assert citation_store.citations_of(conn, "TA", eid="sec_4")[0]["to_eid"] == "sec_3"


def test_an_operation_that_leaves_cited_provisions_alone_writes_no_impact(
    conn: psycopg.Connection[Any],
) -> None:
    domain.ingest_document(conn, ACT, code="TA")
    domain.rename_piece(conn, _piece(conn, "TA", "sec_4"), heading="Fines")
    assert conn.execute(
        "SELECT count(*) FROM event_outbox WHERE event_type = 'iu_citation_impacted'"
    ).fetchone() == (0,)


def test_a_failed_operation_leaves_the_citations_as_they_were(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, ACT, code="TA")
    before = citation_store.stored(conn)
    with pytest.raises(Refused):
        domain.split_piece(conn, _piece(conn, "TA", "sec_1"), offset=10_000)
    assert citation_store.stored(conn) == before


def test_a_unit_ingested_later_resolves_the_references_to_its_title(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, OTHER, code="OA", title="Other Act 2021")
    [row] = citation_store.citations_of(conn, "OA")
    assert row["unresolved"] == "no such unit" and row["to_code"] is None
    domain.ingest_document(conn, ACT, code="TA", title="Test Act 2020")
    [row] = citation_store.citations_of(conn, "OA")
    assert (row["unresolved"], row["to_code"], row["to_eid"]) == (None, "TA", "sec_2")
    assert [(r["from_code"], r["from_eid"]) for r in citation_store.cited_by(conn, "TA", "sec_2")] == [
        ("OA", "sec_1"),
        ("TA", "sec_1"),
        ("TA", "sec_3"),
    ]


def test_the_commands_list_citations_and_refuse_unknown_names(
    conn: psycopg.Connection[Any], cli: CliRunner
) -> None:
    domain.ingest_document(conn, ACT, code="TA")
    listed = json.loads(cli("citations", "TA", "--json").stdout)
    assert [(r["eid"], r["matched_text"], r["to_eid"]) for r in listed][:1] == [
        ("sec_1", "section 2", "sec_2")
    ]
    only = json.loads(cli("citations", "TA", "--eid", "sec_4", "--json").stdout)
    assert [r["to_eid"] for r in only] == ["sec_3"]
    assert json.loads(cli("citations", "TA", "--unresolved", "--json").stdout) == []
    by = json.loads(cli("cited-by", "TA", "sec_3", "--json").stdout)
    assert [(r["from_code"], r["from_eid"]) for r in by] == [("TA", "sec_4")]
    assert "section 3" in cli("cited-by", "TA", "sec_3").stdout
    for args in (("citations", "NOPE"), ("cited-by", "TA", "sec_99"), ("citations", "TA", "--eid", "x")):
        done = cli(*args)
        assert done.returncode != 0 and done.stdout == ""
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr


def test_concurrent_operations_on_units_that_cite_each_other_leave_the_citations_current(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    domain.ingest_document(conn, ACT, code="TA", title="Test Act 2020")
    domain.ingest_document(conn, OTHER, code="OA", title="Other Act 2021")
    pieces = {code: _piece(conn, code, "sec_1") for code in ("TA", "OA")}
    errors: list[BaseException] = []

    def work(code: str) -> None:
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                for i in range(8):
                    label = "Section 1" if i % 2 else "Section 9"
                    domain.rename_piece(own, pieces[code], label=label)
                    domain.ingest_document(own, OTHER if code == "OA" else ACT, code=code, replace=True)
        except BaseException as exc:  # a deadlock or any other failure fails the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(code,)) for code in ("TA", "OA")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert not errors, errors
    ids = [r[0] for r in conn.execute("SELECT iu_id FROM information_unit")]
    fresh = sorted((r.content() for i in ids for r in citation_store.detect_unit(conn, i)), key=repr)
    assert sorted((r.content() for r in citation_store.stored(conn)), key=repr) == fresh


def test_a_reference_may_name_a_unit_by_its_short_title(conn: psycopg.Connection[Any]) -> None:
    domain.ingest_document(conn, ACT, code="TA", title="Test Act 2020 (c. 12)")
    domain.ingest_document(conn, OTHER, code="OA", title="Other Act 2021")
    [row] = citation_store.citations_of(conn, "OA")
    assert (row["to_code"], row["to_eid"], row["unresolved"]) == ("TA", "sec_2", None)
    law = "Luật Mẫu\n\nĐiều 1. Phạm vi\nÁp dụng khoản 1 Điều 1 Luật Thử nghiệm.\n"
    domain.ingest_document(conn, law, code="LM", title="Luật Mẫu")
    held = "Luật Thử nghiệm\n\nĐiều 1. Phạm vi\n1. Nội dung.\n"
    domain.ingest_document(conn, held, code="LT", title="Luật Thử nghiệm số 1/2020/QH14")
    [row] = citation_store.citations_of(conn, "LM")
    assert (row["to_code"], row["to_eid"], row["unresolved"]) == ("LT", "art_1__para_1", None)
