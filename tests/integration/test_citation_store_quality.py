"""The stored citations of the ingested statutes against the labelled set, per language.

Each statute of ``tests/data/citations`` is ingested from ``tests/data/statutes``
(with a unit for each title its labels name), and what ``iu-core citations``
lists is compared with the labels: a stored citation is correct when its
text, its unit (``None`` = its own, ``"?"`` = an instrument not held) and its
eid match a label's. The pieces are autocut's, not the labelled set's, so a
relative reference names the stored path (``chp_I__art_5__para_1``) where the
label names ``art_5__para_1``: the eids match when the stored one ends with
the labelled one (``citations.locate``'s rule).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import domain
from iu_core.domain.citations import locate
from tests.conftest import CliRunner

ROOT = Path(__file__).resolve().parents[2]
LABELLED = ROOT / "tests" / "data" / "citations"
STATUTES = ROOT / "tests" / "data" / "statutes"
FLOOR = {"en": (0.95, 0.90), "vi": (0.95, 0.90)}

Key = tuple[str, str | None, str | None]


def _code(name: str) -> str:
    return name.removesuffix(".txt").replace(".", "_")


def _same_eid(stored: str | None, label: str | None) -> bool:
    if stored is None or label is None:
        return stored is None and label is None
    return locate(label, [stored]) == stored


def score(labels: list[Key], found: list[Key]) -> tuple[int, list[Key], list[Key]]:
    """(correct, missed labels, false hits): each label matched by at most one stored citation."""
    left = list(found)
    missed: list[Key] = []
    for text, unit, eid in labels:
        hit = next(
            (i for i, f in enumerate(left) if f[0] == text and f[1] == unit and _same_eid(f[2], eid)), None
        )
        if hit is None:
            missed.append((text, unit, eid))
        else:
            left.pop(hit)
    return len(labels) - len(missed), missed, left


def _norm(text: str) -> str:
    return " ".join(text.split())


def measure(conn: psycopg.Connection[Any], cli: CliRunner) -> dict[str, dict[str, Any]]:
    sets = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(LABELLED.glob("*.json"))]
    held: dict[str, str] = {}
    for statute in sets:
        for code, title in statute["unit_titles"].items():
            if code not in held:  # a unit of that title, held by IU Core
                held[code] = title
                domain.ingest_document(
                    conn, f"{title}\n\nĐiều 1. Phạm vi\nNội dung.\n", code=code, title=title
                )
    for statute in sets:
        name = statute["statute"]
        domain.ingest_document(conn, STATUTES / name, code=_code(name), title=f"Labelled {_code(name)}")
    results: dict[str, dict[str, Any]] = {}
    resolved: dict[str, tuple[int, int]] = {}  # code -> (own-unit references resolved, own-unit references)
    for statute in sets:
        code = _code(statute["statute"])
        done = cli("citations", code, "--json")
        assert done.returncode == 0, done.stderr
        found: list[Key] = [
            (
                _norm(r["matched_text"]),
                "?"
                if r["unresolved"] == "no such unit"
                else (None if r["to_code"] == code else r["to_code"]),
                r["cited_eid"],
            )
            for r in json.loads(done.stdout)
        ]
        labels: list[Key] = [
            (_norm(p["text"][c["start"] : c["end"]]), c["unit"], c["eid"])
            for p in statute["pieces"]
            for c in p["citations"]
        ]
        rows = json.loads(done.stdout)
        own = [r for r in rows if r["to_code"] == code]
        resolved[code] = (sum(1 for r in own if r["unresolved"] is None), len(own))
        correct, missed, false_hits = score(labels, found)
        out = results.setdefault(
            statute["language"], {"labelled": 0, "stored": 0, "correct": 0, "missed": [], "false": []}
        )
        out["labelled"] += len(labels)
        out["stored"] += len(found)
        out["correct"] += correct
        out["missed"] += [(code, *m) for m in missed]
        out["false"] += [(code, *f) for f in false_hits]
    results["resolved"] = {"by_code": resolved}
    for out in (v for k, v in results.items() if k != "resolved"):
        out["precision"] = out["correct"] / out["stored"] if out["stored"] else 1.0
        out["recall"] = out["correct"] / out["labelled"] if out["labelled"] else 1.0
    return results


@pytest.fixture
def measured(conn: psycopg.Connection[Any], cli: CliRunner) -> Iterator[dict[str, dict[str, Any]]]:
    yield measure(conn, cli)


def test_stored_citations_of_the_statutes_match_the_labels(measured: dict[str, dict[str, Any]]) -> None:
    for language, (precision, recall) in FLOOR.items():
        got = measured[language]
        print(
            f"{language}: labelled {got['labelled']} stored {got['stored']} correct {got['correct']} "
            f"precision {got['precision']:.3f} recall {got['recall']:.3f}"
        )
        assert got["precision"] >= precision, (language, got["false"][:20])
        assert got["recall"] >= recall, (language, got["missed"][:20])


def test_references_to_the_unit_itself_resolve_to_its_pieces(measured: dict[str, dict[str, Any]]) -> None:
    """Luật An ninh mạng: every reference to its own provisions names exactly one stored piece."""
    by_code = measured["resolved"]["by_code"]
    for code, (done, total) in sorted(by_code.items()):
        print(f"{code}: {done} of {total} references to its own provisions resolve")
    done, total = by_code["vn_luat_an_ninh_mang_2018_full"]
    assert total >= 90 and done == total
