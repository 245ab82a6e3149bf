"""Event generation and route set-up, straight in SQL (set-based, no per-event round trip)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import psycopg

from bench.sqlfiles import q

CHUNK = 200_000  # events per generating transaction


def iu_count(n: int) -> int:
    """How many IUs N events are spread over: about ten events per IU."""
    return max(1, n // 10)


def generate(conn: psycopg.Connection[Any], n: int, *, offset: int = 0, n_iu: int | None = None) -> float:
    """Insert N structure events (numbered offset+1..offset+n); return the seconds it took."""
    n_iu = n_iu or iu_count(n + offset)
    start = time.perf_counter()
    done = 0
    while done < n:
        size = min(CHUNK, n - done)
        with conn.transaction():
            conn.execute(q("events", "generate_events"), {"n": size, "offset": offset + done, "n_iu": n_iu})
        done += size
    return time.perf_counter() - start


def open_gate(conn: psycopg.Connection[Any]) -> None:
    with conn.transaction():
        conn.execute(q("events", "open_gate"))


def routes_live_sql(conn: psycopg.Connection[Any]) -> None:
    open_gate(conn)
    with conn.transaction():
        conn.execute(q("events", "routes_live_sql"))


def routes_http(conn: psycopg.Connection[Any], url: str, *, max_in_flight: int) -> None:
    open_gate(conn)
    with conn.transaction():
        conn.execute(q("events", "routes_http"), {"url": url, "max_in_flight": max_in_flight})
        secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        fingerprint = "sha256:" + hashlib.sha256(secret.encode()).hexdigest()[:16]
        conn.execute(q("events", "route_secrets"), {"secret": secret, "fingerprint": fingerprint})


def count(conn: psycopg.Connection[Any], name: str) -> int:
    row = conn.execute(q("events", name)).fetchone()
    return int(row[0]) if row else 0


def analyze(conn: psycopg.Connection[Any]) -> None:
    """Fresh statistics before a measurement, as autovacuum would give a long-running system."""
    conn.execute("VACUUM (ANALYZE)")
