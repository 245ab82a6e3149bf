"""The console's actions (POST): read the form, call the service layer as the console user, redirect.

Each handler does exactly one service call (or none, when the form is
incomplete): the service layer's transaction makes it all-or-nothing, and
its audit records the console user as the actor.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from iu_core import ops
from iu_core.console import pages, route_form, views
from iu_core.console.app import Ctx, redirect, safe_path
from iu_core.errors import IuCoreError
from iu_core.ops.dead_letters import Selection
from iu_core.ops.routes import RouteChanges


def _require(value: str, what: str) -> str:
    if not value:
        raise IuCoreError(f"{what} is required")
    return value


def set_gate(ctx: Ctx) -> Response:
    wanted = ctx.field("gate")
    if wanted not in {"open", "close"}:
        raise IuCoreError("choose open or close")
    summary = ops.gate.set_gate(ctx.conn, wanted == "open", actor=ctx.actor).summary
    return redirect(safe_path(ctx.field("back"), "/gate"), summary)  # a form may say where to return


def allowlist_add(ctx: Ctx) -> Response:
    routes = ctx.fields("route")
    if not routes:
        raise IuCoreError("choose at least one route")
    return redirect("/allowlist", ops.allowlist.add(ctx.conn, routes, actor=ctx.actor).summary)


def allowlist_remove(ctx: Ctx) -> Response:
    routes = ctx.fields("route")
    if not routes:
        raise IuCoreError("choose at least one route")
    return redirect("/allowlist", ops.allowlist.remove(ctx.conn, routes, actor=ctx.actor).summary)


def _set_route(ctx: Ctx, code: str, changes: RouteChanges) -> Response:
    route = ops.routes.set_route(ctx.conn, code, changes, actor=ctx.actor)
    summary = f"route {route.route_code}: {route.mode}, {route.target_kind} / {route.target_ref}"
    return redirect(f"/routes/{quote(code, safe='')}", summary)


def set_route_mode(ctx: Ctx) -> Response:
    """Going live (or back to dry-run), optionally with a new target, in one audited change."""
    code = ctx.request.path_params["code"]
    mode = ctx.field("mode")
    if mode not in {"live", "dry-run"}:
        raise IuCoreError("choose live or dry-run")
    if mode == "live" and ctx.field("confirm") != code:
        raise IuCoreError(f"to go live, type the route's name ({code}) to confirm")
    changes = RouteChanges(
        target_kind=ctx.field("target_kind") or None,
        target_ref=ctx.field("target_ref") or None,
        dry_run=mode == "dry-run",
    )
    return _set_route(ctx, code, changes)


def set_route_target(ctx: Ctx) -> Response:
    code = ctx.request.path_params["code"]
    changes = RouteChanges(
        target_kind=_require(ctx.field("target_kind"), "target kind"),
        target_ref=_require(ctx.field("target_ref"), "target ref"),
    )
    return _set_route(ctx, code, changes)


def enable_route(ctx: Ctx) -> Response:
    """Enable a route that was disabled (by an operator, or by a receiver's HTTP 410)."""
    code = ctx.request.path_params["code"]
    if ctx.field("confirm") != code:
        raise IuCoreError(f"to enable the route, type its name ({code}) to confirm")
    return redirect(
        f"/routes/{quote(code, safe='')}",
        ops.routes.set_enabled(ctx.conn, code, True, actor=ctx.actor).summary,
    )


def _window_hours(ctx: Ctx) -> float:
    try:
        window_hours = float(ctx.field("window_hours") or "24")
    except ValueError:
        raise IuCoreError("the overlap is a number of hours") from None
    if not 0 <= window_hours <= 24 * 30:
        raise IuCoreError("the overlap is between 0 and 720 hours")
    return window_hours


def rotate_secret(ctx: Ctx) -> Response:
    """A new signing secret, shown on this one answer only; afterwards only its fingerprint."""
    code = ctx.request.path_params["code"]
    rotated = ops.secrets.rotate_secret(ctx.conn, code, window_hours=_window_hours(ctx), actor=ctx.actor)
    console = ctx.request.app.state.console
    response: Response = console.render(
        ctx.request, "secret.html", {"page": "routes", "rotated": rotated, "flash": None}
    )
    return response


def resend(ctx: Ctx) -> Response:
    """Send one delivery again, with a reason: a dead one's dead letter is replayed, a sent one requeued."""
    try:
        delivery_id = int(ctx.request.path_params["delivery_id"])
    except ValueError:
        raise IuCoreError("a delivery id is a number") from None
    reason = _require(ctx.field("reason"), "a reason")
    changed = ops.deliveries.resend(ctx.conn, delivery_id, reason=reason, actor=ctx.actor)
    return redirect(f"/deliveries/{delivery_id}", changed.summary)


def _form(ctx: Ctx) -> dict[str, str]:
    return {k: v for k, v in (ctx.form or {}).items() if isinstance(v, str) and k != "csrf"}


def add_route(ctx: Ctx) -> Response:
    """A new route in dry-run, checked as ``iu-core route add`` checks it; errors shown on the form."""
    form = _form(ctx)
    code = ctx.field("route_code")
    try:
        added = ops.routes.add_route(
            ctx.conn,
            _require(code, "the route's name"),
            event_type=_require(ctx.field("event_type"), "the event type"),
            target_kind=_require(ctx.field("target_kind"), "the target kind"),
            target_ref=_require(ctx.field("target_ref"), "the target ref"),
            allow_unknown_event_type=ctx.field("allow_unknown_event_type") == "yes",
            actor=ctx.actor,
        )
    except IuCoreError as exc:
        console = ctx.request.app.state.console
        context = {**pages.routes_context(ctx), "add_error": str(exc), "add_values": form}
        response: Response = console.render(ctx.request, "routes.html", context, status_code=400)
        return response
    summary = (
        f"route {added.route_code} added ({added.mode}): "
        f"{added.event_type} → {added.target_kind} {added.target_ref}"
    )
    return redirect(f"/routes/{quote(added.route_code, safe='')}", summary)


def set_route_settings(ctx: Ctx) -> Response:
    """Change the route's policy, as ``iu-core route set`` does; errors shown on the form."""
    code = ctx.request.path_params["code"]
    form = _form(ctx)
    route = ops.routes.get_route(ctx.conn, code)
    try:
        return _set_route(ctx, code, route_form.changes(route, form))
    except IuCoreError as exc:
        console = ctx.request.app.state.console
        context = {**pages.route_context(ctx, code), "settings_error": str(exc)}
        context["setting_values"] = route_form.values(route, form)
        response: Response = console.render(ctx.request, "route.html", context, status_code=400)
        return response


def set_token(ctx: Ctx) -> Response:
    """A directus_flow route's access token: typed once, afterwards shown only by its fingerprint."""
    code = ctx.request.path_params["code"]
    token = _require(ctx.field("token"), "the token")
    changed = ops.secrets.set_token(ctx.conn, code, token, actor=ctx.actor)
    return redirect(f"/routes/{quote(code, safe='')}", changed.summary)


def rotate_key(ctx: Ctx) -> Response:
    """A new Ed25519 signing key; its public key is shown (the private half never leaves the database)."""
    code = ctx.request.path_params["code"]
    rotated = ops.secrets.rotate_key(ctx.conn, code, window_hours=_window_hours(ctx), actor=ctx.actor)
    summary = (
        f"new signing key of route {code}: public key {rotated.public_key} "
        f"(fingerprint {rotated.fingerprint})"
    )
    return redirect(f"/routes/{quote(code, safe='')}", summary)


def _selection(ctx: Ctx) -> Selection:
    """Which open dead letters: the ticked ones, a route's, every one, or those made since a time."""
    scope = ctx.field("scope")
    route_code = ctx.field("route") or None
    if scope == "selected":
        try:
            ids = [int(v) for v in ctx.fields("id")]
        except ValueError:
            raise IuCoreError("a dead-letter id is a number") from None
        if not ids:
            raise IuCoreError("tick at least one dead letter")
        return Selection(ids=tuple(ids))
    if scope == "route":
        return Selection(route_code=_require(route_code or "", "a route"))
    if scope == "all":
        return Selection(everything=True)
    if scope == "since":
        since = views.parse_time(_require(ctx.field("since"), "a time"), "since")
        return Selection(route_code=route_code, since=since)
    raise IuCoreError("choose which dead letters: selected, by route, all, or since a time")


def replay(ctx: Ctx) -> Response:
    reason = _require(ctx.field("reason"), "a reason")
    return redirect(
        "/dead-letters",
        ops.dead_letters.replay(ctx.conn, _selection(ctx), reason=reason, actor=ctx.actor).summary,
    )


def discard(ctx: Ctx) -> Response:
    reason = _require(ctx.field("reason"), "a reason")
    return redirect(
        "/dead-letters",
        ops.dead_letters.discard(ctx.conn, _selection(ctx), reason=reason, actor=ctx.actor).summary,
    )
