"""The delivery worker: turns outbox events into deliveries, route by route, and never loses one.

Python API (used by ``iu-core worker``, the demo and the benchmarks)::

    from iu_core.worker import WorkerConfig, run_worker

    stats = run_worker(database_url, WorkerConfig(concurrency=2, batch_size=500), once=True)
    stats.sent, stats.decided, stats.dead          # totals of the run (WorkerStats)

    run_worker(url, WorkerConfig(), stop=threading.Event())   # runs until the event is set
    Worker(url, config, targets={"vector": my_target}).run()  # extra/overriding targets

- ``run_worker(database_url, config=None, *, once=False, targets=None, stop=None,
  install_signal_handlers=False) -> WorkerStats``: ``once`` drains what is due
  now and returns; otherwise it runs until ``stop`` is set (or SIGTERM/SIGINT
  with ``install_signal_handlers``), then drains in-flight work and returns.
- ``WorkerConfig(concurrency, batch_size, poll_interval, routes, http_concurrency,
  lease_margin_s, sweep_interval_s, drain_timeout_s, worker_id)``.
- The operator's view (status, deliveries, dead letters, backfill) is the
  operator service layer, ``iu_core.ops``.

How it works (details beside the code, in ``sql/functions/``):

- Fan-out: a statement-level trigger on ``event_outbox`` writes one
  ``iu_delivery`` row per matching route in the event's own transaction, so a
  late-committing transaction cannot be skipped (no sequence gap).
- Dry-run routes: ``fn_iu_worker_decide_batch`` records decisions; nothing leaves.
- Live ``sql_function`` routes: ``fn_iu_worker_deliver_sql_batch`` claims a batch
  (FOR UPDATE SKIP LOCKED), calls ``fn_iu_route_deliver`` per event in
  event_seq order and writes attempts and states, all in ONE transaction (one
  round trip): exactly-once effect even under kill -9.
- Other live kinds: ``fn_iu_worker_claim`` leases the head event of each IU
  stream; a thread pool dispatches through the composed registry; results are
  recorded in batches by ``fn_iu_worker_record``, fenced by the lease token.
- Retries with exponential backoff and jitter (Retry-After honoured), dead
  letters, circuit breaker, route disable on ``disable_route``, per-IU ordering
  with strict/relaxed policy: all in ``fn_iu_worker_record`` / the claim.
"""

from __future__ import annotations

from iu_core.worker.config import WorkerConfig, WorkerStats
from iu_core.worker.dispatch import compose_registry
from iu_core.worker.records import idempotency_key
from iu_core.worker.supervisor import Worker, run_worker

__all__ = [
    "Worker",
    "WorkerConfig",
    "WorkerStats",
    "compose_registry",
    "idempotency_key",
    "run_worker",
]
