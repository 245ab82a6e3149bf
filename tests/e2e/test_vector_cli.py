"""``iu-core vector reindex | status | install`` and ``iu-core search``, run as a user runs them."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import CliRunner
from tests.support.vector import piece_by_title, require_pgvector

HASHING = {"IU_CORE_EMBEDDER": "hashing"}
VECTOR_DOCS = Path(__file__).resolve().parents[2] / "docs" / "vector.md"


def _ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr + result.stdout
    return result


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(_ok(result).stdout)


@pytest.fixture
def samples(cli: CliRunner, conn: psycopg.Connection[Any]) -> CliRunner:
    require_pgvector(conn)
    _ok(cli("ingest", "sample:regulation_en.md", "--code", "REG-EN"))
    _ok(cli("ingest", "sample:quy_che_vi.md", "--code", "QC-VI"))
    return cli


@pytest.mark.slow
def test_reindex_status_and_search_with_the_hashing_embedder(
    samples: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    cli = samples
    built = _json(cli("vector", "reindex", "docs", "--json", env=HASHING))
    assert built["units"] == 2 and built["embedded"] > 25 and built["model"] == "hashing"
    again = _json(cli("vector", "reindex", "docs", "--json", env=HASHING))
    assert again["embedded"] == 0 and again["unchanged"] == built["embedded"]

    (status,) = _json(cli("vector", "status", "--json"))
    assert status["collection"] == "docs" and status["pieces"] == built["embedded"]
    assert status["stale"] == 0 and status["dims"] == 384 and status["model"] == "hashing"
    assert status["index_bytes"] > 0
    table = _ok(cli("vector", "status")).stdout
    assert "docs" in table and "hashing" in table

    article = piece_by_title(conn, "REG-EN", "Article 3 Booking")
    _ok(cli("op", "rename", str(article.piece_id), "--heading", "Reservations"))
    (status,) = _json(cli("vector", "status", "--json"))
    assert status["stale"] == 4  # the article and its three clauses

    found = _json(cli("search", "booking system working day", "--collection", "docs", "--json"))
    assert found["language"] == "en" and found["model"] == "hashing"
    assert found["hits"][0]["code"] == "REG-EN"
    assert {h["language"] for h in found["hits"]} == {"en"}
    top = found["hits"][0]
    assert {"score", "code", "label", "heading_path", "snippet"} <= set(top)

    vi = _json(cli("search", "tài khoản truy cập", "--limit", "3", "--json"))
    assert vi["language"] == "vi" and len(vi["hits"]) == 3
    assert {h["code"] for h in vi["hits"]} == {"QC-VI"}
    forced = _json(cli("search", "tài khoản truy cập", "--lang", "en", "--limit", "3", "--json"))
    assert {h["code"] for h in forced["hits"]} == {"REG-EN"}
    only = _json(cli("search", "booking", "--iu", "QC-VI", "--lang", "vi", "--json"))
    assert {h["code"] for h in only["hits"]} == {"QC-VI"}

    shown = _ok(cli("search", "booking system working day", "--limit", "2")).stdout
    assert "REG-EN" in shown and "Article 3" in shown


@pytest.mark.slow
def test_user_mistakes_are_one_line(samples: CliRunner) -> None:
    cli = samples
    for args, message in [
        (("vector", "reindex", "bad name"), "error: a vector collection is 1-64 characters"),
        (("search", "booking", "--collection", "docs"), "error: nothing is indexed in collection 'docs'"),
        (("vector", "reindex", "docs", "--iu", "NOPE"), "error: unknown information unit 'NOPE'"),
        (("search", "   "), "error: the search query is empty"),
    ]:
        result = cli(*args, env=HASHING)
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip().startswith(message), result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_install_is_idempotent(samples: CliRunner) -> None:
    assert "vector index ready" in _ok(samples("vector", "install")).stdout


def _readme_commands() -> list[list[str]]:
    text = VECTOR_DOCS.read_text(encoding="utf-8").split("# Vector index and search", 1)[1]
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("iu-core ")]


@pytest.mark.slow
# Each command loads the e5 model on the CPU (seconds idle, a minute on a busy 2-core machine).
@pytest.mark.timeout(900)
def test_the_bundled_model_answers_plain_questions_in_both_languages(
    cli: CliRunner, conn: psycopg.Connection[Any]
) -> None:
    require_pgvector(conn)
    commands = _readme_commands()
    assert [c[:2] for c in commands][2:4] == [["vector", "reindex"], ["vector", "status"]]
    outputs = [_ok(cli(*args, timeout=300)).stdout for args in commands]  # the docs page, as written
    assert "multilingual-e5-small-int8" in outputs[3]
    assert "REG-EN" in outputs[4] and "QC-VI" not in outputs[4]  # ranked among English pieces
    assert "QC-VI" in outputs[5] and "REG-EN" not in outputs[5]
    for question, article in [
        ("How many days in advance do I have to reserve an instrument?", "Article 3 Booking"),
        ("What happens if nobody shows up for a booked session?", "Article 3 Booking"),
        ("Tôi có được cho người khác dùng chung tài khoản không?", "Điều 3 Tài khoản truy cập"),
        ("Khi nào quy chế bắt đầu có hiệu lực?", "Điều 7 Hiệu lực thi hành"),
    ]:
        found = _json(cli("search", question, "--collection", "hub", "--limit", "1", "--json", timeout=120))
        (hit,) = found["hits"]
        assert article in hit["heading_path"].split(" > "), (question, hit)


@pytest.mark.slow
def test_the_documented_identifier_search_puts_the_named_clause_first(samples: CliRunner) -> None:
    cli = samples
    _ok(cli("vector", "reindex", "docs", "--json", env=HASHING))
    (line,) = [
        line.strip()
        for line in VECTOR_DOCS.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith('iu-core search "khoản 2 Điều 3"')
    ]
    found = _json(cli(*shlex.split(line)[1:], env=HASHING))
    top = found["hits"][0]
    assert top["identified"] and top["eid"].endswith("art_3__para_2") and top["code"] == "QC-VI"
