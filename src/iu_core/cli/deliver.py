"""``iu-core deliver test``: send one test event to a route's target now."""

from __future__ import annotations

import sys
from typing import Any

import click

from iu_core.cli._common import AppContext, console, json_option, pass_app, print_json
from iu_core.delivery_seam import DeliveryOutcome
from iu_core.ops import deliver as deliver_ops


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
    outcome = deliver_ops.send_test_event(app.url, route_code)
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
