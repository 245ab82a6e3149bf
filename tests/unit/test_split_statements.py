"""psql_script.split_statements: a script cut into statements exactly where psql cuts it."""

from __future__ import annotations

from iu_core.psql_script import split_statements


def test_split_understands_quotes_comments_and_dollar_bodies() -> None:
    text = (
        "-- lead; comment\nBEGIN; /* a; b */ SELECT 'a;''b'; "
        'DO $body$ BEGIN PERFORM 1; END $body$; SELECT "x;y" FROM t /* nested /* ; */ */;'
        "\n-- only a comment;\n SELECT $$;$$"
    )
    assert split_statements(text) == [
        "BEGIN;",
        "SELECT 'a;''b';",
        "DO $body$ BEGIN PERFORM 1; END $body$;",
        'SELECT "x;y" FROM t /* nested /* ; */ */;',
        "SELECT $$;$$",
    ]


def test_split_drops_comment_only_text() -> None:
    assert split_statements("-- nothing\n/* here; */\n") == []
