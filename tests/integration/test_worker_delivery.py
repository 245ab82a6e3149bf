"""The worker in one process: fan-out, dry-run, live sql_function, ordering, retries, dead letters."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.ops import status as status_ops
from iu_core.worker import WorkerConfig, run_worker, store
from tests.support.cli import invoke
from tests.support.routes import DEPRECATED_ROUTE, STRUCTURE_ROUTE, add_route, make_live, set_gate
from tests.support.worker import (
    insert_events,
    once,
    projection_count,
    running_worker,
    scalar,
    states,
    wait_until,
)


class ScriptedTarget:
    """A thread-safe target that records what it got and fails the events it is told to."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []  # (event_ref, idempotency_key)
        self.failing: set[str] = set()
        self.detail: dict[str, Any] = {}
        self.lock = threading.Lock()

    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        with self.lock:
            self.calls.append((request.event_ref, request.idempotency_key))
            failing = request.event_ref in self.failing or "*" in self.failing
        if failing:
            return DeliveryOutcome(
                status="failed",
                delivered=False,
                target_kind=request.target_kind,
                detail={"retryable": True, "reason": "scripted failure", **self.detail},
            )
        return DeliveryOutcome(
            status="sent", delivered=True, target_kind=request.target_kind, detail={"ok": 1}
        )

    def delivered_order(self) -> list[str]:
        return [ref for ref, _ in self.calls]


def add_vector_route(conn: psycopg.Connection[Any], code: str = "vec", **policy: Any) -> str:
    """A live route of kind 'vector' (dispatched through the Python registry)."""
    return add_route(conn, code, kind="vector", ref="test-index", live=True, **policy)


# ----------------------------------------------------------------------------- dry-run
def test_dry_run_routes_record_decisions_and_project_nothing(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    insert_events(conn, 30, [uuid.uuid4(), uuid.uuid4()])
    insert_events(conn, 5, event_type="structure_piece_deprecated")
    stats = once(database_url)
    assert stats.decided == 35
    assert stats.sent == 0
    assert projection_count(conn) == 0
    assert scalar(conn, "SELECT count(*) FROM iu_route_attempt") == 0
    rows = conn.execute(
        "SELECT route_code, target_kind, target_ref, count(*) "
        "FROM iu_route_decision GROUP BY 1, 2, 3 ORDER BY 1"
    ).fetchall()
    assert rows == [
        (STRUCTURE_ROUTE, "workflow", "event_outbox", 30),
        (DEPRECATED_ROUTE, "workflow", "event_outbox", 5),
    ]
    # Going live later does not replay the dry-run history.
    make_live(conn)
    assert once(database_url).sent == 0
    assert projection_count(conn) == 0


# ----------------------------------------------------------------------------- live sql_function
def test_live_sql_function_delivers_every_event_once_in_order_with_audit(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    make_live(conn)
    ius = [uuid.uuid4() for _ in range(7)]
    events = insert_events(conn, 1500, ius)
    stats = once(database_url, batch_size=200)
    assert stats.sent == 1500
    assert projection_count(conn) == 1500
    assert states(conn) == {"sent": 1500}
    # one attempt per event, attempt 1, sent, with the consumer's detail
    assert conn.execute(
        "SELECT count(*), count(DISTINCT event_ref), max(attempt_no), "
        "bool_and(status = 'sent' AND (detail ->> 'rows_added')::int = 1) FROM iu_route_attempt"
    ).fetchone() == (1500, 1500, 1, True)
    # per IU, the projection's order is the outbox order
    disorder = scalar(
        conn,
        """SELECT count(*) FROM (
             SELECT o.event_seq, lag(o.event_seq) OVER (PARTITION BY l.iu_id ORDER BY l.change_id) AS prev
               FROM iu_tree_change_log l JOIN event_outbox o ON o.event_id = l.event_ref) x
            WHERE prev > event_seq""",
    )
    assert disorder == 0
    assert set(events) == {r[0] for r in conn.execute("SELECT event_ref FROM iu_tree_change_log")}
    # a second run finds nothing to do and changes nothing
    assert once(database_url).sent == 0
    assert projection_count(conn) == 1500


def test_late_committing_transaction_is_not_skipped(conn: psycopg.Connection[Any], database_url: str) -> None:
    """The sequence gap: seq N commits after seq N+1 was delivered; N is delivered all the same."""
    make_live(conn)
    with psycopg.connect(database_url) as early, psycopg.connect(database_url) as late:
        (early_id,) = insert_events(early, 1)  # takes the lower event_seq, stays open
        (late_id,) = insert_events(late, 1)
        late.commit()
        assert once(database_url).sent == 1
        early.commit()
    assert once(database_url).sent == 1
    seqs = dict(conn.execute("SELECT event_id, event_seq FROM event_outbox").fetchall())
    assert seqs[early_id] < seqs[late_id]
    assert {r[0] for r in conn.execute("SELECT event_ref FROM iu_tree_change_log")} == {early_id, late_id}


@pytest.mark.foreign_events  # a malformed event, on purpose
def test_malformed_event_dead_letters_at_once_and_holds_only_its_iu(
    conn: psycopg.Connection[Any], database_url: str, cli: Any
) -> None:
    make_live(conn)
    bad_iu, good_iu = uuid.uuid4(), uuid.uuid4()
    insert_events(conn, 2, [bad_iu])
    (poison,) = insert_events(
        conn, 1, [bad_iu], payload={"event_type": "structure_op_applied", "iu_id": "nope"}
    )
    after_bad = insert_events(conn, 3, [bad_iu])
    insert_events(conn, 10, [good_iu])
    stats = once(database_url)
    assert stats.sent == 12 and stats.dead == 1
    assert states(conn) == {"sent": 12, "dead": 1, "held": 3}
    reason = scalar(conn, "SELECT reason FROM iu_route_dead_letter WHERE event_ref = %s", (poison,))
    assert "iu_id is missing or not a uuid" in reason
    listed = cli("deliveries", "list", "--state", "held", "--json")
    assert listed.returncode == 0, listed.stderr
    assert '"held"' in listed.stdout and str(after_bad[0]) in listed.stdout
    # discarding the dead letter lets the held events go, in order
    discarded = cli("dead-letters", "discard", "--route", STRUCTURE_ROUTE, "--reason", "bad payload")
    assert discarded.returncode == 0, discarded.stderr
    assert once(database_url).sent == 3
    assert states(conn) == {"sent": 15, "discarded": 1}
    order = [
        r[0]
        for r in conn.execute(
            "SELECT l.event_ref FROM iu_tree_change_log l WHERE l.iu_id = %s ORDER BY l.change_id", (bad_iu,)
        )
    ]
    assert order[-3:] == after_bad
    assert scalar(conn, "SELECT resolution_note FROM iu_route_dead_letter") == "bad payload"


# ----------------------------------------------------------------------------- Python-dispatched kinds
def test_retries_hold_the_iu_then_dead_letter_then_replay_delivers_in_order(
    conn: psycopg.Connection[Any], database_url: str, cli: Any
) -> None:
    route = add_vector_route(
        conn, max_attempts=3, base_delay_ms=1, max_delay_ms=5, circuit_failure_threshold=100
    )
    slow_iu, other_iu = uuid.uuid4(), uuid.uuid4()
    slow = insert_events(conn, 4, [slow_iu])
    others = insert_events(conn, 6, [other_iu])
    target = ScriptedTarget()
    target.failing.add(str(slow[1]))
    for _ in range(20):
        run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
        if states(conn, route).get("dead"):
            break
        time.sleep(0.01)
    assert states(conn, route) == {"sent": 7, "dead": 1, "held": 2}
    order = target.delivered_order()
    # the failing event was tried exactly max_attempts times, with the same idempotency key
    assert order.count(str(slow[1])) == 3
    assert {key for ref, key in target.calls if ref == str(slow[1])} == {f"{route}:{slow[1]}"}
    # nothing after it on its IU was delivered; the other IU flowed, in order
    assert str(slow[2]) not in order and str(slow[3]) not in order
    assert [e for e in order if e in {str(x) for x in others}] == [str(x) for x in others]
    attempts = conn.execute(
        "SELECT attempt_no, status FROM iu_route_attempt WHERE event_ref = %s ORDER BY attempt_no", (slow[1],)
    ).fetchall()
    assert attempts == [(1, "failed"), (2, "failed"), (3, "failed")]
    # replay after the target recovers: delivered, then the held events, in order
    target.failing.clear()
    replayed = cli("dead-letters", "replay", "--all", "--reason", "target fixed", "--json")
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["count"] == 1
    for _ in range(10):
        run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
        if states(conn, route) == {"sent": 10}:
            break
    assert states(conn, route) == {"sent": 10}
    slow_order = [e for e in target.delivered_order() if e in {str(x) for x in slow}]
    assert slow_order[-3:] == [str(slow[1]), str(slow[2]), str(slow[3])]
    # attempt numbers go on after the replay
    assert scalar(conn, "SELECT max(attempt_no) FROM iu_route_attempt WHERE event_ref = %s", (slow[1],)) == 4


def test_relaxed_policy_lets_later_events_pass_a_dead_letter(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    route = add_vector_route(conn, max_attempts=1, ordering_policy="relaxed", circuit_failure_threshold=100)
    iu = uuid.uuid4()
    events = insert_events(conn, 3, [iu])
    target = ScriptedTarget()
    target.failing.add(str(events[0]))
    for _ in range(5):
        run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert states(conn, route) == {"dead": 1, "sent": 2}


def test_a_target_refusing_its_ref_is_a_dead_letter_and_workflow_noop_is_skipped(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    add_route(conn, "rep", kind="report", ref="weekly", live=True)
    make_live(conn, STRUCTURE_ROUTE, kind="workflow", ref="event_outbox")
    insert_events(conn, 3, [uuid.uuid4() for _ in range(3)])
    stats = once(database_url)
    assert stats.skipped == 3 and stats.dead == 3
    assert states(conn, "rep") == {"dead": 3}
    assert states(conn, STRUCTURE_ROUTE) == {"skipped": 3}
    reasons = {r[0] for r in conn.execute("SELECT reason FROM iu_route_dead_letter")}
    # Every kind is built now; a ref its target refuses is a permanent failure, with the reason.
    assert len(reasons) == 1 and "a report target_ref is 'table' or 'dir:" in reasons.pop()
    assert scalar(conn, "SELECT count(*) FROM iu_route_attempt WHERE status = 'skipped'") == 3


def test_a_worker_that_lost_its_lease_cannot_record_a_late_result(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    from iu_core.worker import store

    route = add_vector_route(conn)
    insert_events(conn, 1)
    with (
        psycopg.connect(database_url, autocommit=True) as a,
        psycopg.connect(database_url, autocommit=True) as b,
    ):
        (first,) = store.claim(a, route, 10, "worker-a", 0.2)
        time.sleep(1.3)  # the lease (at least 1 s) expires
        (second,) = store.claim(b, route, 10, "worker-b", 60)
        assert second.delivery_id == first.delivery_id and second.lease_token != first.lease_token
        assert second.attempt_no == 2
        late = store.Result(
            route,
            first.delivery_id,
            first.attempt_no,
            first.lease_token,
            "sent",
            {},
            first.occurred_at,
            first.occurred_at,
        )
        assert store.record(a, route, [late]).fenced == 1
        assert states(conn, route) == {"inflight": 1}
        now_ = second.occurred_at
        ok = store.Result(
            route, second.delivery_id, second.attempt_no, second.lease_token, "sent", {}, now_, now_
        )
        assert store.record(b, route, [ok]).sent == 1
    assert states(conn, route) == {"sent": 1}
    attempts = conn.execute(
        "SELECT attempt_no, status, detail ->> 'lease_expired' FROM iu_route_attempt ORDER BY attempt_no"
    ).fetchall()
    assert attempts == [(1, "failed", "true"), (2, "sent", None)]


@pytest.mark.slow
def test_circuit_opens_after_consecutive_failures_and_a_probe_closes_it(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    route = add_vector_route(
        conn,
        max_attempts=50,
        base_delay_ms=0,
        max_delay_ms=0,
        circuit_failure_threshold=3,
        circuit_cooldown_s=2,
    )
    insert_events(conn, 10, [uuid.uuid4() for _ in range(10)])
    target = ScriptedTarget()
    target.failing.add("*")
    run_worker(database_url, WorkerConfig(batch_size=3), once=True, targets={"vector": target})
    (row,) = [r for r in status_ops.status(conn)["routes"] if r["route_code"] == route]
    assert row["circuit"] == "open" and row["consecutive_failures"] == 3
    tried = len(target.calls)
    run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert len(target.calls) == tried  # open: nothing claimed, no attempts burnt
    target.failing.clear()
    time.sleep(2.1)
    for _ in range(5):
        run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert states(conn, route) == {"sent": 10}
    assert (
        scalar(conn, "SELECT consecutive_failures FROM iu_route_circuit WHERE route_code = %s", (route,)) == 0
    )


def test_disable_route_outcome_disables_the_route(conn: psycopg.Connection[Any], database_url: str) -> None:
    route = add_vector_route(conn)
    insert_events(conn, 3, [uuid.uuid4()])
    target = ScriptedTarget()
    target.failing.add("*")
    target.detail = {"disable_route": True, "reason": "HTTP 410 Gone"}
    once_stats = run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert once_stats.retrying == 1
    enabled, why = conn.execute(
        "SELECT enabled, disabled_reason FROM iu_outbound_route WHERE route_code = %s", (route,)
    ).fetchone() or (None, None)
    assert enabled is False and why == "HTTP 410 Gone"
    run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert len(target.calls) == 1  # a disabled route is not claimed


# ----------------------------------------------------------------------------- running worker
def test_gate_closed_mid_run_pauses_and_reopening_resumes(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    make_live(conn)
    with running_worker(database_url, poll_interval=0.2):
        insert_events(conn, 20)
        assert wait_until(lambda: projection_count(conn) == 20, 20)
        set_gate(conn, False)
        time.sleep(0.3)
        insert_events(conn, 15)
        time.sleep(1.0)
        assert projection_count(conn) == 20
        assert states(conn) == {"sent": 20, "pending": 15}
        set_gate(conn, True)
        assert wait_until(lambda: projection_count(conn) == 35, 20)
    assert scalar(conn, "SELECT count(*) FROM iu_route_dead_letter") == 0
    assert scalar(conn, "SELECT count(*) FROM iu_route_attempt WHERE status <> 'sent'") == 0


def test_notification_wakes_an_idle_worker_well_before_the_poll_interval(
    conn: psycopg.Connection[Any], database_url: str
) -> None:
    make_live(conn)
    with running_worker(database_url, poll_interval=10):
        time.sleep(1.0)  # idle, listening
        latencies = []
        for _ in range(3):
            before = projection_count(conn)
            t0 = time.monotonic()
            insert_events(conn, 1)
            assert wait_until(lambda b=before: projection_count(conn) == b + 1, 8, 0.005)
            latencies.append(time.monotonic() - t0)
    assert max(latencies) < 2.0, latencies


# ----------------------------------------------------------------------------- the claim's plan
def _plan_nodes(node: dict[str, Any]) -> list[dict[str, Any]]:
    return [node, *(n for child in node.get("Plans", []) for n in _plan_nodes(child))]


def _log_plans(conn: psycopg.Connection[Any], *, fmt: str = "json", analyze: bool = False) -> list[str]:
    """From now on, every statement's plan (nested ones too) arrives in the returned list."""
    conn.execute("LOAD 'auto_explain'")
    for setting, value in (
        ("log_min_duration", "0"),
        ("log_nested_statements", "on"),
        ("log_analyze", "on" if analyze else "off"),
        ("log_format", fmt),
        ("log_level", "notice"),
    ):
        conn.execute(f"SET auto_explain.{setting} = '{value}'")
    conn.execute("SET client_min_messages = 'notice'")
    messages: list[str] = []
    conn.add_notice_handler(lambda diag: messages.append(diag.message_primary or ""))
    return messages


def _json_plans(messages: list[str]) -> list[dict[str, Any]]:
    return [json.loads(m[m.index("{") :])["Plan"] for m in messages if '"Plan"' in m]


@pytest.mark.slow
def test_claim_stays_on_the_partial_index(conn: psycopg.Connection[Any], database_url: str) -> None:
    make_live(conn)
    insert_events(conn, 20000, [uuid.uuid4() for _ in range(50)])
    conn.execute("UPDATE iu_delivery SET state = 'sent' WHERE delivery_id % 3 = 0")  # history
    conn.execute("ANALYZE iu_delivery")
    plans = _log_plans(conn)
    conn.execute("SELECT * FROM fn_iu_worker_deliver_sql_batch(%s, 100)", (STRUCTURE_ROUTE,))
    claim_plans = [p for p in plans if "FOR UPDATE SKIP LOCKED" in p and "LIMIT p_limit" in p]
    assert claim_plans, "the claim statement's plan was not seen"
    plan = claim_plans[0]
    assert "iu_delivery_claim_idx" in plan  # the claim itself
    assert "iu_delivery_stream_idx" in plan  # the ordering check, per claimed stream
    assert '"Seq Scan"' not in plan


def test_every_statement_of_a_batch_costs_the_batch_not_the_backlog(conn: psycopg.Connection[Any]) -> None:
    """No statement of the batch hashes or scans the backlog, or joins two of its own row sets pairwise.

    Checked on the plans PostgreSQL caches after five calls (generic plans,
    which do not know how many ids a batch's arrays hold) as well as the first
    ones: a scan of iu_delivery, or a nested loop over two CTE scans, makes a
    500-event batch cost the backlog or the batch squared.
    """
    make_live(conn)
    insert_events(conn, 4000, [uuid.uuid4() for _ in range(400)])
    conn.execute("ANALYZE iu_delivery")
    messages = _log_plans(conn)
    for _ in range(8):
        row = conn.execute("SELECT sent FROM fn_iu_worker_deliver_sql_batch(%s, 200)", (STRUCTURE_ROUTE,))
        assert row.fetchone() == (200,)
    plans = _json_plans(messages)
    assert len(plans) > 8 * 5
    for plan in plans:
        for node in _plan_nodes(plan):
            assert not (node["Node Type"] == "Seq Scan" and node.get("Relation Name") == "iu_delivery"), plan
            kids = node.get("Plans", [])
            assert not (
                node["Node Type"] == "Nested Loop"
                and len(kids) == 2
                and all(k["Node Type"] == "CTE Scan" for k in kids)
            ), plan


@pytest.mark.slow
def test_releasing_held_deliveries_costs_the_released_streams_not_every_held_row(
    conn: psycopg.Connection[Any],
) -> None:
    """Several workers hold thousands of rows; a record releases its streams' next heads by key.

    The statistics are taken while nothing is held (as on a route that was
    quiet), so the planner expects one held row: a join of the held rows with
    the next heads would loop over all of them once per row.
    """
    make_live(conn)
    streams = [uuid.uuid4() for _ in range(400)]
    insert_events(conn, 4000, streams)
    conn.execute("ANALYZE iu_delivery")
    conn.execute(
        "UPDATE iu_delivery d SET state = 'held' WHERE d.route_code = %s AND d.event_seq > "
        "(SELECT min(e.event_seq) FROM iu_delivery e WHERE e.route_code = d.route_code "
        "AND e.aggregate_id = d.aggregate_id)",
        (STRUCTURE_ROUTE,),
    )
    held = scalar(conn, "SELECT count(*) FROM iu_delivery WHERE state = 'held'")
    assert held == 3600
    messages = _log_plans(conn, analyze=True)
    released = scalar(
        conn, "SELECT fn_iu_worker_release_held(%s, %s::uuid[])", (STRUCTURE_ROUTE, streams[:50])
    )
    assert released == 50  # one next head per stream
    plans = _json_plans(messages)
    rows_read = sum(
        node.get("Actual Rows", 0) * node.get("Actual Loops", 1)
        for plan in plans
        for node in _plan_nodes(plan)
        if node.get("Relation Name") == "iu_delivery"
    )
    assert rows_read < 2000, rows_read  # 50 streams x 9 held, read about twice; not held x streams


# ----------------------------------------------------------------------------- operator commands
def test_route_added_later_gets_later_events_until_backfilled(
    conn: psycopg.Connection[Any], cli: Any
) -> None:
    insert_events(conn, 4)
    add_route(conn, "late", kind="report", ref="r")
    insert_events(conn, 2)
    assert states(conn, "late") == {"pending": 2}
    done = cli("route", "backfill", "late", "--json")
    assert done.returncode == 0, done.stderr
    assert '"added": 4' in done.stdout
    assert states(conn, "late") == {"pending": 6}
    again = cli("route", "backfill", "late", "--since", "2000-01-01")
    assert again.returncode == 0 and "no older events to deliver; nothing changed" in again.stdout
    unknown = cli("route", "backfill", "nope")
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "no such route: nope" in unknown.stderr
    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "CLOSED" in status.stdout and "late" in status.stdout
    bad = cli("dead-letters", "replay")
    assert bad.returncode == 1 and "choose exactly one" in bad.stderr
    missing = cli("dead-letters", "discard", "999", "--reason", "x")
    assert missing.returncode == 1 and "no dead letter with id 999" in missing.stderr


def test_worker_flags_have_env_fallbacks_shown_in_help(conn: psycopg.Connection[Any], cli: Any) -> None:
    shown = cli("worker", "--help")
    assert shown.returncode == 0
    for env in ("CONCURRENCY", "BATCH_SIZE", "POLL_INTERVAL", "ROUTES", "ONCE"):
        assert f"IU_CORE_WORKER_{env}" in shown.stdout
    insert_events(conn, 3)
    ran = cli("worker", "--json", env={"IU_CORE_WORKER_ONCE": "1", "IU_CORE_WORKER_ROUTES": DEPRECATED_ROUTE})
    assert ran.returncode == 0, ran.stderr
    assert '"decided": 0' in ran.stdout  # only the other route was worked on
    assert states(conn) == {"pending": 3}


@pytest.mark.parametrize("durable", [False, True])
def test_a_sql_batch_commits_without_waiting_for_the_flush_unless_durable(
    conn: psycopg.Connection[Any], database_url: str, durable: bool
) -> None:
    """The batch's transaction alone says synchronous_commit = off; a durable worker leaves it as it was."""
    make_live(conn)
    insert_events(conn, 5)
    with psycopg.connect(database_url) as batch_conn:  # one explicit transaction, to look inside it
        batch_conn.execute("SET synchronous_commit = on")  # the session's own (the test server's is off)
        batch_conn.commit()
        done = store.deliver_sql_batch(batch_conn, STRUCTURE_ROUTE, 500, durable=durable)
        assert done.sent == 5
        assert scalar(batch_conn, "SHOW synchronous_commit") == ("on" if durable else "off")
        batch_conn.commit()
        assert scalar(batch_conn, "SHOW synchronous_commit") == "on"  # the next transaction: as before
    assert projection_count(conn) == 5 and states(conn) == {"sent": 5}
    shown = invoke(database_url, "worker", "--help").stdout
    assert "--durable-sql-commits" in shown and "IU_CORE_WORKER_DURABLE_SQL_COMMITS" in shown


def test_route_rate_limit_paces_deliveries(conn: psycopg.Connection[Any], database_url: str) -> None:
    route = add_vector_route(conn, rate_limit_per_s=2)
    insert_events(conn, 20, [uuid.uuid4() for _ in range(20)])
    target = ScriptedTarget()
    with running_worker(database_url, poll_interval=0.05, targets={"vector": target}):
        time.sleep(1.0)
        early = len(target.calls)
    assert 1 <= early <= 5  # a burst of 2, then 2 per second
    assert states(conn, route).get("pending", 0) >= 15


def test_worker_on_an_unmigrated_database_is_one_clear_error(empty_database_url: str) -> None:
    from tests.conftest import run_iu_core

    ran = run_iu_core(["worker", "--once"], database_url=empty_database_url)
    assert ran.returncode == 1
    assert "error: database not migrated: run iu-core db migrate" in ran.stderr
    assert "Traceback" not in ran.stderr
