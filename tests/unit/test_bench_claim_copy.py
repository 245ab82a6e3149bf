"""The benchmark's EXPLAIN copy of the claim is the claim of fn_iu_worker_claim_rows.

A plpgsql function's plan cannot be EXPLAINed from outside, so the benchmark
keeps a copy of the claim statement with its parameters bound; this test
stops the copy from drifting away from the function.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]


def _normal(sql: str) -> str:
    sql = re.sub(r"--[^\n]*", "", sql)
    return " ".join(sql.split())


def test_the_bench_claim_is_the_function_claim() -> None:
    function = (REPO / "src/iu_core/sql/functions/worker_ordering.sql").read_text(encoding="utf-8")
    body = function[function.index("FUNCTION fn_iu_worker_claim_rows") :]
    claim = body[body.index("WITH cand AS MATERIALIZED") : body.index("INTO ready, blocked;")]
    bound = (
        _normal(claim)
        .replace("p_route_code", "%(route)s")
        .replace("p_limit", "%(limit)s")
        .replace("p_strict", "true")
        .replace(" AND (r.pos = 1 OR NOT p_heads_only)", "")
    )
    bench = (REPO / "bench/sql/events.sql").read_text(encoding="utf-8")
    copy = bench[bench.index("-- claim_explain --") :]
    copy = copy[copy.index("WITH cand AS MATERIALIZED") :]
    copy = copy.split("\n-- ", 1)[0]
    assert _normal(copy).rstrip(";") == bound.rstrip(";")
