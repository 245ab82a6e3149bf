"""Evidence for a missed target (``python -m bench profile``): where a live delivery's time goes.

Two views of the same delivery path, on the run's kind of server:

1. **Layers, inside the database**: the same K events projected by (a) one
   set-based INSERT, (a') the same plus the attempt rows and delivery states
   set-based (the limit), (b) the internal consumer per event, (c) the seam
   ``fn_iu_route_deliver`` per event, (d) the worker's whole batch function,
   each in its own transaction, rolled back, the samples of all layers
   interleaved; µs per event for each layer, and (d) ÷ (a').
2. **The worker process**: a real ``run_worker(once=True)`` under py-spy
   (when installed): its CPU share of the wall time and the Python functions
   that are on-CPU, so "is the time in Python or in PostgreSQL?" has an answer.
"""

from __future__ import annotations

import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import events, measure, procs, server
from bench.sqlfiles import q

LAYERS = (
    ("layer_set_based", "(a) set-based INSERT … SELECT, projection only"),
    ("layer_set_based_audit", "(a') set-based, projection + attempts + delivery states (the limit)"),
    ("layer_consumer", "(b) fn_iu_structure_consumer once per event"),
    ("layer_route_deliver", "(c) fn_iu_route_deliver once per event (seam checks + consumer)"),
    (
        "layer_worker_batch",
        "(d) fn_iu_worker_deliver_sql_batch (claim, refusal once, set-based projection, attempts, states)",
    ),
)


def layer_costs(url: str, *, k: int, samples: int) -> list[dict[str, Any]]:
    """µs/event per layer; samples interleaved (a, a', b, c, d, a, …) so load drifts hit every layer alike."""
    times: dict[str, list[float]] = {name: [] for name, _ in LAYERS}
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(samples):
            for name, _label in LAYERS:
                conn.execute("BEGIN")
                t0 = time.perf_counter()
                conn.execute(q("profile", name), {"k": k, "route": measure.STRUCTURE_ROUTE})
                times[name].append(time.perf_counter() - t0)
                conn.execute("ROLLBACK")
    out = []
    for name, label in LAYERS:
        med = statistics.median(times[name])
        out.append({"layer": label, "key": name, "us_per_event": med / k * 1e6, "events_per_s": k / med})
    return out


def batch_ratio(rows: list[dict[str, Any]]) -> float:
    """The worker's whole batch as a fraction of the set-based limit with the same audit rows."""
    by_key = {r["key"]: r for r in rows}
    limit = by_key["layer_set_based_audit"]["us_per_event"]
    return float(limit / by_key["layer_worker_batch"]["us_per_event"])


def py_spy_profile(url: str, *, concurrency: int, out_dir: Path) -> dict[str, Any]:
    """Run one worker under ``py-spy record``; its elapsed/CPU and the hottest on-CPU Python frames."""
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    cmd = procs.module_cmd("bench.worker_proc", "--url", url, "--concurrency", str(concurrency))
    raw = out_dir / "worker.pyspy.txt"
    if spy:
        cmd = [spy, "record", "--format", "raw", "--rate", "200", "--threads", "-o", str(raw), "--", *cmd]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=procs.env(), cwd=procs.REPO, timeout=1800, check=False
    )
    if proc.returncode != 0:
        raise procs.ProcError(proc.stderr[-2000:])
    report = procs.last_json(proc.stdout)
    result: dict[str, Any] = {
        "elapsed_s": report["elapsed_s"],
        "cpu_s": report.get("cpu_s"),
        "stats": report.get("stats"),
        "py_spy": bool(spy),
    }
    if spy and raw.exists():
        self_time: collections.Counter[str] = collections.Counter()
        inclusive: collections.Counter[str] = collections.Counter()
        total = 0
        for line in raw.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if not f.startswith("thread")]
            total += count
            if frames:
                self_time[frames[-1]] += count
            for f in set(frames):
                inclusive[f] += count
        result["samples"] = total
        result["sampled_s"] = total / 200
        result["top_self"] = [(f, c / total) for f, c in self_time.most_common(12)] if total else []
        result["top_inclusive"] = (
            [(f, c / total) for f, c in inclusive.most_common(40) if "iu_core" in f or "psycopg" in f][:15]
            if total
            else []
        )
        result["raw_profile"] = str(raw)
    return result


def main(n: int, concurrency: int, k: int, samples: int, mode: str = "sql") -> str:
    srv = server.start()
    out_dir = Path(tempfile.mkdtemp(prefix="iu-bench-profile-"))
    what = "live sql_function" if mode == "sql" else "external_endpoint (local 200 receiver)"
    lines = [f"# Profile of a {what} delivery (N = {n:,}, concurrency {concurrency}, K = {k})", ""]
    try:
        if mode == "sql":
            with srv.database(srv.data_template(max(n, k * 2))) as url:
                with psycopg.connect(url, autocommit=True) as conn:
                    events.routes_live_sql(conn)
                lines += [
                    "## Layers inside PostgreSQL (median of samples, each rolled back)",
                    "",
                    "| layer | µs/event | events/s |",
                    "|---|---:|---:|",
                ]
                rows = layer_costs(url, k=k, samples=samples)
                for row in rows:
                    lines.append(
                        f"| {row['layer']} | {row['us_per_event']:.0f} | {row['events_per_s']:,.0f} |"
                    )
                lines += [
                    "",
                    f"Whole worker batch (d) ÷ set-based limit with audit (a'): **{batch_ratio(rows):.2f}x** "
                    "(same K events, same run, samples interleaved)",
                    "",
                ]
            with srv.database(srv.data_template(n)) as url:
                with psycopg.connect(url, autocommit=True) as conn:
                    events.routes_live_sql(conn)
                res = py_spy_profile(url, concurrency=concurrency, out_dir=out_dir)
        else:
            with measure.http_receiver() as target, srv.database(srv.data_template(n)) as url:
                with psycopg.connect(url, autocommit=True) as conn:
                    events.routes_http(conn, target, max_in_flight=64)
                res = py_spy_profile(url, concurrency=concurrency, out_dir=out_dir)
        share = (res["cpu_s"] or 0) / res["elapsed_s"]
        sent = (res.get("stats") or {}).get("sent", n)
        lines += [
            "## The worker process",
            "",
            f"- delivered {sent:,} events in {res['elapsed_s']:.1f} s "
            f"({sent / res['elapsed_s']:,.0f} events/s); "
            f"worker process CPU {res['cpu_s']:.1f} s = **{share:.0%} of wall time** "
            "(the rest is waiting for PostgreSQL or the network)",
        ]
        if res.get("py_spy"):
            lines += [
                f"- py-spy: {res['samples']} samples at 200 Hz over all threads (≈ {res['sampled_s']:.1f} "
                "thread-seconds; py-spy also counts threads blocked on a lock or a socket as active); "
                f"raw profile `{res['raw_profile']}`",
                "",
                "Hottest frames (self time, share of samples):",
                "",
            ]
            lines += [f"- {share_:.0%} `{frame}`" for frame, share_ in res["top_self"]]
            lines += ["", "IU Core / psycopg frames (inclusive):", ""]
            lines += [f"- {share_:.0%} `{frame}`" for frame, share_ in res["top_inclusive"]]
        else:
            lines.append(
                "- py-spy is not installed (pip install -r bench/requirements.txt): no Python profile"
            )
    finally:
        server.stop(srv)
    return "\n".join(lines) + "\n"
