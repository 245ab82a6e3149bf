"""The cost of the worker's Prometheus metrics: throughput with and without ``--metrics-port``, in ONE run.

``python -m bench.metrics_bench [--n 20000] [--http-n 5000] [--reps 3] [--scrape-interval 1.0]``

One dedicated durable server (``bench.server``), one loopback receiver
(``bench.receiver``). Two route kinds, each measured with metrics off and on,
repetitions interleaved (off/on, then on/off, ...) so a drift of the shared
machine's load falls on both modes alike:

- ``sql_function``: both seeded structure routes live to the internal
  projection (``fn_iu_structure_consumer``), N events;
- ``external_endpoint``: both routes live to the loopback receiver (signed,
  full audit), HTTP-N events.

Each run: a fresh clone of the data template, then the real
``iu-core worker --once --json`` in its own process; metrics on = the same
command with ``--metrics-port P``, with this process scraping
``http://127.0.0.1:P/metrics`` once per scrape interval for the whole run (the
first scrape as soon as the port answers). Timed: the worker's own
``elapsed_s`` (its run loop, interpreter start-up excluded). Checked after each
run: N attempts sent, none failed; with metrics on, at least one scrape that
carried the attempt counters and the database gauges.

Also measured in this process: the per-delivery cost of counting (the
counters and histogram that every worker updates, with or without a metrics
server).

Printed: one line per run (with the load average), per kind the median rate
of each mode, the cost per delivery in µs and the ratio on / off (medians of
the per-repetition differences and ratios, with their ranges); then one JSON
line with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import psycopg

from bench import events, measure, procs, server
from bench.sqlfiles import q

KINDS = ("sql_function", "external_endpoint")
MAX_IN_FLIGHT = 64


def load() -> float:
    """The 1-minute load average (the machine is shared: every figure carries it)."""
    return os.getloadavg()[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Scraper(threading.Thread):
    """GET /metrics once per ``interval`` until stopped; counts the scrapes and what they carried."""

    def __init__(self, port: int, interval: float) -> None:
        super().__init__(daemon=True, name="metrics-scraper")
        self.port = port
        self.interval = interval
        self.stop = threading.Event()
        self.scrapes = 0
        self.complete = 0  # scrapes that had the attempt counters and the database gauges
        self.seconds: list[float] = []

    def _get(self) -> str | None:
        url = f"http://127.0.0.1:{self.port}/metrics"
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = response.read().decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return None
        self.seconds.append(time.perf_counter() - start)
        return str(body)

    def run(self) -> None:
        while not self.stop.is_set() and self.scrapes == 0:  # until the worker's server answers
            body = self._get()
            if body is None:
                self.stop.wait(0.02)
                continue
            self._count(body)
        while not self.stop.wait(self.interval):
            body = self._get()
            if body is not None:
                self._count(body)

    def _count(self, body: str) -> None:
        self.scrapes += 1
        if "iu_delivery_attempts" in body and "iu_outbox_pending{" in body:
            self.complete += 1


@contextlib.contextmanager
def prepared(srv: server.BenchServer, kind: str, n: int, target_url: str) -> Iterator[str]:
    """A fresh database with N pending deliveries on both structure routes, live to KIND."""
    with srv.database(srv.data_template(n)) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            if kind == "sql_function":
                events.routes_live_sql(conn)
            else:
                events.routes_http(conn, target_url, max_in_flight=MAX_IN_FLIGHT)
            events.analyze(conn)
        srv.checkpoint()
        yield url


def _check(url: str, kind: str, n: int) -> None:
    with psycopg.connect(url) as conn:
        row = conn.execute(q("events", "count_attempts")).fetchone()
        attempts, sent, failed = (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)
        done = events.count(conn, "count_projection") if kind == "sql_function" else sent
    if sent != n or failed or attempts != n or done != n:
        raise measure.CheckFailed(
            f"{kind}: {attempts} attempts, {sent} sent, {failed} failed, {done} effects for {n} events"
        )


def run_once(
    srv: server.BenchServer, kind: str, n: int, *, metrics: bool, target_url: str, interval: float
) -> dict[str, Any]:
    """One ``iu-core worker --once`` over N fresh deliveries of KIND; its rate and what was scraped."""
    with prepared(srv, kind, n, target_url) as url:
        cmd = procs.module_cmd("iu_core", "--database-url", url, "worker", "--once", "--json")
        cmd += ["--log-level", "warning"]
        scraper: Scraper | None = None
        if metrics:
            port = free_port()
            cmd += ["--metrics-port", str(port)]
            scraper = Scraper(port, interval)
        load_before = load()
        proc = procs.spawn(cmd)
        if scraper is not None:
            scraper.start()
        try:
            out, err = proc.communicate(timeout=max(300.0, n / 20))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            if scraper is not None:
                scraper.stop.set()
                scraper.join(15)
        if proc.returncode != 0:
            raise measure.CheckFailed(f"iu-core worker exited {proc.returncode}: {err[-1500:]}")
        stats = json.loads(out[out.index("{") :])
        _check(url, kind, n)
    elapsed = float(stats["elapsed_s"])
    result: dict[str, Any] = {
        "kind": kind,
        "metrics": metrics,
        "n": n,
        "elapsed_s": elapsed,
        "rate": n / elapsed,
        "us_per_delivery": elapsed / n * 1e6,
        "load_before": load_before,
        "load_after": load(),
    }
    if scraper is not None:
        if scraper.complete < 1:
            raise measure.CheckFailed(f"{kind}: {scraper.scrapes} scrapes, none with every metric")
        result["scrapes"] = scraper.scrapes
        result["scrape_ms_median"] = statistics.median(scraper.seconds) * 1000
    return result


def counting_us_per_delivery(k: int = 20_000) -> float:
    """µs per delivery of the counting every worker does (metrics.record_results), in this process."""
    from iu_core import metrics

    now = dt.datetime.now(dt.UTC)
    results = [
        SimpleNamespace(status="sent", target_kind="sql_function", started_at=now, finished_at=now)
        for _ in range(500)
    ]
    start = time.perf_counter()
    for _ in range(max(1, k // len(results))):
        metrics.record_results("bench.counting", results, 0)
    return (time.perf_counter() - start) / (max(1, k // len(results)) * len(results)) * 1e6


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in KINDS:
        off = [r for r in runs if r["kind"] == kind and not r["metrics"]]
        on = [r for r in runs if r["kind"] == kind and r["metrics"]]
        if not off or not on:
            continue
        rate_off = statistics.median(r["rate"] for r in off)
        rate_on = statistics.median(r["rate"] for r in on)
        paired = [b["us_per_delivery"] - a["us_per_delivery"] for a, b in zip(off, on, strict=True)]
        ratios = [b["rate"] / a["rate"] for a, b in zip(off, on, strict=True)]
        out[kind] = {
            "rate_off": rate_off,
            "rate_on": rate_on,
            "us_off": 1e6 / rate_off,
            "us_on": 1e6 / rate_on,
            # Paired by repetition (the two runs of one repetition are back to back),
            # so a drift of the machine's load between repetitions cancels out.
            "cost_us_per_delivery": statistics.median(paired),
            "cost_us_paired": paired,
            "ratio_on_over_off": statistics.median(ratios),
            "ratio_paired": ratios,
            "ratio_of_medians": rate_on / rate_off,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.metrics_bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--n", type=int, default=20_000, help="events of each sql_function run")
    parser.add_argument("--http-n", type=int, default=5_000, help="events of each external_endpoint run")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each (kind, mode)")
    parser.add_argument("--scrape-interval", type=float, default=1.0, help="seconds between scrapes")
    args = parser.parse_args(argv)
    sizes = {"sql_function": args.n, "external_endpoint": args.http_n}
    started = {"at": dt.datetime.now(dt.UTC).isoformat(), "load": os.getloadavg()}
    counting = counting_us_per_delivery()
    runs: list[dict[str, Any]] = []
    srv = server.start()
    try:
        for n in set(sizes.values()):
            srv.data_template(n)
        with measure.http_receiver() as target_url:
            for rep in range(args.reps):
                for kind in KINDS:
                    for metrics in (False, True) if rep % 2 == 0 else (True, False):
                        run = run_once(
                            srv, kind, sizes[kind], metrics=metrics, target_url=target_url,
                            interval=args.scrape_interval,
                        )  # fmt: skip
                        run["rep"] = rep + 1
                        runs.append(run)
                        extra = f"  {run['scrapes']} scrapes" if metrics else ""
                        print(
                            f"rep {rep + 1} {kind:17s} metrics {'on ' if metrics else 'off'} "
                            f"{run['rate']:8.0f} deliveries/s  {run['us_per_delivery']:7.1f} µs/delivery  "
                            f"(load {run['load_before']:.2f} -> {run['load_after']:.2f}){extra}",
                            flush=True,
                        )
    finally:
        server.stop(srv)
    summary = summarise(runs)
    for kind, s in summary.items():
        print(
            f"{kind}: median off {s['rate_off']:.0f}/s, on {s['rate_on']:.0f}/s; paired: cost "
            f"{s['cost_us_per_delivery']:+.1f} µs per delivery (range {min(s['cost_us_paired']):+.1f} .. "
            f"{max(s['cost_us_paired']):+.1f}), ratio on/off {s['ratio_on_over_off']:.3f} "
            f"(range {min(s['ratio_paired']):.3f} .. {max(s['ratio_paired']):.3f})"
        )
    print(f"counting (always on, in-process): {counting:.2f} µs per delivery")
    result = {
        "sizes": sizes,
        "reps": args.reps,
        "scrape_interval_s": args.scrape_interval,
        "started": started,
        "finished_load": os.getloadavg(),
        "counting_us_per_delivery": counting,
        "runs": runs,
        "summary": summary,
        "server": srv.settings,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
