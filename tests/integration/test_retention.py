"""Retention against the real database: what is pruned, what never is, and the horizon."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import psycopg
import pytest
from psycopg import sql

from iu_core import retention
from iu_core.errors import IuCoreError
from tests.support.routes import add_route

# Its events are of made-up types ("t.retention"): what matters here is their age.
pytestmark = pytest.mark.foreign_events

DAYS_40 = dt.timedelta(days=40)


def _route(conn: psycopg.Connection[Any], code: str, event_type: str) -> None:
    add_route(conn, code, kind="workflow", ref="event_outbox", event_type=event_type)


def _event(conn: psycopg.Connection[Any], event_type: str, age: dt.timedelta) -> uuid.UUID:
    row = conn.execute(
        "INSERT INTO event_outbox (event_type, aggregate_type, aggregate_id, payload, occurred_at) "
        "VALUES (%s, 'information_unit', gen_random_uuid(), '{}', now() - %s) RETURNING event_id",
        (event_type, age),
    ).fetchone()
    assert row is not None
    return uuid.UUID(str(row[0]))


def _set(
    conn: psycopg.Connection[Any], event_id: uuid.UUID, state: str, finished_age: dt.timedelta | None
) -> None:
    conn.execute(
        "UPDATE iu_delivery SET state = %s, created_at = now() - interval '41 days', "
        "finished_at = CASE WHEN %s::interval IS NULL THEN NULL ELSE now() - %s::interval END "
        "WHERE event_id = %s",
        (state, finished_age, finished_age, event_id),
    )


def _attempt(conn: psycopg.Connection[Any], event_id: uuid.UUID, age: dt.timedelta) -> None:
    conn.execute(
        "INSERT INTO iu_route_attempt (route_code, event_ref, attempt_no, status, started_at, finished_at) "
        "VALUES ('r1', %s, 1, 'failed', now() - %s, now() - %s)",
        (event_id, age, age),
    )


def _dead_letter(conn: psycopg.Connection[Any], event_id: uuid.UUID, status: str) -> None:
    conn.execute(
        "INSERT INTO iu_route_dead_letter "
        "(route_code, event_ref, reason, attempts, status, created_at, resolved_at) "
        "VALUES ('r1', %s, 'x', 1, %s, now() - interval '120 days', "
        "        CASE WHEN %s = 'open' THEN NULL ELSE now() - interval '100 days' END)",
        (event_id, status, status),
    )


def _exists(conn: psycopg.Connection[Any], table: str, column: str, value: uuid.UUID) -> bool:
    row = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (value,)).fetchone()
    assert row is not None
    return int(row[0]) > 0


@pytest.fixture
def history(conn: psycopg.Connection[Any]) -> dict[str, uuid.UUID]:
    """Old events on route r1, one per delivery state, plus attempts, decisions, dead letters."""
    _route(conn, "r1", "t.retention")
    states: dict[str, tuple[str, dt.timedelta | None]] = {
        "sent_old": ("sent", DAYS_40),
        "sent_recent": ("sent", dt.timedelta(days=1)),
        "discarded_old": ("discarded", DAYS_40),
        "pending": ("pending", None),
        "inflight": ("inflight", None),
        "retrying": ("retrying", None),
        "held": ("held", None),
        "dead": ("dead", DAYS_40),
    }
    ids: dict[str, uuid.UUID] = {}
    for name, (state, finished) in states.items():
        ids[name] = _event(conn, "t.retention", dt.timedelta(days=41))
        _set(conn, ids[name], state, finished)
        _attempt(conn, ids[name], DAYS_40)
    ids["young"] = _event(conn, "t.retention", dt.timedelta(minutes=1))
    ids["no_route_old"] = _event(conn, "t.unrouted", DAYS_40)
    _dead_letter(conn, ids["dead"], "open")
    _dead_letter(conn, ids["discarded_old"], "discarded")
    conn.execute(
        "INSERT INTO iu_route_decision "
        "(route_code, event_ref, event_type, target_kind, target_ref, decided_at) "
        "VALUES ('r1', %s, 't.retention', 'workflow', 'event_outbox', now() - interval '40 days'), "
        "       ('r1', %s, 't.retention', 'workflow', 'event_outbox', now())",
        (ids["sent_old"], ids["young"]),
    )
    conn.execute(
        "INSERT INTO iu_tree_change_log "
        "(event_ref, event_type, iu_id, operation_type, delivered_by, delivered_at) "
        "VALUES (%s, 'structure_op_applied', gen_random_uuid(), 'autocut', 'test', "
        "        now() - interval '400 days')",
        (ids["sent_old"],),
    )
    return ids


def _counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    out = {}
    for table in [*(t.value for t in retention.HistoryTable), "iu_tree_change_log", "iu_structure_operation"]:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        out[table] = int(row[0])
    return out


def test_dry_run_counts_and_deletes_nothing(
    conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]
) -> None:
    before = _counts(conn)
    report = retention.prune(conn, dt.timedelta(days=30), dry_run=True, batch_size=3)
    assert _counts(conn) == before
    by_table = {t.table: t.pruned for t in report.tables}
    assert by_table == {
        retention.HistoryTable.EVENTS: 4,  # sent_old, sent_recent, discarded_old, no_route_old
        retention.HistoryTable.DELIVERIES: 2,  # sent_old, discarded_old
        retention.HistoryTable.ATTEMPTS: 3,  # of sent_old, sent_recent, discarded_old
        retention.HistoryTable.DECISIONS: 1,
        retention.HistoryTable.DEAD_LETTERS: 1,
    }
    assert report.horizon_at is None and report.horizon_seq == 0  # a dry run moves nothing


def test_prune_removes_finished_and_keeps_unfinished(
    conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]
) -> None:
    before = _counts(conn)
    report = retention.prune(conn, dt.timedelta(days=30), batch_size=2)
    assert report.complete and report.pruned == 11
    assert max(t.batches for t in report.tables) > 1  # really in batches
    ids = history
    for gone in ("sent_old", "sent_recent", "discarded_old", "no_route_old"):
        assert not _exists(conn, "event_outbox", "event_id", ids[gone]), gone
    for kept in ("pending", "inflight", "retrying", "held", "dead", "young"):
        assert _exists(conn, "event_outbox", "event_id", ids[kept]), kept
        assert _exists(conn, "iu_delivery", "event_id", ids[kept]), kept
    assert not _exists(conn, "iu_delivery", "event_id", ids["sent_old"])
    assert _exists(conn, "iu_delivery", "event_id", ids["sent_recent"])  # finished only a day ago
    for kept in ("pending", "inflight", "retrying", "held", "dead"):  # attempts of unfinished work stay
        assert _exists(conn, "iu_route_attempt", "event_ref", ids[kept]), kept
    after = _counts(conn)
    assert after["iu_tree_change_log"] == before["iu_tree_change_log"] == 1
    assert after["iu_structure_operation"] == before["iu_structure_operation"]
    assert after["iu_route_decision"] == 1
    row = conn.execute("SELECT status FROM iu_route_dead_letter").fetchall()
    assert row == [("open",)]
    horizon_at, horizon_seq = retention.horizon(conn)
    assert horizon_at is not None and horizon_at < dt.datetime.now(dt.UTC) - dt.timedelta(days=29)
    seq = conn.execute("SELECT max(event_seq) FROM event_outbox WHERE event_type = 't.unrouted'").fetchone()
    assert seq is not None and seq[0] is None  # pruned
    assert horizon_seq > 0
    # A second run finds nothing more, and records the run.
    again = retention.prune(conn, dt.timedelta(days=30))
    assert again.pruned == 0
    last = conn.execute("SELECT last_run_at, last_report FROM iu_retention_horizon").fetchone()
    assert last is not None and last[0] is not None and last[1]["pruned"] == 0


def test_per_table_settings_are_used_and_disabled_tables_skipped(
    conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]
) -> None:
    conn.execute(
        "UPDATE iu_retention_setting SET keep_for = interval '60 days' WHERE table_name = 'event_outbox'"
    )
    conn.execute("UPDATE iu_retention_setting SET enabled = false WHERE table_name = 'iu_route_attempt'")
    report = retention.prune(conn)
    tables = {t.table: t for t in report.tables}
    assert retention.HistoryTable.ATTEMPTS not in tables
    assert tables[retention.HistoryTable.EVENTS].pruned == 0  # 41 days < 60 days
    assert tables[retention.HistoryTable.DELIVERIES].pruned == 2
    assert tables[retention.HistoryTable.DEAD_LETTERS].pruned == 1  # resolved 100 days ago > 90


def test_prune_does_not_wait_for_the_workers_row_locks(
    conn: psycopg.Connection[Any], database_url: str, history: dict[str, uuid.UUID]
) -> None:
    # A worker's batch holds its claimed rows; pruning must neither wait for them nor take them.
    with psycopg.connect(database_url) as worker:
        worker.execute(
            "SELECT delivery_id FROM iu_delivery "
            "WHERE state IN ('pending', 'retrying', 'inflight') FOR UPDATE"
        )
        worker.execute("SELECT 1 FROM iu_route_circuit FOR UPDATE")
        conn.execute("SET lock_timeout = '2s'")
        report = retention.prune(conn, dt.timedelta(days=30), batch_size=2)
        assert report.pruned == 11
        worker.rollback()


def test_horizon_function_and_backfill(conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]) -> None:
    retention.prune(conn, dt.timedelta(days=30))
    row = conn.execute("SELECT horizon_at, horizon_seq FROM fn_iu_retention_horizon()").fetchone()
    assert row is not None and row[0] is not None and row[1] > 0
    source = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'fn_iu_worker_backfill'").fetchone()
    if source is None or "fn_iu_retention_horizon" not in source[0]:
        pytest.skip("backfill does not consult the retention horizon in this build")
    conn.execute("DELETE FROM iu_delivery WHERE route_code = 'r1'")  # as if a new route r1 came later
    added = conn.execute("SELECT fn_iu_worker_backfill('r1', NULL)").fetchone()
    assert added is not None and added[0] == 1  # only the young event: the rest is before the horizon


def test_pruner_runs_when_due_and_one_at_a_time(
    conn: psycopg.Connection[Any], database_url: str, history: dict[str, uuid.UUID]
) -> None:
    pruner = retention.Pruner(interval_s=3600, budget_s=5)
    report = pruner.run_due(conn)
    assert report is not None and report.complete and report.pruned > 0
    assert pruner.run_due(conn) is None  # not due again for an hour
    with psycopg.connect(database_url, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (retention.PRUNE_LOCK_KEY,))
        assert retention.Pruner().run_due(conn) is None  # another worker is pruning


def test_pruner_budget_resumes(conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]) -> None:
    pruner = retention.Pruner(interval_s=3600, budget_s=0.0, batch_size=1)
    first = pruner.run_due(conn)
    assert first is not None and not first.complete and first.pruned == 0
    pruner._next_at = 0.0
    pruner.budget_s = 5.0
    second = pruner.run_due(conn)
    assert second is not None and second.complete


def test_bad_ages_are_refused() -> None:
    assert retention.parse_age("30d") == dt.timedelta(days=30)
    assert retention.parse_age("2w") == dt.timedelta(weeks=2)
    for bad in ("30", "d", "5x", "30m", "-1d"):
        with pytest.raises(IuCoreError):
            retention.parse_age(bad)


def test_prune_cli(cli: Any, conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]) -> None:
    dry = cli("prune", "--older-than", "30d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True and data["pruned"] == 11
    done = cli("prune", "--older-than", "30d")
    assert done.returncode == 0, done.stderr
    assert "event_outbox" in done.stdout and "retention horizon" in done.stdout
    assert "scanned" in done.stderr  # progress
    bad = cli("prune", "--older-than", "30m")
    assert bad.returncode == 1 and bad.stderr.startswith("error:") and "Traceback" not in bad.stderr


def _drop_keep_for_check(conn: psycopg.Connection[Any]) -> None:
    """The range check on keep_for, removed: a database written before it existed."""
    (name,) = conn.execute(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'iu_retention_setting'::regclass "
        "AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%keep_for%'"
    ).fetchone() or (None,)
    assert name is not None
    conn.execute(sql.SQL("ALTER TABLE iu_retention_setting DROP CONSTRAINT {}").format(sql.Identifier(name)))


def test_a_keep_for_beyond_the_calendar_keeps_everything_and_raises_nothing(
    conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]
) -> None:
    with pytest.raises(psycopg.errors.CheckViolation):  # the settings refuse such an age ...
        conn.execute("UPDATE iu_retention_setting SET keep_for = interval '5000 years'")
    # ... and a database written before they did is pruned without an error all the same.
    _drop_keep_for_check(conn)
    conn.execute("UPDATE iu_retention_setting SET keep_for = interval '5000 years'")
    report = retention.Pruner(interval_s=3600, budget_s=5).run_due(conn)
    assert report is not None and report.complete and report.pruned == 0
    assert report.tables == ()  # no table has history older than year 1


def test_ages_beyond_the_calendar_are_one_error_line(
    cli: Any, conn: psycopg.Connection[Any], history: dict[str, uuid.UUID]
) -> None:
    for age in ("999999999d", "99999999999d"):
        result = cli("prune", "--older-than", age)
        assert result.returncode == 1, result.stdout
        assert result.stderr.startswith("error:") and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr and "too long" in result.stderr
    _drop_keep_for_check(conn)
    conn.execute("UPDATE iu_retention_setting SET keep_for = interval '5000 years'")
    by_settings = cli("prune", "--json")
    assert by_settings.returncode == 0 and "Traceback" not in by_settings.stderr, by_settings.stderr
    assert json.loads(by_settings.stdout)["pruned"] == 0
