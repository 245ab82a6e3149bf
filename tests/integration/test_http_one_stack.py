"""``iu-core deliver test`` and the HTTP targets send through the worker's own HTTP client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from standardwebhooks import Webhook

from iu_core.targets.http import sync as http_sync
from tests.support.receivers import Receiver, Reply, add_route, set_secret, worker_client_calls

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    http_sync.close()


def test_deliver_test_posts_through_the_workers_client(
    conn: psycopg.Connection[Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver() as rx, worker_client_calls(monkeypatch) as calls:
        add_route(conn, "hook.one", rx.url)
        set_secret(conn, "hook.one", SECRET)
        done = cli("deliver", "test", "hook.one", "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["delivered"] is True and outcome["detail"]["address"] == "127.0.0.1"
    assert calls == [("iu-core-http-sync", b"/hook")]
    [seen] = rx.seen
    assert Webhook(SECRET).verify(seen.body, seen.headers)["type"] == "iu_core.test"


def test_deliver_test_reports_the_clients_classification(
    conn: psycopg.Connection[Any], cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver(Reply(status=503, body=b"busy")) as rx, worker_client_calls(monkeypatch) as calls:
        add_route(conn, "hook.busy", rx.url)
        set_secret(conn, "hook.busy", SECRET)
        done = cli("deliver", "test", "hook.busy", "--json")
    assert done.returncode == 1
    detail = json.loads(done.stdout)["detail"]
    assert detail["http_status"] == 503 and detail["retryable"] is True and detail["response_body"] == "busy"
    assert len(calls) == 1
