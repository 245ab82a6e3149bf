"""Enqueue-delivery throughput: a live ``pgqueuer:`` workflow route against a live ``sql_function`` route.

``python -m bench.workflow_bench [--n 20000] [--reps 3] [--concurrency 1] [--batch-size N]``

One dedicated durable server (``bench.server``). For each repetition, the two
modes are measured back to back on fresh clones of the same data template (N
structure events, one pending delivery each on the two seeded structure
routes):

- ``sql``: both routes live to ``sql_function`` / ``fn_iu_structure_consumer``
  (the internal projection);
- ``pgqueuer``: pgqueuer installed by its own installer, both routes live to
  ``workflow`` / ``pgqueuer:bench`` through the operator's commands (gate,
  allowlist, ``route set --live``): each delivery enqueues one pgqueuer job in
  its own transaction.

Timed: one ``run_worker(once=True)`` in its own process (``bench.worker_proc``)
from start to the last commit. Checked after each run: N attempts sent, and N
projection rows (sql) or N queued jobs with N distinct dedupe keys (pgqueuer).
Printed: the median rate of each mode and the ratio pgqueuer / sql, then one
JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

import psycopg

from bench import events, procs, server
from bench.sqlfiles import q
from iu_core.workflow import PgQueuerEngine

ROUTES = ("structure_op_applied.workflow", "structure_piece_deprecated.workflow")
ENTRYPOINT = "bench"


def _iu_core(url: str, *args: str) -> None:
    env = procs.env()
    env["IU_CORE_DATABASE_URL"] = url
    done = subprocess.run(
        [sys.executable, "-m", "iu_core", *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"iu-core {' '.join(args)}: {done.stderr.strip()}")


def _go_live_pgqueuer(url: str) -> None:
    PgQueuerEngine().install(url)
    _iu_core(url, "gate", "open")
    _iu_core(url, "allowlist", "add", *ROUTES)
    for route in ROUTES:
        _iu_core(
            url,
            "route",
            "set",
            route,
            "--target-kind",
            "workflow",
            "--target-ref",
            f"pgqueuer:{ENTRYPOINT}",
            "--live",
        )


def _check(url: str, mode: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(q("events", "count_attempts")).fetchone()
        sent = int(row[1]) if row else 0
        if mode == "sql":
            done = events.count(conn, "count_projection")
        else:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT dedupe_key) FROM pgqueuer WHERE entrypoint = %s",
                (ENTRYPOINT,),
            ).fetchone()
            done = int(row[0]) if row and row[0] == row[1] else -1
    if sent != n or done != n:
        raise RuntimeError(f"{mode}: {sent} attempts sent and {done} effects for {n} events")


def measure(srv: server.BenchServer, mode: str, n: int, concurrency: int, batch_size: int | None) -> float:
    with srv.database(srv.data_template(n)) as url:
        if mode == "sql":
            with psycopg.connect(url, autocommit=True) as conn:
                events.routes_live_sql(conn)
        else:
            _go_live_pgqueuer(url)
        with psycopg.connect(url, autocommit=True) as conn:
            events.analyze(conn)
        srv.checkpoint()
        args = ["--url", url, "--concurrency", str(concurrency)]
        if batch_size is not None:
            args += ["--batch-size", str(batch_size)]
        report = procs.run_json(procs.module_cmd("bench.worker_proc", *args), timeout=max(300.0, n / 50))
        _check(url, mode, n)
        return n / float(report["elapsed_s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workflow_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--n", type=int, default=20_000, help="events (one delivery each)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="worker lanes")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the worker's")
    args = parser.parse_args(argv)
    srv = server.start()
    rates: dict[str, list[float]] = {"sql": [], "pgqueuer": []}
    try:
        for rep in range(args.reps):
            for mode in ("sql", "pgqueuer") if rep % 2 == 0 else ("pgqueuer", "sql"):
                rate = measure(srv, mode, args.n, args.concurrency, args.batch_size)
                rates[mode].append(rate)
                print(f"rep {rep + 1} {mode:8s} {rate:10.0f} events/s", flush=True)
    finally:
        server.stop(srv)
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    ratio = medians["pgqueuer"] / medians["sql"]
    print(
        f"median sql_function {medians['sql']:.0f} events/s, pgqueuer {medians['pgqueuer']:.0f} events/s, "
        f"ratio pgqueuer/sql {ratio:.2f}"
    )
    result: dict[str, Any] = {
        "n": args.n,
        "reps": args.reps,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "rates": rates,
        "median": medians,
        "ratio_pgqueuer_over_sql": ratio,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
