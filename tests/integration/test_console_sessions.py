"""Console sessions that end for good, console users in the audit, the secret and the metrics token off
the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from iu_core.console.users import add_user, remove_user
from tests.support.cli import invoke
from tests.support.console import PASSWORD, SECRET, USER, client, console_process, csrf_of, login, make_user

NEW_PASSWORD = "another horse battery staple"


def live(c: httpx.Client, cookie: str) -> bool:
    """Whether ``cookie`` is a session the console accepts."""
    c.cookies.set("iu_core_session", cookie)
    return c.get("/", headers={"HX-Request": "true"}).status_code == 200


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_a_user_removed_and_added_again_gets_none_of_its_old_sessions_back(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    with client(database_url) as c:
        login(c)
        logged_out = c.cookies.get("iu_core_session")
        assert logged_out
        c.post("/logout", data={"csrf": csrf_of(c)})
        c.cookies.clear()
        login(c)
        still_live = c.cookies.get("iu_core_session")
        assert still_live and live(c, still_live)
        # the documented way to start over with a user: remove it, add it again
        remove_user(conn, USER)
        add_user(conn, USER, PASSWORD)
        assert not live(c, still_live)
        assert not live(c, logged_out)
        c.cookies.clear()
        assert login(c).status_code == 303  # a new login works
        assert live(c, c.cookies.get("iu_core_session") or "")


@pytest.mark.slow
def test_passwd_changes_the_password_and_ends_every_session_of_that_user(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    make_user(conn, "ops-bob")
    with client(database_url) as c, client(database_url) as bob:
        login(c)
        alice_cookie = c.cookies.get("iu_core_session") or ""
        login(bob, "ops-bob")
        bob_cookie = bob.cookies.get("iu_core_session") or ""
        changed = invoke(
            database_url, "console", "user", "passwd", USER, "--password-stdin", input=NEW_PASSWORD + "\n"
        )
        assert changed.returncode == 0, changed.stderr
        assert "sessions ended" in changed.stdout and NEW_PASSWORD not in changed.stdout + changed.stderr
        assert not live(c, alice_cookie)
        assert live(bob, bob_cookie)  # another user's sessions go on
        c.cookies.clear()
        assert login(c).status_code == 401  # the old password no longer works
        assert login(c, password=NEW_PASSWORD).status_code == 303
    short = invoke(database_url, "console", "user", "passwd", USER, "--password-stdin", input="short\n")
    assert "too short" in error_line(short)
    nobody = invoke(database_url, "console", "user", "passwd", "nobody", "--password-stdin", input=PASSWORD)
    assert "no console user 'nobody'" in error_line(nobody)


def test_console_user_add_passwd_remove_are_one_audit_row_each(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        result = invoke(database_url, "--actor", "root-op", "console", "user", *args, input=stdin)
        assert result.returncode == 0, result.stderr
        return result

    cli("add", "carol", "--password-stdin", stdin=PASSWORD + "\n")
    cli("passwd", "carol", "--password-stdin", stdin=NEW_PASSWORD + "\n")
    cli("remove", "carol")
    # refusals change nothing and write nothing
    invoke(database_url, "console", "user", "remove", "carol")
    invoke(database_url, "console", "user", "passwd", "carol", "--password-stdin", input=PASSWORD)
    rows = conn.execute(
        "SELECT actor, context, object_type, object_key, action, before, after "
        "FROM iu_operator_audit ORDER BY audit_id"
    ).fetchall()
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in rows] == [
        ("root-op", "console user add", "console_user", "carol", "insert"),
        ("root-op", "console user passwd", "console_user", "carol", "update"),
        ("root-op", "console user remove", "console_user", "carol", "delete"),
    ]
    recorded = json.dumps([r[5:] for r in rows], default=str)
    assert "argon2" not in recorded and PASSWORD not in recorded and NEW_PASSWORD not in recorded
    shown = invoke(database_url, "audit", "--json")
    assert shown.returncode == 0, shown.stderr
    assert [(r["context"], r["object_key"]) for r in json.loads(shown.stdout)] == [
        ("console user remove", "carol"),
        ("console user passwd", "carol"),
        ("console user add", "carol"),
    ]
    table = invoke(database_url, "audit")
    assert "console_user carol" in table.stdout


def test_the_secret_is_refused_on_the_command_line(cli: Any, tmp_path: Path) -> None:
    # a real process with a time limit: a console that started serving would never return
    key = "k" * 40
    refused = cli("console", "--secret", key, "--port", "0", timeout=30)
    line = error_line(refused)
    assert "--secret-file" in line and "IU_CORE_CONSOLE_SECRET" in line and key not in line
    assert "--secret-file" in error_line(cli("console", "--secret", key, "user", "list", timeout=30))
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    assert "too short" in error_line(cli("console", "--secret-file", str(short), timeout=30))
    missing = cli("console", "--secret-file", str(tmp_path / "nowhere"), timeout=30)
    assert missing.returncode != 0 and "Traceback" not in missing.stderr
    env_short = cli("console", env={"IU_CORE_CONSOLE_SECRET": "tooshort"}, timeout=30)
    assert "too short" in error_line(env_short)


def test_the_metrics_token_comes_from_a_file_never_the_command_line(
    cli: Any, database_url: str, tmp_path: Path
) -> None:
    token = "prometheus-scrape-token-0123"
    refused = error_line(cli("console", "--metrics-token", token, "--port", "0", timeout=30))
    assert "--metrics-token-file" in refused and "IU_CORE_CONSOLE_METRICS_TOKEN" in refused
    assert token not in refused
    short = tmp_path / "short"
    short.write_text("tooshort\n")
    assert "too short" in error_line(cli("console", "--metrics-token-file", str(short), timeout=30))
    token_file = tmp_path / "metrics.token"
    token_file.write_text(token + "\n")
    with console_process(database_url, args=["--metrics-token-file", str(token_file)]) as base:
        assert httpx.get(f"{base}/metrics").status_code == 401
        shown = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert shown.status_code == 200 and "iu_delivery_gate_open" in shown.text


@pytest.mark.slow
def test_a_secret_file_signs_sessions_that_outlive_a_restart(
    database_url: str, conn: psycopg.Connection[Any], tmp_path: Path
) -> None:
    make_user(conn)
    secret_file = tmp_path / "console.key"
    secret_file.write_text(SECRET + "\n")
    args = ["--secret-file", str(secret_file)]
    with (
        console_process(database_url, args=args, secret_in_env=False) as base,
        httpx.Client(base_url=base) as c,
    ):
        assert login(c).status_code == 303
        cookie = c.cookies.get("iu_core_session") or ""
    with (
        console_process(database_url, args=args, secret_in_env=False) as base,
        httpx.Client(base_url=base) as c,
    ):
        assert live(c, cookie)
    # another key: the cookie is worthless
    secret_file.write_text("x" * 40)
    with (
        console_process(database_url, args=args, secret_in_env=False) as base,
        httpx.Client(base_url=base) as c,
    ):
        assert not live(c, cookie)
