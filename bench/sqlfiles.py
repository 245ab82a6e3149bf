"""Named SQL blocks of ``bench/sql/*.sql`` (``-- name --`` then the statement), like iu_core's."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

_BLOCK = re.compile(r"^-- (?P<name>[a-z0-9_]+) --\s*$", re.MULTILINE)
SQL_DIR = Path(__file__).with_name("sql")


@cache
def bench_queries(module: str) -> dict[str, str]:
    text = (SQL_DIR / f"{module}.sql").read_text(encoding="utf-8")
    parts = _BLOCK.split(text)
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
    if not named:
        raise ValueError(f"no named queries in bench/sql/{module}.sql")
    return named


def q(module: str, name: str) -> str:
    return bench_queries(module)[name]
