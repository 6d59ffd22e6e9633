"""Word count on minihadoop against plain Python on the same machine, all in one run.

For each `--sizes` entry (MiB), on a corpus from `corpus.py` (generated once, then cached):

* **Counter** — one process: the file read in 4 MiB pieces cut at line ends, every line's
  words added to a `collections.Counter`. The baseline every ratio starts from.
* **Pool x2** — a 2-process `multiprocessing.Pool` (fork): the file cut into two byte ranges
  at line boundaries, each counted as above, the two Counters added. What two cores give
  plain Python; the fair target for a 2-core machine.
* **dask bag x2**, **pyspark local[2]** — only when importable (they are not dependencies;
  the script never installs them): a printed note says when they are skipped.
* **minihadoop** — `Job(mapper, reducer, combiner=reducer, num_reducers=2).run()` on a local
  cluster (namenode, 3 datanodes, job tracker, 3 workers with their default slots, one per
  core) started after the baselines, with 64 MiB blocks and replication 1 (keeps the upload
  cheap; a map reads one replica anyway). Heartbeats are the defaults of `minihadoop cluster
  up` (datanodes 3.0 s, MapReduce 0.5 s). Timed from the submit to `run()` returning, i.e.
  including the output written to the DFS; the upload is timed apart and not included.

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
then the job commit.

Run: ``.venv/bin/python bench/wordcount.py [--sizes 64,256] [--repeat 1] [--keep]``
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
import shutil
import signal
import statistics
import string
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import corpus
import httpx
from common import git_commit, terminate

from mapreduce import Job
from mapreduce.job import JobResult
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
SAMPLE_EVERY = 0.1
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


def word_list(line: str) -> list[str]:
    return list(words(line))


def dask_count(path: Path) -> Counter[str]:
    import dask.bag as db  # optional: only when installed

    bag = db.read_text(str(path), blocksize=path.stat().st_size // PROCESSES + 1)
    pairs = (
        bag.map(word_list)
        .flatten()
        .frequencies()
        .compute(scheduler="processes", num_workers=PROCESSES)
    )
    return Counter(dict(pairs))


def spark_count(path: Path) -> Counter[str]:
    from pyspark import SparkContext  # optional: only when installed

    sc = SparkContext(f"local[{PROCESSES}]", "bench-wordcount")
    try:
        rdd = sc.textFile(str(path), minPartitions=PROCESSES)
        pairs = rdd.flatMap(words).map(lambda w: (w, 1)).reduceByKey(operator.add).collect()
    finally:
        sc.stop()
    return Counter(dict(pairs))


OPTIONAL: dict[str, tuple[str, Callable[[Path], Counter[str]]]] = {
    f"dask bag x{PROCESSES}": ("dask", dask_count),
    f"pyspark local[{PROCESSES}]": ("pyspark", spark_count),
}


# --- the process tree's memory and CPU ------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """`root` and every live descendant, from /proc/<pid>/task/<tid>/children."""
    found, i = [root], 0
    while i < len(found):
        pid = found[i]
        i += 1
        with contextlib.suppress(OSError):
            for tid in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                    found += [int(c) for c in f.read().split()]
    return found


def rss_bytes(pid: int) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0  # gone, or a zombie


def cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime: the process's and its reaped descendants' CPU time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / TICK


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used since boot (all cores), counting time
    the hypervisor gave to other guests (steal), from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / TICK


class TreeSampler:
    """Samples this process's tree every `SAMPLE_EVERY` s while in its `with` block."""

    def __init__(self, root: int | None = None) -> None:
        self.root = root or os.getpid()
        self.idle_rss = self.peak_rss = 0
        self.cpu = self.others = 0.0
        self.samples = 0
        self._busy_start = 0.0
        self._cpu_start: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tree-sampler", daemon=True)

    def _sample(self) -> list[int]:
        pids = descendants(self.root)
        rss = sum(rss_bytes(p) for p in pids)
        self.peak_rss = max(self.peak_rss, rss)
        self.samples += 1
        return pids

    def _loop(self) -> None:
        while not self._stop.wait(SAMPLE_EVERY):
            self._sample()

    def __enter__(self) -> TreeSampler:
        pids = descendants(self.root)
        self._cpu_start = {p: cpu_seconds(p) for p in pids}
        self.idle_rss = sum(rss_bytes(p) for p in pids)
        self._busy_start = machine_busy_seconds()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        pids = self._sample()
        self.cpu = sum(cpu_seconds(p) - self._cpu_start.get(p, 0.0) for p in pids)
        # the rest of the machine's CPU time: other people's work, the noise
        self.others = max(0.0, machine_busy_seconds() - self._busy_start - self.cpu)


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


def phases(status: dict[str, Any]) -> dict[str, float]:
    """Seconds of each phase of a finished job, from its attempts (job tracker's clock)."""
    attempts = [a for a in status["attempts"] if a["started"] is not None]
    maps = [a for a in attempts if a["kind"] == "MAP"]
    reduces = [a for a in attempts if a["kind"] == "REDUCE"]

    def end(xs: list[dict[str, Any]]) -> float:
        return float(max(a["finished"] for a in xs if a["state"] == "SUCCEEDED"))

    submitted, finished = status["submitted"], status["finished"]
    map_start, map_end = min(a["started"] for a in maps), end(maps)
    out = {"submit -> first map": map_start - submitted, "map phase": map_end - map_start}
    if reduces:
        reduce_start, reduce_end = min(a["started"] for a in reduces), end(reduces)
        out |= {
            "last map -> first reduce": reduce_start - map_end,
            "reduce phase": reduce_end - reduce_start,
            "commit": finished - reduce_end,
        }
    else:
        out["commit"] = finished - map_end
    out["job (tracker)"] = finished - submitted
    return out


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


def run_job(cluster: LocalCluster, remote: str, output: str) -> JobResult:
    job = Job(
        mapper,
        reducer,
        combiner=reducer,
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


def measure_minihadoop(
    work: Path, path: Path, size_mb: int, times: int, expected: Counter[str]
) -> tuple[Measurement, ClusterRun]:
    m = Measurement("minihadoop", path.stat().st_size)
    info = ClusterRun()
    cluster = LocalCluster(work / f"cluster-{size_mb}")
    try:
        start = time.perf_counter()
        cluster.start(datanodes=DATANODES, settings=CLUSTER_SETTINGS)
        info.start_s = time.perf_counter() - start
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
            for i in range(times):
                result = measure(m, functools.partial(run_job, cluster, remote, f"/bench/out-{i}"))
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
    finally:
        cluster.stop()
    return m, info


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
    counter = Measurement(COUNTER, size)
    expected: Counter[str] = Counter()
    for _ in range(times):
        expected = measure(counter, lambda: counter_count(path))
    results = [counter]
    systems: list[tuple[str, Callable[[Path], Counter[str]]]] = [(POOL, pool_count)]
    skipped = []
    for name, (module, count) in OPTIONAL.items():
        if importlib.util.find_spec(module) is None:
            print(
                f"  {name:<20} skipped: {module} is not installed (this script never installs it)"
            )
            skipped.append(name)
        else:
            systems.append((name, count))
    for name, count in systems:
        m = Measurement(name, size)
        for _ in range(times):
            compare(m, measure(m, functools.partial(count, path)), expected)
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


def record(path: Path, line: dict[str, Any]) -> None:
    """Append `line`, stamped with the date, the host and the commit, to `path`."""
    stamp = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "node": platform.node(),
        "commit": git_commit(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps({**stamp, **line}) + "\n")


def warm(path: Path) -> None:
    """Read the corpus once, untimed, so that no system pays for a cold page cache."""
    with open(path, "rb") as f:
        while f.read(8 * MiB):
            pass


def run_size(args: argparse.Namespace, work: Path, size_mb: int) -> bool:
    print(f"\n== {size_mb} MiB", flush=True)
    start = time.perf_counter()
    path = corpus.cached(args.corpus_dir, size_mb, args.seed)
    print(f"  corpus {path} ({time.perf_counter() - start:.1f} s to generate or find)")
    warm(path)
    results, expected, skipped = measure_plain(path, args.repeat)
    mh, cluster = measure_minihadoop(work, path, size_mb, args.repeat, expected)
    if mh.runs:
        results.append(mh)
    print(
        f"\n{size_mb} MiB ({sum(expected.values()):,} words, {len(expected):,} distinct), best "
        f"of {args.repeat}; ratios are throughput / the baseline's (0.10x = 10 times slower)"
    )
    print(table(results))
    record(
        RESULTS,
        {
            "size_mb": size_mb,
            "seed": args.seed,
            "repeat": args.repeat,
            "words": sum(expected.values()),
            "distinct": len(expected),
            "cluster": {
                "datanodes": DATANODES,
                "settings": CLUSTER_SETTINGS,
                "reducers": REDUCERS,
                "slots": cluster.slots,
                "start_s": cluster.start_s,
                "upload_s": cluster.upload_s,
            },
            "jobs": cluster.jobs,
            "skipped": skipped,
            "results": [m.as_json() for m in results],
        },
    )
    return all(m.equal for m in [*results, mh])


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
    parser.add_argument("--keep", action="store_true", help="keep the cluster's temp folder")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the temp folder goes")
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
    signal.signal(signal.SIGTERM, terminate)
    sample = 'Don\'t stop: "Quoted," he said (twice).'
    assert [w for w, _ in mapper(0, sample)] == list(words(sample))
    work = Path(tempfile.mkdtemp(prefix="minihadoop-bench-wc-", dir=args.tmpdir))
    print(
        f"cluster: {DATANODES} datanodes + {DATANODES} workers, {BLOCK_SIZE // MiB} MiB blocks, "
        f"replication {REPLICATION} (keeps the upload cheap), {REDUCERS} reducers, heartbeats "
        f"datanode {CLUSTER_SETTINGS['heartbeat_interval']} s / MapReduce {MR_HEARTBEAT} s "
        "(the defaults)\n"
        f"machine: {os.cpu_count()} cores, shared with other work: expect noise of 10 % or more"
    )
    ok = True
    try:
        for size_mb in args.sizes:
            ok = run_size(args, work, size_mb) and ok
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\nappended to {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
