"""Every worker service survives an exception it did not expect: logs one line, counts it, goes on."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.metrics import REGISTRY
from iu_core.worker import WorkerConfig, service_loop
from iu_core.worker import completer as completer_module
from iu_core.worker import store as worker_store
from iu_core.worker.scheduler import Scheduler
from iu_core.worker.supervisor import Worker
from tests.support.routes import add_route, make_live
from tests.support.worker import insert_events, projection_count, running_worker, states, wait_until

Conn = psycopg.Connection[Any]


def errors(service: str) -> float:
    return REGISTRY.get_sample_value("iu_worker_service_errors_total", {"service": service}) or 0.0


class FailFirst:
    """Calls ``real``, except the first ``times`` calls, which raise ``exc``."""

    def __init__(self, real: Callable[..., Any], exc: Exception, times: int = 1) -> None:
        self.real, self.exc, self.times = real, exc, times
        self.calls = 0
        self.lock = threading.Lock()

    def __get__(self, obj: object, _owner: type | None = None) -> Any:
        return self if obj is None else functools.partial(self, obj)  # also a method

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.calls += 1
            failing = self.calls <= self.times
        if failing:
            raise self.exc
        return self.real(*args, **kwargs)


class Sent:
    def deliver(self, request: DeliveryRequest) -> DeliveryOutcome:
        return DeliveryOutcome(status="sent", delivered=True, target_kind=request.target_kind, detail={})


def _live_vector_route(conn: Conn) -> None:
    """A live route of kind 'vector'; given a target of that kind, the worker sends it from its pool."""
    add_route(conn, "vec", kind="vector", ref="test-index", live=True)


@pytest.fixture(autouse=True)
def _fresh_log_throttle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service_loop, "_last_logged", {})


def _one_line_logged(caplog: pytest.LogCaptureFixture, service: str, kind: str) -> None:
    lines = [
        r for r in caplog.records if r.levelno == logging.ERROR and f"service={service}" in r.getMessage()
    ]
    (line,) = [r for r in lines if f"survived {kind}" in r.getMessage()]
    assert "\n" not in line.getMessage()
    assert line.exc_info is None  # no traceback at ERROR


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_the_rescuer_survives_and_keeps_sweeping(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The retention setting that used to kill the rescuer thread for good raised OverflowError in
    # the pruner; any exception there (or in the sweep) must leave the other duties running.
    def overflow(_self: Any, _conn: Any) -> None:
        raise OverflowError("date value out of range")

    monkeypatch.setattr("iu_core.worker.rescuer.Pruner.run_due", overflow)
    sweep = FailFirst(worker_store.sweep, RuntimeError("injected"))
    monkeypatch.setattr(worker_store, "sweep", sweep)
    before = errors("rescuer")
    with (
        caplog.at_level(logging.ERROR, "iu_core.worker"),
        running_worker(database_url, sweep_interval_s=0.05),
    ):
        assert wait_until(lambda: sweep.calls >= 4, 20), sweep.calls  # it went on after the failure
        assert errors("rescuer") >= before + 2  # the sweep once, the pruner at least once
    _one_line_logged(caplog, "rescuer", "OverflowError")


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_a_statement_the_database_refuses_backs_off_its_duty_alone(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"prune": 0}

    def refused(_self: Any, _conn: Any) -> None:
        calls["prune"] += 1
        raise psycopg.errors.DatetimeFieldOverflow("timestamp out of range")

    monkeypatch.setattr("iu_core.worker.rescuer.Pruner.run_due", refused)
    sweep = FailFirst(worker_store.sweep, RuntimeError("injected"), times=0)
    monkeypatch.setattr(worker_store, "sweep", sweep)
    before = errors("rescuer")
    with running_worker(database_url, sweep_interval_s=0.05):
        assert wait_until(lambda: sweep.calls >= 8, 20), sweep.calls
    assert errors("rescuer") >= before + 1
    assert 1 <= calls["prune"] <= sweep.calls  # the refused duty never held the sweep back


@pytest.mark.timeout(60)
def test_the_scheduler_survives_a_round_that_raised(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Scheduler, "round", FailFirst(Scheduler.round, KeyError("injected")))
    make_live(conn)
    before = errors("scheduler")
    with caplog.at_level(logging.ERROR, "iu_core.worker"), running_worker(database_url, poll_interval=0.2):
        insert_events(conn, 3, [uuid.uuid4() for _ in range(3)])
        assert wait_until(lambda: projection_count(conn) == 3, 20)
    assert errors("scheduler") == before + 1
    _one_line_logged(caplog, "scheduler", "KeyError")


@pytest.mark.timeout(60)
def test_the_completer_survives_a_batch_that_raised(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    injected = FailFirst(completer_module.record_results, ValueError("injected"))
    monkeypatch.setattr(completer_module, "record_results", injected)
    _live_vector_route(conn)
    before = errors("completer")
    with (
        caplog.at_level(logging.ERROR, "iu_core.worker"),
        running_worker(database_url, poll_interval=0.2, targets={"vector": Sent()}),
    ):
        insert_events(conn, 1)
        assert wait_until(lambda: errors("completer") == before + 1, 20)
        insert_events(conn, 4, [uuid.uuid4() for _ in range(4)])
        assert wait_until(lambda: states(conn, "vec") == {"sent": 5}, 20), states(conn, "vec")
    # ... and the worker still drained and stopped (running_worker asserts it)
    _one_line_logged(caplog, "completer", "ValueError")


@pytest.mark.timeout(60)
def test_the_pool_dispatcher_survives_a_delivery_it_could_not_hand_on(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(
        completer_module.Completer, "put", FailFirst(completer_module.Completer.put, MemoryError("injected"))
    )
    _live_vector_route(conn)
    before = errors("pool_dispatcher")
    with (
        caplog.at_level(logging.ERROR, "iu_core.worker"),
        running_worker(database_url, poll_interval=0.2, targets={"vector": Sent()}),
    ):
        insert_events(conn, 1)
        assert wait_until(lambda: errors("pool_dispatcher") == before + 1, 20)
        insert_events(conn, 4, [uuid.uuid4() for _ in range(4)])
        # The first is left to its lease (redelivered when it expires); the others go through.
        assert wait_until(lambda: states(conn, "vec") == {"sent": 4, "inflight": 1}, 20), states(conn, "vec")
    _one_line_logged(caplog, "pool_dispatcher", "MemoryError")


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_the_notifier_survives_a_wake_up_that_raised(
    conn: Conn, database_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Worker, "_config_changed", FailFirst(Worker._config_changed, LookupError("injected")))
    make_live(conn)
    before = errors("notifier")
    with caplog.at_level(logging.ERROR, "iu_core.worker"), running_worker(database_url, poll_interval=30):
        assert wait_until(lambda: errors("notifier") == before + 1, 10)
        time.sleep(1.5)  # the notifier listens again after its back-off
        insert_events(conn, 1)
        # Woken by the notification, long before the 30 s poll.
        assert wait_until(lambda: projection_count(conn) == 1, 8)
    _one_line_logged(caplog, "notifier", "LookupError")


@pytest.mark.timeout(60)
def test_the_http_dispatcher_loop_survives_an_unhandled_exception(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    worker = Worker(database_url, WorkerConfig(poll_interval=0.2))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        assert wait_until(lambda: getattr(worker, "http", None) is not None, 10)
        loop = worker.http._loop
        before = errors("http_dispatcher")

        def boom() -> None:
            raise ZeroDivisionError("injected")

        with caplog.at_level(logging.ERROR, "iu_core.worker"):
            loop.call_soon_threadsafe(boom)
            assert wait_until(lambda: errors("http_dispatcher") == before + 1, 10)
        assert asyncio.run_coroutine_threadsafe(asyncio.sleep(0, result=42), loop).result(5) == 42
    finally:
        worker.stop()
        thread.join(30)
    assert not thread.is_alive()
    _one_line_logged(caplog, "http_dispatcher", "ZeroDivisionError")
