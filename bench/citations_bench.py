"""Citation detection: precision and recall per language, and cost per 1,000 pieces.

    .venv/bin/python -m bench.citations_bench            # table
    .venv/bin/python -m bench.citations_bench --json     # the same as JSON
    .venv/bin/python -m bench.citations_bench --misses   # every miss and false hit

The labelled set is tests/data/citations/*.json: each statute of
tests/data/statutes cut into pieces (one per provision, with its eid as
``here``) and every reference in each piece labelled by hand with its span,
its unit (null = this unit, a code of the file's ``unit_titles``, ``"?"`` = an
instrument IU Core does not hold) and its target eid. A detected citation
counts as correct when its span, unit and eid all equal a label's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iu_core.domain.citations import NO_UNIT, Citation, detect

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "data" / "citations"

Key = tuple[int, int, str | None, str | None]


@dataclass
class Score:
    language: str
    pieces: int = 0
    labelled: int = 0
    detected: int = 0
    correct: int = 0
    misses: list[str] = field(default_factory=list)
    false_hits: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.correct / self.detected if self.detected else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.labelled if self.labelled else 1.0


def _key(citation: Citation) -> Key:
    unit = citation.unit
    if unit is None and citation.unresolved and citation.unresolved.startswith(NO_UNIT):
        unit = "?"
    return (citation.start, citation.end, unit, citation.eid)


def load() -> list[dict[str, Any]]:
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(LABELLED.glob("*.json"))]


def evaluate(sets: list[dict[str, Any]] | None = None) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for statute in sets if sets is not None else load():
        language = statute["language"]
        score = scores.setdefault(language, Score(language))
        for piece in statute["pieces"]:
            score.pieces += 1
            found = {
                _key(c)
                for c in detect(
                    piece["text"],
                    language=language,
                    here=piece["here"],
                    unit_titles=statute["unit_titles"],
                )
            }
            wanted = {(c["start"], c["end"], c["unit"], c["eid"]) for c in piece["citations"]}
            score.labelled += len(wanted)
            score.detected += len(found)
            score.correct += len(found & wanted)
            where = f"{statute['statute']}:{piece['line']}"
            score.misses += [f"{where} {piece['text'][k[0] : k[1]]!r} {k}" for k in wanted - found]
            score.false_hits += [f"{where} {piece['text'][k[0] : k[1]]!r} {k}" for k in found - wanted]
    return scores


def cost_per_thousand(sets: list[dict[str, Any]], language: str, rounds: int = 20) -> float:
    """Milliseconds to detect in 1,000 pieces of the language's labelled texts (best of rounds)."""
    pieces = [
        (piece["text"], piece["here"], statute["unit_titles"])
        for statute in sets
        if statute["language"] == language
        for piece in statute["pieces"]
    ]
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for text, here, titles in pieces:
            detect(text, language=language, here=here, unit_titles=titles)
        best = min(best, time.perf_counter() - started)
    return best * 1000.0 / len(pieces) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.citations_bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--misses", action="store_true", help="list misses and false hits")
    args = parser.parse_args(argv)
    sets = load()
    scores = evaluate(sets)
    rows = []
    for language, score in sorted(scores.items()):
        rows.append(
            {
                "language": language,
                "pieces": score.pieces,
                "labelled": score.labelled,
                "detected": score.detected,
                "correct": score.correct,
                "precision": round(score.precision, 4),
                "recall": round(score.recall, 4),
                "ms_per_1000_pieces": round(cost_per_thousand(sets, language), 1),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print("language  pieces  labelled  detected  correct  precision  recall  ms/1000 pieces")
        for row in rows:
            print(
                f"{row['language']:<8}  {row['pieces']:>6}  {row['labelled']:>8}  {row['detected']:>8}"
                f"  {row['correct']:>7}  {row['precision']:>9.3f}  {row['recall']:>6.3f}"
                f"  {row['ms_per_1000_pieces']:>14.1f}"
            )
    if args.misses:
        for score in scores.values():
            for line in score.misses:
                print("miss", line)
            for line in score.false_hits:
                print("false", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
