"""docs/performance-latest.md and its plots, from what the benchmarks appended to
bench/results/. (docs/performance.md, which explains them, is kept by hand.)

    .venv/bin/python bench/report.py                 # reads bench/results/*.jsonl
    .venv/bin/python bench/report.py --results DIR --docs DIR

For each script the latest run is shown (for word count, the latest line of each size; for
the namenode, each operation from the latest run that measured it). Rows of a kind this
script does not know are left out, so the benchmarks can grow new rows without breaking it.
The plots are PNG, drawn with matplotlib's Agg backend (no display needed) into
`docs/img/perf-*.png`:

* `perf-wordcount-throughput.png` — word count MiB/s against input size, one line per system;
* `perf-wordcount-memory.png` — the peak RSS of each system's process tree against input size;
* `perf-job-breakdown.png` — where a word-count job's wall time goes, per input size;
* `perf-dfs-io.png` — DFS put/get beside raw HTTP and the local disk;
* `perf-namenode-ops.png` — namenode ops/s against client threads.

Ratios are between figures of the same run only: the machine is shared and noisy, so a ratio
means more than a time.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
# The generated page: performance.md beside it is written by hand, from these figures.
PAGE = "performance-latest.md"
ROOT = BENCH_DIR.parent
MiB = 1 << 20

# The targets. Word count at 256 MiB: at least 0.8x the 2-process Pool's
# throughput, and faster than Dask bag and Spark local[2]; 4x the input (256 MiB -> 1 GiB)
# in at most 4.4x the time, with a flat peak (read here as at most 1.25x the peak RSS).
TARGET_SIZE = 256
SCALE_FROM, SCALE_TO = 256, 1024
POOL, DASK, SPARK, MH = "Pool x2", "dask bag x2", "pyspark local[2]", "minihadoop"
VS_POOL = 0.8
TIME_RATIO, FLAT_PEAK = 4.4, 1.25

STAGE_COLORS = {
    "schedule": "#bbbbbb",
    "read": "#4e79a7",
    "map": "#f28e2b",
    "collect": "#e15759",
    "combine": "#76b7b2",
    "sort+spill": "#59a14f",
    "task start": "#dddddd",
    "wait for reduces": "#eeeeee",
    "shuffle": "#edc948",
    "reduce": "#b07aa1",
    "write": "#ff9da7",
    "commit": "#9c755f",
}
PHASE_COLORS = {
    "submit -> first map": "#bbbbbb",
    "map phase": "#f28e2b",
    "last map -> first reduce": "#eeeeee",
    "reduce phase": "#b07aa1",
    "commit": "#9c755f",
}


# --- reading -------------------------------------------------------------------------------------


def load(path: Path) -> list[dict[str, Any]]:
    """The JSON lines of `path` (none if it is missing); a line that does not parse is
    skipped, so one torn write does not hide the rest."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def latest_per_size(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Word count: the last line of each size (lines written before "kind" existed count)."""
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        if row.get("kind", "size") == "size" and "size_mb" in row and row.get("results"):
            out[int(row["size_mb"])] = row
    return dict(sorted(out.items()))


def by_name(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in row.get("results", []) if "name" in r}


def peak_rss(result: dict[str, Any]) -> float:
    return max((r.get("peak_rss", 0) for r in result.get("runs", [])), default=0) / MiB


def best_run(result: dict[str, Any]) -> dict[str, Any]:
    runs = result.get("runs") or [{}]
    return dict(min(runs, key=lambda r: r.get("seconds", math.inf)))


def stamp(row: dict[str, Any]) -> str:
    return f"{row.get('date', '?')[:16].replace('T', ' ')}, commit {row.get('commit') or '?'}"


# --- markdown ------------------------------------------------------------------------------------


def md_table(header: list[str], rows: Iterable[list[str]], right_from: int = 1) -> str:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def met(ok: bool | None) -> str:
    return "no data" if ok is None else "**met**" if ok else "**not met**"


# --- word count ----------------------------------------------------------------------------------


def wordcount_targets(
    sizes: dict[int, dict[str, Any]], scaling: dict[str, Any] | None
) -> list[list[str]]:
    row = sizes.get(TARGET_SIZE)
    results = by_name(row) if row else {}
    mh = results.get(MH)

    def speedup(name: str) -> float | None:
        other = results.get(name)
        if mh is None or other is None:
            return None
        return float(other["best"]) / float(mh["best"])

    def others(result: dict[str, Any] | None) -> str:
        if result is None or not result.get("runs"):
            return "-"
        return f"{best_run(result).get('others', 0.0) / float(result['best']):.2f}"

    lines = []
    for name, label, floor in (
        (POOL, f"at least {VS_POOL}x the 2-process Pool", VS_POOL),
        (DASK, "faster than Dask bag (2 processes)", 1.0),
        (SPARK, "faster than Spark local[2]", 1.0),
    ):
        x = speedup(name)
        lines.append(
            [
                f"word count {TARGET_SIZE} MiB: {label}",
                f"{ratio(x)} its throughput",
                met(None if x is None else x >= floor),
                f"{others(mh)} / {others(results.get(name))}",
            ]
        )
    grown = (scaling or {}).get("systems", {}).get(MH)
    t = grown.get("time_ratio") if grown else None
    p = grown.get("peak_rss_ratio") if grown else None
    noise = (
        f"{grown['others_before']:.2f} / {grown['others']:.2f}"
        if grown and "others" in grown and "others_before" in grown
        else "-"
    )
    lines.append(
        [
            f"256 MiB -> 1 GiB in at most {TIME_RATIO}x the time",
            f"{ratio(t)} the time (CPU time {ratio(grown.get('cpu_ratio') if grown else None)})",
            met(None if t is None else t <= TIME_RATIO),
            noise,
        ]
    )
    lines.append(
        [
            f"... with a flat peak memory (at most {FLAT_PEAK}x)",
            f"{ratio(p)} the peak RSS" if p is not None else "-",
            met(None if p is None else p <= FLAT_PEAK),
            noise,
        ]
    )
    return lines


def wordcount_tables(sizes: dict[int, dict[str, Any]]) -> str:
    parts = []
    for size, row in sizes.items():
        results = by_name(row)
        counter, pool, mh = results.get("Counter"), results.get(POOL), results.get(MH)
        lines = []
        for name, r in results.items():
            best = best_run(r)
            seconds = float(r["best"])
            cpu = float(best.get("cpu", 0.0))
            lines.append(
                [
                    name,
                    f"{seconds:.2f}",
                    f"{r['mib_per_s']:.1f}",
                    f"{cpu:.1f}",
                    f"{best.get('others', 0.0) / seconds:.2f}",
                    f"{peak_rss(r):.0f}",
                    ratio(float(counter["best"]) / seconds) if counter else "-",
                    ratio(float(pool["best"]) / seconds) if pool else "-",
                    ratio(seconds / float(mh["best"])) if mh and r is not mh else "-",
                    "yes" if r.get("equal", True) else "**NO**",
                ]
            )
        skipped = row.get("skipped") or []
        note = f" Not run (not installed): {', '.join(skipped)}." if skipped else ""
        parts.append(
            f"**{size} MiB** — {row.get('words', 0):,} words, {row.get('distinct', 0):,} "
            f"distinct; best of {row.get('repeat', 1)}; {stamp(row)}.{note}\n\n"
            + md_table(
                [
                    "system",
                    "wall s",
                    "MiB/s",
                    "CPU s",
                    "others",
                    "peak RSS MiB",
                    "vs Counter",
                    "vs Pool",
                    "minihadoop vs it",
                    "output equal",
                ],
                lines,
            )
        )
    return "\n\n".join(parts)


def scaling_from_sizes(sizes: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    """256 MiB -> 1 GiB from the two latest size lines, when one run wrote both."""
    small, large = sizes.get(SCALE_FROM), sizes.get(SCALE_TO)
    if not small or not large or not small.get("run") or small.get("run") != large.get("run"):
        return None
    before = by_name(small)
    systems = {}
    for name, r in by_name(large).items():
        b = before.get(name)
        if b is None or not r.get("runs") or not b.get("runs"):
            continue
        best, best_b = best_run(r), best_run(b)
        systems[name] = {
            "time_ratio": float(r["best"]) / float(b["best"]),
            "cpu_ratio": best.get("cpu", 0.0) / best_b["cpu"] if best_b.get("cpu") else None,
            "peak_rss_ratio": peak_rss(r) / peak_rss(b) if peak_rss(b) else None,
            "peak_rss_mib": peak_rss(r),
            "peak_rss_mib_before": peak_rss(b),
            "others_before": best_b.get("others", 0.0) / float(b["best"]),
            "others": best.get("others", 0.0) / float(r["best"]),
        }
    return {**large, "kind": "scaling", "from_mb": SCALE_FROM, "to_mb": SCALE_TO} | {
        "systems": systems
    }


def concurrency_note(sizes: dict[int, dict[str, Any]]) -> str:
    """How many map tasks ran at once at each size: minihadoop's peak RSS holds one process
    per running task, so it follows that, not the input size."""
    parts = []
    for size in (SCALE_FROM, SCALE_TO):
        row = sizes.get(size)
        jobs = (row or {}).get("jobs") or []
        slots = sum((row or {}).get("cluster", {}).get("slots") or [])
        if not jobs or not slots:
            return ""
        maps = int(jobs[0].get("counters", {}).get("DATA_LOCAL_MAPS", 0)) + int(
            jobs[0].get("counters", {}).get("OTHER_LOCAL_MAPS", 0)
        )
        parts.append(f"{size} MiB: {maps} maps, {min(maps, slots)} at once")
    return (
        "minihadoop's peak RSS holds one process per running task, so it follows how many "
        f"tasks run at once (the workers' slots: {slots}), not the input: " + "; ".join(parts) + "."
    )


def scaling_table(scaling: dict[str, Any]) -> str:
    lines = [
        [
            name,
            ratio(s.get("time_ratio")),
            ratio(s.get("cpu_ratio")),
            f"{s.get('peak_rss_mib_before', 0):.0f} -> {s.get('peak_rss_mib', 0):.0f}",
            ratio(s.get("peak_rss_ratio")),
            (
                f"{s['others_before']:.2f} / {s['others']:.2f}"
                if s.get("others") is not None and s.get("others_before") is not None
                else "-"
            ),
        ]
        for name, s in scaling.get("systems", {}).items()
    ]
    header = ["system", "time", "CPU time", "peak RSS MiB", "peak RSS", "others (cores)"]
    return md_table(header, lines)


def breakdown_rows(sizes: dict[int, dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Per size: the profiled run's estimated wall seconds per stage, else the phases of
    the first timed run."""
    out: dict[int, dict[str, float]] = {}
    for size, row in sizes.items():
        wall = (row.get("profile") or {}).get("wall_s")
        if wall:
            out[size] = {k: float(v) for k, v in wall.items()}
            continue
        jobs = [j for j in row.get("jobs", []) if j.get("phases")]
        if jobs:
            phases = jobs[0]["phases"]
            out[size] = {k: float(v) for k, v in phases.items() if k in PHASE_COLORS}
    return out


def breakdown_table(sizes: dict[int, dict[str, Any]]) -> str:
    rows = breakdown_rows(sizes)
    stages = [s for s in [*STAGE_COLORS, *PHASE_COLORS] if any(s in r for r in rows.values())]
    stages = list(dict.fromkeys(stages))
    lines = []
    for stage in stages:
        cells = []
        for size in rows:
            v = rows[size].get(stage)
            total = sum(rows[size].values())
            cells.append("-" if v is None else f"{v:.1f} ({100 * v / total:.0f} %)")
        lines.append([stage, *cells])
    lines.append(["**total**", *(f"{sum(r.values()):.1f}" for r in rows.values())])
    return md_table(["stage (wall s)", *(f"{s} MiB" for s in rows)], lines)


def cpu_table(sizes: dict[int, dict[str, Any]]) -> str:
    """CPU seconds per stage of the tasks and per daemon, from the profiled runs."""
    cpu: dict[int, dict[str, dict[str, float]]] = {}
    for size, row in sizes.items():
        found = (row.get("profile") or {}).get("cpu_s")
        if found:
            cpu[size] = found
    if not cpu:
        return ""
    keys: list[tuple[str, str]] = []
    for c in cpu.values():
        for kind, counts in c.items():
            keys += [(kind, k) for k in counts if (kind, k) not in keys]
    order = {"map": 0, "reduce": 1, "task": 2, "daemons": 3}
    keys.sort(key=lambda kk: order.get(kk[0], 9))
    label = {"map": "map tasks: ", "reduce": "reduce tasks: ", "task": "other task code: "}
    lines = [
        [
            label.get(kind, "daemon: ") + k,
            *(f"{c.get(kind, {}).get(k, 0.0):.1f}" for c in cpu.values()),
        ]
        for kind, k in keys
    ]
    lines.append(
        [
            "**total**",
            *(f"{sum(sum(v.values()) for v in c.values()):.1f}" for c in cpu.values()),
        ]
    )
    return md_table(["CPU s (estimate)", *(f"{s} MiB" for s in cpu)], lines)


# --- the other benchmarks ------------------------------------------------------------------------


def latest_dfs(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The latest DFS run at the largest size measured (small runs are quick checks)."""
    rows = [r for r in rows if r.get("results")]
    if not rows:
        return None
    largest = max(int(r.get("size_mb", 0)) for r in rows)
    return [r for r in rows if int(r.get("size_mb", 0)) == largest][-1]


def dfs_table(row: dict[str, Any]) -> str:
    results = {r["name"]: r for r in row.get("results", []) if "name" in r}
    base = {
        "write": results.get("raw HTTP upload"),
        "read": results.get("raw HTTP download"),
    }
    local = {"write": results.get("local cp"), "read": results.get("local read")}
    lines = []
    for name, r in results.items():
        kind = r.get("kind", "")
        http, disk = base.get(kind), local.get(kind)
        lines.append(
            [
                name,
                kind,
                f"{r['mib_per_s']:.0f}",
                ratio(r["mib_per_s"] / http["mib_per_s"]) if http else "-",
                ratio(r["mib_per_s"] / disk["mib_per_s"]) if disk else "-",
            ]
        )
    return md_table(["row", "kind", "MiB/s", "vs raw HTTP", "vs cp/read"], lines, right_from=2)


def latency_table(rows: list[dict[str, Any]]) -> str:
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("results"):
            latest[str(row.get("config", "?"))] = row
    lines = []
    for config, row in latest.items():
        results = {r["name"]: r for r in row["results"] if "name" in r}
        put = results.get("fs.put one line")
        for name, r in results.items():
            lines.append(
                [
                    config,
                    name,
                    f"{1000 * r.get('min', 0):.1f}",
                    f"{1000 * r.get('median', 0):.1f}",
                    f"{1000 * r.get('max', 0):.1f}",
                    ratio(r["median"] / put["median"]) if put and r is not put else "-",
                ]
            )
    return md_table(
        ["heartbeats", "what", "min ms", "median ms", "max ms", "vs put"], lines, right_from=2
    )


def namenode_series(rows: list[dict[str, Any]]) -> dict[str, dict[int, float]]:
    """ops/s per operation and thread count, each from the latest row that measured it."""
    series: dict[str, dict[int, float]] = {}
    for row in rows:
        ops = row.get("ops_per_s")
        if row.get("kind") != "throughput" or not isinstance(ops, dict):
            continue
        for name, cells in ops.items():
            if isinstance(cells, dict) and cells:
                series[name] = {int(t): float(v) for t, v in cells.items()}
    return series


def namenode_table(series: dict[str, dict[int, float]]) -> str:
    threads = sorted({t for cells in series.values() for t in cells})
    health = series.get("/health")
    lines = []
    for name, cells in series.items():
        line = [name, *(f"{cells[t]:,.0f}" if t in cells else "-" for t in threads)]
        if health and not name.startswith(("local", "in-proc", "/health")):
            line.append(
                " / ".join(
                    f"{cells[t] / health[t]:.2f}" for t in threads if t in cells and t in health
                )
            )
        else:
            line.append("")
        lines.append(line)
    return md_table(["operation", *(f"x{t} ops/s" for t in threads), "/ /health"], lines)


def is_baseline(row: dict[str, Any]) -> bool:
    """A row measured from an older commit for comparison, appended later by hand."""
    return str(row.get("note", "")).startswith("baseline")


def per_file(row: dict[str, Any]) -> int | None:
    """Namenode bytes per single-block file: the traced count, else the process growth (rows
    older than the two counts have one `bytes_per_file`)."""
    for key in ("traced_bytes_per_file", "rss_bytes_per_file", "bytes_per_file"):
        if isinstance(row.get(key), int | float):
            return int(row[key])
    return None


def latest_memory(rows: list[dict[str, Any]], *, baseline: bool = False) -> dict[int, Any]:
    latest: dict[int, dict[str, Any]] = {}
    for row in rows:
        wanted = row.get("kind") == "memory" and "files" in row
        if wanted and is_baseline(row) == baseline and per_file(row) is not None:
            latest[int(row["files"])] = row
    return latest


def memory_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    before = latest_memory(rows, baseline=True)

    def count(r: dict[str, Any] | None, key: str) -> str:
        return f"{r[key]:,}" if r and isinstance(r.get(key), int | float) else "-"

    return [
        [
            f"{files:,}",
            count(r, "traced_bytes_per_file"),
            count(r, "rss_bytes_per_file"),
            count(r, "traced_blockmap_bytes_per_block"),
            f"{count(before.get(files), 'traced_bytes_per_file')} / "
            f"{count(before.get(files), 'rss_bytes_per_file')}",
            stamp(r),
        ]
        for files, r in sorted(latest_memory(rows).items())
    ]


def control_plane_targets(results: Path) -> list[list[str]]:
    """The namenode group's, the snapshot's and many datanodes' targets, from the latest
    runs of their benchmarks."""
    lines = []
    failover = load(results / "namenode_failover.jsonl")[-3:]
    if failover:
        last = failover[-1]
        x = last["group_creates_per_s"] / last["lone_creates_per_s"]
        lines.append([
            "namenode group of 3: at least 0.5x a lone namenode's fsynced creates/s",
            f"{ratio(x)} ({last['group_creates_per_s']:.0f} / {last['lone_creates_per_s']:.0f})",
            met(x >= 0.5),
        ])  # fmt: skip
        medians = [r["median_s"] for r in failover]
        worst = max(r["worst_s"] for r in failover)
        lost = sum(r["lost"] for r in failover)
        kills = sum(r["kills"] for r in failover)
        lines.append([
            "namenode group: leader kill -9 to the first write under 3 s, nothing "
            "acknowledged lost",
            f"median {min(medians):.1f} to {max(medians):.1f} s, worst {worst:.1f} s over {kills} "
            f"kills; {lost} lost",
            met(worst < 3 and lost == 0),
        ])  # fmt: skip
    snapshots = [r for r in load(results / "namenode_snapshot.jsonl") if r["files"] >= 1_000_000]
    if snapshots:
        r = snapshots[-1]
        wait = r["off_loop"]["longest_wait_s"]
        lines.append([
            f"a snapshot stops nothing ({r['files'] // 1_000_000}M files)",
            f"longest proposal wait {1000 * wait:.0f} ms, from "
            f"{r['on_loop']['longest_wait_s']:.1f} s",
            met(wait <= 0.1),
        ])  # fmt: skip
    thousand = [r for r in load(results / "scale.jsonl") if r["datanodes"] >= 1000]
    if thousand:
        r = thousand[-1]
        off = r["safemode_off_s"]
        lines.append([
            f"{r['datanodes']:,} datanodes out of safe mode after a restart: under 60 s",
            "not off" if off is None else f"{off:.0f} s ({r['blocks']:,} blocks)",
            met(off is not None and off < 60),
        ])  # fmt: skip
        probe = r.get("probe_heartbeat_p99_ms")
        lines.append([
            f"heartbeats at {r['datanodes']:,} datanodes: p99 under 100 ms",
            "-" if probe is None else f"{probe:.0f} ms (a lone client; the namenode's own "
            f"histogram: ≤ {r['served_heartbeat_p99_ms']:.0f} ms)",
            met(None if probe is None else probe < 100),
        ])  # fmt: skip
    costs = load(results / "report_cost.jsonl")
    if costs:
        r = costs[-1]
        worst = max(r["report_cpu_ms_in_safemode"], r["report_cpu_ms_out_of_safemode"])
        lines.append([
            f"a full report of {r['replicas_per_report']:,} blocks: under 10 ms of namenode "
            "CPU, in or out of safe mode",
            f"{r['report_cpu_ms_in_safemode']:.1f} / {r['report_cpu_ms_out_of_safemode']:.1f} "
            "ms, over HTTP",
            met(worst < 10),
        ])  # fmt: skip
    return [[*line, ""] for line in lines]


def other_targets(
    dfs: dict[str, Any] | None, latency_rows: list[dict[str, Any]], nn_rows: list[dict[str, Any]]
) -> list[list[str]]:
    """The DFS, latency and namenode targets, from the latest runs."""
    lines = []
    results = {r["name"]: r for r in (dfs or {}).get("results", []) if "name" in r}
    for row, base, floor, label in (
        ("dfs put r=1", "raw HTTP upload", 0.5, "DFS put (r=1): at least 0.5x the raw HTTP upload"),
        ("dfs get r=1", "raw HTTP download", 0.7, "DFS get: at least 0.7x the raw HTTP download"),
    ):
        mine, ref = results.get(row), results.get(base)
        x = mine["mib_per_s"] / ref["mib_per_s"] if mine and ref else None
        lines.append([label, f"{ratio(x)} its throughput", met(None if x is None else x >= floor)])
    default = [r for r in latency_rows if r.get("config") == "default" and r.get("results")]
    job = (
        next((r for r in default[-1]["results"] if r.get("name") == "job"), None)
        if default
        else None
    )
    median = job.get("median") if job else None
    lines.append(
        [
            "a one-line job end to end (default heartbeats): under 1 s",
            "-" if median is None else f"median {median:.2f} s, max {job['max']:.2f} s",  # type: ignore[index]
            met(None if median is None else median < 1.0),
        ]
    )
    series = namenode_series([r for r in nn_rows if not is_baseline(r)])
    for op, floor, label in (
        ("in-proc stat", 10_000, "namenode: at least 10,000 stats/s"),
        ("in-proc create", 2_000, "namenode: at least 2,000 fsynced creates/s"),
    ):
        cells = series.get(op)
        best = max(cells.values()) if cells else None
        http = series.get(op.removeprefix("in-proc "))
        over_http = f"; over HTTP {max(http.values()):,.0f}/s" if http else ""
        lines.append(
            [
                f"{label} (in process, as NNThroughputBenchmark)",
                "-" if best is None else f"{best:,.0f}/s at the best thread count{over_http}",
                met(None if best is None else best >= floor),
            ]
        )
    memory = latest_memory(nn_rows)
    counts = ("traced_bytes_per_file", "rss_bytes_per_file", "bytes_per_file")
    worst = max(
        (int(r[k]) for r in memory.values() for k in counts if isinstance(r.get(k), int | float)),
        default=None,
    )
    sizes = ", ".join(f"{f:,}" for f in sorted(memory))
    lines.append(
        [
            "namenode: at most 500 bytes per single-block file",
            "-" if worst is None else f"{worst} B at most, traced or resident ({sizes} files)",
            met(None if worst is None else worst <= 500),
        ]
    )
    return [[*line, ""] for line in lines]


def http_targets(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The namenode's HTTP front under wrk (bench/namenode_http.py), from the latest run."""
    if not rows:
        return []
    before = next((r for r in rows if "before" in r.get("note", "")), None)
    last = rows[-1]["rows"]
    bare, stat = last["bare ASGI"]["rps"], last["GETFILESTATUS user.name"]["rps"]
    was = ""
    if before is not None and before is not rows[-1]:
        b = before["rows"]
        was = f", from {b['GETFILESTATUS user.name']['rps'] / b['bare ASGI']['rps']:.2f}x"
    mkdirs = max(v["rps"] for k, v in last.items() if k.startswith("MKDIRS"))
    return [
        [
            "namenode over HTTP (wrk): GETFILESTATUS at least 0.5x a bare ASGI endpoint",
            f"{ratio(stat / bare)} ({stat:,.0f} / {bare:,.0f}/s){was}",
            met(stat / bare >= 0.5),
            "",
        ],
        [
            "namenode over HTTP (wrk): at least 1,500 fsynced mutations/s, concurrent clients",
            f"{mkdirs:,.0f} MKDIRS/s, one log entry each",
            met(mkdirs >= 1_500),
            "",
        ],
    ]


# --- plots ---------------------------------------------------------------------------------------


def plots(
    img: Path,
    sizes: dict[int, dict[str, Any]],
    dfs: dict[str, Any] | None,
    series: dict[str, dict[int, float]],
    scale: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Draw every plot there are results for into `img`; the names of the files written."""
    import matplotlib  # the bench extra; imported here so that --no-plots needs nothing

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    drawings = {
        "perf-wordcount-throughput.png": (
            plot_wordcount(sizes, lambda r: float(r["mib_per_s"]), "MiB/s") if sizes else None
        ),
        "perf-wordcount-memory.png": (
            plot_wordcount(sizes, peak_rss, "peak RSS of the process tree, MiB") if sizes else None
        ),
        "perf-job-breakdown.png": plot_breakdown(breakdown_rows(sizes)),
        "perf-dfs-io.png": plot_dfs(dfs) if dfs else None,
        "perf-namenode-ops.png": plot_namenode(series) if series else None,
        "perf-scale.png": plot_scale(scale) if scale else None,
    }
    made = []
    for name, fig in drawings.items():
        if fig is not None:
            fig.tight_layout()
            fig.savefig(img / name, dpi=110, metadata={"Software": None})
            plt.close(fig)
            made.append(name)
    return made


def figure() -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(7, 4.2))


def plot_wordcount(
    sizes: dict[int, dict[str, Any]], value: Callable[[dict[str, Any]], float], ylabel: str
) -> Any:
    fig, ax = figure()
    names = list(dict.fromkeys(n for row in sizes.values() for n in by_name(row)))
    for name in names:
        points = [
            (s, value(by_name(row)[name])) for s, row in sizes.items() if name in by_name(row)
        ]
        xs, ys = zip(*points, strict=True)
        style: dict[str, Any] = {"linewidth": 2.8, "color": "black"} if name == MH else {}
        ax.plot(xs, ys, marker="o", label=name, **style)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(sizes), [f"{s} MiB" for s in sizes])
    ax.set_xlabel("input size")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"Word count on 2 cores: {ylabel.split(',')[0]}")
    return fig


def plot_breakdown(rows: dict[int, dict[str, float]]) -> Any:
    if not rows:
        return None
    fig, ax = figure()
    labels = [f"{s} MiB" for s in rows]
    colors = {**PHASE_COLORS, **STAGE_COLORS}
    bottom = [0.0] * len(rows)
    for stage in dict.fromkeys(k for r in rows.values() for k in r):
        values = [r.get(stage, 0.0) for r in rows.values()]
        ax.bar(labels, values, bottom=bottom, label=stage, color=colors.get(stage))
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_ylabel("wall seconds")
    ax.set_title("Where a word-count job's time goes (profiled run)")
    ax.legend(fontsize=7, loc="upper left", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return fig


DFS_ORDER = (
    "local cp",
    "raw HTTP upload",
    "dfs put r=1",
    "dfs put r=3",
    "local read",
    "raw HTTP download",
    "dfs get r=1",
    "dfs get r=3",
)


def plot_dfs(dfs: dict[str, Any]) -> Any:
    results = {r["name"]: r for r in dfs.get("results", []) if "name" in r}
    shown = [n for n in DFS_ORDER if n in results]
    shown += [n for n in results if n not in DFS_ORDER and "discard" not in n]
    colors = [
        "#888888" if n.startswith("local") else "#4e79a7" if "raw" in n else "#f28e2b"
        for n in shown
    ]
    fig, ax = figure()
    ax.barh(shown[::-1], [results[n]["mib_per_s"] for n in shown][::-1], color=colors[::-1])
    ax.set_xscale("log")
    ax.set_xlabel("MiB/s (log scale)")
    ax.set_title(f"DFS put/get, {dfs.get('size_mb', '?')} MiB: local disk, raw HTTP, DFS")
    ax.grid(axis="x", alpha=0.3)
    return fig


def plot_scale(rows: list[dict[str, Any]]) -> Any:
    """Start-up and steady heartbeat p99 against the count of datanodes (the latest run of
    each size)."""
    import matplotlib.pyplot as plt

    latest = {r["datanodes"]: r for r in rows}
    nodes = sorted(latest)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.8))
    left.plot(nodes, [latest[n]["safemode_off_s"] or float("nan") for n in nodes], marker="o")
    left.axhline(60, color="grey", linestyle="--", label="target: 60 s at 1,000")
    left.set_ylabel("restart to safe mode off, s")
    for key, label in (
        ("probe_heartbeat_p99_ms", "p99, a lone client"),
        ("served_heartbeat_p99_ms", "p99, the namenode's histogram"),
        ("heartbeat_p99_ms", "p99, the saturated simulators"),
    ):
        have = [n for n in nodes if key in latest[n]]
        right.plot(have, [latest[n][key] for n in have], marker="o", label=label)
    right.axhline(100, color="grey", linestyle="--", label="target: 100 ms")
    right.set_yscale("log")
    right.set_ylabel("steady heartbeat, ms (log scale)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xticks(nodes, [f"{n:,}" for n in nodes])
        ax.set_xlabel("datanodes")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("One namenode, many simulated datanodes")
    return fig


def plot_namenode(series: dict[str, dict[int, float]]) -> Any:
    fig, ax = figure()
    for name, cells in series.items():
        if name.startswith("local"):
            continue
        ts = sorted(cells)
        style: dict[str, Any] = {}
        if name == "/health":
            style = {"linestyle": "--", "color": "black"}
        elif name.startswith("in-proc"):
            style = {"linestyle": ":"}
        ax.plot(ts, [cells[t] for t in ts], marker="o", label=name, **style)
    threads = sorted({t for cells in series.values() for t in cells})
    ax.set_xscale("log", base=2)
    ax.set_xticks(threads, [str(t) for t in threads])
    ax.set_yscale("log")
    ax.set_xlabel("client threads")
    ax.set_ylabel("ops/s (log scale)")
    ax.set_title("Namenode metadata ops/s (solid: over HTTP; dotted: in process)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncols=2)
    return fig


# --- the page ------------------------------------------------------------------------------------


def page(results: Path, img_rel: str, made: list[str]) -> str:
    wc_rows = load(results / "wordcount.jsonl")
    sizes = latest_per_size(wc_rows)
    scalings = [r for r in wc_rows if r.get("kind") == "scaling"]
    scaling = scaling_from_sizes(sizes) or (scalings[-1] if scalings else None)
    dfs = latest_dfs(load(results / "dfs_io.jsonl"))
    latency_rows = load(results / "job_latency.jsonl")
    nn_rows = load(results / "namenode_ops.jsonl")
    series = namenode_series([r for r in nn_rows if not is_baseline(r)])

    def image(name: str, alt: str) -> str:
        return f"![{alt}]({img_rel}/{name})\n\n" if name in made else ""

    out = [
        "# Performance: the latest figures",
        "",
        "Generated by `bench/report.py` from `bench/results/*.jsonl` (`make bench` runs every "
        "benchmark, then this): the latest recorded run of each benchmark, as it was "
        "recorded; do not edit by hand. What the figures mean, what changed them and what "
        "was tried is [performance.md](performance.md), kept by hand. How each figure is "
        "measured is in [bench/README.md](../bench/README.md).",
        "",
        "The machine is a shared 2-core VM: times move by 10 % or more between runs, so every "
        "script measures its baselines in the same run, and the figures to compare are the "
        "ratios. *others* is how many cores other work on the machine took during a run: "
        "a row with others near 1 had half the machine taken from it.",
        "",
        "## Targets",
        "",
        "*others*: the cores other work took from the machine during the best runs compared "
        "(minihadoop's / the baseline's, or at 256 MiB / at 1 GiB). Where they differ much, "
        "the ratio says more about the machine than about minihadoop.",
        "",
        md_table(
            ["target", "measured", "", "others (cores)"],
            wordcount_targets(sizes, scaling)
            + other_targets(dfs, latency_rows, nn_rows)
            + http_targets(load(results / "namenode_http.jsonl"))
            + control_plane_targets(results),
            right_from=3,
        ),
        "",
        "## Word count",
        "",
        "The same word logic everywhere (whitespace split, punctuation stripped, lower-cased), "
        "each output checked equal to the `Counter`'s. minihadoop: a local cluster of 3 "
        "datanodes + 3 workers, 64 MiB blocks, 2 reducers, mapper yielding `(word, 1)` per "
        "word, summing combiner and reducer; timed from the submit to the output committed in "
        "the DFS (the upload is not in it). Dask and Spark: 2 processes; Spark's context, like "
        "the minihadoop cluster, is started before the clock. *peak RSS* sums every process "
        "of the tree (cluster daemons, JVM, workers) and counts shared pages once per process. "
        "Ratios are throughput over the baseline's (*minihadoop vs it*: minihadoop's over "
        "this row's).",
        "",
        wordcount_tables(sizes) if sizes else "No word-count results yet.",
        "",
        image("perf-wordcount-throughput.png", "word count MiB/s against input size"),
        image("perf-wordcount-memory.png", "peak RSS against input size"),
    ]
    if scaling:
        out += [
            f"### {scaling.get('from_mb')} MiB -> {scaling.get('to_mb')} MiB",
            "",
            f"How the best time, that run's CPU time and the peak RSS grew with 4x the input "
            f"({stamp(scaling)}). *others* is the cores other work took during each size's "
            "best run: when they differ, so does the time ratio, for reasons that are not "
            "minihadoop's; the CPU-time ratio moves less.",
            "",
            scaling_table(scaling),
            "",
            concurrency_note(sizes),
            "",
        ]
    out += [
        "## Where a job's time goes",
        "",
        "The job tracker records when each task attempt starts and ends (and counters), not "
        "how long each stage inside a task took. So the phases come from the attempts: the "
        "*map phase* (first map start -> last map end) holds read + map + the map-side "
        "combine, sort and spill; the *reduce phase* (first reduce start -> last reduce end) "
        "holds the shuffle fetch and merge, the reducer and the output write. To split them, "
        "`wordcount.py` runs the job once more per size under py-spy (sampling every process "
        "of the cluster, untimed) and shares each phase's wall time among its stages in "
        "proportion to the tasks' CPU samples in each. That is an estimate: it assumes a task "
        "spends its wall time as it spends its CPU (waits on the network or disk are not "
        "sampled). *collect* is the framework buffering the mapper's pairs by key; "
        "*task start* is unpickling the job and opening connections; *shuffle* is the "
        "reduce side fetching and merging the map outputs.",
        "",
        breakdown_table(sizes) if sizes else "",
        "",
        image("perf-job-breakdown.png", "stacked bars of a job's stages"),
    ]
    cpu = cpu_table(sizes)
    if cpu:
        out += [
            "CPU seconds by stage and by daemon in the profiled runs: the process tree's CPU "
            "time (from /proc) shared out in proportion to py-spy's samples, which count a "
            "thread that waits for a core as busy and so give only shares. *worker* is the "
            "worker daemons (serving the shuffle among the rest), their forkservers, and the "
            "task processes outside the task's own code (before it starts and after it ends); "
            "*client* is the benchmark process:",
            "",
            cpu,
            "",
        ]
    out += ["## DFS put and get", ""]
    if dfs:
        out += [
            f"{dfs.get('size_mb', '?')} MiB file, best of {dfs.get('repeat', '?')}, "
            f"{stamp(dfs)}. *vs raw HTTP*: against a minimal uvicorn server and httpx client "
            "moving the same bytes; *vs cp/read*: against the local disk and page cache.",
            "",
            dfs_table(dfs),
            "",
            image("perf-dfs-io.png", "DFS put/get beside raw HTTP and the local disk"),
        ]
    else:
        out += ["No DFS results yet.", ""]
    out += ["## Job latency", ""]
    if latency_rows:
        out += [
            f"A word count over a one-line file, on a running cluster ({stamp(latency_rows[-1])}"
            "). *vs put*: median time over one `fs.put` of the same line.",
            "",
            latency_table(latency_rows),
            "",
        ]
    out += ["## Namenode operations", ""]
    if series:
        latest = [r for r in nn_rows if r.get("kind") == "throughput"][-1]
        out += [
            f"ops/s by client threads ({stamp(latest)}; each operation from the latest run "
            "that measured it). *local* rows are the same calls on the local file system; "
            "*in-proc* rows call the namenode's core directly; */ /health* is the operation "
            "over the emptiest request at each thread count.",
            "",
            namenode_table(series),
            "",
            image("perf-namenode-ops.png", "namenode ops/s against client threads"),
        ]
    memory = memory_rows(nn_rows)
    if memory:
        out += [
            "Namenode memory per single-block file, each size built in a fresh interpreter: "
            "*traced* counts Python's own allocations for the namespace, *resident* the "
            "process's growth; the block map (three replicas a block) is counted apart. "
            "*before* is the same measurement of the namenode before this round of work.",
            "",
            md_table(
                [
                    "files",
                    "traced B/file",
                    "resident B/file",
                    "block map B/block",
                    "before (traced / resident)",
                    "run",
                ],
                memory,
                right_from=1,
            ),
            "",
        ]
    out += scale_section(
        load(results / "scale.jsonl"),
        image("perf-scale.png", "start-up and heartbeat p99 against the count of datanodes"),
    )
    out += safemode_section(load(results / "safemode_reports.jsonl"))
    out += report_cost_section(load(results / "report_cost.jsonl"))
    out += namenode_http_section(load(results / "namenode_http.jsonl"))
    out += failover_section(load(results / "namenode_failover.jsonl"))
    return "\n".join(out).rstrip() + "\n"


SCALE_NOTES = """\
What changed for many datanodes, each measured with this script:

* **Safe mode's count is kept as replicas arrive**, not walked for on every report (the
  next section); leaving safe mode checks replication 10,000 blocks a tick, not all at once
  under the lock. 1,000 nodes went from still in safe mode after 3.5 minutes to out in
  about 25 s.
* **Datanodes back off from a busy namenode** (503, 429) without registering and reporting
  again, and jitter their heartbeats by ±10 %, so reports that finished together do not
  beat together for ever.
* **Heartbeats take neither the namesystem lock nor a pool thread.** A beat stores a few
  plain fields and pops its node's command queue, each an atomic step, and is answered on
  the event loop. Before, at 1,000 nodes the namenode's own histogram put the p99 at
  500 ms to 1 s while its CPU sat near 28 %: beats waited behind replication rounds for the
  lock, and for pool threads held by those waits. After, 10 to 50 ms at most.
* **Block reports queue for one processing thread** (HDFS's BlockReportProcessingThread),
  which takes the lock once per batch of up to 64; the request waits for its answer
  without holding a pool thread.
* **The loaded heap is frozen out of the garbage collector's sight.** With the two changes
  above the beats' p99 still hit 100-170 ms: the new `gc_pause_seconds` histogram showed
  full collections of 0.25-0.5 s every ten seconds or so, each walking the namespace's and
  block map's ~720,000 objects while every thread stood still. The namenode now collects
  once and calls `gc.freeze()` when its image is loaded and again when it leaves safe mode
  (the namespace is a tree of slotted records, with no cycles, so nothing can leak by it),
  and raises the young generation's threshold from 700 to 10,000 allocations, since a
  report parses into a thousand objects. Full collections in the steady part: from 2-3 to
  none; the probe's p99 went from 104-170 ms to 35-53 ms.

The *simulators* columns time beats in the two processes that run every simulated node:
at 1,000 nodes those event loops are saturated on the second core, and their p99 is
mostly their own queueing. The *probe* is one quiet client beside them, as a real
datanode on its own machine would be. A node's death is timed from its last beat: the
namenode declares it dead after the dead-node timeout (60 s here; HDFS's default is
10.5 minutes), then its blocks are copied at the namenode's throttle (each source handed at
most a few copies a heartbeat); the simulated nodes report each copy received at once.
"""


def scale_section(rows: list[dict[str, Any]], plot: str = "") -> list[str]:
    """One namenode against many simulated datanodes: start-up, report and heartbeat
    latency, the namenode's CPU and memory, a node's death; the latest run of each size."""
    if not rows:
        return []
    latest = {r["datanodes"]: r for r in rows}  # the last run of each size
    runs = [latest[n] for n in sorted(latest)]
    lines = [
        "### Many datanodes",
        "",
        "`bench/scale.py`: one real namenode restarted on an image of one-block files (so "
        "in safe mode), against simulated datanodes in two processes speaking the real "
        "signed HTTP protocol: each registers, sends its full report (three replicas a "
        "block), then heartbeats every 3 s, jittered. *steady* heartbeats are those sent "
        "from two intervals after safe mode is off, timed by a lone client (*probe*), by the "
        "simulators, and by the namenode's own `/metrics` histogram (*namenode*: the bucket "
        "bound the quantile falls in); the namenode's CPU is over the steady part, in percent "
        "of one core. The simulators share the machine's two cores with the namenode.",
        "",
    ]

    def ms(r: dict[str, Any], p50: str, p99: str, fmt: str = "{:.1f}") -> str:
        if p99 not in r:
            return "-"
        return f"{fmt.format(r[p50])} / {fmt.format(r[p99])} ms"

    def secs(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    table = [
        [
            stamp(r),
            f"{r['datanodes']:,}",
            f"{r['blocks']:,}",
            secs(r["safemode_off_s"]) if r["safemode_off_s"] is not None else "not off",
            f"{r['report_p50_s'] * 1000:.0f} / {r['report_p99_s'] * 1000:.0f} ms",
            ms(r, "probe_heartbeat_p50_ms", "probe_heartbeat_p99_ms"),
            ms(r, "heartbeat_p50_ms", "heartbeat_p99_ms"),
            ms(r, "served_heartbeat_p50_ms", "served_heartbeat_p99_ms", "≤ {:.0f}"),
            f"{r['namenode_cpu_percent']:.0f} %",
            f"{r['namenode_rss_mib']:.0f} MiB",
        ]
        for r in runs
    ]
    header = [
        "run", "datanodes", "blocks", "safe mode off after", "first report p50 / p99",
        "steady heartbeat p50 / p99, probe", "simulators", "namenode", "namenode CPU",
        "namenode RSS",
    ]  # fmt: skip
    deaths = [
        [
            stamp(r),
            f"{r['datanodes']:,}",
            f"{r['blocks'] * 3 // r['datanodes']:,}",
            secs(r.get("dead_declared_s")),
            secs(r.get("rereplicated_s")),
            f"{r['replicated']:,}",
        ]
        for r in runs
        if "dead_declared_s" in r
    ]
    out = [*lines, md_table(header, table), ""]
    if deaths:
        out += [
            "A datanode's death, in the same runs:",
            "",
            md_table(
                [
                    "run",
                    "datanodes",
                    "replicas it held",
                    "declared dead after",
                    "then all re-replicated after",
                    "copies made",
                ],
                deaths,
            ),
            "",
        ]
    if plot:
        out += [plot]
    return [*out, SCALE_NOTES, ""]


def safemode_section(rows: list[dict[str, Any]]) -> list[str]:
    """A block report's CPU in safe mode: the count kept as replicas arrive, against the
    walk of every block each report used to make, in the same run."""
    if not rows:
        return []
    lines = [
        "### Block reports in safe mode",
        "",
        "`bench/safemode_reports.py`: a namenode restarted on an image of one-block files "
        "(so in safe mode, nothing reported), datanodes each sending one full report of "
        "their share of the replicas (three a block); the namenode's CPU per report and "
        "until safe mode is off, with safe mode's count kept as replicas are reported "
        "(an exact walk only when the monitor's tick finds the threshold may be reached) "
        "against the walk of every block after each report that it used to make.",
        "",
    ]
    table = [
        [
            stamp(r),
            f"{r['files']:,}",
            f"{r['datanodes']}",
            f"{r['kept']['report_ms_mean']:.1f} / {r['walked']['report_ms_mean']:.1f} ms",
            ratio(r["walked"]["report_ms_mean"] / r["kept"]["report_ms_mean"]),
            f"{r['kept']['cpu_to_leave_safemode_s']:.2f} / "
            f"{r['walked']['cpu_to_leave_safemode_s']:.2f} s",
        ]
        for r in rows[-5:]
    ]
    header = [
        "run", "blocks", "datanodes", "CPU per report, kept / walked", "ratio",
        "CPU until safe mode is off, kept / walked",
    ]  # fmt: skip
    return [*lines, md_table(header, table), ""]


def report_cost_section(rows: list[dict[str, Any]]) -> list[str]:
    """One full block report's namenode CPU over HTTP, in and out of safe mode, beside a
    heartbeat's from the same run."""
    if not rows:
        return []
    lines = [
        "### One full block report",
        "",
        "`bench/report_cost.py`: a namenode restarted on an image of one-block files, "
        "datanodes registered, and one client sending each node's full report in turn over "
        "the real signed HTTP front (parsing, validation, the report queue, the lock); the "
        "namenode's CPU over the round divided by the reports sent, in safe mode (the "
        "reports cover half the blocks, so it stays on) and again after leaving it, beside "
        "as many heartbeats from the same client.",
        "",
    ]
    table = [
        [
            stamp(r),
            f"{r['replicas_per_report']:,}",
            f"{r['blocks']:,}",
            f"{r['report_cpu_ms_in_safemode']:.1f} ms",
            f"{r['report_cpu_ms_out_of_safemode']:.1f} ms",
            f"{r['heartbeat_cpu_ms']:.2f} ms",
            ratio(r["report_vs_heartbeat"]),
        ]
        for r in rows[-3:]
    ]
    header = [
        "run", "replicas a report", "blocks", "CPU a report, in safe mode", "out of it",
        "CPU a heartbeat", "report / heartbeat",
    ]  # fmt: skip
    return [*lines, md_table(header, table), ""]


def namenode_http_section(rows: list[dict[str, Any]]) -> list[str]:
    """The namenode's HTTP front under wrk, beside a bare ASGI endpoint of the same run."""
    if not rows:
        return []
    lines = [
        "### The HTTP front under a compiled client",
        "",
        "`bench/namenode_http.py`: `wrk` (C, one thread, 16 connections; MKDIRS at 1, 16 "
        "and 64) against a namenode alone, beside a bare ASGI endpoint served by the same "
        "`minihadoop.server.serve` settings in the same run; best of three rounds. *CPU* is "
        "the namenode's per request, every thread. A stat is `GETFILESTATUS` of a file "
        "under the open read policy with `user.name`, or with a delegation token; MKDIRS "
        "makes a new folder per request, one log entry fsynced before the answer. Target: "
        "stats at least half the bare endpoint's rate, fsynced mutations at least 1,500/s.",
        "",
    ]
    table = []
    for r in rows[-4:]:
        row = r["rows"]
        bare, stat = row["bare ASGI"]["rps"], row["GETFILESTATUS user.name"]
        mkdirs = max(v["rps"] for k, v in row.items() if k.startswith("MKDIRS"))
        table.append(
            [
                stamp(r) + (" (before)" if "before" in r.get("note", "") else ""),
                f"{bare:,.0f}",
                f"{row['/health']['rps']:,.0f}",
                f"{stat['rps']:,.0f} ({ratio(stat['rps'] / bare)})",
                f"{stat['cpu_us']:.0f} us",
                f"{row['GETFILESTATUS delegation']['rps']:,.0f}",
                f"{mkdirs:,.0f}",
            ]
        )
    header = [
        "run", "bare ASGI /s", "/health /s", "stat /s (/ bare)", "CPU a stat",
        "stat, token /s", "fsynced MKDIRS /s",
    ]  # fmt: skip
    return [*lines, md_table(header, table), ""]


def failover_section(rows: list[dict[str, Any]]) -> list[str]:
    """The namenode group: leader kill -9 to the first acknowledged write, what was lost,
    and creates/s of the group against a lone namenode in the same run."""
    if not rows:
        return []
    lines = [
        "## Namenode group",
        "",
        "`bench/namenode_failover.py`: a group of three namenodes and three datanodes; four "
        "writers create small files while the leader is killed with SIGKILL again and again "
        "(started again each time); the time from the kill to the first create acknowledged "
        "after it, every acknowledged file read back at the end; then fsynced creates/s of "
        "the group and, in the same run, of a lone namenode.",
        "",
    ]
    table = [
        [
            stamp(r),
            f"{r['kills']}",
            f"{r['median_s']:.2f} s",
            f"{r['worst_s']:.2f} s",
            f"{r['lost']} of {r['acknowledged']}",
            f"{r['errors']}",
            f"{r['group_creates_per_s']:.0f} / {r['lone_creates_per_s']:.0f}",
            ratio(r["group_creates_per_s"] / r["lone_creates_per_s"]),
        ]
        for r in rows[-5:]
    ]
    header = [
        "run",
        "kills",
        "median",
        "worst",
        "lost",
        "errors",
        "creates/s group / lone",
        "ratio",
    ]
    return [*lines, md_table(header, table), ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--results", type=Path, default=BENCH_DIR / "results")
    parser.add_argument("--docs", type=Path, default=ROOT / "docs")
    parser.add_argument("--no-plots", action="store_true", help="tables only, no matplotlib")
    args = parser.parse_args(argv)
    made: list[str] = []
    if not args.no_plots:
        wc_rows = load(args.results / "wordcount.jsonl")
        made = plots(
            args.docs / "img",
            latest_per_size(wc_rows),
            latest_dfs(load(args.results / "dfs_io.jsonl")),
            namenode_series(load(args.results / "namenode_ops.jsonl")),
            load(args.results / "scale.jsonl"),
        )
    target = args.docs / PAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page(args.results, "img", made))
    print(f"wrote {target}" + "".join(f"\nwrote {args.docs / 'img' / n}" for n in made))
    return 0


if __name__ == "__main__":
    sys.exit(main())
