"""procrastinate doing IU Core's projection work through its public API.

Run as ``python -m bench.peer_procrastinate``.

Settings follow procrastinate's documentation: ``PsycopgConnector`` (its
default async connector), an async task, ``App.run_worker_async`` with
``concurrency=--concurrency`` (its docs advise raising it for I/O-bound
tasks), LISTEN/NOTIFY on (default), and ``wait=False`` so the worker exits
when no job is left. The job body uses a psycopg pool of ``--concurrency``
connections. ``prepare`` applies procrastinate's schema and defers one job
per outbox event with ``batch_defer_async`` (not timed); ``run`` processes them
and prints the elapsed time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time
from typing import Any

from bench.peer_common import PROJECT_SQL_PSYCOPG, load_jobs, report

QUEUE = "iu_bench"
DEFER_CHUNK = 5_000


def _app(url: str) -> Any:
    import procrastinate

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))


async def prepare(url: str) -> None:
    import psycopg

    jobs = load_jobs(url)
    app = _app(url)

    @app.task(name="project", queue=QUEUE)  # type: ignore[untyped-decorator]  # app is Any
    async def project(event_id: str, payload: dict[str, Any]) -> None:  # pragma: no cover - deferred only
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for i in range(0, len(jobs), DEFER_CHUNK):
            await project.batch_defer_async(*jobs[i : i + DEFER_CHUNK])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


async def run(url: str, *, noop: bool, concurrency: int) -> None:
    from psycopg.types.json import Jsonb
    from psycopg_pool import AsyncConnectionPool

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = _app(url)
    done = 0
    pool = AsyncConnectionPool(url, min_size=concurrency, max_size=concurrency, open=False)

    @app.task(name="project", queue=QUEUE)  # type: ignore[untyped-decorator]  # app is Any
    async def project(event_id: str, payload: dict[str, Any]) -> None:
        nonlocal done
        if not noop:
            async with pool.connection() as conn:
                await conn.execute(PROJECT_SQL_PSYCOPG, (event_id, Jsonb(payload)))
        done += 1

    await pool.open(wait=True)
    try:
        async with app.open_async():
            start = time.perf_counter()
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=concurrency,
                wait=False,
                install_signal_handlers=False,
            )
            elapsed = time.perf_counter() - start
    finally:
        await pool.close()
    report(elapsed, done, concurrency=concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_procrastinate")
    parser.add_argument("phase", choices=["prepare", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--noop", action="store_true", help="empty job body")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args(argv)
    if args.phase == "prepare":
        asyncio.run(prepare(args.url))
    else:
        asyncio.run(run(args.url, noop=args.noop, concurrency=args.concurrency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
