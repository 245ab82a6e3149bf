"""End to end: ingest -> live ``vector`` routes -> ``iu-core worker`` -> the collection.

Everything is real: the CLI and the worker in subprocesses, pgvector on the
embedded server. What is checked is what a user sees in the collection:
one row per active piece of every IU, following every structure operation
(split, merge, rename, deprecate, restore), whatever happened to the worker
in between. The oracle is ``iu-core vector reindex`` of a second collection
built from the current trees: after each worker pass the live collection must
hold exactly the same pieces with the same content hashes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from typing import Any

import psycopg
import pytest

from iu_core import domain
from tests.conftest import CliRunner
from tests.support.vector import indexed_piece_ids, piece_by_title, require_pgvector, rows
from tests.support.worker import wait_until, worker_process

COLLECTION = "hub"
MIRROR = "mirror"
ROUTE = "vec"
CREATED_ROUTE = "vec.created"
HASHING = {"IU_CORE_EMBEDDER": "hashing"}

pytestmark = pytest.mark.timeout(600)

Conn = psycopg.Connection[Any]


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def go_live(cli: CliRunner, *routes: tuple[str, str]) -> None:
    """The operator's commands: add each (route, event type) to the collection, open the gate, go live."""
    for route, event_type in routes:
        ok(
            cli(
                "route", "add", route, "--event-type", event_type,
                "--target-kind", "vector", "--target-ref", COLLECTION,
            )
        )  # fmt: skip
    ok(cli("gate", "open"))
    ok(cli("allowlist", "add", *(r for r, _ in routes)))
    for route, _ in routes:
        ok(cli("route", "set", route, "--live"))


def ingest_samples(cli: CliRunner) -> None:
    ok(cli("ingest", "sample:regulation_en.md", "--code", "REG-EN"))
    ok(cli("ingest", "sample:quy_che_vi.md", "--code", "QC-VI"))


def unit_ids(conn: Conn) -> dict[str, uuid.UUID]:
    return {r[0]: r[1] for r in conn.execute("SELECT code, iu_id FROM information_unit")}


def states(conn: Conn, route: str = ROUTE) -> dict[str, int]:
    found = conn.execute(
        "SELECT state, count(*) FROM iu_delivery WHERE route_code = %s GROUP BY state", (route,)
    ).fetchall()
    return {r[0]: int(r[1]) for r in found}


def reasons(conn: Conn) -> list[str]:
    """The distinct failure reasons of the vector routes' attempts (shown when an assertion fails)."""
    found = conn.execute(
        "SELECT DISTINCT detail->>'reason' FROM iu_route_attempt"
        " WHERE route_code IN (%s, %s) AND status = 'failed'",
        (ROUTE, CREATED_ROUTE),
    ).fetchall()
    return [str(r[0]) for r in found]


def all_sent(conn: Conn, route: str = ROUTE) -> None:
    counts = states(conn, route)
    assert set(counts) == {"sent"}, (counts, reasons(conn))


def worker_once(cli: CliRunner, env: dict[str, str] | None = HASHING) -> None:
    ok(cli("worker", "--once", env=env, timeout=300))


def active_pieces(conn: Conn) -> set[uuid.UUID]:
    return set().union(*(indexed_piece_ids(conn, iu) for iu in unit_ids(conn).values()))


def matches_reindex(cli: CliRunner, conn: Conn) -> dict[uuid.UUID, tuple[str, str]]:
    """The live collection equals a collection rebuilt from the current trees; return its rows."""
    ok(cli("vector", "reindex", MIRROR, "--json", env=HASHING))
    live, mirror = rows(conn, COLLECTION), rows(conn, MIRROR)
    assert live == mirror
    assert set(live) == active_pieces(conn)
    dup = conn.execute(
        "SELECT count(*) - count(DISTINCT piece_id) FROM iu_vector_piece WHERE collection = %s", (COLLECTION,)
    ).fetchone()
    assert dup == (0,)
    return live


@pytest.mark.slow
def test_live_vector_routes_follow_every_structure_operation(cli: CliRunner, conn: Conn) -> None:
    require_pgvector(conn)
    go_live(cli, (ROUTE, "structure_op_applied"), (CREATED_ROUTE, "iu_created"))
    ingest_samples(cli)
    assert states(conn) == {"pending": 2} and states(conn, CREATED_ROUTE) == {"pending": 2}

    worker_once(cli)
    all_sent(conn)
    all_sent(conn, CREATED_ROUTE)
    before = matches_reindex(cli, conn)
    assert len(before) == len(active_pieces(conn)) > 25  # every piece but the headings over others
    models = conn.execute(
        "SELECT DISTINCT model_name FROM iu_vector_piece WHERE collection = %s", (COLLECTION,)
    ).fetchall()
    assert models == [("hashing",)]
    applied = conn.execute("SELECT count(*) FROM iu_vector_delivery").fetchone()
    assert applied == (4,)  # both routes' deliveries, each recorded once
    (status,) = [
        s for s in json.loads(ok(cli("vector", "status", "--json")).stdout) if s["collection"] == COLLECTION
    ]
    assert status["pieces"] == len(before) and status["stale"] == 0

    # split: the piece keeps the first part, a new piece holds the second: two vectors.
    art5 = piece_by_title(conn, "REG-EN", "Article 5 Faults and damage")
    split = json.loads(ok(cli("op", "split", str(art5.piece_id), "--paragraph", "2", "--json")).stdout)
    (second,) = split["created"]
    second_id = uuid.UUID(second)
    worker_once(cli)
    all_sent(conn)
    after_split = matches_reindex(cli, conn)
    assert set(after_split) == set(before) | {second_id}
    assert after_split[art5.piece_id][0] != before[art5.piece_id][0]
    unchanged = {p for p in before if p != art5.piece_id}
    assert {p: after_split[p] for p in unchanged} == {p: before[p] for p in unchanged}

    # merge back: the second piece leaves, the first holds the whole text again.
    ok(cli("op", "merge", str(art5.piece_id), second))
    worker_once(cli)
    all_sent(conn)
    after_merge = matches_reindex(cli, conn)
    assert set(after_merge) == set(before)
    assert after_merge[art5.piece_id][0] == before[art5.piece_id][0]

    # rename: the article's three clauses are embedded again (their heading path changed).
    art3 = piece_by_title(conn, "REG-EN", "Article 3 Booking")
    ok(cli("op", "rename", str(art3.piece_id), "--heading", "Reservations"))
    worker_once(cli)
    all_sent(conn)
    after_rename = matches_reindex(cli, conn)
    changed = {p for p in before if after_rename[p] != after_merge[p]}
    clauses = {p.piece_id for p in domain.get_tree(conn, "REG-EN").subtree(art3.piece_id)[1:]}
    # (the article itself was a heading over its clauses; renamed, its text still prints the
    # old heading, so it may now say something of its own and get a vector)
    assert len(clauses) == 3 and clauses <= changed <= clauses | {art3.piece_id}
    assert all("Reservations" in after_rename[p][1] for p in changed)

    # deprecate: the chapter and its 7 descendants leave the collection.
    chapter = piece_by_title(conn, "REG-EN", "Chapter I General provisions")
    dep = json.loads(ok(cli("op", "deprecate", str(chapter.piece_id), "--json")).stdout)
    gone = {uuid.UUID(p) for p in dep["deprecated"]}
    assert len(gone) == 8
    worker_once(cli)
    all_sent(conn)
    after_deprecate = matches_reindex(cli, conn)
    assert set(after_deprecate) == set(after_rename) - gone

    # restore: they come back, with the content they had.
    ok(cli("op", "restore", str(chapter.piece_id)))
    worker_once(cli)
    all_sent(conn)
    after_restore = matches_reindex(cli, conn)
    assert after_restore == after_rename

    # Nothing left to deliver: another pass changes nothing.
    worker_once(cli)
    assert rows(conn, COLLECTION) == after_restore
    applied = conn.execute(
        "SELECT count(*), count(DISTINCT idempotency_key) FROM iu_vector_delivery"
    ).fetchone()
    sent = conn.execute(
        "SELECT count(*) FROM iu_delivery WHERE route_code IN (%s, %s) AND state = 'sent'",
        (ROUTE, CREATED_ROUTE),
    ).fetchone()
    assert applied is not None and sent is not None and applied[0] == applied[1] == sent[0]


def _blocked_on_vectors(conn: Conn) -> int | None:
    row = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND wait_event_type = 'Lock' AND query ILIKE %s LIMIT 1",
        ("%iu_vector_piece%",),
    ).fetchone()
    return None if row is None else int(row[0])


@pytest.mark.slow
def test_kill_9_mid_batch_leaves_no_duplicate_and_no_missing_vector(
    cli: CliRunner, database_url: str, conn: Conn
) -> None:
    require_pgvector(conn)
    go_live(cli, (ROUTE, "structure_op_applied"))
    ingest_samples(cli)
    worker_once(cli)
    all_sent(conn)
    indexed = matches_reindex(cli, conn)
    units = unit_ids(conn)

    # Both documents change: REG-EN under its title (23 pieces), QC-VI under Chương II; REG-EN first.
    reg, vi = domain.get_tree(conn, "REG-EN"), domain.get_tree(conn, "QC-VI")
    renamed = [
        (reg, reg.children(reg.root.piece_id)[0]),
        (vi, piece_by_title(conn, "QC-VI", "Chương II TRUY CẬP VÀ SỬ DỤNG")),
    ]
    for _, piece in renamed:
        ok(cli("op", "rename", str(piece.piece_id), "--heading", "Renamed"))
    expected = {p.piece_id for tree, piece in renamed for p in tree.subtree(piece.piece_id)}
    assert len(expected) > 30
    pending = states(conn)
    assert pending == {"sent": 2, "pending": 2}

    # Hold QC-VI's rows: the worker writes REG-EN's new vectors in its batch transaction,
    # then waits on QC-VI's first row. Kill -9 it there.
    with psycopg.connect(database_url) as locker:
        held = locker.execute(
            "SELECT piece_id FROM iu_vector_piece WHERE collection = %s AND iu_id = %s FOR UPDATE",
            (COLLECTION, units["QC-VI"]),
        ).fetchall()
        assert len(held) > 10  # QC-VI's rows, all of them
        worker = worker_process(database_url, "--once", env=HASHING)
        try:
            assert wait_until(lambda: _blocked_on_vectors(conn) is not None, timeout=120), (
                "worker never blocked"
            )
            backend = _blocked_on_vectors(conn)
            # REG-EN's new vectors are written, uncommitted, in the blocked transaction: rows locked.
            with pytest.raises(psycopg.errors.LockNotAvailable):
                conn.execute(
                    "SELECT 1 FROM iu_vector_piece WHERE collection = %s AND piece_id = %s FOR UPDATE NOWAIT",
                    (COLLECTION, renamed[0][1].piece_id),
                )
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.communicate(timeout=10)  # reaps it and closes its pipes
        locker.rollback()
    gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
    if not wait_until(lambda: conn.execute(gone, (backend,)).fetchone() == (0,), timeout=20):
        conn.execute("SELECT pg_terminate_backend(%s)", (backend,))
        assert wait_until(lambda: conn.execute(gone, (backend,)).fetchone() == (0,), timeout=20)

    # The batch rolled back as one: REG-EN's rows are the old ones, nothing recorded, nothing sent.
    assert rows(conn, COLLECTION) == indexed
    assert states(conn) == pending
    applied = conn.execute("SELECT count(*) FROM iu_vector_delivery").fetchone()
    assert applied == (2,)

    worker_once(cli)
    all_sent(conn)
    final = matches_reindex(cli, conn)
    # A renamed heading whose text still prints the old heading now says something of its own.
    assert set(indexed) <= set(final) <= set(indexed) | expected
    changed = {p for p in indexed if final[p][0] != indexed[p][0]}
    assert changed == expected & set(indexed)  # every piece under a renamed heading, nothing else
    applied = conn.execute(
        "SELECT count(*), count(DISTINCT idempotency_key) FROM iu_vector_delivery"
    ).fetchone()
    assert applied == (4, 4)


@pytest.mark.slow
def test_the_bundled_model_behind_a_live_route_answers_plain_questions(cli: CliRunner, conn: Conn) -> None:
    require_pgvector(conn)
    go_live(cli, (ROUTE, "structure_op_applied"))
    ingest_samples(cli)
    worker_once(cli, env=None)  # the default embedder: multilingual-e5-small
    all_sent(conn)
    assert set(rows(conn, COLLECTION)) == active_pieces(conn)
    for question, article in [
        ("How many days in advance do I have to reserve an instrument?", "Article 3 Booking"),
        ("Tôi có được cho người khác dùng chung tài khoản không?", "Điều 3 Tài khoản truy cập"),
    ]:
        found = json.loads(
            ok(
                cli("search", question, "--collection", COLLECTION, "--limit", "1", "--json", timeout=120)
            ).stdout
        )
        assert found["model"] != "hashing"
        (hit,) = found["hits"]
        assert article in hit["heading_path"].split(" > "), (question, hit)
