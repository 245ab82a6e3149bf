"""Rendering a run: the markdown table, the targets, the plot and BENCHMARKS.md."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from bench.results import Figure, RunResults

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "BENCHMARKS.md"
DEFAULT_PLOT = REPO / "bench" / "benchmarks.png"
ANALYSIS = Path(__file__).with_name("analysis.md")


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if unit == "ms":
        return f"{value:,.2f}" if value < 10 else f"{value:,.1f}"
    if unit == "MB":
        return f"{value:,.0f}"
    return f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "—"
    return f"{a / b:.2f}x"


def best_worker_sql(r: RunResults) -> tuple[str | None, float | None]:
    best: tuple[str | None, float | None] = (None, None)
    for key, fig in r.figures.items():
        default = key.startswith("worker.sql.") and not key.endswith(".durable")
        if default and fig.median and (best[1] is None or fig.median > best[1]):
            best = (key, fig.median)
    return best


def best_peer(r: RunResults, kind: str = "projection") -> tuple[str | None, float | None]:
    best: tuple[str | None, float | None] = (None, None)
    for key, fig in r.figures.items():
        if (
            key.startswith("peer.")
            and key.endswith(kind)
            and fig.median
            and (best[1] is None or fig.median > best[1])
        ):
            best = (key, fig.median)
    return best


def peak_rss(r: RunResults) -> float | None:
    values = [
        v
        for key, f in r.figures.items()
        if key.startswith("worker.sql.")
        for v in f.extra.get("maxrss_mb", [])
    ]
    return max(values) if values else None


def table(r: RunResults) -> str:
    """Every figure: median, repetitions, noise, and ratios to the limit and to the best peer."""
    limit_audit = r.median("limit.audit")
    limit_plain = r.median("limit.projection")
    _, peer = best_peer(r)
    lines = [
        "| figure | median | unit | repetitions | spread | ÷ limit (projection) | ÷ limit (with audit) "
        "| ÷ best peer (projection) |",
        "|---|---:|---|---|---:|---:|---:|---:|",
    ]
    for fig in r.figures.values():
        reps = ", ".join(_fmt(v, fig.unit) for v in fig.values)
        spread = f"{fig.spread:.0%}" if fig.spread is not None else "—"
        rate = fig.unit in ("events/s", "jobs/s")
        lines.append(
            f"| {fig.label} | **{_fmt(fig.median, fig.unit)}** | {fig.unit} | {reps} | {spread} "
            f"| {_ratio(fig.median, limit_plain) if rate else ''} "
            f"| {_ratio(fig.median, limit_audit) if rate else ''} "
            f"| {_ratio(fig.median, peer) if rate else ''} |"
        )
    extra_rows = []
    http = r.figures.get("worker.http")
    if http:
        for k in ("http_p50_ms", "http_p99_ms", "attempt_p50_ms", "attempt_p99_ms"):
            vals = http.extra.get(k)
            if vals:
                extra_rows.append(
                    f"| external_endpoint {k.replace('_ms', '')} (median of reps) | "
                    f"**{_fmt(sorted(vals)[len(vals) // 2], 'ms')}** | ms | "
                    f"{', '.join(_fmt(v, 'ms') for v in vals)} | | | | |"
                )
    for key, fig in r.figures.items():
        shares = fig.extra.get("worker_cpu_share")
        if key.startswith("worker.sql.") and shares:
            med = sorted(shares)[len(shares) // 2]
            extra_rows.append(
                f"| worker process CPU / wall time, {key.removeprefix('worker.sql.').replace('.', ', ')} "
                "(the rest: waiting for PostgreSQL) "
                f"| **{med:.0%}** | | {', '.join(f'{v:.0%}' for v in shares)} | | | | |"
            )
    for key, fig in r.figures.items():
        if key.startswith("claim.") and "batch_ms" in fig.extra:
            extra_rows.append(
                f"| whole `fn_iu_worker_deliver_sql_batch` (claim + deliver + audit), backlog "
                f"{fig.extra.get('backlog', 0):,} | **{_fmt(fig.extra['batch_ms'], 'ms')}** | ms | | | | | |"
            )
    rss = peak_rss(r)
    if rss is not None:
        n = r.meta.get("params", {}).get("n")
        extra_rows.append(
            f"| worker peak RSS while delivering {n:,} events (max over runs) | **{rss:,.0f}** | MB "
            f"| | | | | |"
        )
    return "\n".join(lines + extra_rows)


def targets(r: RunResults) -> list[dict[str, Any]]:
    """The targets, evaluated on this run's medians (met: True/False, None = not measured)."""
    out: list[dict[str, Any]] = []
    key, worker = best_worker_sql(r)
    limit_audit = r.median("limit.audit")

    def add(name: str, need: str, got: str, met: bool | None) -> None:
        out.append({"target": name, "required": need, "measured": got, "met": met})

    add(
        "live sql_function with audit vs set-based limit with audit",
        "≥ 0.35x",
        f"{worker / limit_audit:.2f}x ({key})" if worker and limit_audit else "—",
        (worker / limit_audit >= 0.35) if worker and limit_audit else None,
    )
    pkey, peer = best_peer(r)
    add(
        "live sql_function vs the faster peer doing the same projection",
        "≥ 3x",
        f"{worker / peer:.2f}x ({pkey})" if worker and peer else "—",
        (worker / peer >= 3) if worker and peer else None,
    )
    p50, p99 = r.median("latency.idle.p50"), r.median("latency.idle.p99")
    add(
        "pickup latency, idle worker, p50",
        "≤ 10 ms",
        _fmt(p50, "ms") + " ms" if p50 else "—",
        (p50 <= 10) if p50 is not None else None,
    )
    add(
        "pickup latency, idle worker, p99",
        "≤ 50 ms",
        _fmt(p99, "ms") + " ms" if p99 else "—",
        (p99 <= 50) if p99 is not None else None,
    )
    claims = sorted(
        (f.extra.get("backlog", 0), f.median) for k, f in r.figures.items() if k.startswith("claim.")
    )
    if len(claims) >= 2 and claims[0][1] and claims[-1][1]:
        ratio = claims[-1][1] / claims[0][1]
        add(
            f"claim time at backlog {claims[-1][0]:,} vs {claims[0][0]:,}",
            "≤ 1.5x",
            f"{ratio:.2f}x",
            ratio <= 1.5,
        )
    else:
        add("claim time at the largest backlog vs the smallest", "≤ 1.5x", "—", None)
    rss = peak_rss(r)
    n = r.meta.get("params", {}).get("n", 0)
    add(
        f"worker peak RSS (measured at {n:,} events)",
        "≤ 200 MB at 1M",
        _fmt(rss, "MB") + " MB" if rss else "—",
        (rss <= 200) if rss is not None else None,
    )
    http = r.median("worker.http")
    add(
        "external_endpoint to the local receiver",
        "≥ 1 500 /s",
        _fmt(http) + " /s" if http else "—",
        (http >= 1500) if http is not None else None,
    )
    return out


def targets_table(r: RunResults) -> str:
    lines = ["| target | required | measured | met |", "|---|---|---|---|"]
    for t in targets(r):
        met = {True: "yes", False: "**no**", None: "not measured"}[t["met"]]
        lines.append(f"| {t['target']} | {t['required']} | {t['measured']} | {met} |")
    return "\n".join(lines)


def plot(r: RunResults, path: Path) -> Path | None:
    """Throughput vs concurrency and claim time vs backlog, one PNG; None without matplotlib."""
    if importlib.util.find_spec("matplotlib") is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=100)
    conc: list[tuple[int, float]] = []
    for key, f in r.figures.items():
        if key.startswith("worker.sql.c") and not key.endswith(".durable") and f.median:
            conc.append((int(key.rsplit("c", 1)[1]), f.median))
    conc.sort()
    if conc:
        ax1.plot(
            [c for c, _ in conc], [v for _, v in conc], "o-", label="IU Core worker (sql_function + audit)"
        )
    for key, style, label in (
        ("limit.audit", "--", "set-based limit with audit"),
        ("limit.projection", ":", "set-based limit, projection only"),
    ):
        m = r.median(key)
        if m:
            ax1.axhline(m, linestyle=style, color="grey", label=label)
    for key, f in r.figures.items():
        if key.startswith("peer.") and key.endswith("projection") and f.median:
            ax1.axhline(
                f.median,
                linestyle="-.",
                label=f.label.split(":")[0] + " (same projection)",
                color="tab:red" if "pgqueuer" in key else "tab:green",
            )
    ax1.set_xlabel("worker concurrency")
    ax1.set_ylabel("events/s")
    ax1.set_yscale("log")
    ax1.set_title("Throughput vs concurrency")
    ax1.legend(fontsize=7)
    claims = sorted(
        (f.extra.get("backlog", 0), f.median)
        for k, f in r.figures.items()
        if k.startswith("claim.") and f.median
    )
    if claims:
        ax2.plot([b for b, _ in claims], [m for _, m in claims], "o-")
        ax2.set_xscale("log")
        ax2.set_ylim(bottom=0, top=max(m for _, m in claims if m) * 1.6)
    batch = r.meta.get("worker_batch_size")
    ax2.set_xlabel("backlog (pending deliveries)")
    ax2.set_ylabel(f"ms per claim of {batch} deliveries")
    ax2.set_title("Claim time vs backlog")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


METHOD = Path(__file__).with_name("method.md")


def write(
    r: RunResults, results_path: Path, output: Path = DEFAULT_OUTPUT, plot_path: Path | None = None
) -> Path:
    if plot_path is None:
        plot_path = (
            DEFAULT_PLOT if output.resolve() == DEFAULT_OUTPUT.resolve() else output.with_suffix(".png")
        )
    png = plot(r, plot_path)
    m = r.meta
    mach = m.get("machine", {})
    pg = m.get("postgres", {})
    params = m.get("params", {})
    parts = [
        "# IU Core benchmarks",
        "",
        "Generated by `python -m bench report` from "
        f"`{results_path.relative_to(REPO) if results_path.is_relative_to(REPO) else results_path}` "
        "(bench/results/ is not committed; rerun to reproduce).",
        "",
        "## Command",
        "",
        "```sh",
        "pip install -r bench/requirements.txt   # bench-only: peers, plot, profilers",
        str(m.get("command", "python -m bench")).strip(),
        "```",
        "",
        f"Run {m.get('started_at', '?')} → {m.get('finished_at', '?')} ({m.get('duration_s', '?')} s). "
        f"N = {params.get('n', 0):,} events per limit/worker figure, {params.get('reps')} repetitions, "
        f"external_endpoint N = {params.get('http_n', 0):,}, peers N = {params.get('peer_n', 0):,}, "
        f"worker batch size {m.get('worker_batch_size')}.",
        "",
        "## Machine and PostgreSQL",
        "",
        f"- {mach.get('cores')} cores ({mach.get('cpu', '?')}), {mach.get('memory_gb')} GB memory, "
        f"Python {mach.get('python')}, {mach.get('platform')}",
        f"- load average at start {mach.get('loadavg_at_start')}, at end {m.get('loadavg_at_end')} "
        "(the machine is shared with other work: compare ratios within this run, "
        "not absolute numbers across runs)",
        f"- PostgreSQL {pg.get('server_version', '?')} (embedded wheel), "
        + ", ".join(f"`{k}={v}`" for k, v in pg.items() if k != "server_version"),
        "",
        "## Results (medians)",
        "",
        table(r),
        "",
        "## Targets",
        "",
        targets_table(r),
        "",
    ]
    if png:
        rel = png.relative_to(output.parent) if png.is_relative_to(output.parent) else png
        parts += [f"![throughput vs concurrency, claim time vs backlog]({rel})", ""]
    if r.skipped or r.errors:
        parts += ["## Not measured in this run", ""]
        parts += [f"- `{k}`: skipped — {v}" for k, v in r.skipped.items()]
        parts += [f"- `{k}`: failed — {v.splitlines()[0] if v else ''}" for k, v in r.errors.items()]
        parts.append("")
    parts += ["## Method", "", METHOD.read_text(encoding="utf-8").strip(), ""]
    if ANALYSIS.exists() and output.resolve() == DEFAULT_OUTPUT.resolve():
        parts += [ANALYSIS.read_text(encoding="utf-8").strip(), ""]
    output.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return output


def figure_median(fig: Figure | None) -> float | None:
    return fig.median if fig else None
