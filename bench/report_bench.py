"""Structure reports regenerated per second for one 500-piece IU with a history.

    .venv/bin/python -m bench.report_bench [--seconds 3] [--database-url URL] [--write PATH]

Builds a synthetic document (10 chapters x 7 articles x 6 clauses, plus the
document's own pieces: 500 pieces), ingests it, applies 20 renames and 2
deprecations (23 operations in the history), then regenerates its report in a
loop, each regeneration in its own committed transaction, in three modes:

- ``table``: read (one statement), build, render Markdown/HTML/JSON, upsert;
- ``dir``: the same, plus CODE.html and CODE.md written atomically (fsync);
- ``current``: the report is already current: everything but the write.

Before each timed regeneration of ``table`` and ``dir`` the row (and the
files) are removed untimed, so every timed one really writes. Without
``--database-url`` a dedicated durable embedded server is started (fsync on).
Prints a Markdown table; ``--write`` also saves it to a file.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from bench import server as bench_server
from iu_core.domain import deprecate_piece, get_tree, ingest_document, rename_piece
from iu_core.report import build, collect, regenerate, render
from iu_core.report.files import paths

CODE = "BENCH-500"


def synthetic_document(chapters: int = 10, articles: int = 7, clauses: int = 6) -> str:
    """A regulation with chapters x articles x clauses pieces under a title."""
    lines = ["# Synthetic regulation for the report benchmark", ""]
    article = 0
    for c in range(1, chapters + 1):
        lines += [f"## Chapter {c}. Part {c}", ""]
        for _ in range(articles):
            article += 1
            lines += [f"### Article {article}. Rule {article}", ""]
            lines += [
                f"{k}. Clause {k} of article {article} says something precise." for k in range(1, clauses + 1)
            ]
            lines.append("")
    return "\n".join(lines)


def prepare(conn: psycopg.Connection[Any]) -> uuid.UUID:
    iu = ingest_document(conn, synthetic_document(), code=CODE, actor="bench").unit.iu_id
    pieces = [p for _, p in get_tree(conn, CODE).walk()]
    articles = [p for p in pieces if p.kind == "article"]
    for i, piece in enumerate(articles[:20]):
        rename_piece(conn, piece.piece_id, heading=f"Rule {i} (renamed)", actor="bench")
    for piece in articles[-2:]:
        deprecate_piece(conn, piece.piece_id, actor="bench")
    return iu


def _timed(conn: psycopg.Connection[Any], iu: uuid.UUID, seconds: float, mode: str, out: Path) -> list[float]:
    samples: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline or len(samples) < 3:
        if mode != "current":
            conn.execute("DELETE FROM iu_structure_report WHERE iu_id = %s", (iu,))
            for path in paths(out, CODE):
                path.unlink(missing_ok=True)
        started = time.perf_counter()
        with conn.transaction():
            done = regenerate(conn, iu, directory=out if mode == "dir" else None)
        samples.append(time.perf_counter() - started)
        assert done.written == (mode != "current"), (mode, done)
    return samples


def _stages(conn: psycopg.Connection[Any], iu: uuid.UUID, n: int = 20) -> dict[str, float]:
    """Median milliseconds of each stage (read, build, render) over ``n`` runs."""
    read, model, rendering = [], [], []
    for _ in range(n):
        t0 = time.perf_counter()
        data = collect(conn, iu)
        t1 = time.perf_counter()
        assert data is not None
        report = build(data, data.unit.updated_at)
        t2 = time.perf_counter()
        render(report)
        t3 = time.perf_counter()
        read.append(t1 - t0)
        model.append(t2 - t1)
        rendering.append(t3 - t2)
    return {
        name: statistics.median(v) * 1000
        for name, v in (("read", read), ("build", model), ("render", rendering))
    }


def run(url: str, seconds: float, settings: dict[str, str]) -> str:
    with psycopg.connect(url, autocommit=True) as conn, tempfile.TemporaryDirectory() as tmp:
        iu = prepare(conn)
        data = collect(conn, iu)
        assert data is not None
        rendered = render(build(data, data.unit.updated_at))
        rows = []
        for mode in ("table", "dir", "current"):
            samples = _timed(conn, iu, seconds, mode, Path(tmp))
            rate = len(samples) / sum(samples)
            rows.append(
                f"| {mode} | {len(samples)} | {rate:.1f} | {statistics.median(samples) * 1000:.1f} | "
                f"{sorted(samples)[int(len(samples) * 0.95) - 1] * 1000:.1f} |"
            )
        stages = _stages(conn, iu)
    size = (
        f"{len(data.pieces)} pieces, {len(data.operations)} operations; "
        f"Markdown {len(rendered.markdown) // 1024} kB, HTML {len(rendered.html) // 1024} kB"
    )
    durable = ", ".join(f"{k}={settings[k]}" for k in ("fsync", "synchronous_commit") if k in settings)
    return "\n".join(
        [
            f"IU: {size}. Server: PostgreSQL {settings.get('server_version', '?')} ({durable or '?'}).",
            "",
            "| mode | regenerations | per second | median ms | p95 ms |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            "Stages (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()),
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="Timed seconds per mode (default 3).")
    parser.add_argument(
        "--database-url", default=None, help="A migrated database (default: own durable server)."
    )
    parser.add_argument(
        "--write", type=Path, default=None, help="Also write the Markdown table to this file."
    )
    args = parser.parse_args()
    if args.database_url:
        with psycopg.connect(args.database_url, autocommit=True) as conn:
            settings = {}
            for key in ("server_version", "fsync", "synchronous_commit"):
                row = conn.execute("SELECT current_setting(%s)", (key,)).fetchone()
                settings[key] = str(row[0]) if row else "?"
        text = run(args.database_url, args.seconds, settings)
    else:
        server = bench_server.start()
        try:
            with server.database() as url:
                text = run(url, args.seconds, server.settings)
        finally:
            bench_server.stop(server)
    print(text)
    if args.write:
        args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
