"""Pure parts of the vector index: hashing embedder, language detection, collection names, passages."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from iu_core.domain.model import Piece, Tree
from iu_core.errors import IuCoreError
from iu_core.vector import Language, VectorTarget, collection_problem, detect_language, get_embedder
from iu_core.vector.embedder import Embedder, vector_literal
from iu_core.vector.hashing import HashingEmbedder
from iu_core.vector.passages import passages_of
from iu_core.vector.registry import default_embedder_name


def test_hashing_is_deterministic_normalised_and_384_wide() -> None:
    texts = ["Instruments are booked one working day ahead.", "Tài khoản truy cập", ""]
    first = HashingEmbedder().embed_passages(texts)
    second = HashingEmbedder().embed_passages(texts)
    assert first.shape == (3, 384) and first.dtype == np.float32
    assert np.array_equal(first, second)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0)
    assert np.array_equal(HashingEmbedder().embed_query(texts[0]), first[0])


def test_hashing_ranks_shared_words_higher() -> None:
    h = HashingEmbedder()
    query = h.embed_query("booking an instrument")
    near, far = h.embed_passages(["Instruments are booked through the booking system", "Entry into force"])
    assert float(near @ query) > float(far @ query)


def test_embedders_implement_the_protocol_and_hashing_is_never_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IU_CORE_EMBEDDER", raising=False)
    assert default_embedder_name() == "e5"
    assert isinstance(HashingEmbedder(), Embedder)
    assert get_embedder("hashing") is get_embedder("hashing")  # one per process
    with pytest.raises(IuCoreError, match="unknown embedder 'nope'"):
        get_embedder("nope")
    monkeypatch.setenv("IU_CORE_EMBEDDER", "hashing")
    assert default_embedder_name() == "hashing"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("How far ahead must an instrument be booked?", Language.EN),
        ("Who is the custodian of an instrument?", Language.EN),
        ("Café au lait, résumé and naïve are English words too", Language.EN),
        ("Tôi có được chia sẻ tài khoản cho người khác không?", Language.VI),
        ("QUY ĐỊNH CHUNG", Language.VI),
        ("toi co duoc tai tai lieu ve khong", Language.VI),
        ("", Language.EN),
        ("12345", Language.EN),
    ],
)
def test_language_detection(text: str, language: Language) -> None:
    assert detect_language(text) is language


@pytest.mark.parametrize("name", ["docs", "a", "hub:en.v2", "A_b-C", "x" * 64])
def test_valid_collection_names(name: str) -> None:
    assert collection_problem(name) is None
    assert VectorTarget().ref_problem(name) is None


@pytest.mark.parametrize("name", ["", "x" * 65, "two words", "semi;colon", "slash/name", "ü", "a\n"])
def test_invalid_collection_names(name: str) -> None:
    assert collection_problem(name) == "a vector collection is 1-64 characters of A-Z a-z 0-9 . _ : -"


def test_vector_literal_is_pgvector_text() -> None:
    assert vector_literal(np.array([0.5, -1.0], dtype=np.float32)) == "[0.5,-1.0]"


def _piece(
    iu: uuid.UUID, parent: uuid.UUID | None, pos: int, kind: str, label: str, heading: str, text: str
) -> Piece:
    return Piece(uuid.uuid4(), iu, parent, pos, kind, label, heading, text, "active", None, None)


def test_passages_carry_the_heading_path() -> None:
    iu = uuid.uuid4()
    root = _piece(iu, None, 0, "document", "", "Rules", "")
    article = _piece(iu, root.piece_id, 0, "article", "Article 1", "Scope", "Article 1. Scope\n\n")
    clause = _piece(iu, article.piece_id, 0, "clause", "1.", "It applies.", "1. It applies.\n")
    passages = passages_of(Tree.from_pieces([root, article, clause]))
    # The root and the article are headings over the clause: only the clause speaks.
    assert [p.heading_path for p in passages] == ["Rules > Article 1 Scope > 1. It applies."]
    assert passages[0].text == "Rules > Article 1 Scope > 1. It applies.\n\n1. It applies."
    renamed = Piece(**{**article.as_dict(), "heading": "Reach"})
    again = passages_of(Tree.from_pieces([root, renamed, clause]))
    assert again[0].content_hash != passages[0].content_hash  # the clause's context changed


def test_a_heading_with_text_of_its_own_or_nothing_under_it_keeps_its_passage() -> None:
    iu = uuid.uuid4()
    root = _piece(iu, None, 0, "document", "", "Rules", "")
    lead = _piece(
        iu, root.piece_id, 0, "article", "Article 1", "Scope", "Article 1. Scope\nThese rules apply to:\n"
    )
    point = _piece(iu, lead.piece_id, 0, "point", "(a)", "", "(a) users.\n")
    repealed = _piece(iu, root.piece_id, 1, "article", "Article 2", "Repealed", "Article 2. Repealed\n")
    passages = passages_of(Tree.from_pieces([root, lead, point, repealed]))
    assert [p.piece_id for p in passages] == [lead.piece_id, point.piece_id, repealed.piece_id]
