"""``iu-core console``: serve the web console; ``console user add|remove|list``: who may log in."""

from __future__ import annotations

import dataclasses
import ipaddress
import sys

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
    "--secret",
    envvar=SECRET_ENV,
    show_envvar=True,
    default=None,
    help="Key that signs session cookies (at least 32 characters). Default: a random key, "
    "so sessions end when the console restarts.",
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
    "--metrics-token",
    envvar="IU_CORE_CONSOLE_METRICS_TOKEN",
    show_envvar=True,
    default=None,
    help="When set, /metrics needs 'Authorization: Bearer TOKEN'. Default: /metrics is open.",
)
@click.pass_context
def console_group(
    ctx: click.Context,
    host: str,
    port: int,
    secret: str | None,
    session_hours: float,
    secure_cookie: bool,
    metrics_token: str | None,
) -> None:
    """The operator console in the browser (login required), and /metrics for Prometheus.

    Without a subcommand: serve it until interrupted.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(AppContext)
    assert app is not None
    import uvicorn

    from iu_core.console import ConsoleConfig, create_app, users

    if secret is not None and len(secret) < 32:
        raise IuCoreError(f"the console secret is too short: at least 32 characters ({SECRET_ENV})")
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
        metrics_token=metrics_token or None,
    )
    if secret:
        config = dataclasses.replace(config, secret=secret)
    err_console.print(f"IU Core console on http://{host}:{port}/  (Ctrl-C stops it)")
    uvicorn.run(create_app(config), host=host, port=port, log_level="warning", server_header=False)


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
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
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
