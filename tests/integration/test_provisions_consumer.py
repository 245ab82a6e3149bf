"""A consumer that knows provisions only by their legal identifier follows a renumbering by webhook."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from standardwebhooks import Webhook

from iu_core import domain
from tests.conftest import CliRunner
from tests.support.receivers import Receiver, add_route, set_secret
from tests.support.worker import once

SECRET = "whsec_" + "cHJvdmlzaW9ucy1jb25zdW1lci10ZXN0LXNlY3JldA=="
LAW = """Chapter I General
Article 1 Scope
1. This law applies.
Article 2 Terms
Text of two.
(a) first term;
(b) second term.
"""


def test_a_webhook_consumer_finds_the_provision_by_eid_alone(
    conn: psycopg.Connection[Any], database_url: str, cli: CliRunner
) -> None:
    domain.ingest_document(conn, LAW, code="LAW")
    # The consumer's own copy, keyed by eid (no piece ids kept).
    tree = json.loads(cli("tree", "LAW", "--json").stdout)
    copy: dict[str, str] = {}

    def keep(node: dict[str, Any]) -> None:
        copy[node["eid"]] = node["text"]
        for kid in node["children"]:
            keep(kid)

    keep(tree["root"])
    assert copy["chp_I__art_2__point_b"] == "(b) second term.\n"
    article = next(
        row[0] for row in conn.execute("SELECT piece_id FROM iu_piece WHERE eid = 'chp_I__art_2'").fetchall()
    )
    with Receiver() as rx:
        add_route(conn, "hook.law", rx.url)
        set_secret(conn, "hook.law", SECRET)
        domain.rename_piece(conn, article, label="Article 7")
        once(database_url)
    bodies = [Webhook(SECRET).verify(seen.body, seen.headers) for seen in rx.seen]
    rename = next(b["data"] for b in bodies if b["data"]["operation_type"] == "rename")
    # The consumer moves its records from the previous eids to the new ones...
    by_piece = dict(zip(rename["pieces"], rename["eids"], strict=True))
    for piece, old in rename["previous_eids"].items():
        copy[by_piece[piece]] = copy.pop(old)
    assert "chp_I__art_2__point_b" not in copy
    # ... and each new eid addresses, on its own, the provision it holds.
    for eid in rename["eids"]:
        shown = json.loads(cli("show", "LAW", eid, "--json").stdout)
        assert shown["eid"] == eid and shown["text"] == copy[eid]
    assert set(rename["eids"]) == {
        "chp_I__art_7",
        "chp_I__art_7__point_a",
        "chp_I__art_7__point_b",
    }
