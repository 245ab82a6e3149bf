"""``python -m bench.nworkers_bench [--quick] [-n N] [--http-n N] [--workers 1,2,4]``

1, 2 and 4 ``iu-core worker`` processes against one PostgreSQL (the bench's
durable embedded server), on live ``sql_function`` routes and on
``external_endpoint`` routes to a local receiver. For each: events per second
from the workers' start until every delivery is sent, and per-IU order
violations on the (strict) routes: pairs of sent attempts of one IU recorded in
the opposite order of their events. Violations must be 0. Prints one JSON
object per line and a markdown table at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg

from bench import events, procs, server
from bench.measure import http_receiver

ORDER_VIOLATIONS = """
SELECT count(*) FROM (
    SELECT d.event_seq,
           lag(d.event_seq) OVER (PARTITION BY a.route_code, d.aggregate_id ORDER BY a.attempt_id) AS prev
      FROM iu_route_attempt a
      JOIN iu_delivery d ON d.route_code = a.route_code AND d.event_id = a.event_ref
     WHERE a.status = 'sent') x
 WHERE x.prev > x.event_seq
"""
STRICT_ROUTES = "SELECT count(*) FROM iu_outbound_route WHERE NOT dry_run AND ordering_policy <> 'strict'"


def _workers(url: str, count: int) -> list[subprocess.Popen[bytes]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["IU_CORE_DATABASE_URL"] = url
    return [
        subprocess.Popen(
            [sys.executable, "-m", "iu_core", "worker", "--concurrency", "1", "--log-level", "warning"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=procs.die_with_parent,
        )
        for _ in range(count)
    ]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def _scalar(conn: psycopg.Connection[Any], query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def measure(
    srv: server.BenchServer, kind: str, n: int, workers: int, receiver_url: str | None
) -> dict[str, Any]:
    with srv.database(srv.data_template(n)) as url, psycopg.connect(url, autocommit=True) as conn:
        if kind == "sql_function":
            events.routes_live_sql(conn)
        else:
            assert receiver_url is not None
            events.routes_http(conn, receiver_url, max_in_flight=64)
        total = _scalar(conn, "SELECT count(*) FROM iu_delivery")
        assert _scalar(conn, STRICT_ROUTES) == 0, "the measured routes must be strict"
        procs = _workers(url, workers)
        start = time.perf_counter()
        try:
            while _scalar(conn, "SELECT count(*) FROM iu_delivery WHERE state = 'sent'") < total:
                if time.perf_counter() - start > 600:
                    raise RuntimeError(f"{kind} x{workers}: not all {total} deliveries sent in 600 s")
                time.sleep(0.05)
            elapsed = time.perf_counter() - start
        finally:
            _stop(procs)
        violations = _scalar(conn, ORDER_VIOLATIONS)
        duplicates = _scalar(
            conn,
            "SELECT count(*) FROM (SELECT 1 FROM iu_route_attempt WHERE status = 'sent' "
            "GROUP BY route_code, event_ref HAVING count(*) > 1) x",
        )
    return {
        "kind": kind,
        "workers": workers,
        "deliveries": total,
        "elapsed_s": round(elapsed, 3),
        "per_s": round(total / elapsed, 1),
        "order_violations": violations,
        "repeated_sends": duplicates,
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| kind | workers | deliveries | deliveries/s | per-IU order violations | sent twice |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| `{r['kind']}` | {r['workers']} | {r['deliveries']} | {r['per_s']:.0f} | "
            f"{r['order_violations']} | {r['repeated_sends']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.nworkers_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="small N (a smoke run)")
    parser.add_argument(
        "-n", "--events", type=int, help="events for sql_function (default 20000; quick 1000)"
    )
    parser.add_argument("--http-n", type=int, help="events for external_endpoint (default 5000; quick 500)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts")
    args = parser.parse_args(argv)
    n_sql = args.events or (1000 if args.quick else 20_000)
    n_http = args.http_n or (500 if args.quick else 5_000)
    counts = [int(x) for x in args.workers.split(",")]
    srv = server.start()
    rows: list[dict[str, Any]] = []
    try:
        with http_receiver() as receiver_url:
            for kind, n in (("sql_function", n_sql), ("external_endpoint", n_http)):
                for w in counts:
                    row = measure(srv, kind, n, w, receiver_url)
                    print(json.dumps(row), flush=True)
                    rows.append(row)
    finally:
        server.stop(srv)
    print(table(rows))
    return (
        1
        if any(r["order_violations"] or (r["kind"] == "sql_function" and r["repeated_sends"]) for r in rows)
        else 0
    )


if __name__ == "__main__":
    sys.exit(main())
