"""The packaged delivery macros as text: data-only scripts in one transaction."""

from __future__ import annotations

from pathlib import Path

from iu_core import macros
from iu_core.psql_script import split_statements

RUNTIME = Path(macros.__file__).parent
MACRO_300 = RUNTIME / macros.MACROS["300"]
MACRO_220 = RUNTIME / macros.MACROS["220"]
ROLLBACK_300 = RUNTIME / macros.ROLLBACKS["300"]


def test_macros_are_data_only() -> None:
    # The only DDL is on session-local temp tables; no real object is created or dropped.
    for path in (MACRO_220, MACRO_300, ROLLBACK_300):
        statements = [" ".join(s.upper().split()) for s in split_statements(path.read_text(encoding="utf-8"))]
        assert statements[0] == "BEGIN;" and "COMMIT;" in statements
        for statement in statements:
            if statement.startswith(("CREATE", "DROP", "ALTER", "TRUNCATE", "COMMENT", "GRANT")):
                assert statement.startswith(("CREATE TEMP TABLE", "DROP TABLE IF EXISTS PG_TEMP.")), statement
