"""`curl` against a real console's /api/search: with a token, results; without one, 401."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from iu_core import vector
from iu_core.vector.hashing import HashingEmbedder
from tests.support.console import console_process
from tests.support.vector import ingest_sample, require_pgvector

TOKEN = "app-search-token-0123456789abcdef"


def _curl(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        ["curl", "-s", "-w", "\n%{http_code}", *args], capture_output=True, text=True, timeout=60, check=True
    )
    body, _, code = done.stdout.rpartition("\n")
    return int(code), body


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_a_token_gets_results_and_without_one_401(
    database_url: str, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    require_pgvector(conn)
    ingest_sample(conn, "regulation_en.md", "REG-EN")
    vector.reindex(conn, "hub", HashingEmbedder())
    tokens = tmp_path / "search-tokens"
    tokens.write_text(f"# the reporting app\n{TOKEN}\n", encoding="utf-8")
    with console_process(database_url, args=["--search-token-file", str(tokens)]) as base:
        url = f"{base}/api/search?q=booking%20in%20advance&collection=hub&limit=2"
        code, body = _curl("-H", f"Authorization: Bearer {TOKEN}", url)
        assert code == 200, body
        hits = json.loads(body)["hits"]
        assert len(hits) == 2 and all(h["code"] == "REG-EN" for h in hits)
        code, body = _curl(url)
        assert code == 401 and "Bearer" in json.loads(body)["error"]
