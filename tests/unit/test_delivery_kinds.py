"""The kind table is the one place that says how each kind is delivered and checked."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

from iu_core import delivery_seam
from iu_core.delivery import KINDS, DeliveryPath, TargetKind, kinds_on, spec
from iu_core.delivery.detail import SQL_READS, AttemptDetail

SRC = Path(__file__).resolve().parents[2] / "src" / "iu_core"
KIND_NAMES = {kind.value for kind in TargetKind}


def _load(name: str) -> object:
    module, _, attr = name.partition(":")
    return getattr(importlib.import_module(module), attr)


def test_every_kind_has_one_row_and_the_seam_lists_the_same_kinds() -> None:
    assert set(KINDS) == set(TargetKind)
    assert delivery_seam.DELIVERY_TARGET_KINDS == KIND_NAMES
    assert all(row.kind is kind for kind, row in KINDS.items())
    assert spec("ftp") is None


def test_each_path_has_the_kinds_the_worker_delivers_that_way() -> None:
    assert kinds_on(DeliveryPath.SQL_BATCH) == (TargetKind.SQL_FUNCTION,)
    assert set(kinds_on(DeliveryPath.IN_TRANSACTION)) == {"workflow", "vector", "report"}
    assert set(kinds_on(DeliveryPath.ASYNC_HTTP)) == {"external_endpoint", "directus_flow"}
    assert all(row.exactly_once == (row.path is not DeliveryPath.ASYNC_HTTP) for row in KINDS.values())


@pytest.mark.parametrize("kind", list(TargetKind))
def test_the_checks_a_row_names_exist_and_a_target_is_of_its_kind(kind: TargetKind) -> None:
    row = KINDS[kind]
    if row.path is DeliveryPath.IN_TRANSACTION:
        assert row.target is not None and row.ref_check is None and row.readiness_check is None
        target_class = _load(row.target)
        assert callable(target_class)
        assert target_class().target_kind == kind  # type: ignore[attr-defined]
    else:
        assert row.target is None and row.ref_check and row.readiness_check
        assert callable(_load(row.ref_check)) and callable(_load(row.readiness_check))


def _kind_collections(tree: ast.AST) -> list[int]:
    """Lines of collection literals naming two or more kinds."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Set, ast.List, ast.Tuple)):
            named = {e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in KIND_NAMES}
            if len(named) >= 2:
                lines.append(node.lineno)
    return lines


def test_no_module_but_the_table_lists_kinds() -> None:
    found = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        # migrations.py names the schema's files, two of which share a kind's noun (report, vector).
        if rel in ("delivery/kinds.py", "migrations.py") or rel.startswith("console/"):
            continue
        lines = _kind_collections(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[rel] = lines
    assert found == {}, f"kinds listed outside iu_core/delivery/kinds.py: {found}"


def test_the_detail_keys_sql_reads_are_the_typed_record_s() -> None:
    record_sql = (SRC / "sql" / "functions" / "worker_record.sql").read_text(encoding="utf-8")
    read = set(re.findall(r"detail\s*->>\s*'(\w+)'", record_sql))
    assert read == set(SQL_READS)
    assert set(SQL_READS) <= set(AttemptDetail.__annotations__)
    batch_sql = (SRC / "sql" / "functions" / "worker_sql_batch.sql").read_text(encoding="utf-8")
    written = set(re.findall(r"'(\w+)',\s*(?:v_\w+|NOT)", batch_sql))
    assert written and written <= set(AttemptDetail.__annotations__)
