"""The console's web core: configuration, the login wall, and how pages and actions run.

Every page and action goes through :func:`page` or :func:`action`: no session,
no access (a browser is sent to the login page; htmx and JSON clients get
401); an action also needs the session's CSRF token. Handlers are plain
functions run in a worker thread with a pooled connection; an action's
outcome, success or one-line error, is shown on the page it returns to.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
from jinja2 import Environment, PackageLoader, select_autoescape
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from iu_core.console import humane, users
from iu_core.console.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    LoginLimiter,
    Session,
    SessionCodec,
    csrf_ok,
    wants_page,
)
from iu_core.errors import IuCoreError, describe_database_error, one_line
from iu_core.sqlfiles import queries

Conn = psycopg.Connection[Any]
FLASH_COOKIE = "iu_core_flash"

SECURITY_HEADERS = {
    # Scripts, styles and images only from the console itself; no framing.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


@dataclass(frozen=True)
class ConsoleConfig:
    database_url: str
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    session_max_age_s: int = 8 * 3600
    secure_cookie: bool = False  # set when the console is served over HTTPS (behind a proxy)
    login_max_failures: int = 5
    login_window_s: float = 300.0
    poll_seconds: float = 2.0
    metrics_token: str | None = field(default=None, repr=False)  # when set, /metrics needs it
    trusted_proxies: tuple[str, ...] = ()  # peers whose X-Forwarded-For names the client
    search_tokens: tuple[str, ...] = field(default=(), repr=False)  # bearer tokens of /api/search


@dataclass
class Ctx:
    """What a handler gets: the request, a connection, the session and, for actions, the form."""

    request: Request
    conn: Conn
    session: Session
    form: FormData | None = None

    @property
    def actor(self) -> str:
        return self.session.user

    def field(self, name: str) -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else ""

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]


class Console:
    """State shared by the handlers: configuration, connection pool, templates, session codec."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.codec = SessionCodec(config.secret, config.session_max_age_s, secure=config.secure_cookie)
        self.limiter = LoginLimiter(config.login_max_failures, config.login_window_s)
        self.pool = ConnectionPool(
            config.database_url,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True, "application_name": "iu-core console"},
            open=False,
        )
        env = Environment(
            loader=PackageLoader("iu_core.console", "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        humane.install(env)
        self.templates = Jinja2Templates(env=env)

    def render(
        self, request: Request, name: str, context: dict[str, Any], *, status_code: int = 200
    ) -> HTMLResponse:
        flash = request.cookies.get(FLASH_COOKIE)
        ctx = {
            "poll": self.config.poll_seconds,
            "session": getattr(request.state, "session", None),
            "flash": None,
            "flash_error": False,
            "alerts": getattr(request.state, "alerts", None),
            **context,
        }
        if flash and "flash" not in context:
            text = unquote(flash)
            ctx["flash_error"], ctx["flash"] = text.startswith("!"), text.lstrip("!")
        response = self.templates.TemplateResponse(request, name, ctx, status_code=status_code)
        if flash:
            response.delete_cookie(FLASH_COOKIE, path="/")
        return response


def safe_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path of this console, else ``default``: never another site.

    A browser drops tabs and line breaks from a URL and reads a backslash as a
    slash, so a path with a control character or a backslash may lead away as
    surely as ``//evil.example``: those, and anything with a scheme or a host,
    are refused.
    """
    if not target or not target.startswith("/") or len(target) > 2000:
        return default
    if any(ch in target for ch in "\\\x00") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return default
    return target


def redirect(to: str, flash: str | None = None, *, error: bool = False) -> RedirectResponse:
    """303 to ``to``, carrying a one-line message for the next page (an error starts with '!')."""
    response = RedirectResponse(to, status_code=303)
    if flash:
        text = ("!" if error else "") + one_line(flash, 300)
        response.set_cookie(
            FLASH_COOKIE,
            quote(text, safe=" :,.()/'-_#"),
            max_age=60,
            httponly=True,
            samesite="strict",
            path="/",
        )
    return response


def deny(request: Request) -> Response:
    if wants_page(request):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    return JSONResponse({"error": "login required"}, status_code=401)


def _load_session(console: Console, request: Request, conn: Conn) -> Session | None:
    session = console.codec.read(request)
    if session is None:
        return None
    # The epoch ends sessions at log-out and when the user is removed.
    if users.session_epoch(conn, session.user) != session.epoch:
        return None
    return session


@dataclass(frozen=True, slots=True)
class Alerts:
    """What every page warns of while it lasts: a closed gate, disabled routes."""

    gate_open: bool
    disabled: tuple[str, ...]

    def __bool__(self) -> bool:
        return not self.gate_open or bool(self.disabled)


def alerts(conn: Conn) -> Alerts:
    row = conn.execute(queries("console")["alerts"]).fetchone()
    if row is None:
        return Alerts(True, ())
    return Alerts(bool(row[0]), tuple(row[1] or ()))


Handler = Callable[[Ctx], Response]


def page(console: Console, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page: needs a live session."""

    async def endpoint(request: Request) -> Response:
        if console.codec.read(request) is None:
            return deny(request)

        def run() -> Response:
            with console.pool.connection() as conn:
                session = _load_session(console, request, conn)
                if session is None:
                    return deny(request)
                request.state.session = session
                request.state.alerts = alerts(conn)
                try:
                    return handler(Ctx(request, conn, session))
                except IuCoreError as exc:
                    return console.render(request, "error.html", {"error": str(exc)}, status_code=404)
                except psycopg.errors.DataError as exc:  # a value the database cannot take: the client's
                    message = {"error": describe_database_error(exc)}
                    return console.render(request, "error.html", message, status_code=400)

        return await run_in_threadpool(run)

    return endpoint


def action(
    console: Console, handler: Handler, back: Callable[[Request], str]
) -> Callable[[Request], Awaitable[Response]]:
    """A state-changing request: needs a live session and its CSRF token; answers with a redirect."""

    async def endpoint(request: Request) -> Response:
        if console.codec.read(request) is None:
            return deny(request)
        form = await request.form()

        def run() -> Response:
            with console.pool.connection() as conn:
                session = _load_session(console, request, conn)
                if session is None:
                    return deny(request)
                sent = request.headers.get(CSRF_HEADER) or form.get(CSRF_FIELD)
                if not csrf_ok(session, sent if isinstance(sent, str) else None):
                    return PlainTextResponse("refused: missing or wrong CSRF token", status_code=403)
                request.state.session = session
                try:
                    return handler(Ctx(request, conn, session, form))
                except IuCoreError as exc:
                    return redirect(back(request), str(exc), error=True)
                except psycopg.Error as exc:
                    return redirect(back(request), describe_database_error(exc), error=True)

        return await run_in_threadpool(run)

    return endpoint


def security_headers(app: Any) -> Any:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every response."""
    extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in extra if k not in names
                ]
            await send(message)

        if _has_nul(scope):
            # No page or action takes a NUL byte (PostgreSQL text cannot even hold one).
            refusal = PlainTextResponse("refused: a NUL byte in the address", status_code=400)
            await refusal(scope, receive, send_with_headers)
            return
        await app(scope, receive, send_with_headers)

    return wrapped


def _has_nul(scope: Any) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope.get("path", "") or b"\x00" in query or b"%00" in query


class SecurityHeaders:
    """The :func:`security_headers` middleware as Starlette's ``add_middleware`` takes it."""

    def __init__(self, app: Any) -> None:
        self._app = security_headers(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)
