"""What route filters cost the fan-out: 0, 10 and 100 filtered routes per event, side by side.

``python -m bench.fanout_filters [--single 500] [--samples 20] [--reps 3]``
(also ``python -m bench fanout-filters ...``)

One dedicated durable server (``bench.server``). Every measurement gets a
fresh clone of one template: 100 units (U-0 .. U-99, each tagged with its
number) and the two seeded structure routes, of which one carries
``structure_op_applied`` (the baseline: one delivery row per event). The
configurations add routes on the same event type:

- ``before filters``: nothing added, and the fan-out function replaced by
  the one before route filters (the plain join): what unfiltered routes paid;
- ``0 filtered``: nothing added (routes without filters only: one probe of
  the filtered-routes index, then the plain join);
- ``10 filtered`` / ``100 filtered``: route i has the filter
  ``iu:U-i or tag:zi`` (an ``iu:`` term that reads the unit's code from the
  unit table, then a tag lookup that refuses); events go round-robin over
  the 100 units, so an event passes at most one of them;
- ``10 unfiltered`` / ``100 unfiltered``: the same number of routes without a
  filter, for scale (each writes a delivery row for every event).

Two figures per configuration, the median of ``--reps`` interleaved runs:

- **events/s inserted**: ``--single`` events, each in its own autocommit
  INSERT (one structure operation's event, durable commit included);
- **trigger cost per event**: one statement writing 500 events, timed with
  the fan-out trigger and without it (disabled), ``--samples`` times each,
  alternating, every sample in a transaction rolled back; the median with
  minus the median without, divided by 500.

Checked after each run: the delivery rows are exactly those the filters pass.
Printed: a table with the ratios to ``0 filtered``, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from bench import server
from bench.sqlfiles import q
from iu_core.ops.filters import compile_filter

UNITS = 100
STATEMENT_ROWS = 500
CONFIGS: dict[str, tuple[int, bool]] = {  # name: (extra routes, filtered)
    "before filters": (0, False),
    "0 filtered": (0, True),
    "10 filtered": (10, True),
    "100 filtered": (100, True),
    "10 unfiltered": (10, False),
    "100 unfiltered": (100, False),
}


def _template(srv: server.BenchServer) -> str:
    name = "iu_bench_fanout_filters"
    with psycopg.connect(srv.admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{server.TEMPLATE}"')
    with psycopg.connect(server.with_db(srv.admin_url, name), autocommit=True) as conn:
        conn.execute(q("fanout_filters", "units"), {"n": UNITS})
        conn.execute(q("fanout_filters", "tags"))
        conn.execute("VACUUM (ANALYZE)")
    return name


def _add_routes(conn: psycopg.Connection[Any], name: str) -> None:
    extra, filtered = CONFIGS[name]
    if name == "before filters":
        conn.execute(q("fanout_filters", "fan_out_before_filters"))
    codes = [f"extra-{i}" for i in range(extra)]
    with conn.transaction():
        conn.execute(q("fanout_filters", "open_gate"))
        conn.execute(q("fanout_filters", "allowlist"), {"routes": codes})
        for i, code in enumerate(codes):
            text = f"iu:U-{i} or tag:z{i}" if filtered else None
            conn.execute(
                q("fanout_filters", "add_route"),
                {
                    "route_code": code,
                    "filter_source": text,
                    "filter_tree": Jsonb(compile_filter(text)) if text else None,
                },
            )
    conn.execute("ANALYZE iu_outbound_route")


def _expected_deliveries(n: int, extra: int, filtered: bool) -> int:
    """One on the seeded route per event, plus: every extra route (unfiltered) or its unit's (filtered)."""
    if not filtered:
        return n * (1 + extra)
    passing = sum(1 for g in range(1, n + 1) if g % UNITS < extra)
    return n + passing


def _single(url: str, n: int) -> float:
    """Events/s for n events written one per autocommit statement, round-robin over the units."""
    with psycopg.connect(url, autocommit=True) as conn:
        units = [r[0] for r in conn.execute(q("fanout_filters", "unit_ids")).fetchall()]
        insert = q("fanout_filters", "insert_one")
        start = time.perf_counter()
        for g in range(1, n + 1):
            conn.execute(insert, {"iu_id": units[g % UNITS]}, prepare=True)
        return n / (time.perf_counter() - start)


def _statement_costs(url: str, samples: int, *, want: int) -> tuple[float, float]:
    """Median seconds of one STATEMENT_ROWS-event statement with the fan-out trigger and without.

    Samples alternate on / off, each in its own transaction that is rolled
    back (the tables do not grow, and a load on the machine hits both alike).
    The first sample with the trigger checks the delivery rows it wrote.
    """
    insert = q("fanout_filters", "insert_events")
    times: dict[bool, list[float]] = {True: [], False: []}
    with psycopg.connect(url) as conn:
        want += _count(conn)  # the rows already there
        conn.rollback()
        for k in range(2 * samples):
            trigger = k % 2 == 0
            if not trigger:
                conn.execute(q("fanout_filters", "trigger_off"))
            start = time.perf_counter()
            conn.execute(insert, {"n": STATEMENT_ROWS, "units": UNITS})
            times[trigger].append(time.perf_counter() - start)
            if k == 0:
                got = _count(conn)
                if got != want:
                    raise RuntimeError(f"{got} delivery rows after one statement, expected {want}")
            conn.rollback()
    return statistics.median(times[True]), statistics.median(times[False])


def _count(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(q("fanout_filters", "deliveries")).fetchone()
    return int(row[0]) if row else 0


def measure(srv: server.BenchServer, template: str, name: str, single: int, samples: int) -> dict[str, float]:
    extra, filtered = CONFIGS[name]
    figures: dict[str, float] = {}
    with srv.database(template) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            _add_routes(conn, name)
        srv.checkpoint()
        figures["events_per_s"] = _single(url, single)
        with psycopg.connect(url) as conn:
            got, want = _count(conn), _expected_deliveries(single, extra, filtered)
        if got != want:
            raise RuntimeError(f"{name}: {got} delivery rows after {single} single events, expected {want}")
        on, off = _statement_costs(url, samples, want=_expected_deliveries(STATEMENT_ROWS, extra, filtered))
    figures["trigger_us_per_event"] = (on - off) / STATEMENT_ROWS * 1e6
    figures["statement_us_per_event"] = on / STATEMENT_ROWS * 1e6
    return figures


def table(median: dict[str, dict[str, float]], base: dict[str, float]) -> str:
    """The medians as a markdown table, each figure with its ratio to ``base``."""
    lines = [
        "| fan-out (1 seeded route + ...) | events/s, 1 per transaction | ratio | trigger µs/event | ratio |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in median.items():
        rate, cost = m["events_per_s"], m["trigger_us_per_event"]
        lines.append(
            f"| {name} | {rate:.0f} | {rate / base['events_per_s']:.2f} "
            f"| {cost:.1f} | {cost / base['trigger_us_per_event']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fanout_filters", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--single", type=int, default=500, help="events written one per transaction")
    parser.add_argument(
        "--samples", type=int, default=20, help="statements of 500 events timed with and without the trigger"
    )
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    srv = server.start()
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGS}
    try:
        template = _template(srv)
        for rep in range(args.reps):
            order = list(CONFIGS) if rep % 2 == 0 else list(reversed(CONFIGS))
            for name in order:
                figures = measure(srv, template, name, args.single, args.samples)
                runs[name].append(figures)
                print(
                    f"rep {rep + 1} {name:15s} {figures['events_per_s']:8.0f} events/s  "
                    f"trigger {figures['trigger_us_per_event']:7.1f} µs/event",
                    flush=True,
                )
    finally:
        server.stop(srv)
    median = {
        name: {key: statistics.median(r[key] for r in values) for key in values[0]}
        for name, values in runs.items()
    }
    base = median["before filters"]
    print()
    print(table(median, base))
    print(
        json.dumps(
            {
                "single": args.single,
                "samples": args.samples,
                "statement_rows": STATEMENT_ROWS,
                "reps": args.reps,
                "settings": srv.settings,
                "median": median,
                "runs": runs,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
