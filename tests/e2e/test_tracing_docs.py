"""docs/tracing.md as a user follows it: its exports, then every `iu-core` line, against a collector.

The page's endpoint (127.0.0.1:4318) is replaced by a collector on a free
port of 127.0.0.1, and `PIECE` by a piece of the ingested document.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.receivers import Receiver, Reply

DOC = Path(__file__).resolve().parents[2] / "docs" / "tracing.md"


def _lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [line.split("  #", 1)[0].strip() for block in blocks for line in block.splitlines()]


def _piece(cli: Any, code: str) -> str:
    """A piece with some text of its own (the page splits it at offset 10)."""
    tree = json.loads(cli("tree", code, "--json").stdout)
    stack = list(tree["root"]["children"])
    while stack:
        node = stack.pop(0)
        if node["kind"] == "article" and len(node["text"] or "") > 20:
            return str(node["piece_id"])
        stack.extend(node["children"])
    raise AssertionError("no article with text")


@pytest.mark.slow
def test_the_pages_commands_export_their_spans(cli: Any) -> None:
    lines = _lines()
    exports = dict(line.removeprefix("export ").split("=", 1) for line in lines if line.startswith("export "))
    assert exports["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://127.0.0.1:4318"
    commands = [shlex.split(line)[1:] for line in lines if line.startswith("iu-core ")]
    assert [c[:2] for c in commands] == [
        ["ingest", "sample:regulation_en.md"],
        ["op", "split"],
        ["worker", "--once"],
    ]
    with Receiver(Reply(body=b"")) as collector:
        env = {**exports, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.port}"}
        for args in commands:
            if "PIECE" in args:
                args = [_piece(cli, "REG-EN") if a == "PIECE" else a for a in args]
            done = cli(*args, env=env)
            assert done.returncode == 0, f"iu-core {shlex.join(args)}: {done.stdout}{done.stderr}"
    names: set[str] = set()
    services: set[str] = set()
    for seen in collector.seen:
        for resource in ExportTraceServiceRequest.FromString(seen.body).resource_spans:
            services |= {
                a.value.string_value for a in resource.resource.attributes if a.key == "service.name"
            }
            names |= {span.name for scope in resource.scope_spans for span in scope.spans}
    assert {"iu_core.operation split", "iu_core.fan_out"} <= names
    assert services == {"iu-core"}
