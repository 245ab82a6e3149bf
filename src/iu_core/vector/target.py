"""The ``vector`` target kind: keep a collection current from the events of each IU.

``target_ref`` is the collection's name. Every delivery names an IU (the
event's ``aggregate_id``, else its payload's ``iu_id``); a batch syncs each
affected IU once, whatever number of its events it carries, inside the
worker's transaction. The deliveries it applied are recorded by idempotency
key in ``iu_vector_delivery`` in that same transaction, so the vectors, the
attempt rows and the delivery states commit together: a delivery that comes
again is ``skipped``, a worker killed mid-batch leaves nothing behind.

The embedder is resolved on the first delivery that needs it (``IU_CORE_EMBEDDER``,
default ``e5``), so building the target costs nothing and the model is loaded
only by a process that actually delivers to a vector route.

The model does not run inside that transaction: the worker calls ``prepare``
first, which embeds the passages of the next due units with no lock held
(``vector/prepared.py``); the transaction finds their vectors ready.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from iu_core.delivery import DeliveryOutcome, EventDelivery, failed_outcome
from iu_core.errors import IuCoreError
from iu_core.vector import store
from iu_core.vector.embedder import Embedder
from iu_core.vector.prepared import PreparedEmbedder
from iu_core.vector.registry import default_embedder_name, embedder_names, get_embedder

__all__ = ["COLLECTION_PATTERN", "NOT_INSTALLED", "VectorTarget", "collection_problem"]

Conn = psycopg.Connection[Any]

log = logging.getLogger("iu_core.worker")

KIND = "vector"
NOT_INSTALLED = "pgvector is not installed in this database"
COLLECTION_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def collection_problem(name: str) -> str | None:
    """None when ``name`` is a valid collection name, else why not."""
    if COLLECTION_PATTERN.fullmatch(name):
        return None
    return "a vector collection is 1-64 characters of A-Z a-z 0-9 . _ : -"


def _failed(reason: str, *, retryable: bool, **extra: Any) -> DeliveryOutcome:
    return failed_outcome(KIND, reason, retryable=retryable, **extra)


def _iu_of(delivery: EventDelivery) -> uuid.UUID | None:
    if delivery.aggregate_id is not None:
        return delivery.aggregate_id
    raw = delivery.request.safe_payload.get("iu_id")
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


class VectorTarget:
    """A TransactionalTarget that syncs the affected IUs into the collection ``target_ref``.

    ``embedder``: use this one; else the registry's ``embedder_name``; else
    ``IU_CORE_EMBEDDER`` (default ``e5``), read when the first delivery needs it.
    """

    target_kind = KIND

    def __init__(self, embedder: Embedder | None = None, *, embedder_name: str | None = None) -> None:
        self._embedder = PreparedEmbedder(embedder) if embedder is not None else None
        self._embedder_name = embedder_name

    def embedder(self) -> PreparedEmbedder:
        """The embedder this target writes with (IuCoreError when its name is unknown)."""
        if self._embedder is None:
            self._embedder = PreparedEmbedder(get_embedder(self._embedder_name or default_embedder_name()))
        return self._embedder

    def prepare(self, conn: Conn, route_code: str, collection: str, limit: int) -> None:
        """Embed the passages the next ``limit`` due deliveries will need, holding no lock meanwhile.

        Reads in a short transaction of its own, embeds after it has ended. Any
        failure here only costs the head start: the delivery embeds for itself.
        """
        if self.ref_problem(collection):
            return
        try:
            embedder = self.embedder()
            with conn.transaction():
                if not store.vector_ready(conn):
                    return
                texts = [
                    passage.text
                    for iu_id in store.due_units(conn, route_code, limit)
                    for passage in store.plan_sync(conn, collection, iu_id, embedder).to_embed
                ]
            embedder.warm(texts)
        except Exception as exc:  # the transaction will embed what is missing
            log.warning(
                "route=%s kind=vector preparing the vectors failed: %s: %s",
                route_code,
                type(exc).__name__,
                exc,
            )

    def ref_problem(self, target_ref: str) -> str | None:
        return collection_problem(target_ref)

    def readiness_problem(self, conn: Conn, target_ref: str) -> str | None:
        problem = self.ref_problem(target_ref)
        if problem:
            return problem
        if not store.vector_ready(conn):
            return NOT_INSTALLED
        name = (
            self._embedder.inner.name if self._embedder else (self._embedder_name or default_embedder_name())
        )
        if self._embedder is None and name not in embedder_names():
            return f"unknown embedder {name!r} (known: {', '.join(embedder_names())})"
        return None

    def deliver_batch(self, conn: Conn, deliveries: Sequence[EventDelivery]) -> list[DeliveryOutcome]:
        outcomes: list[DeliveryOutcome | None] = [None] * len(deliveries)
        if not deliveries:
            return []
        if not store.vector_ready(conn):
            return [_failed(NOT_INSTALLED, retryable=False) for _ in deliveries]
        try:
            embedder = self.embedder()
        except IuCoreError as exc:
            return [_failed(str(exc), retryable=False) for _ in deliveries]

        keys = [d.request.idempotency_key for d in deliveries]
        applied = store.applied_keys(conn, keys)
        # (collection, iu) -> indexes of the deliveries that sync it
        groups: dict[tuple[str, uuid.UUID], list[int]] = {}
        for i, delivery in enumerate(deliveries):
            request = delivery.request
            problem = self.ref_problem(request.target_ref)
            iu_id = _iu_of(delivery)
            if problem:
                outcomes[i] = _failed(problem, retryable=False)
            elif request.idempotency_key in applied:
                outcomes[i] = DeliveryOutcome(
                    "skipped", False, KIND, {"reason": "already applied", "collection": request.target_ref}
                )
            elif iu_id is None:
                outcomes[i] = DeliveryOutcome(
                    "skipped", False, KIND, {"reason": "the event names no information unit"}
                )
            else:
                groups.setdefault((request.target_ref, iu_id), []).append(i)
                applied.add(request.idempotency_key)  # the same key twice in one batch: once

        plans: dict[tuple[str, uuid.UUID], store.SyncPlan] = {}
        for group, members in groups.items():
            try:
                with conn.transaction():
                    plans[group] = store.plan_sync(conn, group[0], group[1], embedder)
            except psycopg.Error as exc:
                for i in members:
                    outcomes[i] = _failed(f"reading the tree failed: {type(exc).__name__}", retryable=True)

        texts = [p.text for plan in plans.values() for p in plan.to_embed]
        try:
            vectors = store.embed_in_batches(embedder, texts)
        except Exception as exc:  # the embedder's own failure: retry the whole batch later
            reason = f"embedding failed: {type(exc).__name__}"
            return [o or _failed(reason, retryable=True) for o in outcomes]

        start = 0
        for group, plan in plans.items():
            end = start + len(plan.to_embed)
            members = groups[group]
            try:
                with conn.transaction():
                    result = store.apply_plan(conn, plan, vectors[start:end], embedder)
                    for i in members:
                        store.record_delivery(
                            conn, deliveries[i].request.idempotency_key, deliveries[i].event_id, result
                        )
            except psycopg.Error as exc:
                for i in members:
                    outcomes[i] = _failed(f"writing the vectors failed: {type(exc).__name__}", retryable=True)
            else:
                detail = {**result.as_dict(), "model": embedder.name}
                for i in members:
                    outcomes[i] = DeliveryOutcome("sent", True, KIND, detail)
            start = end
        return [o if o is not None else _failed("not delivered", retryable=True) for o in outcomes]
