"""The console's URL table, the login and logout, and ``/metrics``."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from functools import partial
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from iu_core import metrics
from iu_core.console import actions, pages, search_api, users
from iu_core.console.app import Console, Ctx, action, deny, page, redirect, safe_path
from iu_core.console.auth import client_address


async def login_form(request: Request) -> Response:
    console: Console = request.app.state.console
    if console.codec.read(request) is not None and request.query_params.get("again") != "1":
        return RedirectResponse("/", status_code=303)
    next_path = safe_path(request.query_params.get("next"))
    return _login_page(console, request, None, next_path, status_code=200)


def _login_page(
    console: Console, request: Request, error: str | None, next_path: str, *, status_code: int
) -> Response:
    nonce, token = console.codec.login_token(request)
    response = console.render(
        request,
        "login.html",
        {"error": error, "next": next_path, "login_token": token, "page": "login"},
        status_code=status_code,
    )
    console.codec.set_login_cookie(response, nonce)
    return response


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    form = await request.form()
    name = str(form.get("username") or "").strip()
    password = str(form.get("password") or "")
    next_path = safe_path(str(form.get("next") or "/"))
    if not console.codec.login_nonce_ok(request, str(form.get("login_token") or "")):
        return _login_page(console, request, "the login form expired; try again", next_path, status_code=403)
    client = client_address(request, console.config.trusted_proxies)
    wait = console.limiter.retry_after(client, name)
    if wait:
        response = _login_page(
            console, request, f"too many failed logins; try again in {wait} s", next_path, status_code=429
        )
        response.headers["retry-after"] = str(wait)
        return response

    def check() -> users.LoginCheck:
        with console.pool.connection() as conn:
            return users.authenticate(conn, name, password)

    checked = await run_in_threadpool(check)
    if checked.epoch is None:
        console.limiter.failed(client, name if checked.known_user else None)
        return _login_page(console, request, "wrong user name or password", next_path, status_code=401)
    console.limiter.succeeded(name)
    response = RedirectResponse(next_path, status_code=303)
    console.codec.issue(response, name, checked.epoch)
    return response


def logout(ctx: Ctx) -> Response:
    users.end_sessions(ctx.conn, ctx.actor)  # every session of this user ends, not just this cookie
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie("iu_core_session", path="/", httponly=True, samesite="strict")
    return response


async def metrics_endpoint(request: Request) -> Response:
    console: Console = request.app.state.console
    token = console.config.metrics_token
    if token:
        sent = request.headers.get("authorization", "")
        if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
            return PlainTextResponse("metrics need the bearer token", status_code=401)
    body = await run_in_threadpool(metrics.exposition)
    return Response(body, media_type=metrics.CONTENT_TYPE)


def _back(path: str) -> Callable[[Request], str]:
    return lambda request: path


def _back_to_route(request: Request) -> str:
    return f"/routes/{quote(request.path_params['code'], safe='')}"


def table(console: Console) -> list[BaseRoute]:
    metrics.register_database(console.config.database_url)

    def p(handler: Callable[[Console, Ctx], Response]) -> Any:
        return page(console, partial(handler, console))

    def a(handler: Callable[[Ctx], Response], back: Callable[[Request], str]) -> Any:
        return action(console, handler, back)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", a(logout, _back("/")), methods=["POST"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/api/search", search_api.search_endpoint, methods=["GET"]),
        Route("/", p(pages.overview)),
        Route("/fragments/overview", p(pages.overview_fragment)),
        Route("/api/status", p(pages.api_status)),
        Route("/routes", p(pages.routes), methods=["GET"]),
        Route("/routes", a(actions.add_route, _back("/routes")), methods=["POST"]),
        Route("/routes/{code}", p(pages.route)),
        Route("/fragments/routes/{code}", p(pages.route_fragment)),
        Route("/routes/{code}/mode", a(actions.set_route_mode, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/target", a(actions.set_route_target, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/enable", a(actions.enable_route, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/secret", a(actions.rotate_secret, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/key", a(actions.rotate_key, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/token", a(actions.set_token, _back_to_route), methods=["POST"]),
        Route("/routes/{code}/settings", a(actions.set_route_settings, _back_to_route), methods=["POST"]),
        Route("/deliveries", p(pages.deliveries)),
        Route("/fragments/deliveries", p(pages.deliveries_fragment)),
        Route("/deliveries/{delivery_id}", p(pages.delivery)),
        Route(
            "/deliveries/{delivery_id}/resend",
            a(actions.resend, lambda r: f"/deliveries/{quote(r.path_params['delivery_id'], safe='')}"),
            methods=["POST"],
        ),
        Route("/dead-letters", p(pages.dead_letters)),
        Route("/fragments/dead-letters/count", p(pages.dead_letters_count)),
        Route("/dead-letters/replay", a(actions.replay, _back("/dead-letters")), methods=["POST"]),
        Route("/dead-letters/discard", a(actions.discard, _back("/dead-letters")), methods=["POST"]),
        Route("/gate", p(pages.gate)),
        Route("/gate", a(actions.set_gate, _back("/gate")), methods=["POST"]),
        Route("/allowlist", p(pages.allowlist)),
        Route("/allowlist/add", a(actions.allowlist_add, _back("/allowlist")), methods=["POST"]),
        Route("/allowlist/remove", a(actions.allowlist_remove, _back("/allowlist")), methods=["POST"]),
        Route("/ius", p(pages.ius)),
        Route("/ius/{code}", p(pages.iu)),
        Route("/ius/{code}/report", p(pages.iu_report)),
        Route("/ius/{code}/{eid}", p(pages.provision)),
        Route("/audit", p(pages.audit)),
        Route("/search", p(pages.search)),
        Mount("/static", StaticFiles(packages=[("iu_core.console", "static")]), name="static"),
    ]


__all__ = ["deny", "redirect", "table"]
