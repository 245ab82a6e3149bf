"""``iu-core citations`` and ``cited-by`` as processes: listing, filtering, and one error line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import CliRunner
from tests.integration.test_citation_store import ACT

LAW = Path(__file__).resolve().parents[1] / "data" / "statutes" / "vn_luat_an_ninh_mang_2018_full.txt"


@pytest.mark.slow
def test_the_commands_list_what_the_text_cites(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "act.txt").write_text(ACT, encoding="utf-8")
    assert cli("ingest", str(tmp_path / "act.txt"), "--code", "ACT").returncode == 0
    assert cli("ingest", str(LAW), "--code", "ANM").returncode == 0

    listed = json.loads(cli("citations", "ANM", "--json").stdout)
    assert len(listed) > 90 and all(r["unresolved"] is None for r in listed if r["to_code"] == "ANM")
    one = json.loads(cli("citations", "ANM", "--eid", listed[0]["eid"], "--json").stdout)
    assert one and {r["eid"] for r in one} == {listed[0]["eid"]}
    target = next(r for r in listed if r["to_eid"])
    by = json.loads(cli("cited-by", "ANM", target["to_eid"], "--json").stdout)
    assert (target["eid"], target["matched_text"]) in [(r["from_eid"], r["matched_text"]) for r in by]

    table = cli("citations", "ACT")
    assert table.returncode == 0 and table.stdout.rstrip().endswith("4 citation(s)")
    assert "sec_2__subsec_1" in table.stdout
    assert cli("citations", "ACT", "--unresolved").stdout.rstrip().endswith("0 citation(s)")
    assert "sec_4" in cli("cited-by", "ACT", "sec_3").stdout


@pytest.mark.slow
def test_unknown_names_are_one_error_line(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "act.txt").write_text(ACT, encoding="utf-8")
    assert cli("ingest", str(tmp_path / "act.txt"), "--code", "ACT").returncode == 0
    for args in (
        ("citations", "NOPE"),
        ("citations", "ACT", "--eid", "sec_99"),
        ("cited-by", "NOPE", "sec_1"),
        ("cited-by", "ACT", "sec_99"),
    ):
        done = cli(*args)
        assert done.returncode == 1, args
        assert done.stdout == "" and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, (
            done.stderr
        )
        assert "Traceback" not in done.stderr
