"""Failover to a synchronous standby while a real worker delivers.

A primary and a streaming standby (synchronous replication) from the embedded
binaries; ``iu-core worker`` in its own process, connected with one URL naming
both servers and ``target_session_attrs=read-write``. Mid-run the primary is
stopped with ``-m immediate`` and the standby promoted. The worker must find
the new primary by itself; on it, every acknowledged event is there, every
``sql_function`` delivery was applied exactly once (one projection row, one
sent attempt), and every HTTP delivery arrived at least once, each repeat with
the same ``webhook-id``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from bench.procs import die_with_parent

from iu_core.worker import idempotency_key
from tests.support.failover import Pair, one_server, primary_and_standby, write
from tests.support.receivers import Receiver, add_route, set_secret
from tests.support.routes import STRUCTURE_ROUTE, make_live

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HOOK = "failover-hook"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
IUS = [uuid.uuid4() for _ in range(4)]
BEFORE, AFTER = 60, 60

INSERT = """
INSERT INTO event_outbox (event_id, event_type, aggregate_type, aggregate_id, payload)
VALUES (%(id)s, 'structure_op_applied', 'information_unit', %(iu)s,
        jsonb_build_object('iu_id', %(iu)s::text, 'operation_id', gen_random_uuid()::text,
                           'operation_type', 'split', 'event_type', 'structure_op_applied',
                           'pieces', '[]'::jsonb))
"""

BULK_INSERT = """
INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload)
SELECT 'structure_op_applied', 'information_unit', x.iu,
       jsonb_build_object('iu_id', x.iu::text, 'operation_id', gen_random_uuid()::text,
                          'operation_type', 'split', 'event_type', 'structure_op_applied',
                          'pieces', '[]'::jsonb)
  FROM (SELECT gen_random_uuid() AS iu FROM generate_series(1, %(n)s)) x
"""
SENT_COUNTS = """
SELECT (SELECT count(*) FROM iu_tree_change_log),
       (SELECT count(*) FROM iu_route_attempt WHERE status = 'sent'),
       (SELECT count(*) FROM iu_delivery WHERE state = 'sent')
"""


class Producer:
    """Writes events one transaction each; remembers which commits were acknowledged."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.acked: list[uuid.UUID] = []
        self.uncertain: list[uuid.UUID] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            event_id = uuid.uuid4()
            outcome = write(self.url, INSERT, {"id": event_id, "iu": IUS[n % len(IUS)]})
            (self.acked if outcome else self.uncertain).append(event_id)
            n += 1
            time.sleep(0.02)

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"only {len(self.acked)} events acknowledged"
            time.sleep(0.05)


def _worker(url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["IU_CORE_DATABASE_URL"] = url
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "iu_core", "worker", "--poll-interval", "0.2", "--lease-margin", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # SIGTERM when this test process dies
        )


def _unfinished(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM iu_delivery WHERE state <> 'sent'").fetchone()
    assert row is not None
    return int(row[0])


def _delivered_sql(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM iu_tree_change_log").fetchone()
    assert row is not None
    return int(row[0])


def _wait(condition: Any, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (
            f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}"
        )
        time.sleep(0.1)


def _failover(pair: Pair, rx: Receiver, tmp_path: Path) -> tuple[Producer, Path]:
    url = pair.multi_host_url()
    log = tmp_path / "worker.log"
    worker = _worker(url, log)
    producer = Producer(url)
    try:
        producer.thread.start()
        producer.wait_for(BEFORE)
        _wait(lambda: _delivered_sql(url) >= BEFORE // 2, 60, "deliveries before the failover", log)
        pair.primary.stop("immediate")  # mid-run: deliveries and event writes are in progress
        pair.standby.promote()
        producer.wait_for(len(producer.acked) + AFTER)
        producer.stop.set()
        producer.thread.join(30)
        _wait(lambda: _unfinished(url) == 0, 120, "every delivery on the new primary", log)
        assert worker.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
    finally:
        producer.stop.set()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
    return producer, log


def test_worker_follows_a_promoted_standby_and_loses_or_repeats_nothing(tmp_path: Path) -> None:
    with primary_and_standby() as pair, Receiver() as rx:
        with psycopg.connect(pair.primary.url(pair.database), autocommit=True) as conn:
            make_live(conn, STRUCTURE_ROUTE)
            add_route(conn, HOOK, rx.url, timeout_s=2, connect_timeout_s=1)
            set_secret(conn, HOOK, SECRET)
        producer, log = _failover(pair, rx, tmp_path)

        assert "database unavailable" in log.read_text()  # it did lose the primary, and came back
        with psycopg.connect(pair.standby.url(pair.database), autocommit=True) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (False,)
            events = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT event_id, aggregate_id, event_seq FROM event_outbox "
                    "WHERE event_type = 'structure_op_applied'"  # not the gate's and circuit's own events
                ).fetchall()
            }
            # No acknowledged event lost (synchronous replication); uncertain ones may be either.
            missing = [e for e in producer.acked if e not in events]
            assert missing == []
            assert set(events) <= set(producer.acked) | set(producer.uncertain)

            # sql_function: applied exactly once — one projection row and one sent attempt each.
            projected = conn.execute("SELECT event_ref, iu_id, change_id FROM iu_tree_change_log").fetchall()
            assert sorted(r[0] for r in projected) == sorted(events)
            sent_attempts = conn.execute(
                "SELECT event_ref, count(*) FROM iu_route_attempt WHERE route_code = %s AND status = 'sent' "
                "GROUP BY event_ref",
                (STRUCTURE_ROUTE,),
            ).fetchall()
            assert {r[0] for r in sent_attempts} == set(events)
            assert all(r[1] == 1 for r in sent_attempts)
            # ... and in each IU's order (strict route).
            by_iu: dict[uuid.UUID, list[tuple[int, int]]] = defaultdict(list)
            for event_ref, iu_id, change_id in projected:
                by_iu[iu_id].append((change_id, events[event_ref][1]))
            for rows in by_iu.values():
                seqs = [seq for _, seq in sorted(rows)]
                assert seqs == sorted(seqs)

    # HTTP: every event at least once; every repeat with the same webhook-id (the
    # body's operation_id is unique per event: it tells repeats of one event apart).
    ids_by_operation: dict[str, set[str]] = defaultdict(set)
    for seen in rx.seen:
        ids_by_operation[json.loads(seen.body)["data"]["operation_id"]].add(seen.headers["webhook-id"])
    assert {seen.headers["webhook-id"] for seen in rx.seen} == {idempotency_key(HOOK, e) for e in events}
    assert len(ids_by_operation) == len(events)
    assert all(len(ids) == 1 for ids in ids_by_operation.values())


def test_a_server_crash_undoes_whole_batches_that_are_then_delivered_again(tmp_path: Path) -> None:
    """sql_function batches commit without waiting for the WAL flush: a crash loses whole batches only.

    The server is killed (``-m immediate``: no flush of the WAL buffers) while
    the worker delivers, and started again. Whatever the crash took away was a
    whole batch (projection rows, attempts and states together); the worker
    delivers it again, and the end state is exact.
    """
    events = 20000
    with one_server() as node:
        url = node.url("iu_core")
        with psycopg.connect(url, autocommit=True) as conn:
            make_live(conn, STRUCTURE_ROUTE)
            conn.execute(BULK_INSERT, {"n": events})
        log = tmp_path / "worker.log"
        worker = _worker(url, log)
        try:
            _wait(lambda: _delivered_sql(url) >= events // 4, 60, "deliveries before the crash", log)
            node.stop("immediate")
            node.start()
            # One snapshot right after the restart: projection rows, sent attempts and
            # sent deliveries are equal in number, so the crash took whole batches only.
            with psycopg.connect(url, autocommit=True) as conn:
                counts = conn.execute(SENT_COUNTS).fetchone()
            assert counts is not None and counts[0] == counts[1] == counts[2], counts
            _wait(lambda: _unfinished(url) == 0, 120, "every delivery after the restart", log)
            assert worker.poll() is None, f"the worker exited:\n{log.read_text()[-3000:]}"
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
        assert "database unavailable" in log.read_text()  # it did lose the server, and came back
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*), count(DISTINCT event_ref) FROM iu_tree_change_log"
            ).fetchone() == (events, events)
            assert conn.execute(
                "SELECT count(*), count(DISTINCT event_ref) FROM iu_route_attempt WHERE status = 'sent'"
            ).fetchone() == (events, events)
            # Every attempt row belongs to a delivery in the state it recorded: no half of a batch survived.
            assert conn.execute(
                "SELECT count(*) FROM iu_route_attempt a JOIN iu_delivery d "
                "ON d.route_code = a.route_code AND d.event_id = a.event_ref "
                "WHERE a.status = 'sent' AND (d.state <> 'sent' OR d.attempts <> a.attempt_no)"
            ).fetchone() == (0,)
