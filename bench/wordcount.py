"""Word count on minihadoop against plain Python on the same machine, all in one run.

For each `--sizes` entry (MiB), on a corpus from `corpus.py` (generated once, then cached):

* **Counter** — one process: the file read in 4 MiB pieces cut at line ends, every line's
  words added to a `collections.Counter`. The baseline every ratio starts from.
* **Pool x2** — a 2-process `multiprocessing.Pool` (fork): the file cut into two byte ranges
  at line boundaries, each counted as above, the two Counters added. What two cores give
  plain Python; the fair target for a 2-core machine.
* **dask bag x2** — `read_text(blocksize=64 MiB)`, `.map(words).flatten().frequencies()`,
  computed by the processes scheduler with 2 workers (spawned per compute, as dask does).
* **pyspark local[2]** — `textFile`, `flatMap(words)`, `map((w, 1))`, `reduceByKey(add)`,
  `collect()` on a SparkContext started before the clock (as the minihadoop cluster is); its
  JVM and Python workers are children of this process, so they are in the memory figures.
  Dask and pyspark run only when importable (the `bench` extra, `make bench-install`); a
  printed note says when they are skipped.
* **minihadoop** — `Job(mapper, mapreduce.sum, combiner=mapreduce.sum, num_reducers=2).run()`
  (with `--reducer own`: the hand-written summing `reducer` below as both) on a local
  cluster (namenode, 3 datanodes, job tracker, 3 workers with their default slots, one per
  core) started after the baselines, with 64 MiB blocks and replication 1 (keeps the upload
  cheap; a map reads one replica anyway). Heartbeats are the defaults of `minihadoop cluster
  up`. Timed from the submit to `run()` returning, i.e. including the output written to
  the DFS; the upload is timed apart and not included.

Every system uses the same word logic (`words()`: split on whitespace, strip punctuation from
both ends, lower-case, drop empties), and every result is compared with the Counter's; the
minihadoop output is read back from the DFS part files. A mismatch is printed and makes the
exit code 1.

Resources, sampled by a thread every 0.1 s (`TreeSampler`): the benchmark process and all its
descendants, found through ``/proc/<pid>/task/<tid>/children``. For minihadoop that is the
client, every cluster daemon, the workers' forkservers and the task processes; for the Pool
its workers. *Peak RSS* is the largest sum of ``VmRSS`` over that tree in one sample; it
counts pages shared between processes (forked or forkserver children) once per process, so
it overstates the tree's real footprint, and a peak shorter than 0.1 s can be missed. *Idle
RSS* is the same sum when the measurement starts (the idle cluster, or only this process).
*CPU s* is the tree's user + system time over the measurement, from ``/proc/<pid>/stat``:
live processes' own time plus that of descendants they reaped (cutime/cstime); *cores* is
CPU s / wall s (at most 2 on 2 cores). *Others* is the cores that everything else on the
machine used meanwhile (all CPU time in ``/proc/stat``, hypervisor steal included, less the
tree's): the noise. A run with ``others`` near 1 had half the machine taken from it.

Job timings come from the job's status: attempt start/finish are the job tracker's clock, from
the heartbeat that launched an attempt to the heartbeat that reported it, so they include
starting the task process and up to one heartbeat of delay. Phases: first map start -> last
map finish, last map finish -> first reduce start, first reduce start -> last reduce finish,
then the job commit. With `--profile` (the default) one more, untimed run per size is sampled
by py-spy to split those phases into stages: read, map, collect, combine, sort+spill,
shuffle, reduce, write (see `jobprofile`).

When the run has both 256 and 1024 MiB, it ends with how each system's best time and peak
RSS grew from one to the other, beside minihadoop's targets (at most 4.4x the time, a flat
peak). One JSON line per size, and one for that scaling, go to `results/wordcount.jsonl`.

Run: ``.venv/bin/python bench/wordcount.py [--sizes 64,256,1024] [--repeat 1] [--keep]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import importlib.util
import itertools
import json
import multiprocessing
import operator
import os
import platform
import signal
import statistics
import string
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import corpus
import httpx
from common import TreeSampler, git_commit, run_in_workdir, workdir_options
from jobprofile import StackSampler, phases, py_spy, wall_split

import mapreduce
from mapreduce import Job
from mapreduce.job import JobResult
from mapreduce.serialization import Reducer
from minihadoop.config import Settings
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

MiB = 1 << 20
BLOCK_SIZE = 64 * MiB
DATANODES = 3
REPLICATION = 1
REDUCERS = 2
PROCESSES = 2
READ_PIECE = 4 * MiB
# `minihadoop cluster up` defaults, but for the block size and the replication.
CLUSTER_SETTINGS: dict[str, Any] = {
    "block_size": BLOCK_SIZE,
    "replication": REPLICATION,
    "heartbeat_interval": 3.0,
    "dead_node_timeout": 60.0,
}
MR_HEARTBEAT = Settings.model_fields["mr_heartbeat_interval"].default  # not set: the default
BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "wordcount.jsonl"
COUNTER, POOL = "Counter", f"Pool x{PROCESSES}"
# The targets for scaling: 4x the input in at most 4.4x the time, with a flat peak
# (here: at most 1.25x the peak RSS).
SCALE_FROM, SCALE_TO = 256, 1024
TIME_RATIO_TARGET, FLAT_PEAK = 4.4, 1.25

# --- the job: the same word logic for every system -----------------------------------------

PUNCTUATION = string.punctuation


def words(line: str) -> Iterator[str]:
    """The words of a line, for the plain-Python systems. `mapper` repeats this loop inline,
    as a user would write it; `main` checks once that the two agree."""
    for token in line.split():
        word = token.strip(PUNCTUATION).lower()
        if word:
            yield word


def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for token in line.split():
        word = token.strip(PUNCTUATION).lower()
        if word:
            yield word, 1


def reducer(word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


REDUCERS_BY_NAME: dict[str, Reducer] = {"builtin": mapreduce.sum, "own": reducer}


# --- plain Python -------------------------------------------------------------------------------


def count_range(path: Path, start: int, end: int) -> Counter[str]:
    """The words of the lines in bytes [start, end) of `path`; both are line starts."""
    counts: Counter[str] = Counter()
    update = counts.update
    with open(path, "rb") as f:
        f.seek(start)
        left, rest = end - start, b""
        while left > 0:
            piece = f.read(min(READ_PIECE, left))
            if not piece:
                break
            left -= len(piece)
            piece = rest + piece
            cut = piece.rfind(b"\n") + 1 if left > 0 else len(piece)
            rest = piece[cut:]
            for line in piece[:cut].decode("utf-8", "replace").split("\n"):
                update(words(line))
    return counts


def line_ranges(path: Path, parts: int) -> list[tuple[int, int]]:
    """`parts` byte ranges covering `path`, each starting at a line start."""
    size = path.stat().st_size
    bounds = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(size * i // parts - 1, bounds[-1]))
            f.readline()  # to the end of the line the cut falls in
            bounds.append(min(f.tell(), size))
    bounds.append(size)
    return list(itertools.pairwise(bounds))


def counter_count(path: Path) -> Counter[str]:
    return count_range(path, 0, path.stat().st_size)


def pool_count(path: Path) -> Counter[str]:
    # The workers must not inherit this script's SIGTERM handler: the pool ends them with
    # SIGTERM, which should end them quietly, not raise KeyboardInterrupt in them.
    with multiprocessing.get_context("fork").Pool(
        PROCESSES, initializer=signal.signal, initargs=(signal.SIGTERM, signal.SIG_DFL)
    ) as pool:
        parts = pool.starmap(count_range, [(path, s, e) for s, e in line_ranges(path, PROCESSES)])
        pool.close()
        pool.join()
    total = parts[0]
    for part in parts[1:]:
        total.update(part)
    return total


def dask_count(path: Path) -> Counter[str]:
    import dask.bag as db  # optional: only when installed

    # One partition per 64 MiB, as minihadoop's splits; read_text's default is one per file.
    read_text: Callable[..., Any] = db.read_text  # dask is not typed
    bag = read_text(str(path), blocksize=BLOCK_SIZE)
    pairs = (
        bag.map(words).flatten().frequencies().compute(scheduler="processes", num_workers=PROCESSES)
    )
    return Counter(dict(pairs))


@contextlib.contextmanager
def spark_context() -> Iterator[Callable[[Path], Counter[str]]]:
    """A SparkContext on `local[2]` for the `with` block, then its JVM ended.

    The JVM (and the Python workers it forks) are children of this process, so the tree
    sampler counts them. Its start is not timed, as the minihadoop cluster's is not: both
    are a running cluster that a job is submitted to."""
    # the venv's interpreter for the workers (Spark's default is whatever `python3` is);
    # loopback, as the minihadoop daemons
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark import SparkConf, SparkContext  # optional: only when installed

    conf = (
        SparkConf()
        .setMaster(f"local[{PROCESSES}]")
        .setAppName("bench-wordcount")
        .set("spark.ui.enabled", "false")
        .set("spark.ui.showConsoleProgress", "false")
    )
    sc = SparkContext(conf=conf)
    sc.setLogLevel("ERROR")
    gateway: Any = sc._gateway
    try:
        yield functools.partial(spark_count, sc)
    finally:
        sc.stop()
        # stop() keeps the JVM for a next context; end it, or it would sit in the process
        # tree (and its memory) through the systems measured after it
        gateway.shutdown()
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            proc.terminate()
            proc.wait(30)
        SparkContext._gateway = None
        SparkContext._jvm = None


def spark_count(sc: Any, path: Path) -> Counter[str]:
    rdd = sc.textFile(str(path))
    pairs = rdd.flatMap(words).map(lambda w: (w, 1)).reduceByKey(operator.add).collect()
    return Counter(dict(pairs))


@dataclass(frozen=True)
class System:
    """A word count to measure: `start` gives, for a `with` block, the function that counts
    a file; entering it (starting a cluster or a JVM) is timed apart from the counting."""

    name: str
    module: str | None  # must be importable to run; None: always runs
    start: Callable[[], contextlib.AbstractContextManager[Callable[[Path], Counter[str]]]]


def ready(count: Callable[[Path], Counter[str]]) -> Callable[[], contextlib.nullcontext[Any]]:
    return lambda: contextlib.nullcontext(count)


SYSTEMS = (
    System(COUNTER, None, ready(counter_count)),
    System(POOL, None, ready(pool_count)),
    System(f"dask bag x{PROCESSES}", "dask", ready(dask_count)),
    System(f"pyspark local[{PROCESSES}]", "pyspark", spark_context),
)


# --- measurements -------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu: float
    peak_rss: int
    idle_rss: int
    others: float  # CPU seconds used outside the tree meanwhile


@dataclass
class Measurement:
    name: str
    size: int
    runs: list[Run] = field(default_factory=list)
    equal: bool = True
    setup_s: float = 0.0  # starting the system (cluster, JVM) before its runs; not timed

    @property
    def best(self) -> Run:
        return min(self.runs, key=lambda r: r.seconds)

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def mib_per_s(self) -> float:
        return self.size / MiB / self.best.seconds

    def as_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "best": self.best.seconds,
            "median": self.median,
            "mib_per_s": self.mib_per_s,
        }


def measure(m: Measurement, action: Callable[[], Any]) -> Any:
    """Run `action` once under a `TreeSampler`, adding a `Run` to `m`; its result."""
    with TreeSampler() as sampler:
        start = time.perf_counter()
        result = action()
        seconds = time.perf_counter() - start
    m.runs.append(Run(seconds, sampler.cpu, sampler.peak_rss, sampler.idle_rss, sampler.others))
    print(
        f"  {m.name:<20} {seconds:8.2f} s  {sampler.cpu:7.1f} CPU s  "
        f"peak RSS {sampler.peak_rss / MiB:6.0f} MiB  others used {sampler.others:5.1f} CPU s",
        flush=True,
    )
    return result


def compare(m: Measurement, got: dict[str, int], expected: Counter[str]) -> bool:
    if got == expected:
        return True
    missing = expected.keys() - got.keys()
    extra = got.keys() - expected.keys()
    differ = [w for w in expected.keys() & got.keys() if got[w] != expected[w]]
    print(
        f"FAIL: {m.name}: output differs from the Counter's: {len(missing)} words missing, "
        f"{len(extra)} extra, {len(differ)} with other counts; e.g. "
        f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}, "
        f"{[(w, got[w], expected[w]) for w in sorted(differ)[:3]]}",
        flush=True,
    )
    m.equal = False
    return False


# --- minihadoop ---------------------------------------------------------------------------------


def read_output(fs: FileSystem, output: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in fs.ls(output):
        if entry.name.startswith("part-"):
            for line in fs.read_bytes(entry.path).decode().splitlines():
                word, n = line.rsplit("\t", 1)
                if word in counts:
                    raise SystemExit(f"FAIL: {word!r} is in more than one part file of {output}")
                counts[word] = int(n)
    return counts


ATTEMPT_COUNTERS = (
    ("in recs", "MAP_INPUT_RECORDS", "REDUCE_INPUT_RECORDS"),
    ("out recs", "MAP_OUTPUT_RECORDS", "REDUCE_OUTPUT_RECORDS"),
    ("spills", "SPILLS", "SPILLS"),
    ("remote MiB", "BYTES_READ_REMOTE", "REDUCE_SHUFFLE_BYTES"),
)


def attempt_table(status: dict[str, Any]) -> str:
    """One line per attempt: when it ran (s after the submit) and its main counters; for a
    reduce, "remote MiB" is what it fetched in the shuffle."""
    header = (
        f"{'attempt':<12} {'worker':<11} {'local':>5} {'spec':>4} {'state':<9} "
        f"{'start':>6} {'secs':>6}"
    )
    header += "".join(f" {name:>10}" for name, _, _ in ATTEMPT_COUNTERS)
    lines = [header]
    for a in sorted(status["attempts"], key=lambda a: (a["kind"] != "MAP", a["started"] or 0)):
        c = a["counters"] or {}
        start = (a["started"] or 0) - status["submitted"]
        secs = (a["finished"] or time.time()) - (a["started"] or 0)
        line = (
            f"{a['kind'].lower() + ' ' + str(a['index']):<12} {str(a['worker'])[-11:]:<11} "
            f"{'-' if a['data_local'] is None else 'yes' if a['data_local'] else 'no':>5} "
            f"{'yes' if a['speculative'] else '':>4} {a['state']:<9} {start:6.1f} {secs:6.1f}"
        )
        for name, for_map, for_reduce in ATTEMPT_COUNTERS:
            value = c.get(for_map if a["kind"] == "MAP" else for_reduce, 0)
            line += f" {value / MiB:10.1f}" if "MiB" in name else f" {value:10,}"
        lines.append(line)
    return "\n".join(lines)


def counters_text(counters: dict[str, int]) -> str:
    items = [f"{k}={v:,}" for k, v in sorted(counters.items())]
    lines, line = [], "  "
    for item in items:
        if len(line) + len(item) > 98:
            lines.append(line.rstrip())
            line = "  "
        line += item + "  "
    lines.append(line.rstrip())
    return "\n".join(lines)


def run_job(
    cluster: LocalCluster, remote: str, output: str, reduce_with: Reducer = mapreduce.sum
) -> JobResult:
    job = Job(
        mapper,
        reduce_with,
        combiner=reduce_with,
        inputs=[remote],
        output=output,
        num_reducers=REDUCERS,
        name="bench-wordcount",
        cluster_dir=cluster.directory,
    )
    return job.run()


def worker_slots(cluster: LocalCluster) -> list[int]:
    info = cluster.info
    if info is None or not info.jobtracker:
        return []
    workers = httpx.get(f"{info.jobtracker}/mr/v1/workers", timeout=10).json()
    return [int(w["slots"]) for w in workers]


@dataclass
class ClusterRun:
    """What the minihadoop part of one size produced besides its timings."""

    start_s: float = 0.0
    upload_s: float = 0.0
    slots: list[int] = field(default_factory=list)
    jobs: list[dict[str, Any]] = field(default_factory=list)  # per run: id, counters, phases
    profile: dict[str, Any] = field(default_factory=dict)  # the profiled extra run, if any


def measure_minihadoop(
    work: Path, path: Path, size_mb: int, args: argparse.Namespace, expected: Counter[str]
) -> tuple[Measurement, ClusterRun]:
    m = Measurement("minihadoop", path.stat().st_size)
    info = ClusterRun()
    cluster = LocalCluster(work / f"cluster-{size_mb}")
    try:
        start = time.perf_counter()
        cluster.start(datanodes=DATANODES, settings=CLUSTER_SETTINGS)
        info.start_s = m.setup_s = time.perf_counter() - start
        info.slots = worker_slots(cluster)
        with FileSystem.from_cluster(cluster.directory) as fs:
            remote = f"/bench/corpus-{size_mb}.txt"
            start = time.perf_counter()
            fs.put(path, remote, replication=REPLICATION, overwrite=True)
            info.upload_s = time.perf_counter() - start
            blocks = len(fs.blocks(remote).blocks)
            print(
                f"  cluster start {info.start_s:.1f} s, worker slots {info.slots}; upload "
                f"{info.upload_s:.1f} s ({m.size / MiB / info.upload_s:.0f} MiB/s, {blocks} "
                f"blocks, replication {REPLICATION}; not in the job's time)",
                flush=True,
            )
            for i in range(args.repeat):
                job = functools.partial(
                    run_job, cluster, remote, f"/bench/out-{i}", REDUCERS_BY_NAME[args.reducer]
                )
                result = measure(m, job)
                report_job(result, m.runs[-1].seconds)
                info.jobs.append(
                    {
                        "id": result.id,
                        "state": result.state.value,
                        "duration": result.duration,
                        "counters": result.counters,
                        "phases": phases(result.status) if result.ok else {},
                    }
                )
                if not result.ok:
                    m.runs.pop()
                    m.equal = False
                    continue
                compare(m, read_output(fs, f"/bench/out-{i}"), expected)
            if args.profile:
                info.profile = profile_job(cluster, remote, work / f"profile-{size_mb}.txt", args)
    finally:
        cluster.stop()
    return m, info


def profile_job(
    cluster: LocalCluster, remote: str, output: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One more run of the job, under py-spy: where its time goes (see `jobprofile`)."""
    executable = py_spy()
    if executable is None:
        print("  profile skipped: py-spy is not installed (`make bench-install` installs it)")
        return {"skipped": "py-spy is not installed"}
    sampler = StackSampler(os.getpid(), output, args.profile_rate, executable)
    with TreeSampler() as tree, sampler:
        start = time.perf_counter()
        result = run_job(cluster, remote, "/bench/out-profiled", REDUCERS_BY_NAME[args.reducer])
        seconds = time.perf_counter() - start
    if not result.ok or not sampler.samples:
        why = result.error if not result.ok else f"py-spy wrote nothing: {sampler.error}"
        print(f"  profile failed: {why}", flush=True)
        return {"error": why}
    job_phases = phases(result.status)
    tree_cpu = tree.cpu - sampler.own_cpu
    cpu = sampler.cpu_seconds(tree_cpu)
    wall = wall_split(job_phases, sampler.counts())
    print(
        f"  profiled run (py-spy at {args.profile_rate} Hz, not in the table): {seconds:.1f} s, "
        f"{tree_cpu:.1f} CPU s\n"
        "    wall s by stage (estimate: each phase shared by its tasks' samples): "
        + ", ".join(f"{k} {v:.1f}" for k, v in wall.items())
    )
    labels = {"map": "map tasks", "reduce": "reduce tasks", "task": "other task code"}
    for kind, counts in cpu.items():
        if counts:
            print(
                f"    CPU s, {labels.get(kind, 'daemons, client')}: "
                + ", ".join(f"{k} {v:.1f}" for k, v in counts.items())
            )
    return {
        "rate": args.profile_rate,
        "seconds": seconds,
        "phases": job_phases,
        "cpu": tree_cpu,
        "samples": sampler.counts(),
        "cpu_s": cpu,
        "wall_s": wall,
    }


def report_job(result: JobResult, wall: float) -> None:
    status = result.status
    if not result.ok:
        print(f"FAIL: job {result.id} {result.state.value}: {result.error}", flush=True)
        for a in status.get("attempts", []):
            if a["error"]:
                print(f"  {a['id']}: {a['error'][-1500:]}")
        return
    c = result.counters
    print(
        f"    job {result.id}: {status['maps']} maps ({c.get('DATA_LOCAL_MAPS', 0)} data-local), "
        f"{status['reduces']} reduces, {c.get('SPILLS', 0)} spills; tracker duration "
        f"{result.duration:.2f} s, client wall {wall:.2f} s"
    )
    print("    phases: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases(status).items()))
    print("    counters:")
    print(textwrap.indent(counters_text(c), "    "))
    print(textwrap.indent(attempt_table(status), "    "), flush=True)


# --- the run ------------------------------------------------------------------------------------


def measure_plain(path: Path, times: int) -> tuple[list[Measurement], Counter[str], list[str]]:
    """The baselines, and the optional systems that are installed; the Counter's result."""
    size = path.stat().st_size
    results: list[Measurement] = []
    expected: Counter[str] = Counter()
    skipped = []
    for system in SYSTEMS:
        if system.module and importlib.util.find_spec(system.module) is None:
            print(
                f"  {system.name:<20} skipped: {system.module} is not installed "
                "(`make bench-install` installs it)"
            )
            skipped.append(system.name)
            continue
        m = Measurement(system.name, size)
        start = time.perf_counter()
        with system.start() as count:
            m.setup_s = time.perf_counter() - start
            if m.setup_s > 0.5:
                print(f"  {system.name:<20} started in {m.setup_s:.1f} s (not timed)", flush=True)
            for _ in range(times):
                got = measure(m, functools.partial(count, path))
                if system.name == COUNTER:
                    expected = got
                else:
                    compare(m, got, expected)
        results.append(m)
    return results, expected, skipped


def table(results: list[Measurement]) -> str:
    by_name = {m.name: m for m in results}
    counter, pool = by_name[COUNTER], by_name[POOL]
    header = (
        f"{'system':<20} {'runs':>4} {'best s':>8} {'median s':>9} {'MiB/s':>7} {'CPU s':>7} "
        f"{'cores':>5} {'others':>6} {'idle RSS':>8} {'peak RSS':>8} {'vs Counter':>10} "
        f"{'vs Pool':>8} {'CPU vs Counter':>14} {'equal':>5}"
    )
    lines = [header, "-" * len(header)]
    for m in results:
        best = m.best
        lines.append(
            f"{m.name:<20} {len(m.runs):>4} {best.seconds:8.2f} {m.median:9.2f} "
            f"{m.mib_per_s:7.1f} {best.cpu:7.1f} {best.cpu / best.seconds:5.2f} "
            f"{best.others / best.seconds:6.2f} "
            f"{best.idle_rss / MiB:8.0f} {max(r.peak_rss for r in m.runs) / MiB:8.0f} "
            f"{counter.best.seconds / best.seconds:9.2f}x {pool.best.seconds / best.seconds:7.2f}x "
            f"{counter.best.cpu / best.cpu:13.2f}x {'yes' if m.equal else 'NO':>5}"
        )
    return "\n".join(lines)


def versus(results: list[Measurement]) -> str:
    """minihadoop's throughput against each other system's (their time / its time)."""
    by_name = {m.name: m for m in results}
    mh = by_name.get("minihadoop")
    if mh is None:
        return "minihadoop: no successful run"
    others = [f"{m.best.seconds / mh.best.seconds:.2f}x {m.name}" for m in results if m is not mh]
    return "minihadoop's throughput vs " + ", ".join(others)


def scaling(
    runs: dict[int, list[Measurement]], small: int = SCALE_FROM, large: int = SCALE_TO
) -> dict[str, dict[str, float]]:
    """Per system measured at both sizes: how its best time, that run's CPU time and its
    peak RSS grew."""
    if small not in runs or large not in runs:
        return {}
    before = {m.name: m for m in runs[small]}
    out = {}
    for m in runs[large]:
        if m.name in before:
            b = before[m.name]
            peak, peak_b = max(r.peak_rss for r in m.runs), max(r.peak_rss for r in b.runs)
            out[m.name] = {
                "time_ratio": m.best.seconds / b.best.seconds,
                "cpu_ratio": m.best.cpu / b.best.cpu,
                "size_ratio": m.size / b.size,
                "peak_rss_ratio": peak / peak_b,
                "peak_rss_mib": peak / MiB,
                "peak_rss_mib_before": peak_b / MiB,
            }
    return out


def scaling_text(ratios: dict[str, dict[str, float]]) -> str:
    lines = [
        f"{SCALE_FROM} -> {SCALE_TO} MiB ({SCALE_TO // SCALE_FROM}x the input): best time, its "
        "CPU time and peak RSS of the process tree grew by (compare `others` of the two sizes: "
        "noise moves the time ratio most)"
    ]
    for name, r in ratios.items():
        line = (
            f"  {name:<20} time {r['time_ratio']:5.2f}x   CPU {r['cpu_ratio']:5.2f}x   "
            f"peak RSS {r['peak_rss_ratio']:5.2f}x "
            f"({r['peak_rss_mib_before']:.0f} -> {r['peak_rss_mib']:.0f} MiB)"
        )
        if name == "minihadoop":
            line += (
                f"   target: time at most {TIME_RATIO_TARGET:.1f}x "
                f"({'met' if r['time_ratio'] <= TIME_RATIO_TARGET else 'NOT met'}), "
                f"flat peak, at most {FLAT_PEAK:.2f}x "
                f"({'met' if r['peak_rss_ratio'] <= FLAT_PEAK else 'NOT met'})"
            )
        lines.append(line)
    return "\n".join(lines)


COMMIT = git_commit()  # of the code measured: taken once, as others may commit meanwhile


def record(path: Path, line: dict[str, Any]) -> None:
    """Append `line`, stamped with the date, the host and the commit, to `path`."""
    stamp = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "node": platform.node(),
        "commit": COMMIT,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({**stamp, **line}) + "\n")


def warm(path: Path) -> None:
    """Read the corpus once, untimed, so that no system pays for a cold page cache."""
    with open(path, "rb") as f:
        while f.read(8 * MiB):
            pass


def run_size(args: argparse.Namespace, work: Path, size_mb: int) -> tuple[bool, list[Measurement]]:
    print(f"\n== {size_mb} MiB", flush=True)
    start = time.perf_counter()
    path = corpus.cached(args.corpus_dir, size_mb, args.seed)
    print(f"  corpus {path} ({time.perf_counter() - start:.1f} s to generate or find)")
    warm(path)
    results, expected, skipped = measure_plain(path, args.repeat)
    mh, cluster = measure_minihadoop(work, path, size_mb, args, expected)
    if mh.runs:
        results.append(mh)
    print(
        f"\n{size_mb} MiB ({sum(expected.values()):,} words, {len(expected):,} distinct), best "
        f"of {args.repeat}; ratios are throughput / the baseline's (0.10x = 10 times slower)"
    )
    print(table(results))
    print(versus(results), flush=True)
    record(
        RESULTS,
        {
            "kind": "size",
            "run": args.run,
            "size_mb": size_mb,
            "seed": args.seed,
            "repeat": args.repeat,
            "words": sum(expected.values()),
            "distinct": len(expected),
            "cluster": {
                "datanodes": DATANODES,
                "settings": CLUSTER_SETTINGS,
                "reducers": REDUCERS,
                "reducer": args.reducer,
                "slots": cluster.slots,
                "start_s": cluster.start_s,
                "upload_s": cluster.upload_s,
            },
            "jobs": cluster.jobs,
            "profile": cluster.profile,
            "skipped": skipped,
            "results": [m.as_json() for m in results],
        },
    )
    return all(m.equal for m in [*results, mh]), results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--sizes", default="64,256", help="corpus sizes in MiB, comma-separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each system per size")
    parser.add_argument("--seed", type=int, default=0, help="the corpus's seed")
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "minihadoop-bench-corpus",
        help="where generated corpora are cached (default: <tmp>/minihadoop-bench-corpus)",
    )
    parser.add_argument(
        "--profile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one more minihadoop run per size under py-spy, for the stage breakdown",
    )
    parser.add_argument(
        "--reducer",
        choices=["builtin", "own"],
        default="builtin",
        help="minihadoop's reducer and combiner: mapreduce.sum (default), or the hand-written "
        "`reducer` above (the per-key list path)",
    )
    parser.add_argument(
        "--profile-rate", type=int, default=20, help="py-spy samples per second (default 20)"
    )
    workdir_options(parser)
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes must be whole MiB, e.g. 64,256")
    if not args.sizes or min(args.sizes) < 1 or args.repeat < 1:
        parser.error("--sizes and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sample = 'Don\'t stop: "Quoted," he said (twice).'
    assert [w for w, _ in mapper(0, sample)] == list(words(sample))
    print(
        f"cluster: {DATANODES} datanodes + {DATANODES} workers, {BLOCK_SIZE // MiB} MiB blocks, "
        f"replication {REPLICATION} (keeps the upload cheap), {REDUCERS} reducers, heartbeats "
        f"datanode {CLUSTER_SETTINGS['heartbeat_interval']} s / MapReduce {MR_HEARTBEAT} s "
        "(the defaults)\n"
        f"machine: {os.cpu_count()} cores, shared with other work: expect noise of 10 % or more"
    )
    args.run = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return run_in_workdir(args, run_all, prefix="minihadoop-bench-wc-")


def run_all(args: argparse.Namespace, work: Path) -> int:
    """Every size in `work`; 1 when some system's output differed from Counter's."""
    ok = True
    runs: dict[int, list[Measurement]] = {}
    for size_mb in args.sizes:
        size_ok, runs[size_mb] = run_size(args, work, size_mb)
        ok = ok and size_ok
    ratios = scaling(runs)
    if ratios:
        print("\n" + scaling_text(ratios))
        record(
            RESULTS,
            {"kind": "scaling", "run": args.run, "from_mb": SCALE_FROM, "to_mb": SCALE_TO}
            | {"systems": ratios},
        )
    print(f"\nappended to {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
