"""Real law text at any count, embedded by the real model: the index measured at scale.

The statutes of ``tests/data/statutes`` and the two shipped samples hold about
33,000 words, English and Vietnamese. Reaching 100,000 pieces from them takes
perturbations a real corpus has too:

- passages cut at other boundaries: a window of 8 to 40 consecutive words from
  a random place in one document, the way another chunker (or another edition
  with different paragraphs) would cut the same law;
- renumbering: in half of the passages every number is replaced by another
  (Article 5 becomes Article 117, "30 days" becomes "12 days"), as the same
  clause stands under another number in another law.

Each passage is embedded by the ``e5`` engine exactly as the worker embeds a
piece, so the index holds real model vectors. Overlapping windows of 33,000
words make the points far denser than a corpus of 100,000 distinct provisions
would be: many near-duplicate neighbours, the harder case for an approximate
index, so its recall here is a lower bound.

The vectors are cached (``$XDG_CACHE_HOME/iu-core-bench``, keyed by a hash of
the passages and the model), so a second run skips the ~30 minutes of
embedding on two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from iu_core import domain

ROOT = Path(__file__).resolve().parents[1]
STATUTES = ROOT / "tests/data/statutes"
SAMPLES = ("regulation_en.md", "quy_che_vi.md")
# The questions as the search embeds them: a plain Vietnamese question has its
# marks restored before it is embedded (vector/diacritics.py), so the marked
# set stands for the plain one here; the identifier set is answered by name.
NATURAL_SETS = ("en", "vi", "cross_vi_en")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Corpus:
    languages: list[str]
    texts: list[str]
    vectors: npt.NDArray[np.float32]
    model: str


def _documents() -> list[tuple[str, list[str]]]:
    """(language, words) of every statute and sample."""
    paths = [domain.sample_path(name) for name in SAMPLES]
    paths += sorted(STATUTES.glob("*.txt")) + sorted(STATUTES.glob("*.md"))
    out = []
    for path in paths:
        if path.name == "README.md":
            continue
        language = "vi" if path.name.startswith(("vn_", "quy_che")) else "en"
        out.append((language, path.read_text(encoding="utf-8").split()))
    return out


def passages(count: int, seed: int = 7) -> list[tuple[str, str]]:
    """``count`` distinct (language, text) passages cut from the real documents."""
    rng = np.random.default_rng(seed)
    documents = _documents()
    sizes = np.array([len(words) for _, words in documents], dtype=np.float64)
    chosen: dict[str, str] = {}
    while len(chosen) < count:
        language, words = documents[int(rng.choice(len(documents), p=sizes / sizes.sum()))]
        length = int(rng.integers(8, 41))
        start = int(rng.integers(0, max(len(words) - length, 1)))
        text = " ".join(words[start : start + length])
        if rng.random() < 0.5:
            text = _NUMBER.sub(lambda _: str(int(rng.integers(1, 200))), text)
        chosen.setdefault(text, language)
    return [(language, text) for text, language in chosen.items()]


def questions() -> list[tuple[str, str]]:
    """(language, question) of the question sets, as the search embeds them (``NATURAL_SETS``)."""
    from bench.search_quality import question_sets

    sets = question_sets()
    return [(item.lang, item.q) for name in NATURAL_SETS for item in sets[name]]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "iu-core-bench"


def embedded(count: int, log: Callable[[str], None], seed: int = 7, batch: int = 64) -> Corpus:
    """The passages and their ``e5`` vectors, from the cache when the same passages were embedded."""
    from iu_core.vector import get_embedder

    embedder = get_embedder("e5")
    items = passages(count, seed)
    key = hashlib.sha256(
        json.dumps([embedder.name, embedder.version, items], ensure_ascii=False).encode()
    ).hexdigest()[:16]
    path = _cache_dir() / f"passages-{count}-{key}.npy"
    languages = [language for language, _ in items]
    texts = [text for _, text in items]
    if path.exists():
        vectors = np.load(path)
        log(f"{count:,} passage vectors from {path}")
        return Corpus(languages, texts, vectors, embedder.name)
    vectors = np.zeros((count, embedder.dims), dtype=np.float32)
    started = time.perf_counter()
    for at in range(0, count, batch):
        vectors[at : at + batch] = embedder.embed_passages(texts[at : at + batch])
        if at // batch % 50 == 0:
            done = at + batch
            rate = done / (time.perf_counter() - started)
            log(f"embedded {min(done, count):,} of {count:,} ({rate:.0f} passages/s)")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, vectors)
    partial.replace(path)  # a run killed midway leaves no cache that looks whole
    return Corpus(languages, texts, vectors, embedder.name)
