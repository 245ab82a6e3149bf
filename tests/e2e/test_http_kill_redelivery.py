"""kill -9 after an HTTP request was sent but before its result was recorded.

The delivery's lease expires, another worker takes it over and sends it again
with the SAME ``webhook-id``; a receiver that de-duplicates on that id applies
the event once. This is the at-least-once contract of the HTTP kinds.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest
from bench.procs import die_with_parent
from standardwebhooks import Webhook

from tests.support.receivers import Receiver, Reply, add_route, outbox_structure_event, set_secret

pytestmark = pytest.mark.slow

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROUTE = "kill-hook"


def _worker(database_url: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IU_CORE_")}
    env["IU_CORE_DATABASE_URL"] = database_url
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "iu_core",
            "worker",
            "--routes",
            ROUTE,
            "--poll-interval",
            "0.2",
            "--lease-margin",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        preexec_fn=die_with_parent,  # SIGTERM when this test process dies
    )


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kill_9_mid_request_redelivers_with_the_same_webhook_id(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    with Receiver() as rx:
        # The first request is held open far longer than the worker lives.
        rx.script.append(Reply(delay_s=30))
        add_route(conn, ROUTE, rx.url, timeout_s=2, connect_timeout_s=1)
        set_secret(conn, ROUTE, SECRET)
        event_id = outbox_structure_event(conn)

        first = _worker(database_url)
        try:
            _wait(lambda: len(rx.seen) == 1, 30, "the first request")
            os.kill(first.pid, signal.SIGKILL)  # the request is out, its result never recorded
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        state = conn.execute("SELECT state FROM iu_delivery WHERE route_code = %s", (ROUTE,)).fetchone()
        assert state == ("inflight",)  # leased by the dead worker: nobody else may send it yet

        second = _worker(database_url)
        try:
            _wait(
                lambda: (
                    conn.execute("SELECT state FROM iu_delivery WHERE route_code = %s", (ROUTE,)).fetchone()
                    == ("sent",)
                ),
                60,
                "the takeover after the lease expired",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0

    assert len(rx.seen) == 2
    ids = [seen.headers["webhook-id"] for seen in rx.seen]
    assert ids[0] == ids[1]  # the same idempotency key on the re-delivery
    applied = set()
    for seen in rx.seen:  # a receiver that de-duplicates on webhook-id
        event = Webhook(SECRET).verify(seen.body, seen.headers)
        applied.add(event["id"])
    assert len(applied) == 1
    assert event_id in ids[0]
    attempts = conn.execute(
        "SELECT status, detail ->> 'reason' FROM iu_route_attempt WHERE route_code = %s ORDER BY attempt_id",
        (ROUTE,),
    ).fetchall()
    assert [status for status, _ in attempts] == ["failed", "sent"]
    assert "lease" in (attempts[0][1] or "")
