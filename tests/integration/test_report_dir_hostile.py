"""A report directory others can write to: a planted name fails the delivery, never hangs the worker."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.report import ingest_small
from tests.support.routes import add_route
from tests.support.worker import once, scalar, states

ROUTE = "report.files"


def _live_dir_route(conn: psycopg.Connection[Any], directory: Path) -> None:
    add_route(conn, ROUTE, kind="report", ref=f"dir:{directory}", live=True)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _symlink(path: Path) -> None:
    outside = path.parent.parent / "outside.md"
    outside.write_text("not a report\n")
    path.symlink_to(outside)


def _directory(path: Path) -> None:
    path.mkdir()


# The FIFO case used to block the worker for ever inside its delivery transaction
# (opening a FIFO for reading waits for a writer): the timeout proves it no longer does.
@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("plant", "kind"), [(_fifo, "a FIFO"), (_symlink, "a symbolic link"), (_directory, "a directory")]
)
def test_a_name_planted_in_the_report_directory_is_a_recorded_failure(
    conn: psycopg.Connection[Any], database_url: str, tmp_path: Path, plant: Callable[[Path], None], kind: str
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    _live_dir_route(conn, reports)
    plant(reports / "R-HOSTILE.md")
    (reports / "R-HOSTILE.html").write_text("<p>old</p>")
    ingest_small(conn, "R-HOSTILE")

    stats = once(database_url)

    assert stats.sent == 0 and stats.retrying >= 1
    assert set(states(conn, ROUTE)) <= {"retrying", "held"}  # retried later, never lost
    reason = scalar(
        conn,
        "SELECT detail ->> 'reason' FROM iu_route_attempt WHERE route_code = %s AND status = 'failed' "
        "ORDER BY attempt_id LIMIT 1",
        (ROUTE,),
    )
    assert f"R-HOSTILE.md is {kind}, not a regular file" in reason
    assert scalar(conn, "SELECT count(*) FROM iu_structure_report") == 0  # the row went back with it
    assert (reports / "R-HOSTILE.html").read_text() == "<p>old</p>"
