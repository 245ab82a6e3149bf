"""Loading the SQL shipped inside the package: named query blocks and whole files."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

_BLOCK = re.compile(r"^-- (?P<name>[a-z0-9_]+) --\s*$", re.MULTILINE)


def read_sql(relative: str) -> str:
    """The text of a packaged SQL file, e.g. ``runtime/220_delivery_internal_single.sql``."""
    return resources.files("iu_core").joinpath(relative).read_text(encoding="utf-8")


@cache
def queries(module: str) -> dict[str, str]:
    """Named blocks of ``sql/queries/<module>.sql``: ``-- name --`` then the statement."""
    text = read_sql(f"sql/queries/{module}.sql")
    parts = _BLOCK.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts), 2)}
    if not named:
        raise ValueError(f"no named queries in sql/queries/{module}.sql")
    return named
