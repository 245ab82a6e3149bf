"""The passages the index is measured on at scale: real law text, distinct, reproducible."""

from __future__ import annotations

import re

from bench import vector_corpus


def test_passages_are_distinct_windows_of_the_real_laws_in_both_languages() -> None:
    items = vector_corpus.passages(2000, seed=3)
    texts = [text for _, text in items]
    assert len(texts) == 2000 == len(set(texts))
    assert {language for language, _ in items} == {"en", "vi"}
    documents = {language: [] for language in ("en", "vi")}  # type: dict[str, list[str]]
    for language, words in vector_corpus._documents():
        documents[language].append(" ".join(words))
    digits = re.compile(r"\d+")
    kept, renumbered = 0, 0
    for language, text in items:
        assert 8 <= len(text.split()) <= 40
        if any(text in document for document in documents[language]):
            kept += 1
        else:  # renumbered: the same words with other numbers stand in a document of its language
            pattern = re.escape(digits.sub("0", text)).replace("0", r"\d+")
            assert any(re.search(pattern, document) for document in documents[language]), text
            renumbered += 1
    assert kept > 500 and renumbered > 200  # passages without a number stay as they are


def test_the_same_seed_gives_the_same_passages_and_another_seed_others() -> None:
    assert vector_corpus.passages(300, seed=5) == vector_corpus.passages(300, seed=5)
    assert vector_corpus.passages(300, seed=5) != vector_corpus.passages(300, seed=6)


def test_questions_are_the_natural_sets_without_the_identifiers() -> None:
    asked = vector_corpus.questions()
    assert len(asked) >= 90
    assert {language for language, _ in asked} == {"en", "vi"}
    assert not any(re.fullmatch(r"(Điều|Article|section)\s+\d+", q) for _, q in asked)
