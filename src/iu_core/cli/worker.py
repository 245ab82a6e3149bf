"""``iu-core worker``, ``deliveries``, ``dead-letters``, ``status``, ``route backfill``."""

from __future__ import annotations

import logging
import sys

import click

from iu_core import metrics
from iu_core.cli._common import AppContext, Bounded, console, json_option, otel_option, pass_app, print_json
from iu_core.errors import IuCoreError


def _routes_option(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    codes = tuple(code.strip() for code in value.split(",") if code.strip())
    return codes or None


# ---------------------------------------------------------------------------- worker
@click.command("worker")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    envvar="IU_CORE_WORKER_CONCURRENCY",
    show_envvar=True,
    help="Database lanes (threads with one connection each) running batches.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    envvar="IU_CORE_WORKER_BATCH_SIZE",
    show_envvar=True,
    help="Deliveries claimed and recorded per round trip.",
)
@click.option(
    "--poll-interval",
    type=Bounded(float, 0.01, 3600, "s"),
    default=1.0,
    show_default=True,
    envvar="IU_CORE_WORKER_POLL_INTERVAL",
    show_envvar=True,
    help="Seconds between polls when no notification arrives.",
)
@click.option(
    "--routes",
    default=None,
    envvar="IU_CORE_WORKER_ROUTES",
    show_envvar=True,
    help="Comma-separated route codes to work on (default: every route).",
)
@click.option(
    "--http-concurrency",
    type=click.IntRange(1, 1000),
    default=256,
    show_default=True,
    envvar="IU_CORE_WORKER_HTTP_CONCURRENCY",
    show_envvar=True,
    help="Deliveries in flight at once to HTTP and other Python targets (each route is "
    "also bounded by its max_in_flight).",
)
@click.option(
    "--lease-margin",
    type=Bounded(float, 1, 3600, "s"),
    default=30.0,
    show_default=True,
    envvar="IU_CORE_WORKER_LEASE_MARGIN",
    show_envvar=True,
    help="Seconds a claim of an HTTP delivery outlives the route's timeouts; after that another "
    "worker may take it over (and deliver it again with the same idempotency key).",
)
@click.option(
    "--once",
    is_flag=True,
    default=False,
    envvar="IU_CORE_WORKER_ONCE",
    show_envvar=True,
    help="Deliver what is due now, then exit (for cron and tests).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    envvar="IU_CORE_LOG_LEVEL",
    show_envvar=True,
    help="info: one line per batch; debug: more.",
)
@click.option(
    "--prune/--no-prune",
    default=True,
    show_default=True,
    envvar="IU_CORE_WORKER_PRUNE",
    show_envvar=True,
    help="Prune finished delivery history by the retention settings (see iu-core prune).",
)
@click.option(
    "--durable-sql-commits/--no-durable-sql-commits",
    default=False,
    show_default=True,
    envvar="IU_CORE_WORKER_DURABLE_SQL_COMMITS",
    show_envvar=True,
    help="Wait for the WAL flush when a sql_function batch commits. Without it a crash of the "
    "PostgreSQL server can undo the last batches, each one whole, and they are delivered again.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="IU_CORE_WORKER_METRICS_PORT",
    show_envvar=True,
    help="Serve Prometheus metrics on this port (/metrics). Default: no metrics server.",
)
@click.option(
    "--metrics-addr",
    default="127.0.0.1",
    show_default=True,
    envvar="IU_CORE_WORKER_METRICS_ADDR",
    show_envvar=True,
    help="Address the metrics server binds to.",
)
@otel_option
@json_option
@pass_app
def worker_cmd(
    app: AppContext,
    concurrency: int,
    batch_size: int,
    poll_interval: float,
    routes: str | None,
    http_concurrency: int,
    lease_margin: float,
    once: bool,
    log_level: str,
    prune: bool,
    durable_sql_commits: bool,
    metrics_port: int | None,
    metrics_addr: str,
    as_json: bool,
) -> None:
    """Deliver the outbox continuously: dry-run decisions, live deliveries, retries, dead letters.

    Stops on SIGTERM/SIGINT after finishing in-flight deliveries (exit 0).
    """
    with app.connection(autocommit=True):
        pass  # a database without the schema is one clear line, before any log line
    logging.basicConfig(
        level=getattr(logging, log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    from iu_core.worker import WorkerConfig, run_worker  # its stack loads for this command only

    config = WorkerConfig(
        concurrency=concurrency,
        batch_size=batch_size,
        poll_interval=poll_interval,
        routes=_routes_option(routes),
        http_concurrency=http_concurrency,
        lease_margin_s=lease_margin,
        prune=prune,
        durable_sql_commits=durable_sql_commits,
    )
    server = None
    if metrics_port is not None:
        try:
            server = metrics.start_metrics_server(metrics_port, app.url, addr=metrics_addr)
        except OSError as exc:
            where = f"{metrics_addr}:{metrics_port}"
            raise IuCoreError(f"cannot serve metrics on {where}: {exc.strerror}") from exc
    try:
        stats = run_worker(app.url, config, once=once, install_signal_handlers=True)
    finally:
        if server is not None:
            server.shutdown()
    if as_json:
        print_json(stats.as_dict())
    elif once:
        console.print(
            f"decided {stats.decided}, sent {stats.sent}, skipped {stats.skipped}, "
            f"retrying {stats.retrying}, dead {stats.dead}"
        )


COMMANDS: list[click.Command] = [worker_cmd]
