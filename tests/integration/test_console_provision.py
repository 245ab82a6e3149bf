"""A provision's page: its text, every recorded version (what changed, the text diff), the
deliveries of the events that name it, and the link to its unit's structure report."""

from __future__ import annotations

import html
import re
from typing import Any

import psycopg

from tests.support.cli import invoke
from tests.support.console import client, login, make_user
from tests.support.worker import once


def test_a_provision_shows_its_history_with_a_text_diff_its_deliveries_and_the_report_link(
    database_url: str, conn: psycopg.Connection[Any]
) -> None:
    make_user(conn)
    assert invoke(database_url, "ingest", "sample:regulation_en.md", "--code", "REG-EN").returncode == 0
    row = conn.execute(
        "SELECT p.piece_id, p.text FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code = 'REG-EN' AND p.status = 'active' AND p.parent_piece_id IS NOT NULL"
        " AND length(p.text) > 60"
        " ORDER BY length(p.text) DESC LIMIT 1"
    ).fetchone()
    assert row is not None
    piece, text = str(row[0]), str(row[1])
    cut = text.index(" ", len(text) // 2)
    kept, moved = text[:cut].strip(), text[cut:].strip()
    split = invoke(database_url, "op", "split", piece, "--offset", str(cut), "--actor", "editor-ann")
    assert split.returncode == 0, split.stderr
    renamed = invoke(database_url, "op", "rename", piece, "--heading", "Renamed heading")
    assert renamed.returncode == 0, renamed.stderr
    once(database_url)  # the dry-run route decides: deliveries of the operations' events
    eid = conn.execute("SELECT eid FROM iu_piece WHERE piece_id = %s", (piece,)).fetchone()
    assert eid is not None and eid[0]
    with client(database_url) as c:
        login(c)
        page = html.unescape(c.get(f"/ius/REG-EN/{eid[0]}").text)
        assert "no structure report of REG-EN yet" in page
        assert invoke(database_url, "report", "build", "--iu", "REG-EN").returncode == 0
        with_report = c.get(f"/ius/REG-EN/{eid[0]}").text
    assert 'href="/ius/REG-EN/report"' in with_report
    history = page.split('id="provision-history"')[1].split("</section>")[0]
    versions = re.findall(r"<li[^>]*><time[^>]*>[^<]*</time>\s*<b>([a-z]+)</b>", history)
    assert versions == ["rename", "split", "recorded"] or versions == ["rename", "split", "autocut"], history
    assert "by editor-ann" in history and "heading" in history
    assert f"<del>{moved.split()[0]}" in history  # the words the split moved out of this provision
    assert "<ins>" not in history
    assert kept in page.split('id="provision-text"')[1]
    deliveries = page.split('id="provision-deliveries"')[1].split("</table>")[0]
    assert deliveries.count("structure_op_applied") >= 2, deliveries
