"""``iu-core events schema`` as a process: the types, one schema, an unknown type; the docs page."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from iu_core import events
from tests.conftest import run_iu_core

PAGE = Path(__file__).parents[2] / "docs" / "events.md"


def test_without_a_type_it_lists_every_type_with_its_version() -> None:
    done = run_iu_core(["events", "schema", "--json"], database_url=None)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    assert [(r["event_type"], r["schema_version"]) for r in listed] == [
        (t, events.schema_version(t)) for t in events.event_types()
    ]
    table = run_iu_core(["events", "schema"], database_url=None, env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert re.search(r"structure_op_applied\s+│\s+1\.0\s+│", table.stdout), table.stdout


def test_with_a_type_it_prints_that_schema_as_json() -> None:
    done = run_iu_core(["events", "schema", "iu_dead_lettered"], database_url=None)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown == events.schema("iu_dead_lettered")
    assert shown["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "dead_letter_id" in shown["required"]


def test_an_unknown_type_is_one_error_line_and_a_failure() -> None:
    done = run_iu_core(["events", "schema", "no_such_event"], database_url=None)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.startswith("error: unknown event type 'no_such_event'")
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_pages_commands_run_as_written(cli: Any) -> None:
    text = PAGE.read_text(encoding="utf-8")
    (block,) = re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
    commands = [shlex.split(line.split(" #", 1)[0])[1:] for line in block.strip().splitlines()]
    assert [c[:2] for c in commands] == [["events", "schema"]] * 2 + [["events", "list"]]
    assert cli("ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    out = []
    for args in commands:
        done = cli(*args)
        assert done.returncode == 0, (args, done.stderr)
        out.append(done.stdout)
    assert "structure_piece_deprecated" in out[0]
    assert json.loads(out[1])["$id"] == "urn:iu-core:events:structure_op_applied"
    assert "iu_created" in out[2] and "REG-EN" in out[2]
