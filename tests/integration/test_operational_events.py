"""Operational events: a disabled route, a circuit, a dead letter and the gate become outbox events.

They are written in the happening's own transaction, so routes subscribe to
them like to any other event (the gate, the allowlist and dry-run apply), and
a route that carries them never writes one about itself (no loops).
"""

from __future__ import annotations

import re
import shlex
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from iu_core.worker import WorkerConfig, run_worker
from tests.integration.test_worker_delivery import ScriptedTarget, add_vector_route
from tests.support.routes import add_route, set_gate
from tests.support.worker import insert_events, once, scalar, states

Conn = psycopg.Connection[Any]


def events(conn: Conn, event_type: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT payload FROM event_outbox WHERE event_type = %s ORDER BY event_seq", (event_type,)
    ).fetchall()
    return [r[0] for r in rows]


def add_failing_report_route(
    conn: Conn, code: str = "rep", event_type: str = "structure_op_applied", **policy: Any
) -> str:
    """A live report route whose ref its target refuses: every delivery is a dead letter at once."""
    return add_route(conn, code, kind="report", ref="weekly", event_type=event_type, live=True, **policy)


def test_a_route_subscribed_to_dead_letters_gets_one_event_per_new_dead_letter(
    conn: Conn, database_url: str
) -> None:
    add_failing_report_route(conn)
    add_route(conn, "alerts", kind="workflow", ref="event_outbox", event_type="iu_dead_lettered", live=True)
    failed = insert_events(conn, 3, [uuid.uuid4() for _ in range(3)])
    stats = once(database_url)
    assert stats.dead == 3
    letters = {
        r[0]: (r[1], r[2], r[3])
        for r in conn.execute("SELECT dead_letter_id, event_ref, reason, attempts FROM iu_route_dead_letter")
    }
    written = events(conn, "iu_dead_lettered")
    assert len(written) == 3
    for payload in written:
        event_id, reason, attempts = letters[payload["dead_letter_id"]]
        assert payload == {
            "schema_version": "1.0",
            "route_code": "rep",
            "dead_letter_id": payload["dead_letter_id"],
            "event_id": str(event_id),
            "reason": reason,
            "attempts": attempts,
        }
    assert {p["event_id"] for p in written} == {str(e) for e in failed}
    assert {p["dead_letter_id"] for p in written} == set(letters)
    # The subscriber got exactly one delivery per dead letter, and it went out.
    once(database_url)
    assert states(conn, "alerts") == {"skipped": 3}  # the workflow no-op reference: delivered, nothing to run
    # Nothing new dead: nothing new written.
    once(database_url)
    assert len(events(conn, "iu_dead_lettered")) == 3


def test_a_route_carrying_operational_events_writes_none_about_itself(conn: Conn, database_url: str) -> None:
    add_failing_report_route(conn)
    # The alert route's own target refuses too: its deliveries dead-letter.
    add_failing_report_route(conn, "alerts", event_type="iu_dead_lettered", ordering_policy="relaxed")
    insert_events(conn, 2, [uuid.uuid4(), uuid.uuid4()])
    for _ in range(4):
        once(database_url)
    assert states(conn, "rep") == {"dead": 2}
    assert states(conn, "alerts") == {"dead": 2}  # each dead-lettered too
    written = events(conn, "iu_dead_lettered")
    assert [p["route_code"] for p in written] == ["rep", "rep"]  # none about 'alerts': no loop
    assert scalar(conn, "SELECT count(*) FROM iu_delivery WHERE route_code = 'alerts'") == 2


def test_a_dry_run_route_records_operational_events_and_delivers_nothing(
    conn: Conn, database_url: str
) -> None:
    add_failing_report_route(conn)
    add_route(conn, "alerts-dry", kind="workflow", ref="event_outbox", event_type="iu_dead_lettered")
    insert_events(conn, 2, [uuid.uuid4(), uuid.uuid4()])
    once(database_url)
    once(database_url)
    decided = conn.execute(
        "SELECT count(*) FROM iu_route_decision WHERE route_code = 'alerts-dry'"
    ).fetchone()
    assert decided == (2,)
    assert scalar(conn, "SELECT count(*) FROM iu_route_attempt WHERE route_code = 'alerts-dry'") == 0


def test_a_route_disabled_by_410_or_by_the_operator_writes_one_event(
    conn: Conn, database_url: str, cli: Any
) -> None:
    route = add_vector_route(conn)
    insert_events(conn, 3, [uuid.uuid4()])
    target = ScriptedTarget()
    target.failing.add("*")
    target.detail = {"disable_route": True, "reason": "HTTP 410 Gone"}
    run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert events(conn, "iu_route_disabled") == [
        {"schema_version": "1.0", "route_code": route, "reason": "HTTP 410 Gone", "by": "iu-core worker"}
    ]
    # Disabling a disabled route writes nothing; enabling then disabling writes one.
    assert cli("--actor", "olga", "route", "disable", route, "--reason", "again").returncode == 0
    assert len(events(conn, "iu_route_disabled")) == 1
    assert cli("route", "enable", route).returncode == 0
    assert cli("--actor", "olga", "route", "disable", route, "--reason", "maintenance").returncode == 0
    assert events(conn, "iu_route_disabled")[1:] == [
        {"schema_version": "1.0", "route_code": route, "reason": "maintenance", "by": "olga"}
    ]
    row = conn.execute(
        "SELECT aggregate_type, aggregate_id = md5('iu_outbound_route:' || %s)::uuid FROM event_outbox "
        "WHERE event_type = 'iu_route_disabled' LIMIT 1",
        (route,),
    ).fetchone()
    assert row == ("iu_outbound_route", True)


def test_a_route_failing_too_long_writes_one_disabled_event(conn: Conn) -> None:
    route = add_vector_route(conn, disable_after_failing_hours=1)
    conn.execute(
        "UPDATE iu_outbound_route SET updated_at = now() - interval '3 hours' WHERE route_code = %s", (route,)
    )
    conn.execute(
        "INSERT INTO iu_route_circuit (route_code, consecutive_failures, failing_since) "
        "VALUES (%s, 9, now() - interval '2 hours')",
        (route,),
    )
    reason = scalar(conn, "SELECT fn_iu_worker_disable_failing(%s)", (route,))
    assert reason and reason.startswith("disabled automatically")
    assert events(conn, "iu_route_disabled") == [
        {"schema_version": "1.0", "route_code": route, "reason": reason, "by": "iu-core worker"}
    ]


def test_a_circuit_writes_one_opened_and_one_closed_event(conn: Conn, database_url: str) -> None:
    route = add_vector_route(
        conn,
        max_attempts=50,
        base_delay_ms=0,
        max_delay_ms=0,
        circuit_failure_threshold=3,
        circuit_cooldown_s=1,
    )
    insert_events(conn, 6, [uuid.uuid4() for _ in range(6)])
    target = ScriptedTarget()
    target.failing.add("*")
    run_worker(database_url, WorkerConfig(batch_size=3), once=True, targets={"vector": target})
    run_worker(
        database_url, WorkerConfig(batch_size=3), once=True, targets={"vector": target}
    )  # open: nothing
    (opened,) = events(conn, "iu_circuit_opened")
    assert opened["route_code"] == route and opened["failures"] == 3 and opened["until"]
    assert events(conn, "iu_circuit_closed") == []
    target.failing.clear()
    time.sleep(1.1)
    for _ in range(4):
        run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert states(conn, route) == {"sent": 6}
    assert events(conn, "iu_circuit_closed") == [
        {"schema_version": "1.0", "route_code": route, "failures": 0, "until": None}
    ]
    assert len(events(conn, "iu_circuit_opened")) == 1


def test_a_route_carrying_operational_events_writes_no_circuit_event(conn: Conn, database_url: str) -> None:
    route = add_route(
        conn,
        "alerts",
        kind="vector",
        ref="test-index",
        event_type="iu_gate_closed",
        live=True,
        max_attempts=50,
        base_delay_ms=0,
        max_delay_ms=0,
        circuit_failure_threshold=1,
    )
    conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload) "
        "VALUES ('iu_gate_closed', 'dot_config', %s, '{\"schema_version\": \"1.0\", \"by\": \"olga\"}')",
        (uuid.uuid4(),),
    )
    target = ScriptedTarget()
    target.failing.add("*")
    run_worker(database_url, WorkerConfig(), once=True, targets={"vector": target})
    assert scalar(conn, "SELECT open_until IS NOT NULL FROM iu_route_circuit WHERE route_code = %s", (route,))
    assert events(conn, "iu_circuit_opened") == []


def test_the_gate_writes_one_event_per_change(conn: Conn, cli: Any) -> None:
    before = scalar(conn, "SELECT count(*) FROM event_outbox")
    assert cli("--actor", "olga", "gate", "open").returncode == 0
    assert cli("--actor", "olga", "gate", "open").returncode == 0  # already open: nothing changes
    set_gate(conn, True)  # plain SQL, same value: nothing
    assert cli("--actor", "ivan", "gate", "close").returncode == 0
    assert events(conn, "iu_gate_opened") == [{"schema_version": "1.0", "by": "olga"}]
    assert events(conn, "iu_gate_closed") == [{"schema_version": "1.0", "by": "ivan"}]
    assert scalar(conn, "SELECT count(*) FROM event_outbox") == before + 2
    set_gate(conn, True)  # by plain SQL too
    assert len(events(conn, "iu_gate_opened")) == 2


def test_a_gate_event_is_routed_to_its_subscriber(conn: Conn, cli: Any) -> None:
    add_route(conn, "gate-watch", kind="workflow", ref="event_outbox", event_type="iu_gate_closed")
    assert cli("gate", "open").returncode == 0
    assert cli("gate", "close").returncode == 0
    assert scalar(conn, "SELECT count(*) FROM iu_delivery WHERE route_code = 'gate-watch'") == 1


def test_route_add_knows_the_operational_event_types(cli: Any) -> None:
    for event_type in ("iu_dead_lettered", "iu_route_disabled", "iu_circuit_opened", "iu_gate_closed"):
        result = cli(
            "route",
            "add",
            f"watch-{event_type}",
            "--event-type",
            event_type,
            "--target-kind",
            "workflow",
            "--target-ref",
            "event_outbox",
        )
        assert result.returncode == 0, result.stderr
    bad = cli(
        "route",
        "add",
        "w",
        "--event-type",
        "iu_gate_wobbled",
        "--target-kind",
        "workflow",
        "--target-ref",
        "event_outbox",
    )
    assert bad.returncode != 0 and "unknown event type 'iu_gate_wobbled'" in bad.stderr


def test_the_commands_of_the_worker_page_section_run(conn: Conn, cli: Any) -> None:
    text = (Path(__file__).parents[2] / "docs" / "worker.md").read_text(encoding="utf-8")
    block = re.search(r"```sh\n(.*?)```", text[text.index("## Operational events") :], flags=re.DOTALL)
    assert block
    commands = [shlex.split(line)[1:] for line in block.group(1).splitlines() if line.startswith("iu-core ")]
    assert len(commands) == 2
    for command in commands:
        result = cli(*command)
        assert result.returncode == 0, result.stderr
    assert "iu_dead_lettered" in result.stdout
    assert scalar(
        conn, "SELECT event_type FROM iu_outbound_route WHERE route_code = 'dead-letter-alerts'"
    ) == ("iu_dead_lettered")


def test_a_gate_closed_event_waits_for_the_gate_like_any_event(
    conn: Conn, database_url: str, cli: Any
) -> None:
    add_route(conn, "gate-watch", kind="workflow", ref="event_outbox", event_type="iu_gate_closed", live=True)
    assert cli("gate", "close").returncode == 0
    once(database_url)
    assert states(conn, "gate-watch") == {"pending": 1}  # the gate is closed: nothing goes out
    assert cli("gate", "open").returncode == 0
    once(database_url)
    assert states(conn, "gate-watch") == {"skipped": 1}  # delivered (the workflow no-op reference)
