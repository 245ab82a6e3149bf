"""``iu-core console``: serve the web console; ``console user add|passwd|remove|list``: who may log in."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import sys
from pathlib import Path

import click

from iu_core.cli._common import (
    AppContext,
    console,
    err_console,
    json_option,
    operator_connection,
    pass_app,
    print_json,
)
from iu_core.errors import IuCoreError

HOST_ENV = "IU_CORE_CONSOLE_HOST"
PORT_ENV = "IU_CORE_CONSOLE_PORT"
SECRET_ENV = "IU_CORE_CONSOLE_SECRET"
SECRET_FILE_ENV = "IU_CORE_CONSOLE_SECRET_FILE"
MIN_SECRET = 32


def read_text_file(path: Path, what: str) -> str:
    """A credential file's text, or one error line naming ``what`` (never its content)."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IuCoreError(f"cannot read {what} {path}: {exc}") from None


def read_secret(path: Path | None) -> str | None:
    """The session key: from ``path``, else from ``$IU_CORE_CONSOLE_SECRET``, else None (a random one)."""
    if path is not None:
        secret = read_text_file(path, "the console secret file").strip()
        where = str(path)
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()
        where = SECRET_ENV
    if not secret:
        if path is not None:
            raise IuCoreError(f"the console secret file {path} is empty")
        return None
    if len(secret) < MIN_SECRET:
        raise IuCoreError(f"the console secret is too short: at least {MIN_SECRET} characters ({where})")
    return secret


SEARCH_TOKEN_ENV = "IU_CORE_SEARCH_TOKEN"
SEARCH_TOKEN_FILE_ENV = "IU_CORE_SEARCH_TOKEN_FILE"
MIN_SEARCH_TOKEN = 16


def read_search_tokens(path: Path | None) -> tuple[str, ...]:
    """The bearer tokens of /api/search: each line of ``path`` (# comments) and ``$IU_CORE_SEARCH_TOKEN``."""
    tokens: list[str] = []
    if path is not None:
        lines = read_text_file(path, "the search token file").splitlines()
        tokens += [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if os.environ.get(SEARCH_TOKEN_ENV, "").strip():
        tokens.append(os.environ[SEARCH_TOKEN_ENV].strip())
    short = [t for t in tokens if len(t) < MIN_SEARCH_TOKEN]
    if short:
        raise IuCoreError(f"a search token is too short: at least {MIN_SEARCH_TOKEN} characters")
    return tuple(tokens)


METRICS_TOKEN_ENV = "IU_CORE_CONSOLE_METRICS_TOKEN"
METRICS_TOKEN_FILE_ENV = "IU_CORE_CONSOLE_METRICS_TOKEN_FILE"


def read_metrics_token(path: Path | None) -> str | None:
    """The bearer token of /metrics: from ``path``, else ``$IU_CORE_CONSOLE_METRICS_TOKEN``, else None."""
    if path is not None:
        token = read_text_file(path, "the metrics token file").strip()
        if not token:
            raise IuCoreError(f"the metrics token file {path} is empty")
    else:
        token = os.environ.get(METRICS_TOKEN_ENV, "").strip()
    if token and len(token) < MIN_SEARCH_TOKEN:
        raise IuCoreError(f"the metrics token is too short: at least {MIN_SEARCH_TOKEN} characters")
    return token or None


def check_address(text: str) -> str:
    """A proxy address as the console compares it (one IP address, no name, no network)."""
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise IuCoreError(f"--trusted-proxy {text!r}: not an IP address (e.g. 127.0.0.1 or ::1)") from None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _refuse_on_command_line(value: str | None, option: str, what: str, file_env: str, env: str) -> None:
    """A credential given as OPTION VALUE is refused (the process list shows it), never echoed."""
    if value is not None:
        raise IuCoreError(
            f"{option} would show {what} in the process list; put it in a file and use "
            f"{option}-file FILE ({file_env}), or set {env}"
        )


@click.group("console", invoke_without_command=True)
@click.option(
    "--host",
    envvar=HOST_ENV,
    show_envvar=True,
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback is warned about: put TLS in front.",
)
@click.option(
    "--port",
    envvar=PORT_ENV,
    show_envvar=True,
    type=click.IntRange(0, 65535),
    default=8089,
    show_default=True,
    help="Port to listen on.",
)
@click.option(
    "--secret-file",
    envvar=SECRET_FILE_ENV,
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the key that signs session cookies (at least 32 characters), or set "
    f"{SECRET_ENV}. Default: a random key, so sessions end when the console restarts.",
)
@click.option("--secret", "secret_on_command_line", default=None, hidden=True, expose_value=True)
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    envvar="IU_CORE_CONSOLE_TRUSTED_PROXY",
    show_envvar=True,
    multiple=True,
    metavar="ADDR",
    help="Address of a reverse proxy whose X-Forwarded-For names the client (repeatable). "
    "Default: none; the header is ignored and the login limit counts the peer's address.",
)
@click.option(
    "--session-hours",
    envvar="IU_CORE_CONSOLE_SESSION_HOURS",
    show_envvar=True,
    type=click.FloatRange(0.05, 24 * 30),
    default=8.0,
    show_default=True,
    help="How long a login lasts.",
)
@click.option(
    "--secure-cookie/--no-secure-cookie",
    envvar="IU_CORE_CONSOLE_SECURE_COOKIE",
    show_envvar=True,
    default=False,
    show_default=True,
    help="Mark the session cookie Secure (when served over HTTPS, e.g. behind a proxy).",
)
@click.option(
    "--metrics-token-file",
    envvar=METRICS_TOKEN_FILE_ENV,
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File holding the token /metrics then needs as 'Authorization: Bearer TOKEN' (at least "
    f"{MIN_SEARCH_TOKEN} characters), or set {METRICS_TOKEN_ENV}. Default: /metrics is open.",
)
@click.option("--metrics-token", "metrics_token_on_command_line", default=None, hidden=True)
@click.option(
    "--search-token-file",
    envvar=SEARCH_TOKEN_FILE_ENV,
    show_envvar=True,
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"File of bearer tokens (one a line) that applications present to GET /api/search; "
    f"{SEARCH_TOKEN_ENV} adds one. Default: none, and /api/search refuses every request.",
)
@click.pass_context
def console_group(
    ctx: click.Context,
    host: str,
    port: int,
    secret_file: Path | None,
    secret_on_command_line: str | None,
    trusted_proxies: tuple[str, ...],
    session_hours: float,
    secure_cookie: bool,
    metrics_token_file: Path | None,
    metrics_token_on_command_line: str | None,
    search_token_file: Path | None,
) -> None:
    """The operator console in the browser (login required), and /metrics for Prometheus.

    Without a subcommand: serve it until interrupted.
    """
    _refuse_on_command_line(secret_on_command_line, "--secret", "the key", SECRET_FILE_ENV, SECRET_ENV)
    _refuse_on_command_line(
        metrics_token_on_command_line,
        "--metrics-token",
        "the token",
        METRICS_TOKEN_FILE_ENV,
        METRICS_TOKEN_ENV,
    )
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    import uvicorn

    from iu_core.console import ConsoleConfig, create_app, users

    secret = read_secret(secret_file)
    search_tokens = read_search_tokens(search_token_file)
    metrics_token = read_metrics_token(metrics_token_file)
    proxies = tuple(check_address(a) for a in trusted_proxies)
    with operator_connection(app) as conn:
        if not users.list_users(conn):
            err_console.print("note: no console user yet; add one with: iu-core console user add NAME")
    if not is_loopback(host):
        err_console.print(
            f"[yellow]warning:[/yellow] the console listens on {host}, not only on this machine: "
            "anyone who can reach it can try to log in; serve it behind TLS (and --secure-cookie)."
        )
    if secret is None:
        err_console.print(f"note: sessions end when the console stops (set {SECRET_ENV} to keep them)")
    config = ConsoleConfig(
        database_url=app.url,
        session_max_age_s=int(session_hours * 3600),
        secure_cookie=secure_cookie,
        metrics_token=metrics_token,
        trusted_proxies=proxies,
        search_tokens=search_tokens,
    )
    if secret:
        config = dataclasses.replace(config, secret=secret)
    err_console.print(f"IU Core console on http://{host}:{port}/  (Ctrl-C stops it)")
    # uvicorn would take X-Forwarded-For from 127.0.0.1 by default; the console
    # decides itself (--trusted-proxy), so uvicorn trusts no proxy at all.
    uvicorn.run(
        create_app(config),
        host=host,
        port=port,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
        forwarded_allow_ips="",
    )


@console_group.group("user")
def user_group() -> None:
    """Who may log in to the console."""


@user_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@pass_app
def user_add_cmd(app: AppContext, name: str, password_stdin: bool) -> None:
    """Add console user NAME (the password is asked for without echo)."""
    from iu_core.console import users  # imported on use: the web stack is heavy

    users.check_name(name)
    password = _read_password(password_stdin, "Password")
    with operator_connection(app) as conn:
        users.add_user(conn, name, password)
    console.print(f"console user {name} added")


@user_group.command("remove")
@click.argument("name")
@pass_app
def user_remove_cmd(app: AppContext, name: str) -> None:
    """Remove console user NAME (its sessions end at once)."""
    from iu_core.console import users  # imported on use: the web stack is heavy

    with operator_connection(app) as conn:
        users.remove_user(conn, name)
    console.print(f"console user {name} removed")


@user_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@pass_app
def user_passwd_cmd(app: AppContext, name: str, password_stdin: bool) -> None:
    """Change console user NAME's password (every session of NAME ends)."""
    from iu_core.console import users  # imported on use: the web stack is heavy

    users.check_name(name)
    password = _read_password(password_stdin, "New password")
    with operator_connection(app) as conn:
        users.change_password(conn, name, password)
    console.print(f"console user {name}: password changed, its sessions ended")


def _read_password(from_stdin: bool, prompt: str) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True, err=True))


@user_group.command("list")
@json_option
@pass_app
def user_list_cmd(app: AppContext, as_json: bool) -> None:
    """List console users and their last login."""
    from iu_core.console import users  # imported on use: the web stack is heavy

    with operator_connection(app) as conn:
        found = users.list_users(conn)
    if as_json:
        print_json([u.as_dict() for u in found])
        return
    for u in found:
        last = u.last_login_at.strftime("%Y-%m-%d %H:%M:%S %Z") if u.last_login_at else "never logged in"
        console.print(f"{u.user_name}  (last login: {last})", markup=False)
    if not found:
        console.print("(no console users; add one with: iu-core console user add NAME)")


COMMANDS: list[click.Command] = [console_group]
