"""How long the smallest MapReduce job takes end to end, against a DFS round trip, in one run.

On a running local cluster (namenode, 3 datanodes, job tracker, 3 workers), `--repeat` times
each (default 10):

* **Counter** — `Counter(words(line))` of the one-line file, read from the local disk: the
  work itself, about nothing.
* **fs.put** — `FileSystem.put` of the same one-line file to a new DFS path: one pure DFS
  round trip (namenode create, add block, a datanode pipeline, complete, a final stat).
* **job** — the word count of `wordcount.py` (same mapper, summing combiner and reducer,
  2 reducers) over that file, already in the DFS: `Job(...).run()` from the submit until the
  client has seen it finish (a long poll: the job tracker answers when the job changes),
  each run to a new output folder. Its output is checked against the Counter's.

Every job runs one map and two reduces, so its time is almost all coordination: heartbeats,
starting task processes, DFS metadata calls and the commit. The script prints the median of
each phase, from the job's attempts (job tracker's clock; see `jobprofile.phases`), and the
client's share (its wall time less the job tracker's duration). The first run pays for
things later runs reuse (the workers' forkservers, imports); each run's time is printed.

Heartbeat settings, one cluster each (`--settings`, default both):

* **fast** — datanode heartbeat 0.2 s, MapReduce heartbeat 0.1 s: what the test suite uses.
* **default** — the defaults of `minihadoop cluster up`: datanode heartbeat 3.0 s and the
  MapReduce heartbeat of `minihadoop.config.Settings` (`mr_heartbeat_interval`, 0.5 s).

Everything else is `minihadoop cluster up`'s default (64 MiB blocks, replication 3). Ratios are
times (not throughputs) divided by the `fs.put` median: 20x = twenty DFS round trips. Results
are appended as one JSON line per setting to `bench/results/job_latency.jsonl`.

Run: ``.venv/bin/python bench/job_latency.py [--repeat 10] [--settings fast,default]``
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import wordcount
from common import run_in_workdir, workdir_options
from jobprofile import phases

from mapreduce import Job
from minihadoop.config import Settings
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

DATANODES = 3
LINE = 'The quick brown fox jumps over the lazy dog\'s back; "twice," said the Fox.\n'
DEFAULTS = Settings()
# Both: `minihadoop cluster up` defaults (block size, replication, dead-node timeout).
BASE: dict[str, Any] = {
    "block_size": DEFAULTS.block_size,
    "replication": DEFAULTS.replication,
    "dead_node_timeout": DEFAULTS.dead_node_timeout,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "fast": {**BASE, "heartbeat_interval": 0.2, "mr_heartbeat_interval": 0.1},
    "default": {
        **BASE,
        "heartbeat_interval": 3.0,  # `minihadoop cluster up --heartbeat` default
        "mr_heartbeat_interval": DEFAULTS.mr_heartbeat_interval,
    },
}
RESULTS = wordcount.BENCH_DIR / "results" / "job_latency.jsonl"


@dataclass
class Timings:
    name: str
    seconds: list[float] = field(default_factory=list)

    def stats(self) -> dict[str, float]:
        s = self.seconds
        return {"min": min(s), "median": statistics.median(s), "max": max(s)}


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def count_file(path: Path) -> Counter[str]:
    with open(path) as f:
        return Counter(w for line in f for w in wordcount.words(line))


def run_job(cluster: LocalCluster, output: str) -> Any:
    return Job(
        wordcount.mapper,
        wordcount.reducer,
        combiner=wordcount.reducer,
        inputs=["/latency/in.txt"],
        output=output,
        num_reducers=wordcount.REDUCERS,
        name="bench-latency",
        cluster_dir=cluster.directory,
    ).run()


def measure(
    cluster: LocalCluster, local: Path, times: int
) -> tuple[list[Timings], list[dict[str, float]]]:
    """The three timings, and each job's phases with the client's share added."""
    counter, put, job = Timings("Counter"), Timings("fs.put one line"), Timings("job")
    job_phases: list[dict[str, float]] = []
    expected: Counter[str] = Counter()
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.put(local, "/latency/in.txt")
        for i in range(times):
            seconds, expected = timed(lambda: count_file(local))
            counter.seconds.append(seconds)
            seconds, _ = timed(functools.partial(fs.put, local, f"/latency/put-{i}"))
            put.seconds.append(seconds)
        for i in range(times):
            seconds, result = timed(functools.partial(run_job, cluster, f"/latency/out-{i}"))
            if not result.ok:
                raise SystemExit(f"FAIL: job {result.id} {result.state.value}: {result.error}")
            got = wordcount.read_output(fs, f"/latency/out-{i}")
            if got != expected:
                raise SystemExit(f"FAIL: job {result.id} counted {got}, expected {expected}")
            job.seconds.append(seconds)
            job_phases.append({**phases(result.status), "client": seconds - result.duration})
            print(f"  job {i + 1:>2}/{times} {seconds:6.2f} s  ({result.id})", flush=True)
    return [counter, put, job], job_phases


def table(timings: list[Timings]) -> str:
    put = statistics.median(next(t for t in timings if t.name.startswith("fs.put")).seconds)
    header = (
        f"{'measurement':<16} {'runs':>4} {'min s':>9} {'median s':>9} {'max s':>9} {'vs put':>8}"
    )
    lines = [header, "-" * len(header)]
    for t in timings:
        s = t.stats()
        lines.append(
            f"{t.name:<16} {len(t.seconds):>4} {s['min']:9.4f} {s['median']:9.4f} "
            f"{s['max']:9.4f} {s['median'] / put:7.3g}x"
        )
    return "\n".join(lines)


def phase_table(job_phases: list[dict[str, float]]) -> str:
    lines = [f"{'job phase (median of runs)':<28} {'s':>6}"]
    for name in job_phases[0]:
        lines.append(f"{name:<28} {statistics.median(p[name] for p in job_phases):6.3f}")
    return "\n".join(lines)


def run_config(args: argparse.Namespace, work: Path, name: str) -> None:
    settings = CONFIGS[name]
    print(
        f"\n== {name}: datanode heartbeat {settings['heartbeat_interval']} s, MapReduce "
        f"heartbeat {settings['mr_heartbeat_interval']} s, replication "
        f"{settings['replication']}, {settings['block_size'] >> 20} MiB blocks",
        flush=True,
    )
    local = work / "line.txt"
    local.write_text(LINE)
    cluster = LocalCluster(work / f"cluster-{name}")
    try:
        start_s, _ = timed(lambda: cluster.start(datanodes=DATANODES, settings=settings))
        print(f"  cluster start {start_s:.1f} s", flush=True)
        timings, job_phases = measure(cluster, local, args.repeat)
    finally:
        cluster.stop()
    print(f"\n{name}: {args.repeat} runs each; 'vs put' = median time / fs.put's median time")
    print(table(timings))
    print()
    print(phase_table(job_phases))
    wordcount.record(
        RESULTS,
        {
            "config": name,
            "settings": settings,
            "repeat": args.repeat,
            "datanodes": DATANODES,
            "reducers": wordcount.REDUCERS,
            "cluster_start_s": start_s,
            "results": [{**asdict(t), **t.stats()} for t in timings],
            "phases": job_phases,
        },
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each measurement")
    parser.add_argument(
        "--settings", default="fast,default", help=f"comma-separated, of: {', '.join(CONFIGS)}"
    )
    workdir_options(parser)
    args = parser.parse_args(argv)
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not args.settings or any(s not in CONFIGS for s in args.settings):
        parser.error(f"--settings takes names among {', '.join(CONFIGS)}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("machine shared with other work: expect noise, the max above all")

    def run(args: argparse.Namespace, work: Path) -> None:
        for name in args.settings:
            run_config(args, work, name)
        print(f"\nappended to {RESULTS}")

    return run_in_workdir(args, run, prefix="minihadoop-bench-latency-")


if __name__ == "__main__":
    sys.exit(main())
