"""`iu-core console user add|list|remove` as a user runs them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.console import PASSWORD


@pytest.mark.slow
def test_console_users_from_the_command_line(cli: Any) -> None:
    added = cli("console", "user", "add", "bob", "--password-stdin", input=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    again = cli("console", "user", "add", "bob", "--password-stdin", input=PASSWORD + "\n")
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr
    short = cli("console", "user", "add", "carol", "--password-stdin", input="short\n")
    assert short.returncode == 1 and "too short" in short.stderr
    bad = cli("console", "user", "add", "no spaces", "--password-stdin", input=PASSWORD + "\n")
    assert bad.returncode == 1 and "invalid user name" in bad.stderr
    prompted = cli("console", "user", "add", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert prompted.returncode == 0, prompted.stderr
    assert PASSWORD not in prompted.stdout + prompted.stderr
    assert cli("console", "user", "remove", "alice").returncode == 0
    listed = cli("console", "user", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [u["user_name"] for u in json.loads(listed.stdout)] == ["bob"]
    assert "bob" in cli("console", "user", "list").stdout
    removed = cli("console", "user", "remove", "bob")
    assert removed.returncode == 0
    gone = cli("console", "user", "remove", "bob")
    assert gone.returncode == 1 and "no console user" in gone.stderr
    assert json.loads(cli("console", "user", "list", "--json").stdout) == []
    on_command_line = cli("console", "--secret", "k" * 40, "--port", "0", timeout=30)
    assert on_command_line.returncode == 1 and "--secret-file" in on_command_line.stderr
    short_secret = cli("console", "--port", "0", env={"IU_CORE_CONSOLE_SECRET": "tooshort"}, timeout=30)
    assert short_secret.returncode == 1 and "too short" in short_secret.stderr
