"""Ed25519 (Standard Webhooks v1a) signatures through the real worker, verified by a receiver on 127.0.0.1.

The receiver knows only the published ``whpk_`` public key and verifies as the
Standard Webhooks defines it: Ed25519 over
``"{webhook-id}.{webhook-timestamp}.{body}"``, each ``v1a,<base64>`` of the
space-separated ``webhook-signature`` header tried in turn. (The reference
library ``standardwebhooks`` 1.3 verifies only ``v1`` HMAC signatures, so the
algorithm is checked with ``cryptography``'s ``Ed25519PublicKey``.)
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import psycopg
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks import Webhook

from tests.support.receivers import (
    Receiver,
    Seen,
    add_route,
    attempts_of,
    outbox_structure_event,
    run_worker,
    set_secret,
)

ROUTE = "hook.ed25519"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOLERANCE_S = 5 * 60  # Standard Webhooks' recommended timestamp tolerance


def verifying_signatures(public_key: str, seen: Seen) -> int:
    """How many v1a signatures of a received request verify with ``public_key`` (0: reject it)."""
    assert public_key.startswith("whpk_")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key.removeprefix("whpk_")))
    webhook_id, stamp = seen.headers["webhook-id"], seen.headers["webhook-timestamp"]
    assert abs(time.time() - int(stamp)) < TOLERANCE_S
    content = f"{webhook_id}.{stamp}.".encode() + seen.body
    good = 0
    for part in seen.headers["webhook-signature"].split(" "):
        version, _, signature = part.partition(",")
        if version != "v1a":
            continue
        try:
            key.verify(base64.b64decode(signature), content)
            good += 1
        except InvalidSignature:
            pass
    return good


def _ok(done: Any) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return str(done.stdout)


def _ed25519_route(conn: psycopg.Connection[Any], cli: Any, url: str) -> str:
    add_route(conn, ROUTE, url, base_delay_ms=0, max_delay_ms=0, max_attempts=3)
    set_secret(conn, ROUTE, SECRET)
    printed = _ok(cli("route", "set", ROUTE, "--signature", "ed25519"))
    public = _ok(cli("route", "key", "public", ROUTE)).strip()
    assert public.startswith("whpk_") and public in printed
    return public


@pytest.mark.slow
def test_an_ed25519_signed_webhook_verifies_with_the_published_public_key(
    conn: psycopg.Connection[Any], cli: Any
) -> None:
    with Receiver() as rx:
        public = _ed25519_route(conn, cli, rx.url)
        event = outbox_structure_event(conn)
        worker_logs = run_worker(cli, conn, ROUTE, until=1)
        outputs = [
            cli("route", "show", ROUTE, "--json"),
            cli("route", "show", ROUTE),
            cli("route", "key", "public", ROUTE, "--json"),
            cli("deliveries", "list", "--json"),
            cli("audit", "--json"),
        ]
    assert [a[0] for a in attempts_of(conn, ROUTE)] == ["sent"]
    (seen,) = rx.seen
    assert seen.headers["webhook-id"] == f"{ROUTE}:{event}"
    assert seen.headers["webhook-signature"].startswith("v1a,")
    assert verifying_signatures(public, seen) == 1
    assert json.loads(seen.body)["data"]["operation_type"] == "split"
    # A body changed on the way does not verify.
    tampered = Seen(seen.path, seen.headers, seen.body.replace(b"split", b"merge"), seen.at)
    assert verifying_signatures(public, tampered) == 0

    shown = json.loads(_ok(outputs[0]))
    assert shown["signature"] == "ed25519" and shown["signing_public_key"] == public
    assert public in _ok(outputs[1])
    (listed,) = json.loads(_ok(outputs[2]))["public_keys"]
    assert listed["public_key"] == public and listed["current"] is True
    assert listed["fingerprint"].startswith("sha256:")
    # The private key is nowhere the worker writes or logs, or the CLI prints.
    row = conn.execute(
        "SELECT secret FROM iu_route_credential WHERE route_code = %s AND kind = 'signing_key'", (ROUTE,)
    ).fetchone()
    assert row is not None and row[0].startswith("whsk_")
    private = row[0].removeprefix("whsk_")
    written = worker_logs + json.dumps([a[1] for a in attempts_of(conn, ROUTE)])
    written += "".join(o.stdout + o.stderr for o in outputs)
    written += "".join(r[0] for r in conn.execute("SELECT t::text FROM iu_operator_audit t").fetchall())
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    assert private not in written
    # The key's creation is audited with its public key's fingerprint.
    notes = conn.execute(
        "SELECT after FROM iu_operator_audit WHERE object_type = 'credential' AND object_key = %s"
        " AND after->>'kind' = 'signing_key'",
        (ROUTE,),
    ).fetchall()
    assert [n[0]["fingerprint"] for n in notes] == [listed["fingerprint"]]


@pytest.mark.slow
def test_during_a_key_rotation_both_public_keys_verify(conn: psycopg.Connection[Any], cli: Any) -> None:
    with Receiver() as rx:
        old = _ed25519_route(conn, cli, rx.url)
        rotated = json.loads(_ok(cli("route", "key", "rotate", ROUTE, "--window-hours", "1", "--json")))
        new = rotated["public_key"]
        assert new != old and rotated["previous_valid_until"] is not None
        assert _ok(cli("route", "key", "public", ROUTE)).strip() == new
        keys = json.loads(_ok(cli("route", "key", "public", ROUTE, "--json")))["public_keys"]
        assert [(k["public_key"], k["current"]) for k in keys] == [(new, True), (old, False)]
        outbox_structure_event(conn)
        run_worker(cli, conn, ROUTE, until=1)

        # A rotation without a window: only the newest key signs from now on.
        newest = json.loads(_ok(cli("route", "key", "rotate", ROUTE, "--window-hours", "0", "--json")))
        outbox_structure_event(conn)
        run_worker(cli, conn, ROUTE, until=2)
    first, second = rx.seen
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    assert verifying_signatures(new, first) == 1
    assert verifying_signatures(old, first) == 1
    assert verifying_signatures(newest["public_key"], second) == 1
    assert verifying_signatures(new, second) == 0 and verifying_signatures(old, second) == 0
    audited = [
        r[0]
        for r in conn.execute(
            "SELECT after->>'fingerprint' FROM iu_operator_audit WHERE object_type = 'credential'"
            " AND object_key = %s AND after->>'kind' = 'signing_key' ORDER BY audit_id",
            (ROUTE,),
        ).fetchall()
    ]
    assert audited[-2:] == [rotated["fingerprint"], newest["fingerprint"]] and len(audited) == 3


@pytest.mark.slow
def test_back_to_hmac_signs_v1_with_the_routes_secret(conn: psycopg.Connection[Any], cli: Any) -> None:
    with Receiver() as rx:
        public = _ed25519_route(conn, cli, rx.url)
        _ok(cli("route", "set", ROUTE, "--signature", "hmac"))
        outbox_structure_event(conn)
        run_worker(cli, conn, ROUTE, until=1)
    (seen,) = rx.seen
    assert seen.headers["webhook-signature"].startswith("v1,")
    assert Webhook(SECRET).verify(seen.body, seen.headers)["data"]["operation_type"] == "split"
    assert verifying_signatures(public, seen) == 0
    # The key pair is kept: switching back to ed25519 signs with the same public key.
    _ok(cli("route", "set", ROUTE, "--signature", "ed25519"))
    assert _ok(cli("route", "key", "public", ROUTE)).strip() == public


@pytest.mark.slow
def test_bad_signature_requests_are_one_error_line(conn: psycopg.Connection[Any], cli: Any) -> None:
    add_route(conn, ROUTE, "http://127.0.0.1:9/hook")
    workflow = "structure_op_applied.workflow"
    cases = [
        (("route", "set", workflow, "--signature", "ed25519"), "only webhooks are signed"),
        (("route", "key", "rotate", workflow), "only webhooks are signed"),
        (("route", "key", "public", ROUTE), "has no signing key"),
        (("route", "key", "rotate", "no.such.route"), "unknown route"),
        (("route", "set", ROUTE, "--signature", "rsa"), "rsa"),
    ]
    for args, expected in cases:
        done = cli(*args)
        assert done.returncode != 0, args
        assert expected in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr
    kinds = conn.execute("SELECT count(*) FROM iu_route_credential WHERE kind = 'signing_key'").fetchone()
    assert kinds == (0,)
    signature = conn.execute(
        "SELECT signature FROM iu_outbound_route WHERE route_code = %s", (workflow,)
    ).fetchone()
    assert signature == ("hmac",)
