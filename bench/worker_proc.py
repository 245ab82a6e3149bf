"""One IU Core worker in its own process, timed from the inside (``python -m bench.worker_proc``).

It calls the worker's public Python API, ``run_worker(url, WorkerConfig(...),
once=...)``, so the measured code is exactly what ``iu-core worker`` runs,
without the interpreter's start-up and imports. It prints one JSON line:
``{"elapsed_s": …, "maxrss_mb": …}``; the peak RSS is the kernel's high-water
mark of this process (``ru_maxrss``), so it includes everything the worker
allocated while delivering.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import logging
import os
import resource
import sys
import time
from typing import Any


def build_config(**wanted: Any) -> Any:
    """A WorkerConfig with the wanted settings the worker's config knows (None = its default)."""
    from iu_core.worker import WorkerConfig

    if dataclasses.is_dataclass(WorkerConfig):
        names = {f.name for f in dataclasses.fields(WorkerConfig)}
    else:
        names = set(inspect.signature(WorkerConfig).parameters)
    unknown = {k for k, v in wanted.items() if v is not None and k not in names}
    if unknown:
        print(f"bench: WorkerConfig has no {sorted(unknown)}; using its defaults", file=sys.stderr)
    return WorkerConfig(**{k: v for k, v in wanted.items() if k in names and v is not None})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.worker_proc")
    parser.add_argument("--url", required=True)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--poll-interval", type=float, default=None)
    parser.add_argument("--forever", action="store_true", help="run until SIGTERM instead of --once")
    parser.add_argument(
        "--durable-sql-commits", action="store_true", help="WorkerConfig.durable_sql_commits (default: off)"
    )
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=int(os.environ["IU_CORE_BENCH_HTTP_CONCURRENCY"])
        if os.environ.get("IU_CORE_BENCH_HTTP_CONCURRENCY")
        else None,
        help="WorkerConfig.http_concurrency (default: the worker's)",
    )
    args = parser.parse_args(argv)

    from iu_core.worker import run_worker

    # The worker's own log on stderr (warnings by default; IU_CORE_BENCH_WORKER_LOG=INFO
    # shows its one line per batch): the bench quotes its tail when a run fails.
    logging.basicConfig(
        level=os.environ.get("IU_CORE_BENCH_WORKER_LOG", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )

    config = build_config(
        concurrency=args.concurrency,
        batch_size=args.batch_size,
        poll_interval=args.poll_interval,
        http_concurrency=args.http_concurrency,
        durable_sql_commits=args.durable_sql_commits or None,
    )
    # Tell the parent we are about to start (it times pickup latency from here on).
    print(json.dumps({"ready": True}), flush=True)
    start = time.perf_counter()
    outcome = run_worker(args.url, config, once=not args.forever, install_signal_handlers=args.forever)
    elapsed = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    maxrss_kb = usage.ru_maxrss
    print(
        json.dumps(
            {
                "elapsed_s": elapsed,
                "maxrss_mb": maxrss_kb / 1024,
                "cpu_s": usage.ru_utime + usage.ru_stime,  # the worker process's own CPU time
                "stats": outcome.as_dict() if hasattr(outcome, "as_dict") else repr(outcome)[:500],
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
