"""The console's pages (GET): each reads through ``views`` or ``ops`` and renders one template."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import html
import json
import re
import uuid
from urllib.parse import urlencode

from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from iu_core import domain, ops
from iu_core.console import chart, exchange, route_form, views
from iu_core.console.app import Console, Ctx
from iu_core.delivery_seam import DELIVERY_TARGET_KINDS
from iu_core.domain import citation_store
from iu_core.domain import provisions as domain_provisions
from iu_core.errors import IuCoreError


def _overview_context(ctx: Ctx) -> dict[str, object]:
    data = views.overview(ctx.conn)
    return {"status": data, "chart": chart.render(views.chart_minutes(ctx.conn))}


def overview(console: Console, ctx: Ctx) -> Response:
    context = _overview_context(ctx)
    status = context["status"]
    codes = [r["route_code"] for r in status["routes"]] if isinstance(status, dict) else []
    health = {"health": views.route_health(ctx.conn), "health_routes": codes}
    return console.render(ctx.request, "overview.html", {"page": "overview", **context, **health})


def overview_fragment(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "_overview.html", _overview_context(ctx))


def api_status(console: Console, ctx: Ctx) -> Response:
    del console
    data = ops.status.status(ctx.conn).as_dict()
    return JSONResponse(_jsonable(data))


def _jsonable(value: object) -> object:
    """Times as ISO text, numbers as numbers, anything else as text."""

    def default(item: object) -> object:
        if isinstance(item, dt.datetime | dt.date):
            return item.isoformat()
        if isinstance(item, decimal.Decimal):
            return float(item)
        return str(item)

    return json.loads(json.dumps(value, default=default))


def routes_context(ctx: Ctx) -> dict[str, object]:
    """The routes page: every route, the gate, and the form that adds one."""
    return {
        "page": "routes",
        "routes": ops.routes.list_routes(ctx.conn),
        "gate": ops.gate.gate_state(ctx.conn),
        "kinds": sorted(DELIVERY_TARGET_KINDS),
        "ref_hints": route_form.REF_HINTS,
        "event_types": route_form.EVENT_TYPES,
        "add_values": {},
    }


def routes(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "routes.html", routes_context(ctx))


# Which credential a route's page names by fingerprint, by target kind.
_CREDENTIALS = {"external_endpoint": "webhook_secret", "directus_flow": "access_token"}


def route_context(ctx: Ctx, code: str) -> dict[str, object]:
    """The route page: settings (and their form), actions, health, activity."""
    data = views.route_page(ctx.conn, code)
    route = data["route"]
    credential = _CREDENTIALS.get(route.target_kind)
    return {
        "page": "routes",
        "gate": ops.gate.gate_state(ctx.conn),
        "kinds": sorted(DELIVERY_TARGET_KINDS),
        "health": views.route_health(ctx.conn, code),
        "health_routes": [code],
        "settings": [s for s in route_form.SETTINGS if s.applies(route)],
        "setting_values": route_form.values(route),
        "fingerprints": ops.secrets.fingerprints(ctx.conn, code, credential) if credential else [],
        **data,
    }


def route(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "route.html", route_context(ctx, ctx.request.path_params["code"]))


def route_fragment(console: Console, ctx: Ctx) -> Response:
    data = views.route_page(ctx.conn, ctx.request.path_params["code"])
    return console.render(ctx.request, "_route_activity.html", data)


def older_href(ctx: Ctx, older: int | None, path: str | None = None) -> str | None:
    """The same page and filters, from below ``older`` on (None when there is no older page)."""
    if older is None:
        return None
    params = {k: v for k, v in ctx.request.query_params.items() if k != "before" and v}
    return f"{path or ctx.request.url.path}?{urlencode({**params, 'before': older})}"


def _deliveries_context(ctx: Ctx) -> dict[str, object]:
    params = dict(ctx.request.query_params)
    try:
        f = views.delivery_filter(params)
        found = views.deliveries(ctx.conn, f)
        error = None
    except IuCoreError as exc:
        f, found, error = views.DeliveryFilter(), views.Paged([], None), str(exc)
    return {
        "filter": f,
        "params": params,
        "query": ctx.request.url.query,
        "rows": found.rows,
        "older": older_href(ctx, found.older, "/deliveries"),  # the page's link, from its fragment too
        "states": list(views.DELIVERY_STATES),
        "flash": error,
        "flash_error": error is not None,
    }


def deliveries(console: Console, ctx: Ctx) -> Response:
    context = _deliveries_context(ctx)
    context["routes"] = ops.routes.list_routes(ctx.conn)
    if context["flash"] is None:
        del context["flash"], context["flash_error"]
    return console.render(ctx.request, "deliveries.html", {"page": "deliveries", **context})


def deliveries_fragment(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "_deliveries.html", _deliveries_context(ctx))


def delivery(console: Console, ctx: Ctx) -> Response:
    try:
        delivery_id = int(ctx.request.path_params["delivery_id"])
    except ValueError:
        raise IuCoreError("a delivery id is a number") from None
    row, timeline = views.delivery(ctx.conn, delivery_id)
    event = exchange.event(ctx.conn, delivery_id)
    return console.render(
        ctx.request,
        "delivery.html",
        {
            "page": "deliveries",
            "d": row,
            "timeline": timeline,
            "event": event,
            "sent": exchange.sent_request(row, event),
            "answers": exchange.answers(ctx.conn, delivery_id),
            "dead_letter_id": views.open_dead_letter(ctx.conn, delivery_id),
            "resendable": row["state"] in ops.deliveries.RESENDABLE,
        },
    )


def dead_letters(console: Console, ctx: Ctx) -> Response:
    params = dict(ctx.request.query_params)
    everything = params.get("all") == "1"
    route_code = params.get("route") or None
    try:
        found, error = views.dead_letters(ctx.conn, params), None
    except IuCoreError as exc:
        found, error = views.Paged([], None), str(exc)
    context: dict[str, object] = {
        "page": "dead-letters",
        "letters": found.rows,
        "older": older_href(ctx, found.older),
        "open_count": views.open_dead_letters(ctx.conn),
        "routes": ops.routes.list_routes(ctx.conn),
        "everything": everything,
        "route_code": route_code,
        "params": params,
    }
    if error:
        context.update(flash=error, flash_error=True)
    return console.render(ctx.request, "dead_letters.html", context)


def dead_letters_count(console: Console, ctx: Ctx) -> Response:
    n = views.open_dead_letters(ctx.conn)
    return console.render(ctx.request, "_dead_count.html", {"open_count": n})


def gate(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "gate.html", {"page": "gate", "gate": ops.gate.gate_state(ctx.conn)})


def allowlist(console: Console, ctx: Ctx) -> Response:
    return console.render(
        ctx.request,
        "allowlist.html",
        {
            "page": "allowlist",
            "gate": ops.gate.gate_state(ctx.conn),
            "routes": ops.routes.list_routes(ctx.conn),
        },
    )


def ius(console: Console, ctx: Ctx) -> Response:
    return console.render(ctx.request, "ius.html", {"page": "ius", "units": views.units(ctx.conn)})


def iu(console: Console, ctx: Ctx) -> Response:
    data = views.unit(ctx.conn, ctx.request.path_params["code"])
    return console.render(ctx.request, "iu.html", {"page": "ius", **data})


def iu_report(console: Console, ctx: Ctx) -> Response:
    """The IU's stored structure report: one self-contained page (inline CSS, no script)."""
    code = ctx.request.path_params["code"]
    report = views.stored_report(ctx.conn, code)
    if report is None:
        message = {"error": f"no structure report for {code} yet"}
        return console.render(ctx.request, "error.html", message, status_code=404)
    return HTMLResponse(report.html, headers={"content-security-policy": report_policy(report.html)})


_STYLE_ELEMENT = re.compile(r"<style>(.*?)</style>", re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'\sstyle="([^"]*)"')


def report_policy(page: str) -> str:
    """The report page's CSP: its own inline styles, each allowed by its hash, and nothing else.

    The report is one self-contained file (a ``<style>`` element and a few
    ``style`` attributes, no script), made to be read anywhere; the console
    serves it under a policy that lets exactly those styles apply
    (``'unsafe-hashes'`` extends the hashes to the attributes) and nothing
    else load or run.
    """
    styles = [m.group(1) for m in _STYLE_ELEMENT.finditer(page)]
    styles += sorted({html.unescape(m.group(1)) for m in _STYLE_ATTRIBUTE.finditer(page)})
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()}'" for text in styles
    )
    style_src = f"'unsafe-hashes' {hashes}" if hashes else "'none'"
    return (
        f"default-src 'none'; style-src {style_src}; "
        "frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    )


def provision(console: Console, ctx: Ctx) -> Response:
    """One provision of an IU, addressed by its legal identifier (eid)."""
    code, eid = ctx.request.path_params["code"], ctx.request.path_params["eid"]
    tree = domain_provisions.tree_at(ctx.conn, code)
    data = domain_provisions.provision_as_dict(tree, domain_provisions.find_provision(tree, eid))
    unit = domain.get_unit(ctx.conn, code)
    context = {
        "page": "ius",
        "unit": unit,
        "p": data,
        "history": views.provision_history(ctx.conn, data["piece_id"]),
        "deliveries": views.provision_deliveries(ctx.conn, str(unit.iu_id), data["piece_id"]),
        "report": views.stored_report(ctx.conn, code),
    }
    data.update(_citation_links(ctx, data["piece_id"]))
    return console.render(ctx.request, "provision.html", context)


def _citation_links(ctx: Ctx, piece_id: str) -> dict[str, object]:
    """What the provision's text cites and which provisions cite it (_provision_citations.html)."""
    key = uuid.UUID(piece_id)
    cites, cited_by = citation_store.links_of_pieces(ctx.conn, [key])
    return {"cites": cites.get(key, []), "cited_by": cited_by.get(key, [])}


def audit(console: Console, ctx: Ctx) -> Response:
    params = dict(ctx.request.query_params)
    try:
        found, error = views.audit(ctx.conn, params), None
    except IuCoreError as exc:
        found, error = views.Paged([], None), str(exc)
    context: dict[str, object] = {
        "page": "audit",
        "rows": found.rows,
        "older": older_href(ctx, found.older),
        "object_key": params.get("object") or None,
        "params": params,
        "object_types": views.audit_object_types(ctx.conn),
    }
    if error:
        context.update(flash=error, flash_error=True)
    return console.render(ctx.request, "audit.html", context)


def search(console: Console, ctx: Ctx) -> Response:
    """Any id typed in the header's search box: straight to its page."""
    text = (ctx.request.query_params.get("q") or "").strip()
    target = views.find(ctx.conn, text) if text else None
    if target is not None:
        return RedirectResponse(target, status_code=303)
    message = f"nothing found for {text!r}" if text else "type an id to find"
    return console.render(
        ctx.request, "error.html", {"error": message, "page": "search", "q": text}, status_code=404
    )
