"""Operations on one IU at the same moment serialise on the IU row: the tree stays sound."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from iu_core import domain
from iu_core.errors import IuCoreError

DOC = "# Doc\n\n" + "".join(f"## Article {i}. A{i}\n\ntext {i}\n\n1. one\n2. two\n\n" for i in range(1, 7))


def _run_together(database_url: str, jobs: list[Callable[[psycopg.Connection[Any]], Any]]) -> list[Any]:
    """Run each job on its own connection, all released at once; return results or exceptions."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(index: int) -> None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            barrier.wait()
            try:
                results[index] = jobs[index](conn)
            except Exception as exc:
                results[index] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def _articles(conn: psycopg.Connection[Any]) -> list[domain.Piece]:
    tree = domain.get_tree(conn, "C")
    return sorted((p for p in tree.pieces.values() if p.kind == "article"), key=lambda p: p.label)


def _assert_sound(conn: psycopg.Connection[Any], iu_id: Any, successes: int) -> None:
    assert domain.tree_problems(conn, "C") == []
    assert domain.unit_event_problems(conn, iu_id) == []
    row = conn.execute(
        "SELECT (SELECT count(*) FROM iu_structure_operation WHERE iu_id = %(iu)s),"
        " (SELECT count(*) FROM event_outbox"
        "   WHERE event_type = 'structure_op_applied' AND aggregate_id = %(iu)s)",
        {"iu": iu_id},
    ).fetchone()
    assert row == (successes + 1, successes + 1)  # + the autocut


def test_crossed_moves_never_make_a_cycle(conn: psycopg.Connection[Any], database_url: str) -> None:
    iu_id = domain.ingest_document(conn, DOC, code="C").unit.iu_id
    successes = 0
    for _ in range(6):
        a, b = _articles(conn)[:2]
        # A under B and B under A at the same moment: exactly one may win.
        results = _run_together(
            database_url,
            [
                lambda c, a=a, b=b: domain.move_piece(c, a.piece_id, parent=b.piece_id),
                lambda c, a=a, b=b: domain.move_piece(c, b.piece_id, parent=a.piece_id),
            ],
        )
        wins = [r for r in results if isinstance(r, domain.OperationResult)]
        assert len(wins) == 1, results
        assert all(isinstance(r, IuCoreError) and "own subtree" in str(r) for r in results if r not in wins)
        successes += 1
        # Put the loser back on top level for the next round.
        tree = domain.get_tree(conn, "C")
        moved = tree.pieces[wins[0].pieces[0]]
        domain.move_piece(conn, moved.piece_id, parent=tree.children(tree.root.piece_id)[0].piece_id)
        successes += 1
        _assert_sound(conn, iu_id, successes)


def test_random_concurrent_operations_keep_the_tree_sound(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    iu_id = domain.ingest_document(conn, DOC, code="C").unit.iu_id
    pieces = [p.piece_id for p in domain.get_tree(conn, "C").pieces.values()]

    def job(seed: int) -> Callable[[psycopg.Connection[Any]], int]:
        def run(c: psycopg.Connection[Any]) -> int:
            rng = random.Random(seed)
            done = 0
            for _ in range(12):
                piece, other = rng.choice(pieces), rng.choice(pieces)
                kind = rng.choice(["move", "move", "deprecate", "restore", "split", "merge", "rename"])
                try:
                    if kind == "move":
                        domain.move_piece(c, piece, parent=other, position=rng.choice([None, 0]))
                    elif kind == "split":
                        domain.split_piece(c, piece, offset=rng.randint(1, 12))
                    elif kind == "merge":
                        domain.merge_pieces(c, piece, other)
                    elif kind == "rename":
                        domain.rename_piece(c, piece, heading=f"h{seed}")
                    else:
                        domain.apply_operation(c, kind, piece=piece)
                    done += 1
                except IuCoreError:
                    pass  # refused against the state another thread left: fine, nothing written
            return done

        return run

    results = _run_together(database_url, [job(seed) for seed in range(4)])
    assert all(isinstance(r, int) for r in results), results  # no deadlock, no constraint violation
    _assert_sound(conn, iu_id, sum(results))


def test_two_ingests_of_one_new_code_create_it_once(conn: psycopg.Connection[Any], database_url: str) -> None:
    results = _run_together(
        database_url, [lambda c: domain.ingest_document(c, DOC, code="SAME") for _ in range(3)]
    )
    assert sum(isinstance(r, domain.IngestResult) for r in results) == 1
    assert all("already exists" in str(r) for r in results if isinstance(r, Exception))
    row = conn.execute("SELECT count(*) FROM event_outbox WHERE event_type = 'iu_created'").fetchone()
    assert row == (1,)
