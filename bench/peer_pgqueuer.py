"""pgqueuer doing IU Core's projection work, through its public API (``python -m bench.peer_pgqueuer``).

Settings are pgqueuer's own recommendations (its README): the asyncpg driver,
``QueueManager.run`` with its default ``batch_size=10`` and unlimited
per-entrypoint concurrency, LISTEN/NOTIFY on, ``mode=drain`` so it exits once
the queue is empty. The job body uses an asyncpg pool of ``--concurrency``
connections for its insert. ``prepare`` installs pgqueuer's schema and
enqueues one job per outbox event (not timed); ``run`` drains the queue and
prints the elapsed time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from bench.peer_common import PROJECT_SQL_ASYNCPG, asyncpg_kwargs, load_jobs, report

ENTRYPOINT = "project"
ENQUEUE_CHUNK = 10_000


async def prepare(url: str) -> None:
    import asyncpg  # type: ignore[import-untyped]
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.queries import Queries

    jobs = load_jobs(url)
    conn = await asyncpg.connect(**asyncpg_kwargs(url))
    try:
        queries = Queries(AsyncpgDriver(conn))
        await queries.install()
        for i in range(0, len(jobs), ENQUEUE_CHUNK):
            chunk = jobs[i : i + ENQUEUE_CHUNK]
            await queries.enqueue(
                [ENTRYPOINT] * len(chunk),
                [json.dumps(j).encode() for j in chunk],
                [0] * len(chunk),
            )
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()


async def run(url: str, *, noop: bool, concurrency: int, batch_size: int) -> None:
    import asyncpg
    from pgqueuer import PgQueuer
    from pgqueuer.db import AsyncpgDriver
    from pgqueuer.domain.types import QueueExecutionMode
    from pgqueuer.models import Job

    kwargs = asyncpg_kwargs(url)
    conn = await asyncpg.connect(**kwargs)
    pool = await asyncpg.create_pool(min_size=concurrency, max_size=concurrency, **kwargs)
    done = 0
    try:
        pgq = PgQueuer(AsyncpgDriver(conn))

        @pgq.entrypoint(ENTRYPOINT)
        async def project(job: Job) -> None:
            nonlocal done
            if not noop:
                body: dict[str, Any] = json.loads(job.payload or b"{}")
                await pool.execute(PROJECT_SQL_ASYNCPG, body["event_id"], json.dumps(body["payload"]))
            done += 1

        start = time.perf_counter()
        await pgq.qm.run(batch_size=batch_size, mode=QueueExecutionMode.drain)
        elapsed = time.perf_counter() - start
    finally:
        await pool.close()
        await conn.close()
    report(elapsed, done, batch_size=batch_size, pool=concurrency)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peer_pgqueuer")
    parser.add_argument("phase", choices=["prepare", "run"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--noop", action="store_true", help="empty job body")
    parser.add_argument("--concurrency", type=int, default=4, help="connections of the job body's pool")
    parser.add_argument("--batch-size", type=int, default=10, help="pgqueuer's default")
    args = parser.parse_args(argv)
    if args.phase == "prepare":
        asyncio.run(prepare(args.url))
    else:
        asyncio.run(run(args.url, noop=args.noop, concurrency=args.concurrency, batch_size=args.batch_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
