"""``iu-core route``: where events of a type go, how, and whether they may be live.

A secret or token is printed exactly once (by ``route secret rotate``, to the
operator who must hand it to the receiver) and otherwise only named by its
fingerprint. Tokens are read from stdin or the environment, never from argv
(argv is visible to every user through ``ps``).
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

import click
from rich.table import Table

from iu_core.cli._common import (
    TIMESTAMP,
    AppContext,
    Bounded,
    console,
    json_option,
    operator_connection,
    pass_app,
    print_changed,
    print_json,
    wide_table,
)
from iu_core.delivery import TargetKind
from iu_core.errors import IuCoreError
from iu_core.ops import routes as route_ops
from iu_core.ops import secrets as secret_ops
from iu_core.ops.routes import Route, RouteChanges

TOKEN_ENV = "IU_CORE_ROUTE_TOKEN"
FILTER_HELP = (
    "Only events that match, e.g. 'iu:LAW-* and not tag:draft' "
    "(fields iu, tag, lang, kind, eid, op; and/or/not, parentheses; see docs/route-filters.md)."
)
KIND = click.Choice(sorted(kind.value for kind in TargetKind))


@click.group("route")
def route_group() -> None:
    """Routes: where events of a type go, and how."""


def _route_detail(route: Route) -> Table:
    table = Table("field", "value", title=route.route_code, title_justify="left")
    for key, value in route.as_dict().items():
        if key == "filter_tree":  # the compiled form: in --json only
            continue
        if isinstance(value, list):
            value = ", ".join(value) or "—"
        table.add_row(key, "—" if value is None else str(value))
    return table


@route_group.command("list")
@json_option
@pass_app
def route_list_cmd(app: AppContext, as_json: bool) -> None:
    """List the routes: event type, target, mode, allowlisted."""
    with operator_connection(app) as conn:
        routes = route_ops.list_routes(conn)
    if as_json:
        print_json([r.as_dict() for r in routes])
        return
    width = max((len(r.route_code) for r in routes), default=0)
    table = wide_table(
        "route", "event type", "target kind", "target ref", "mode", "allowlisted", first_width=width
    )
    for r in routes:
        table.add_row(
            r.route_code, r.event_type, r.target_kind, r.target_ref, r.mode, "yes" if r.allowlisted else "no"
        )
    console.print(table)


@route_group.command("show")
@click.argument("route")
@json_option
@pass_app
def route_show_cmd(app: AppContext, route: str, as_json: bool) -> None:
    """Show every setting of ROUTE."""
    with operator_connection(app) as conn:
        found = route_ops.get_route(conn, route)
    if as_json:
        print_json(found.as_dict())
    else:
        console.print(_route_detail(found))


@route_group.command("add")
@click.argument("route")
@click.option("--event-type", required=True, help="Event type the route carries, e.g. structure_op_applied.")
@click.option("--target-kind", required=True, type=KIND, help="Kind of target.")
@click.option("--target-ref", required=True, help="The target: consumer name, URL, flow URL, collection, ...")
@click.option(
    "--allow-unknown-event-type", is_flag=True, help="Accept an event type no operation of IU Core writes."
)
@click.option("--filter", "filter_text", metavar="EXPR", help=FILTER_HELP)
@json_option
@pass_app
def route_add_cmd(
    app: AppContext,
    route: str,
    event_type: str,
    target_kind: str,
    target_ref: str,
    allow_unknown_event_type: bool,
    filter_text: str | None,
    as_json: bool,
) -> None:
    """Add ROUTE in dry-run (make it live later with `route set ROUTE --live`)."""
    with operator_connection(app) as conn:
        added = route_ops.add_route(
            conn,
            route,
            event_type=event_type,
            target_kind=target_kind,
            target_ref=target_ref,
            allow_unknown_event_type=allow_unknown_event_type,
            filter=filter_text,
        )
    if as_json:
        print_json({"changed": True, **added.as_dict()})
        return
    console.print(
        f"route {added.route_code} added ({added.mode}): "
        f"{added.event_type} → {added.target_kind} {added.target_ref}"
        + (f", filter: {added.filter}" if added.filter else ""),
        markup=False,
    )


@route_group.command("remove")
@click.argument("route")
@click.option("--force", is_flag=True, help="Remove it even while deliveries are in flight.")
@json_option
@pass_app
def route_remove_cmd(app: AppContext, route: str, force: bool, as_json: bool) -> None:
    """Remove ROUTE (and take it off the allowlist)."""
    with operator_connection(app) as conn:
        print_changed(route_ops.remove_route(conn, route, force=force), as_json)


@route_group.command("set")
@click.argument("route")
@click.option("--target-kind", type=KIND, help="Kind of target.")
@click.option("--target-ref", help="The target: consumer name, URL, flow id, ...")
@click.option("--live/--dry-run", "live", default=None, help="Deliver for real, or only record decisions.")
@click.option("--max-attempts", type=click.IntRange(1, 100), help="Attempts before a dead letter.")
@click.option(
    "--base-delay-ms",
    type=Bounded(int, 0, 3_600_000, "ms"),
    help="First retry delay (doubles, jittered).",
)
@click.option(
    "--ordering", type=click.Choice(["strict", "relaxed"]), help="strict: a dead letter holds its IU."
)
@click.option(
    "--allow-network",
    "allow_networks",
    multiple=True,
    metavar="CIDR",
    help="Network the address policy lets through (repeatable; replaces the list).",
)
@click.option("--clear-allow-networks", is_flag=True, help="Empty the list of allowed networks.")
@click.option(
    "--timeout", "timeout_s", type=Bounded(float, 0, 300, "s", low_open=True), help="Request timeout, s."
)
@click.option(
    "--connect-timeout",
    "connect_timeout_s",
    type=Bounded(float, 0, 300, "s", low_open=True),
    help="Connect timeout, s.",
)
@click.option("--max-in-flight", type=click.IntRange(1, 1000), help="Concurrent deliveries of this route.")
@click.option(
    "--rate-limit",
    "rate_limit",
    type=click.FloatRange(0, min_open=False),
    help="Deliveries per second (0 removes the limit).",
)
@click.option("--circuit-threshold", type=click.IntRange(1), help="Failures in a row that open the circuit.")
@click.option(
    "--circuit-cooldown",
    type=Bounded(int, 1, 7 * 86400, "s"),
    help="Seconds the circuit stays open (up to 7 days).",
)
@click.option(
    "--max-payload-bytes",
    type=click.IntRange(1, 64 * 1024 * 1024),
    help="Largest body this route sends (default 1 MiB); a larger event becomes a dead letter.",
)
@click.option(
    "--disable-after-failing-hours",
    type=Bounded(float, 0, 24 * 36500, "hours", low_open=True),
    help="Disable the route when every attempt failed for this long (default 72).",
)
@click.option(
    "--signature",
    type=click.Choice(route_ops.SIGNATURES),
    help="How webhooks are signed: hmac (v1, shared secret) or ed25519 (v1a, the route's key pair; "
    "the first switch makes the key pair).",
)
@click.option(
    "--filter", "filter_text", metavar="EXPR", help=FILTER_HELP + " Applies to events written from now on."
)
@click.option("--no-filter", is_flag=True, help="Remove the filter: every event of the type again.")
@json_option
@pass_app
def route_set_cmd(app: AppContext, /, route: str, as_json: bool, **options: Any) -> None:
    """Change ROUTE's target, mode (--live needs the gate open and the route allowlisted) or policy."""
    networks: tuple[str, ...] | None = tuple(options["allow_networks"]) or None
    if options["clear_allow_networks"]:
        networks = ()
    rate = options["rate_limit"]
    filter_text: str | None = options["filter_text"]
    if options["no_filter"]:
        if filter_text is not None:
            raise IuCoreError("give --filter EXPR or --no-filter, not both")
        filter_text = ""
    elif filter_text is not None and not filter_text.strip():
        raise IuCoreError("--filter needs an expression (remove the filter with --no-filter)")
    changes = RouteChanges(
        target_kind=options["target_kind"],
        target_ref=options["target_ref"],
        dry_run=None if options["live"] is None else not options["live"],
        max_attempts=options["max_attempts"],
        base_delay_ms=options["base_delay_ms"],
        ordering_policy=options["ordering"],
        allow_networks=networks,
        timeout_s=options["timeout_s"],
        connect_timeout_s=options["connect_timeout_s"],
        max_in_flight=options["max_in_flight"],
        set_rate_limit=rate is not None,
        rate_limit_per_s=rate if rate else None,
        circuit_failure_threshold=options["circuit_threshold"],
        circuit_cooldown_s=options["circuit_cooldown"],
        max_payload_bytes=options["max_payload_bytes"],
        disable_after_failing_hours=options["disable_after_failing_hours"],
        signature=options["signature"],
        filter=filter_text,
    )
    with operator_connection(app) as conn:
        updated = route_ops.set_route(conn, route, changes)
    if as_json:
        print_json({"changed": True, **updated.as_dict()})
    else:
        console.print(f"route {updated.route_code} updated ({updated.mode})")
        if filter_text is not None:
            console.print(f"filter: {updated.filter or 'none (every event of the type)'}", markup=False)
        if options["signature"] == "ed25519" and updated.signing_public_key:
            console.print(f"public key (give it to the receiver): {updated.signing_public_key}", markup=False)


@route_group.command("enable")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def route_enable(app: AppContext, route_code: str, as_json: bool) -> None:
    """Enable ROUTE again (after an operator, an HTTP 410 or lasting failure disabled it)."""
    with operator_connection(app) as conn:
        print_changed(route_ops.set_enabled(conn, route_code, True), as_json)


@route_group.command("disable")
@click.argument("route_code", metavar="ROUTE")
@click.option("--reason", default="disabled by an operator", show_default=True, help="Why (shown in status).")
@json_option
@pass_app
def route_disable(app: AppContext, route_code: str, reason: str, as_json: bool) -> None:
    """Disable ROUTE: the worker delivers nothing to it until it is enabled."""
    with operator_connection(app) as conn:
        print_changed(route_ops.set_enabled(conn, route_code, False, reason=reason), as_json)


@route_group.command("backfill")
@click.argument("route_code")
@click.option(
    "--since",
    type=TIMESTAMP,
    default=None,
    help="Only events that occurred at or after this time: ISO 8601, e.g. 2026-12-07T11:09:15Z "
    "(UTC unless a zone is given).",
)
@json_option
@pass_app
def route_backfill_cmd(app: AppContext, route_code: str, since: dt.datetime | None, as_json: bool) -> None:
    """Deliver ROUTE's older events: those it has no delivery of, or saw only in dry-run."""
    with operator_connection(app) as conn:
        print_changed(route_ops.backfill(conn, route_code, since), as_json)


@route_group.group("secret")
def secret_group() -> None:
    """Standard Webhooks signing secrets of external_endpoint routes."""


@secret_group.command("rotate")
@click.argument("route_code", metavar="ROUTE")
@click.option(
    "--window-hours",
    type=Bounded(float, 0, 24 * 30, "hours"),
    default=24.0,
    show_default=True,
    envvar="IU_CORE_SECRET_WINDOW_HOURS",
    show_envvar=True,
    help="How long the previous secret keeps signing beside the new one (0: stop at once).",
)
@json_option
@pass_app
def secret_rotate(app: AppContext, route_code: str, window_hours: float, as_json: bool) -> None:
    """Create a new signing secret for ROUTE and print it ONCE (never with --json).

    Give the printed whsec_… secret to the receiver. Until the window ends,
    deliveries carry two signatures (new and previous secret), so the receiver
    can switch at any moment without rejecting a delivery. With --json only
    the fingerprint is printed: rotate without --json to hand a secret over.
    """
    with operator_connection(app) as conn:
        rotated = secret_ops.rotate_secret(conn, route_code, window_hours=window_hours)
    if as_json:  # --json never prints a secret: machine output ends up in logs
        print_json(
            {
                "changed": True,
                "route_code": route_code,
                "fingerprint": rotated.fingerprint,
                "previous_valid_until": rotated.previous_valid_until,
                "secret_shown": False,
            }
        )
        return
    _print_rotated(
        f"new signing secret for route {route_code} (shown once, store it now):",
        rotated.secret,
        rotated.fingerprint,
        rotated.previous_valid_until,
        "secret",
    )


def _print_rotated(
    header: str, value: str, fingerprint: str, previous_valid_until: dt.datetime | None, what: str
) -> None:
    """A new credential: VALUE alone on stdout (for a pipe), the rest for the operator."""
    console.print(header)
    sys.stdout.write(value + "\n")
    sys.stdout.flush()
    console.print(f"fingerprint {fingerprint}")
    if previous_valid_until is not None:
        console.print(f"the previous {what} keeps signing until {previous_valid_until.isoformat()}")


@secret_group.command("show-fingerprint")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def secret_show_fingerprint(app: AppContext, route_code: str, as_json: bool) -> None:
    """Fingerprints of ROUTE's signing secrets (never the secrets)."""
    with operator_connection(app) as conn:
        rows = secret_ops.fingerprints(conn, route_code)
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


@route_group.group("key")
def key_group() -> None:
    """Ed25519 signing keys of external_endpoint routes that sign with --signature ed25519."""


@key_group.command("rotate")
@click.argument("route_code", metavar="ROUTE")
@click.option(
    "--window-hours",
    type=Bounded(float, 0, 24 * 30, "hours"),
    default=24.0,
    show_default=True,
    help="How long the previous key keeps signing beside the new one (0: stop at once).",
)
@json_option
@pass_app
def key_rotate(app: AppContext, route_code: str, window_hours: float, as_json: bool) -> None:
    """Make a new Ed25519 signing key for ROUTE and print its public key.

    The private key never leaves the database. Until the window ends,
    deliveries carry two v1a signatures (new and previous key), so the
    receiver can switch to the new public key at any moment.
    """
    with operator_connection(app) as conn:
        rotated = secret_ops.rotate_key(conn, route_code, window_hours=window_hours)
    if as_json:
        print_json({"changed": True, **rotated.as_dict()})
        return
    _print_rotated(
        f"new signing key for route {route_code}; public key:",
        rotated.public_key,
        rotated.fingerprint,
        rotated.previous_valid_until,
        "key",
    )


@key_group.command("public")
@click.argument("route_code", metavar="ROUTE")
@json_option
@pass_app
def key_public(app: AppContext, route_code: str, as_json: bool) -> None:
    """Print ROUTE's current public key (whpk_…, base64 of the raw Ed25519 key).

    With --json: every public key that verifies now (current first, then a
    previous one inside its rotation window) with its fingerprint.
    """
    with operator_connection(app) as conn:
        rows = secret_ops.public_keys(conn, route_code)
    if as_json:
        print_json({"route_code": route_code, "public_keys": rows})
        return
    if not rows:
        raise IuCoreError(
            f"route {route_code} has no signing key "
            f"(iu-core route set {route_code} --signature ed25519, or iu-core route key rotate {route_code})"
        )
    sys.stdout.write(str(rows[0]["public_key"]) + "\n")


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
    if not (token or "").strip():
        raise IuCoreError(f"no token given (pipe it on stdin or set {TOKEN_ENV})")
    with operator_connection(app) as conn:
        print_changed(secret_ops.set_token(conn, route_code, token or ""), as_json)


COMMANDS: list[click.Command] = [route_group]
