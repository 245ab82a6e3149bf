"""docs/http-targets.md, Ed25519 section: its commands run as written, in order, against a real database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.docs import page_commands
from tests.support.receivers import add_route, set_secret

PAGE = Path(__file__).parents[2] / "docs" / "http-targets.md"
ROUTE = "orders-hook"


def section_commands() -> list[list[str]]:
    """The ``iu-core`` commands of the page's Ed25519 section, as argument lists."""
    return page_commands(PAGE, "Ed25519 signatures")


@pytest.mark.slow
def test_the_sections_commands_run_as_written(conn: psycopg.Connection[Any], cli: Any) -> None:
    commands = section_commands()
    assert [c[:3] for c in commands] == [
        ["route", "set", ROUTE],
        ["route", "key", "public"],
        ["route", "show", ROUTE],
        ["route", "key", "rotate"],
        ["route", "key", "public"],
        ["route", "set", ROUTE],
    ]
    add_route(conn, ROUTE, "http://127.0.0.1:9/hook")
    set_secret(conn, ROUTE, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    out = []
    for args in commands:
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        out.append(done.stdout)
    public = out[1].strip()
    assert public.startswith("whpk_") and public in out[0]
    shown = json.loads(out[2])
    assert (shown["signature"], shown["signing_public_key"]) == ("ed25519", public)
    keys = json.loads(out[4])["public_keys"]
    assert [k["current"] for k in keys] == [True, False] and keys[1]["public_key"] == public
    assert keys[0]["public_key"] in out[3]
    row = conn.execute("SELECT signature FROM iu_outbound_route WHERE route_code = %s", (ROUTE,)).fetchone()
    assert row == ("hmac",)
