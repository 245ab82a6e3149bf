"""What storing citations costs an ingest and a structure operation: with it and without it.

    .venv/bin/python -m bench.citation_store_bench [--runs 7] [--database-url URL] [--write PATH]

Ingests the whole Luật An ninh mạng 2018 (tests/data/statutes/
vn_luat_an_ninh_mang_2018_full.txt) as a new unit ``--runs`` times with
citation storing (the ingest's transaction detects, resolves and writes every
citation) and ``--runs`` times without it (``citation_store.refresh`` replaced
by a no-op), alternating, after one untimed warm-up of each; then renames one
Điều (a renumbering: every eid below it changes, its citations are detected
again and the impacted citing pieces told) the same way. Prints the median
milliseconds of each and the ratio. Without ``--database-url`` a dedicated
durable embedded server is started (fsync on).
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench import server as bench_server
from iu_core.domain import citation_store, operation_core
from iu_core.domain.ingest import ingest_document
from iu_core.domain.operations import rename_piece

LAW = (
    Path(__file__).resolve().parents[1] / "tests" / "data" / "statutes" / "vn_luat_an_ninh_mang_2018_full.txt"
)


@contextmanager
def storing(on: bool) -> Iterator[None]:
    """Citation storing on (as shipped) or off (refresh a no-op) for the block."""
    if on:
        yield
        return

    def skip(*args: Any, **kwargs: Any) -> tuple[uuid.UUID, ...]:
        return ()

    operation_core.citation_store = _Off(skip)  # type: ignore[assignment]
    try:
        yield
    finally:
        operation_core.citation_store = citation_store


class _Off:
    def __init__(self, refresh: Callable[..., tuple[uuid.UUID, ...]]) -> None:
        self.refresh = refresh


def _ms(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000.0


def run(url: str, runs: int) -> str:
    text = LAW.read_text(encoding="utf-8")
    timings: dict[tuple[str, bool], list[float]] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        pieces = citations = 0
        for i in range(runs + 1):
            for on in (True, False) if i % 2 == 0 else (False, True):
                code = f"ANM-{'on' if on else 'off'}-{i}"
                with storing(on):
                    ingest_ms = _ms(
                        lambda code=code: ingest_document(conn, text, code=code, title=f"Luật thử {code}")
                    )
                row = conn.execute(
                    "SELECT piece_id FROM iu_piece p JOIN information_unit u USING (iu_id)"
                    " WHERE u.code = %s AND p.label = 'Điều 8'",
                    (code,),
                ).fetchone()
                assert row is not None
                with storing(on):
                    rename_ms = _ms(lambda piece=row[0]: rename_piece(conn, piece, label="Điều 80"))
                if i == 0:  # warm-up
                    continue
                timings.setdefault(("ingest", on), []).append(ingest_ms)
                timings.setdefault(("rename", on), []).append(rename_ms)
                if on:
                    counts = conn.execute(
                        "SELECT (SELECT count(*) FROM iu_piece p JOIN information_unit u USING (iu_id)"
                        "         WHERE u.code = %s),"
                        "       (SELECT count(*) FROM iu_citation c JOIN information_unit u USING (iu_id)"
                        "         WHERE u.code = %s)",
                        (code, code),
                    ).fetchone()
                    assert counts is not None
                    pieces, citations = int(counts[0]), int(counts[1])
    rows = []
    for action in ("ingest", "rename"):
        with_ms = statistics.median(timings[(action, True)])
        without_ms = statistics.median(timings[(action, False)])
        rows.append(f"| {action} | {without_ms:.1f} | {with_ms:.1f} | {with_ms / without_ms:.2f} |")
    return "\n".join(
        [
            f"Luật An ninh mạng 2018: {pieces} pieces, {citations} citations stored; median of {runs} runs.",
            "",
            "| operation | without citations (ms) | with citations (ms) | ratio |",
            "|---|---:|---:|---:|",
            *rows,
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="Timed runs of each (default 7).")
    parser.add_argument(
        "--database-url", default=None, help="A migrated database (default: own durable server)."
    )
    parser.add_argument(
        "--write", type=Path, default=None, help="Also write the Markdown table to this file."
    )
    args = parser.parse_args()
    if args.database_url:
        text = run(args.database_url, args.runs)
    else:
        server = bench_server.start()
        try:
            with server.database() as url:
                text = run(url, args.runs)
        finally:
            bench_server.stop(server)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
