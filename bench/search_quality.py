"""Search quality on legal questions: hit@1, hit@5 and MRR per question set and search mode.

    .venv/bin/python -m bench.search_quality                 # e5 (int8), every set
    .venv/bin/python -m bench.search_quality --embedder e5-q4

The corpus and the questions are tests/data/questions/legal_questions.json:
the statutes of tests/data/statutes and the shipped samples, each ingested
under its code and indexed into one collection. Sets: ``en``, ``vi`` (with
diacritics), ``vi_plain`` (the same questions without them), ``cross_vi_en``
(Vietnamese questions about English laws) and ``identifiers`` (a provision's
identifier as the query, scoped to its unit, made from the trees). A hit is a
piece whose heading path has a part that starts with the expected provision.
Each set runs in the modes that matter for it (the default, and the
alternative the default is compared with).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from iu_core import domain, vector
from iu_core.vector.diacritics import strip_marks
from iu_core.vector.passages import PATH_SEPARATOR
from iu_core.vector.search import search as search_pieces

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "tests" / "data" / "questions" / "legal_questions.json"
COLLECTION = "law"
_IDENTIFIER = re.compile(r"^(Điều \d+|Article \d+|§ \d+|SEC(?:TION|\.) \d+)\.?$")


@dataclass(frozen=True)
class Question:
    q: str
    lang: str
    code: str
    provision: str


def question_sets() -> dict[str, list[Question]]:
    spec = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    sets = {name: [Question(**q) for q in rows] for name, rows in spec["sets"].items()}
    sets["vi_plain"] = [Question(strip_marks(q.q), "vi", q.code, q.provision) for q in sets["vi"]]
    return sets


def load_corpus(conn: psycopg.Connection[Any]) -> None:
    """Ingest every document of the question file under its code."""
    for code, source in json.loads(QUESTIONS.read_text(encoding="utf-8"))["corpus"].items():
        path = (
            domain.sample_path(source.removeprefix("sample:"))
            if source.startswith("sample:")
            else ROOT / source
        )
        domain.ingest_document(conn, path, code=code)


def identifier_questions(conn: psycopg.Connection[Any]) -> list[Question]:
    """One question per numbered provision: its identifier as printed, asked within its unit."""
    out = []
    codes = json.loads(QUESTIONS.read_text(encoding="utf-8"))["corpus"]
    for code in codes:
        for _, piece in domain.get_tree(conn, code).walk():
            label = (piece.label or "").strip()
            if _IDENTIFIER.match(label):
                ident = label.rstrip(".")
                out.append(Question(ident, "vi" if ident.startswith("Điều") else "en", code, ident))
    return out


def _is_hit(heading_path: str, provision: str) -> bool:
    for part in heading_path.split(PATH_SEPARATOR):
        if part == provision or (part.startswith(provision) and not part[len(provision)].isalnum()):
            return True
    return False


def evaluate(
    conn: psycopg.Connection[Any], questions: list[Question], *, scoped: bool = False, **options: Any
) -> dict[str, Any]:
    """hit@1, hit@5 and MRR (over the first 10) of ``questions`` under search ``options``."""
    ranks: list[int | None] = []
    misses: list[str] = []
    started = time.perf_counter()
    for question in questions:
        result = search_pieces(
            conn,
            question.q,
            collection=COLLECTION,
            iu_code=question.code if scoped else None,
            limit=10,
            **options,
        )
        rank = next(
            (
                i
                for i, hit in enumerate(result.hits, 1)
                if hit.code == question.code and _is_hit(hit.heading_path, question.provision)
            ),
            None,
        )
        ranks.append(rank)
        if rank is None or rank > 5:
            misses.append(question.q)
    n = len(questions) or 1
    return {
        "questions": len(questions),
        "hit@1": round(sum(1 for r in ranks if r == 1) / n, 3),
        "hit@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 3),
        "mrr": round(sum(1 / r for r in ranks if r is not None) / n, 3),
        "ms_per_query": round((time.perf_counter() - started) * 1000 / n, 1),
        "missed_at_5": misses,
    }


def run(conn: psycopg.Connection[Any], embedder_name: str) -> dict[str, Any]:
    load_corpus(conn)
    embedder = vector.get_embedder(embedder_name)
    started = time.perf_counter()
    indexed = vector.reindex(conn, COLLECTION, embedder)
    report: dict[str, Any] = {
        "embedder": embedder_name,
        "pieces": indexed.embedded,
        "index_s": round(time.perf_counter() - started, 1),
    }
    sets = question_sets()
    sets["identifiers"] = identifier_questions(conn)
    modes: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "en": [("default", {}), ("any", {"language": "any"})],
        "vi": [("default", {}), ("any", {"language": "any"})],
        "vi_plain": [("default", {}), ("without restoring marks", {"restore_marks": False})],
        "cross_vi_en": [
            ("default", {}),
            ("any", {"language": "any"}),
            ("en", {"language": vector.Language.EN}),
        ],
        "identifiers": [("scoped to the unit", {"scoped": True})],
    }
    for name, questions in sets.items():
        report[name] = {label: evaluate(conn, questions, **opts) for label, opts in modes[name]}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default="e5", choices=vector.embedder_names())
    args = parser.parse_args()
    from bench import server as bench_server

    srv = bench_server.start()
    try:
        with srv.database() as url, psycopg.connect(url, autocommit=True) as conn:
            report = run(conn, args.embedder)
    finally:
        bench_server.stop(srv)
    json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
