"""HTTP targets from the command line: signing secrets, Directus tokens, enable/disable, test delivery.

A secret or token is printed exactly once — by ``route secret rotate``, to the
operator who must hand it to the receiver — and otherwise only named by its
fingerprint. Tokens are read from stdin or the environment, never from argv
(argv is visible to every user through ``ps``).
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

import click
from psycopg.rows import dict_row

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json, route_group
from iu_core.delivery_seam import DeliveryOutcome, DeliveryRequest
from iu_core.errors import IuCoreError, NotFound, Refused
from iu_core.operator import default_actor
from iu_core.sqlfiles import queries
from iu_core.targets import HTTP_TARGET_KINDS, build_http_targets
from iu_core.targets.webhook import fingerprint, new_secret

TOKEN_ENV = "IU_CORE_ROUTE_TOKEN"


def _q(name: str) -> str:
    return queries("http")[name]


def _audit(conn: Any, context: str) -> None:
    conn.execute(_q("set_audit_context"), {"actor": default_actor(), "context": context})


def _route_kind(conn: Any, route_code: str) -> str:
    row = conn.execute(_q("route_exists"), {"route_code": route_code}).fetchone()
    if row is None:
        raise NotFound(f"unknown route {route_code}")
    return str(row[1])


def _require_kind(route_code: str, kind: str, expected: str, hint: str) -> None:
    if kind != expected:
        raise Refused(f"route {route_code} has target_kind {kind}, not {expected} ({hint})")


def _credential_rows(conn: Any, route_code: str, kind: str) -> list[dict[str, Any]]:
    cur = conn.cursor(row_factory=dict_row)
    rows: list[dict[str, Any]] = cur.execute(
        _q("credential_fingerprints"), {"route_code": route_code, "kind": kind}
    ).fetchall()
    return rows


# ---------------------------------------------------------------------------
# route secret rotate | show-fingerprint
# ---------------------------------------------------------------------------
@route_group.group("secret")
def secret_group() -> None:
    """Standard Webhooks signing secrets of external_endpoint routes."""


@secret_group.command("rotate")
@click.argument("route_code", metavar="ROUTE")
@click.option(
    "--window-hours",
    type=click.FloatRange(min=0, max=24 * 30),
    default=24.0,
    show_default=True,
    envvar="IU_CORE_SECRET_WINDOW_HOURS",
    show_envvar=True,
    help="How long the previous secret keeps signing beside the new one (0: stop at once).",
)
@json_option
@pass_app
def secret_rotate(app: AppContext, route_code: str, window_hours: float, as_json: bool) -> None:
    """Create a new signing secret for ROUTE and print it ONCE.

    Give the printed whsec_… secret to the receiver. Until the window ends,
    deliveries carry two signatures (new and previous secret), so the receiver
    can switch at any moment without rejecting a delivery.
    """
    secret = new_secret()
    with app.connection() as conn:
        kind = _route_kind(conn, route_code)
        _require_kind(route_code, kind, "external_endpoint", "directus_flow routes use route token set")
        _audit(conn, "route secret rotate")
        row = conn.execute(
            _q("replace_credential"),
            {
                "route_code": route_code,
                "kind": "webhook_secret",
                "secret": secret,
                "fingerprint": fingerprint(secret),
                "window_s": window_hours * 3600,
            },
        ).fetchone()
    previous_until = row[0] if row else None
    if as_json:
        print_json(
            {
                "route_code": route_code,
                "secret": secret,
                "fingerprint": fingerprint(secret),
                "previous_valid_until": previous_until,
            }
        )
        return
    console.print(f"new signing secret for route {route_code} (shown once, store it now):")
    sys.stdout.write(secret + "\n")
    sys.stdout.flush()
    console.print(f"fingerprint {fingerprint(secret)}")
    if previous_until is not None:
        console.print(f"the previous secret keeps signing until {previous_until.isoformat()}")


@secret_group.command("show-fingerprint")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def secret_show_fingerprint(app: AppContext, route_code: str, as_json: bool) -> None:
    """Fingerprints of ROUTE's signing secrets (never the secrets)."""
    with app.connection() as conn:
        _route_kind(conn, route_code)
        rows = _credential_rows(conn, route_code, "webhook_secret")
    if as_json:
        print_json({"route_code": route_code, "secrets": rows})
        return
    if not rows:
        console.print(f"route {route_code} has no signing secret (iu-core route secret rotate {route_code})")
        return
    for r in rows:
        if r["current"]:
            state = "current"
        elif r["active"]:
            state = f"previous, signs until {r['valid_until'].isoformat()}"
        else:
            state = "retired"
        console.print(f"{r['fingerprint']}  {state}  (created {r['created_at'].isoformat()})")


# ---------------------------------------------------------------------------
# route token set
# ---------------------------------------------------------------------------
@route_group.group("token")
def token_group() -> None:
    """Access tokens of directus_flow routes."""


@token_group.command("set")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def token_set(app: AppContext, route_code: str, as_json: bool) -> None:
    """Set ROUTE's Directus access token, read from $IU_CORE_ROUTE_TOKEN or stdin.

    Never pass a token as an argument: the command line is visible to every
    user of the machine. Example: `printf %s "$TOKEN" | iu-core route token set R`.
    """
    token = os.environ.get(TOKEN_ENV)
    if token is None:
        if sys.stdin.isatty():
            token = click.prompt("access token", hide_input=True, err=True)
        else:
            token = sys.stdin.read()
    token = (token or "").strip()
    if not token:
        raise IuCoreError(f"no token given (pipe it on stdin or set {TOKEN_ENV})")
    if any(ch.isspace() for ch in token):
        raise IuCoreError("the token must be one line without spaces")
    with app.connection() as conn:
        kind = _route_kind(conn, route_code)
        _require_kind(route_code, kind, "directus_flow", "external_endpoint routes use route secret rotate")
        _audit(conn, "route token set")
        conn.execute(
            _q("replace_credential"),
            {
                "route_code": route_code,
                "kind": "access_token",
                "secret": token,
                "fingerprint": fingerprint(token),
                "window_s": 0,
            },
        )
    if as_json:
        print_json({"route_code": route_code, "fingerprint": fingerprint(token)})
    else:
        console.print(f"access token of route {route_code} set (fingerprint {fingerprint(token)})")


# ---------------------------------------------------------------------------
# route enable | disable
# ---------------------------------------------------------------------------
def _set_enabled(app: AppContext, route_code: str, enabled: bool, reason: str, as_json: bool) -> None:
    with app.connection() as conn:
        _route_kind(conn, route_code)
        _audit(conn, f"route {'enable' if enabled else 'disable'}")
        params = {"route_code": route_code, "enabled": enabled, "reason": reason}
        row: dict[str, Any] = (
            conn.cursor(row_factory=dict_row).execute(_q("set_route_enabled"), params).fetchone() or {}
        )
    if as_json:
        print_json(row)
        return
    state = "enabled" if enabled else f"disabled ({reason})"
    console.print(f"route {route_code} {state}")
    if row.get("forced_dry_run"):
        console.print(
            "the route was live while the gate is closed or it is off the allowlist, so it is now dry-run too"
        )


@route_group.command("enable")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def route_enable(app: AppContext, route_code: str, as_json: bool) -> None:
    """Enable ROUTE again (after an operator or an HTTP 410 disabled it)."""
    _set_enabled(app, route_code, True, "", as_json)


@route_group.command("disable")
@click.argument("route_code", metavar="ROUTE")
@click.option("--reason", default="disabled by an operator", show_default=True, help="Why (shown in status).")
@json_option
@pass_app
def route_disable(app: AppContext, route_code: str, reason: str, as_json: bool) -> None:
    """Disable ROUTE: the worker delivers nothing to it until it is enabled."""
    if not reason.strip():
        raise IuCoreError("--reason must not be empty")
    _set_enabled(app, route_code, False, reason.strip(), as_json)


# ---------------------------------------------------------------------------
# deliver test
# ---------------------------------------------------------------------------
@click.group("deliver")
def deliver_group() -> None:
    """Deliver by hand (for checking a route's target)."""


def _outcome_dict(route_code: str, outcome: DeliveryOutcome) -> dict[str, Any]:
    return {
        "route_code": route_code,
        "status": outcome.status,
        "delivered": outcome.delivered,
        "target_kind": outcome.target_kind,
        "detail": dict(outcome.detail),
    }


@deliver_group.command("test")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def deliver_test(app: AppContext, route_code: str, as_json: bool) -> None:
    """Send one signed test event (type iu_core.test) to ROUTE's target now; print the outcome.

    Only a route that may deliver is tested: the gate open, the route enabled,
    on the live allowlist and out of dry-run — the same checks as live
    delivery. Exits 1 when the delivery failed.
    """
    targets = build_http_targets(app.url, cache_ttl_s=0)
    reader = targets["external_endpoint"].reader
    try:
        settings = reader.get(route_code, fresh=True)
        if settings is None:
            raise NotFound(f"unknown route {route_code}")
        if settings.target_kind not in HTTP_TARGET_KINDS:
            raise Refused(
                f"route {route_code} has target_kind {settings.target_kind}; deliver test sends to "
                "external_endpoint and directus_flow routes"
            )
        refusal = settings.live_refusal
        if refusal is not None:
            raise Refused(f"not delivering to route {route_code}: {refusal}")
        event_ref = str(uuid.uuid4())
        request = DeliveryRequest(
            route_code=route_code,
            event_ref=event_ref,
            target_kind=settings.target_kind,
            target_ref=settings.target_ref,
            idempotency_key=f"{route_code}:test:{event_ref}",
            safe_payload={"event_type": "iu_core.test", "route_code": route_code, "test": True},
        )
        outcome = targets[settings.target_kind].deliver(request)
    finally:
        reader.close()
    if as_json:
        print_json(_outcome_dict(route_code, outcome))
    else:
        d = outcome.detail
        status = f"HTTP {d['http_status']}" if d.get("http_status") is not None else "no response"
        if outcome.delivered:
            console.print(f"sent: {status} in {d['latency_ms']} ms (webhook-id {d['webhook_id']})")
        else:
            kind = "retryable" if d.get("retryable") else "permanent"
            console.print(f"failed ({kind}): {d['reason']}")
        body = d.get("response_body")
        if body:
            console.print(f"response: {body[:500]}", markup=False)
    if not outcome.delivered:
        sys.exit(1)


COMMANDS: list[click.Command] = [deliver_group]
