"""What both peers share: the job body's projection call, reading the events, the result line."""

from __future__ import annotations

import json
import resource
from typing import Any

import psycopg

# The job body of every peer does exactly the projection work of IU Core's
# internal consumer: the same validated, idempotent insert, by the same
# function (fn_iu_structure_consumer). IU Core additionally runs the seam's
# fail-closed checks (fn_iu_route_deliver) and writes its audit rows.
PROJECT_SQL_ASYNCPG = "SELECT fn_iu_structure_consumer($1::uuid, $2::jsonb)"
PROJECT_SQL_PSYCOPG = "SELECT fn_iu_structure_consumer(%s::uuid, %s::jsonb)"


def load_jobs(url: str) -> list[dict[str, Any]]:
    """Every outbox event as a job argument: {"event_id": …, "payload": {…}}, in event_seq order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT event_id::text, payload FROM event_outbox ORDER BY event_seq").fetchall()
    return [{"event_id": r[0], "payload": r[1]} for r in rows]


def asyncpg_kwargs(url: str) -> dict[str, Any]:
    """asyncpg.connect() keywords for a libpq URL or conninfo (the embedded server is a Unix socket)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    out: dict[str, Any] = {}
    for src, dst in (("host", "host"), ("port", "port"), ("user", "user"), ("dbname", "database")):
        if params.get(src):
            out[dst] = params[src]
    if params.get("password"):
        out["password"] = params["password"]
    return out


def report(elapsed_s: float, jobs: int, **extra: Any) -> None:
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"elapsed_s": elapsed_s, "jobs": jobs, "maxrss_mb": maxrss_kb / 1024, **extra}), flush=True
    )
