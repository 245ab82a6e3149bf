"""``python -m bench.soak [--minutes 30] [--rate 200] [--keep-s 120]``

A steady load for a long time with pruning on: events arrive at ``--rate`` per
second, one ``iu-core worker`` delivers them (live ``sql_function``), and
retention prunes finished history older than ``--keep-s`` seconds every 10 s
(the same batch function as ``iu-core prune``; the soak uses seconds instead of
days so that pruning has something to do within the run). Every 30 s it
samples table and index sizes, dead tuples and the claim time; it prints the
first and last samples and whether sizes levelled off and claim time stayed flat.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import threading
import time
from typing import Any

import psycopg

from bench import events, server
from bench.nworkers_bench import _stop, _workers
from bench.results import percentile
from iu_core import retention

TABLES = ("event_outbox", "iu_delivery", "iu_route_attempt", "iu_tree_change_log")
ROUTE = "structure_op_applied.workflow"


def sample(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"at": time.time()}
    for t in TABLES:
        row = conn.execute(
            "SELECT pg_table_size(c.oid), pg_indexes_size(c.oid), s.n_live_tup, s.n_dead_tup "
            "FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid WHERE c.relname = %s",
            (t,),
        ).fetchone()
        assert row is not None
        out[t] = {"table_kb": row[0] // 1024, "index_kb": row[1] // 1024, "live": row[2], "dead": row[3]}
    claim: list[float] = []
    for _ in range(20):
        conn.execute("BEGIN")
        t0 = time.perf_counter()
        conn.execute("SELECT * FROM fn_iu_worker_claim_rows(%s, 100, true, false)", (ROUTE,))
        claim.append((time.perf_counter() - t0) * 1000)
        conn.execute("ROLLBACK")
    out["claim_ms_p50"] = round(percentile(claim, 50), 3)
    out["claim_ms_p99"] = round(percentile(claim, 99), 3)
    return out


def _produce(url: str, rate: int, stop: threading.Event, offset: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        n = offset
        while not stop.is_set():
            t0 = time.monotonic()
            events.generate(conn, rate, offset=n, n_iu=500)
            n += rate
            stop.wait(max(0.0, 1.0 - (time.monotonic() - t0)))


def _prune(url: str, keep_s: float, stop: threading.Event, pruned: list[int]) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        while not stop.wait(10):
            now = conn.execute("SELECT now()").fetchone()
            assert now is not None
            cutoff: dt.datetime = now[0] - dt.timedelta(seconds=keep_s)
            for table in retention.PRUNE_ORDER:
                report = retention._prune_table(
                    conn,
                    table,
                    cutoff,
                    retention._Walk(),
                    dry_run=False,
                    batch_size=500,
                    deadline=None,
                    progress=None,
                )
                pruned.append(report.pruned)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=200, help="events per second")
    parser.add_argument("--keep-s", type=float, default=120.0, help="retention of finished history, seconds")
    args = parser.parse_args(argv)
    srv = server.start()
    samples: list[dict[str, Any]] = []
    pruned: list[int] = []
    try:
        with srv.database() as url, psycopg.connect(url, autocommit=True) as conn:
            events.routes_live_sql(conn)
            stop = threading.Event()
            workers = _workers(url, 1)
            threads = [
                threading.Thread(target=_produce, args=(url, args.rate, stop, 0), daemon=True),
                threading.Thread(target=_prune, args=(url, args.keep_s, stop, pruned), daemon=True),
            ]
            for t in threads:
                t.start()
            end = time.monotonic() + args.minutes * 60
            try:
                while time.monotonic() < end:
                    samples.append(sample(conn))
                    print(json.dumps(samples[-1]), flush=True)
                    time.sleep(min(30.0, max(0.0, end - time.monotonic())))
                samples.append(sample(conn))
            finally:
                stop.set()
                for t in threads:
                    t.join(60)
                _stop(workers)
            backlog = conn.execute("SELECT count(*) FROM iu_delivery WHERE state <> 'sent'").fetchone()
    finally:
        server.stop(srv)
    first, mid, last = samples[0], samples[len(samples) // 2], samples[-1]
    summary = {
        "minutes": args.minutes,
        "rate_per_s": args.rate,
        "keep_s": args.keep_s,
        "pruned_rows": sum(pruned),
        "unfinished_at_end": int(backlog[0]) if backlog else None,
        "first": first,
        "middle": mid,
        "last": last,
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
