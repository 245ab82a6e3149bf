"""``python -m bench [run] [--quick|--large] …`` and ``python -m bench report [RESULTS.json]``."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from bench import report as report_mod
from bench.results import RESULTS_DIR, RunResults, newest_results
from bench.run import GROUPS, INSTALL_HINT, Params, Runner, peers_available, stderr_log


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="IU Core benchmarks on one dedicated, durable embedded PostgreSQL. "
        f"Peers (pgqueuer, procrastinate) and the plot need the bench extras: {INSTALL_HINT}",
    )
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="measure (the default command)")
    rep = sub.add_parser("report", help="render BENCHMARKS.md and the plot from a results file")
    rep.add_argument(
        "results", nargs="?", type=Path, help="results JSON (default: the newest in bench/results)"
    )
    rep.add_argument("--output", type=Path, default=report_mod.DEFAULT_OUTPUT)
    prof = sub.add_parser("profile", help="where a live delivery's time goes (layers in SQL + py-spy)")
    prof.add_argument("-n", "--events", type=int, default=20_000, help="events for the profiled worker run")
    prof.add_argument("--concurrency", type=int, default=1)
    prof.add_argument("--k", type=int, default=500, help="events per layer sample")
    prof.add_argument("--samples", type=int, default=5)
    prof.add_argument("--mode", choices=["sql", "http"], default="sql", help="delivery kind to profile")
    http = sub.add_parser("http", help="HTTP delivery: receiver ceiling, bare client, iu-core worker")
    http.add_argument("--quick", action="store_true", help="smoke run: 400 deliveries, 2 s of latency load")
    http.add_argument("-n", "--events", type=int, help="deliveries per worker measurement (default 20000)")
    http.add_argument("--latency-s", type=float, help="seconds of load for the latency figure")
    http.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the results JSON goes")
    http.add_argument("--runs", type=int, default=1, help="repetitions of bare client, workers, latency")
    http.add_argument(
        "--before-src",
        type=Path,
        help="also measure the worker from this src directory (e.g. a git worktree of an older commit), "
        "interleaved with this one, against the same receiver and bare client",
    )
    ff = sub.add_parser("fanout-filters", help="fan-out cost with 0, 10 and 100 filtered routes per event")
    ff.add_argument("--single", type=int, default=500, help="events written one per transaction")
    ff.add_argument("--samples", type=int, default=20, help="statements of 500 events timed each way")
    ff.add_argument("--reps", type=int, default=3)
    for p in (parser, run):
        p.add_argument("--quick", action="store_true", help="smoke run: small N, one repetition")
        p.add_argument("--large", action="store_true", help="N = 1 000 000 (and RSS measured at 1M)")
        p.add_argument("-n", "--events", type=int, help="events per worker/limit measurement")
        p.add_argument("--reps", type=int, help="repetitions per figure (median reported)")
        p.add_argument("--concurrency", type=_ints, help="worker concurrencies, e.g. 1,2,4")
        p.add_argument("--batch-size", type=int, help="worker batch size (default: the worker's)")
        p.add_argument("--http-n", type=int, help="events for the external_endpoint measurement")
        p.add_argument("--peer-n", type=int, help="jobs per peer measurement")
        p.add_argument("--backlogs", type=_ints, help="claim-time backlogs, e.g. 10000,100000,1000000")
        p.add_argument("--only", type=lambda s: s.split(","), help=f"subset of {','.join(GROUPS)}")
        p.add_argument(
            "--output",
            type=Path,
            default=None,
            help="markdown report path (default: beside the results JSON; BENCHMARKS.md is curated by hand)",
        )
        p.add_argument("--no-report", action="store_true", help="only write the results JSON")
        p.add_argument("--results-dir", type=Path, default=RESULTS_DIR, help="where the results JSON goes")
    return parser


def params_from(args: argparse.Namespace) -> Params:
    p = Params.quick_params(args.events or 2_000) if args.quick else Params()
    if args.large:
        p.n = 1_000_000
        p.large = True
    if args.events:
        p.n = args.events
    for attr, value in (
        ("reps", args.reps),
        ("concurrencies", args.concurrency),
        ("batch_size", args.batch_size),
        ("http_n", args.http_n),
        ("peer_n", args.peer_n),
        ("backlogs", args.backlogs),
    ):
        if value is not None:
            setattr(p, attr, value)
    if args.only:
        unknown = set(args.only) - set(GROUPS)
        if unknown:
            raise SystemExit(f"error: unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
        p.only = list(args.only)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.command == "report":
        path = args.results or newest_results()
        if path is None:
            print("error: no results in bench/results; run `python -m bench` first", file=sys.stderr)
            return 1
        out = report_mod.write(RunResults.load(path), path, args.output)
        print(f"wrote {out}")
        return 0
    if args.command == "profile":
        from datetime import UTC, datetime

        from bench import profile

        text = profile.main(args.events, args.concurrency, args.k, args.samples, args.mode)
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        out = RESULTS_DIR / f"profile-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.md"
        out.write_text(text, encoding="utf-8")
        print(text)
        print(f"profile: {out}")
        return 0
    if args.command == "fanout-filters":
        from bench import fanout_filters

        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return fanout_filters.main(
            ["--single", str(args.single), "--samples", str(args.samples), "--reps", str(args.reps)]
        )
    if args.command == "http":
        from bench import http_bench

        hp = http_bench.HttpParams.quick() if args.quick else http_bench.HttpParams()
        if args.events:
            hp.n = args.events
        if args.latency_s:
            hp.latency_s = args.latency_s
        hp.runs = args.runs
        hp.before_src = str(args.before_src.resolve()) if args.before_src else None
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return http_bench.main(hp, stderr_log, args.results_dir)
    params = params_from(args)
    # SIGTERM ends the run like Ctrl-C: the dedicated server is stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    missing = [name for name, ok in peers_available().items() if not ok]
    if missing and (not params.only or "peers" in params.only):
        stderr_log(f"peers not installed ({', '.join(missing)}): their rows are skipped. {INSTALL_HINT}")
    results = Runner(params, stderr_log).run(argv)
    path = results.save(args.results_dir)
    print(report_mod.table(results))
    print(f"results: {path}")
    if not args.no_report:
        out = report_mod.write(results, path, args.output or path.with_suffix(".md"))
        print(f"report: {out}")
    return 1 if results.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
