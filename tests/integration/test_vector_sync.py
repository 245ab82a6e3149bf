"""The vector index follows the piece tree: split, deprecate, restore, rename, re-ingest, rollback."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.vector import VectorTarget, sync_units
from iu_core.vector.store import EMBED_BATCH
from tests.support.vector import (
    CountingEmbedder,
    deliveries_of,
    indexed_piece_ids,
    ingest_sample,
    piece_by_title,
    require_pgvector,
    rows,
)

Conn = psycopg.Connection[Any]
C = "docs"


@pytest.fixture
def vconn(conn: Conn) -> Conn:
    require_pgvector(conn)
    return conn


def _sync(conn: Conn, iu_id: Any, embedder: CountingEmbedder) -> None:
    with conn.transaction():
        sync_units(conn, C, [iu_id], embedder)


def test_every_piece_with_something_to_say_has_one_row(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    _sync(vconn, iu, CountingEmbedder())
    assert set(rows(vconn, C, iu)) == indexed_piece_ids(vconn, iu)
    language = vconn.execute("SELECT DISTINCT language FROM iu_vector_piece").fetchall()
    assert language == [("en",)]


def test_split_gives_two_vectors(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    embedder = CountingEmbedder()
    _sync(vconn, iu, embedder)
    article = piece_by_title(vconn, "REG", "Article 5 Faults and damage")
    before = rows(vconn, C, iu)
    result = domain.split_piece(vconn, article.piece_id, paragraph=3)
    (tail,) = result.created
    _sync(vconn, iu, embedder)
    after = rows(vconn, C, iu)
    assert set(after) == set(before) | {tail}
    assert after[article.piece_id][0] != before[article.piece_id][0]  # its text is shorter now
    assert set(after) == indexed_piece_ids(vconn, iu)


def test_deprecate_removes_and_restore_returns(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    embedder = CountingEmbedder()
    _sync(vconn, iu, embedder)
    article = piece_by_title(vconn, "REG", "Article 4 Conduct in the laboratory")
    subtree = {p.piece_id for p in domain.get_tree(vconn, "REG").subtree(article.piece_id)}
    assert len(subtree) > 1
    full = rows(vconn, C, iu)

    domain.deprecate_piece(vconn, article.piece_id)
    _sync(vconn, iu, embedder)
    assert set(rows(vconn, C, iu)) == set(full) - subtree

    domain.restore_piece(vconn, article.piece_id)
    _sync(vconn, iu, embedder)
    assert rows(vconn, C, iu) == full  # same pieces, same text: same hashes


def test_rename_changes_the_hash_of_the_piece_and_its_subtree(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    embedder = CountingEmbedder()
    _sync(vconn, iu, embedder)
    article = piece_by_title(vconn, "REG", "Article 3 Booking")
    subtree = {p.piece_id for p in domain.get_tree(vconn, "REG").subtree(article.piece_id)}
    before = rows(vconn, C, iu)
    domain.rename_piece(vconn, article.piece_id, heading="Reservations")
    embedder.passages = 0
    _sync(vconn, iu, embedder)
    after = rows(vconn, C, iu)
    changed = {pid for pid in after if before.get(pid) != after[pid]}
    assert changed == subtree & set(after) and len(changed) > 1
    assert embedder.passages == len(changed)
    assert all("Article 3 Reservations" in after[pid][1] for pid in changed)


def test_unchanged_text_is_not_embedded_again(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    embedder = CountingEmbedder()
    _sync(vconn, iu, embedder)
    first = embedder.passages
    assert first == len(indexed_piece_ids(vconn, iu))
    stamps = vconn.execute("SELECT max(updated_at) FROM iu_vector_piece").fetchone()
    _sync(vconn, iu, embedder)
    assert embedder.passages == first
    assert vconn.execute("SELECT max(updated_at) FROM iu_vector_piece").fetchone() == stamps


def test_another_model_re_embeds(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    _sync(vconn, iu, CountingEmbedder())
    other = CountingEmbedder()
    other.version = "2"
    _sync(vconn, iu, other)
    assert other.passages == len(indexed_piece_ids(vconn, iu))
    versions = vconn.execute("SELECT DISTINCT model_version FROM iu_vector_piece").fetchall()
    assert versions == [("2",)]


def test_reingest_reaches_the_index_through_its_events(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    target = VectorTarget(CountingEmbedder())
    with vconn.transaction():
        outcomes = target.deliver_batch(vconn, deliveries_of(vconn, iu, C))
    assert {o.status for o in outcomes} == {"sent"}
    domain.ingest_document(vconn, domain.sample_path("regulation_en_v2.md"), code="REG", replace=True)
    with vconn.transaction():
        outcomes = target.deliver_batch(vconn, deliveries_of(vconn, iu, C))
    # the first events were applied already; the re-ingest's are new
    assert {o.status for o in outcomes} == {"sent", "skipped"}
    assert set(rows(vconn, C, iu)) == indexed_piece_ids(vconn, iu)


def test_a_batch_syncs_each_iu_once_and_answers_every_delivery(vconn: Conn) -> None:
    en = ingest_sample(vconn, "regulation_en.md", "REG")
    vi = ingest_sample(vconn, "quy_che_vi.md", "QC")
    article = piece_by_title(vconn, "REG", "Article 3 Booking")
    domain.rename_piece(vconn, article.piece_id, heading="Reservations")
    batch = deliveries_of(vconn, en, C) + deliveries_of(vconn, vi, C)
    assert len(batch) > 2
    embedder = CountingEmbedder()
    with vconn.transaction():
        outcomes = VectorTarget(embedder).deliver_batch(vconn, batch)
    assert len(outcomes) == len(batch)
    assert all(o.status == "sent" for o in outcomes), outcomes
    assert embedder.passages == len(indexed_piece_ids(vconn, en)) + len(indexed_piece_ids(vconn, vi))
    # both IUs' texts went through the model together, in full batches
    assert embedder.calls == -(-embedder.passages // EMBED_BATCH)
    languages = dict(vconn.execute("SELECT language, count(*) FROM iu_vector_piece GROUP BY 1").fetchall())
    assert set(languages) == {"en", "vi"}
    recorded = vconn.execute("SELECT count(*) FROM iu_vector_delivery").fetchone()
    assert recorded == (len(batch),)


def test_rollback_leaves_nothing(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    batch = deliveries_of(vconn, iu, C)

    class Killed(Exception):
        pass

    with pytest.raises(Killed), vconn.transaction():
        outcomes = VectorTarget(CountingEmbedder()).deliver_batch(vconn, batch)
        assert all(o.status == "sent" for o in outcomes)
        assert rows(vconn, C, iu)
        raise Killed  # the worker dies before COMMIT
    assert rows(vconn, C, iu) == {}
    assert vconn.execute("SELECT count(*) FROM iu_vector_delivery").fetchone() == (0,)
    # delivered again after the crash: everything, once
    with vconn.transaction():
        outcomes = VectorTarget(CountingEmbedder()).deliver_batch(vconn, batch)
    assert all(o.status == "sent" for o in outcomes)
    assert set(rows(vconn, C, iu)) == indexed_piece_ids(vconn, iu)


def test_unknown_embedder_and_bad_collection_fail_closed(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    batch = deliveries_of(vconn, iu, "bad name!")
    with vconn.transaction():
        outcomes = VectorTarget(CountingEmbedder()).deliver_batch(vconn, batch)
    assert {o.status for o in outcomes} == {"failed"}
    assert all(o.detail["retryable"] is False for o in outcomes)
    target = VectorTarget(embedder_name="no-such-model")
    assert "unknown embedder" in str(target.readiness_problem(vconn, C))
    with vconn.transaction():
        outcomes = target.deliver_batch(vconn, deliveries_of(vconn, iu, C))
    assert {o.status for o in outcomes} == {"failed"}
    assert rows(vconn, C) == {}


def test_readiness_names_the_missing_extension(vconn: Conn) -> None:
    target = VectorTarget(CountingEmbedder())
    assert target.readiness_problem(vconn, C) is None
    vconn.execute("DROP EXTENSION vector CASCADE")
    vconn.execute("DROP TABLE iu_vector_delivery")
    assert target.readiness_problem(vconn, C) == "pgvector is not installed in this database"
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    with vconn.transaction():
        outcomes = target.deliver_batch(vconn, deliveries_of(vconn, iu, C))
    assert {o.detail["reason"] for o in outcomes} == {"pgvector is not installed in this database"}


def test_headings_over_other_pieces_are_not_indexed_on_their_own(vconn: Conn) -> None:
    iu = ingest_sample(vconn, "regulation_en.md", "REG")
    _sync(vconn, iu, CountingEmbedder())
    stored = rows(vconn, C, iu)
    tree = domain.get_tree(vconn, "REG")
    chapter = piece_by_title(vconn, "REG", "Chapter II Booking and use")
    assert chapter.text.strip() == "## Chapter II. Booking and use"  # its text is its heading
    assert tree.root.piece_id not in stored and chapter.piece_id not in stored
    # ... their headings travel in the passages under them.
    paths = [path for _, path in stored.values()]
    assert any(
        path.startswith(f"{tree.root.heading}") and "Chapter II Booking and use" in path for path in paths
    )
