"""Namenode metadata throughput and memory per file, in the style of NNThroughputBenchmark.

What is measured, for 1, 4, 16 and 64 client threads (`--threads`), all started together
behind a barrier; a cell is `--ops` operations in all, split evenly between the threads, and
its figure is ops / wall time. Over HTTP each thread has its own `FileSystem` (its own
connection pool):

* **mkdir** — `fs.mkdir` of distinct new folders (one Raft log entry each, fsynced).
* **create** — `fs.create(path).close()` of distinct empty files: StartFile, then CompleteFile,
  each its own log entry that the client waits to see committed. The entries a create costs
  are counted from the namenode's commit index, not assumed.
* **stat** — `fs.stat` of existing files. **list** — `fs.ls` of a folder of 100 files.
* **/health** — `GET /health` on the namenode with one `httpx.Client` per thread: the
  smallest request the namenode's HTTP stack answers.

In process (`InProcessNamenode`), as NNThroughputBenchmark calls FSNamesystem with no RPC
layer: the same four operations as direct calls on a real `Namesystem` whose Raft log is
fsynced with group commit in a folder on disk; a create is a single-block file (create, add
block, the three datanodes' reports of it, complete). Beside them the local baselines:

* **local mkdir / create / stat / list** — `os.mkdir`, `open(..., "wb").close()`, `os.stat`,
  `os.listdir` (of 100 entries) on the local disk, with the same threads and counts.
* **local fdatasync** — appending 100 bytes to a file and `os.fdatasync`, one file per thread:
  what one group commit of the log costs on this disk.

Then the memory a namespace needs per single-block file, and the block map per block with
three replicas, each size built in a fresh interpreter: resident-set growth at 100k and 1M
files, tracemalloc's count at 100k (and at 1M within `--max-seconds`).

Results are appended to `bench/results/namenode_ops.jsonl`: one line for the throughput
tables, one per memory size.

Run: ``.venv/bin/python bench/namenode_ops.py [--ops 2000] [--threads 1,4,16,64] [--no-http]``
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import git_commit, run_in_workdir, workdir_options

from minihadoop.config import Settings
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.models import (
    AddBlockRequest,
    Block,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
    IncrementalReportRequest,
    LocatedBlock,
    RegisterRequest,
    ReplicaReport,
)
from minihadoop.signing import ClusterAuth
from namenode import commands as c
from namenode.blockmap import BlockMap
from namenode.namespace import Namespace
from namenode.namesystem import Namesystem

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "namenode_ops.jsonl"
LIST_SIZE = 100
FILES_PER_DIR = 1000
BLOCK_SIZE = 64 << 20
NN_OPS = ("mkdir", "create", "stat", "list")
IN_OPS = tuple(f"in-proc {name}" for name in NN_OPS)
FILE_LENGTH = 1 << 20  # the length of an in-process file's one block
DATANODES = 3
# What the namenode should reach in process on 2 cores (ops/s at the best thread count).
TARGETS = {"in-proc stat": 10_000, "in-proc create": 2_000}
MEMORY_TARGET = 500  # bytes of namespace per single-block file, at most

# One operation: (the thread's client, thread index, op index within the thread) -> None.
Op = Callable[[Any, int, int], object]


# --- running one cell -------------------------------------------------------------------------


def run_cell(
    threads: int,
    total: int,
    make_client: Callable[[int], Any],
    op: Op,
    close: Callable[[Any], object] = lambda _c: None,
    warm: Op | None = None,
    cpu_clock: Callable[[], float] = time.process_time,
) -> tuple[float, float]:
    """Run `total` ops split over `threads` threads; return ops per second, and CPU
    microseconds per op by `cpu_clock` (seconds of CPU) over the timed part."""
    per_thread = max(1, total // threads)
    clients = [make_client(t) for t in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            if warm is not None:
                warm(clients[t], t, -1)  # open the connection outside the timed part
        except BaseException as e:
            errors.append(e)
        barrier.wait()
        try:
            for i in range(per_thread):
                op(clients[t], t, i)
        except BaseException as e:
            errors.append(e)

    workers = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(threads)]
    try:
        for w in workers:
            w.start()
        barrier.wait()
        start, cpu_start = time.perf_counter(), cpu_clock()
        for w in workers:
            w.join()
        elapsed, cpu = time.perf_counter() - start, cpu_clock() - cpu_start
    finally:
        for client in clients:
            close(client)
    if errors:
        raise SystemExit(f"FAIL: {errors[0]!r}")
    done = per_thread * threads
    return done / elapsed, 1e6 * cpu / done


# --- local baselines --------------------------------------------------------------------------


def local_ops(root: Path) -> dict[str, tuple[Callable[[int], Any], Op, Callable[[Any], object]]]:
    """The local baselines: name -> (make per-thread state, op, close it)."""
    listed = root / "listed"
    listed.mkdir(parents=True)
    for i in range(LIST_SIZE):
        (listed / f"f{i}").touch()
    run = [0]  # a new folder for every cell, so mkdir and create always make new entries

    def fresh(t: int) -> Path:
        if t == 0:
            run[0] += 1
        d = root / f"run{run[0]}" / f"t{t}"
        d.mkdir(parents=True)
        return d

    def fsync_file(t: int) -> Any:
        return open(fresh(t) / "log", "ab")

    def fsync_op(f: Any, _t: int, _i: int) -> None:
        f.write(b"x" * 100)
        f.flush()
        os.fdatasync(f.fileno())

    return {
        "local mkdir": (fresh, lambda d, _t, i: os.mkdir(d / f"d{i}"), lambda _d: None),
        "local create": (fresh, lambda d, _t, i: open(d / f"f{i}", "wb").close(), lambda _d: None),
        "local stat": (lambda _t: None, lambda _d, _t, i: os.stat(listed / f"f{i % LIST_SIZE}"),
                       lambda _d: None),
        "local list": (lambda _t: None, lambda _d, _t, _i: os.listdir(listed), lambda _d: None),
        "local fdatasync": (fsync_file, fsync_op, lambda f: f.close()),
    }  # fmt: skip


# --- the namenode -----------------------------------------------------------------------------


def last_txid(url: str, token: str) -> int | None:
    """The namenode's commit index: how many log entries it has committed so far."""
    try:
        answer = httpx.get(f"{url}/nn/v1/ha", auth=ClusterAuth(token), timeout=10)
        return int(answer.json()["commit"])
    except (httpx.HTTPError, ValueError, KeyError):
        return None


def namenode_ops(threads: int, cell: int) -> dict[str, Op]:
    base = f"/bench/t{threads}-c{cell}"
    return {
        "mkdir": lambda f, t, i: f.mkdir(f"{base}/mkdir/t{t}/d{i}"),
        "create": lambda f, t, i: f.create(f"{base}/create/t{t}/f{i}").close(),
        "stat": lambda f, _t, i: f.stat(f"/bench/listed/f{i % LIST_SIZE}"),
        "list": lambda f, _t, _i: f.ls("/bench/listed"),
    }


def prepare(fs: FileSystem, threads: int, cell: int) -> None:
    """Make the per-thread parent folders so mkdir and create log one command each."""
    base = f"/bench/t{threads}-c{cell}"
    for t in range(threads):
        fs.mkdir(f"{base}/mkdir/t{t}")
        fs.mkdir(f"{base}/create/t{t}")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process `pid` has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_cluster(
    cluster: LocalCluster, thread_counts: list[int], ops: int
) -> tuple[dict[str, dict[int, float]], dict[int, float | None], dict[str, dict[int, float]]]:
    """ops/s per namenode operation and thread count, log entries per create, and
    the namenode process's CPU microseconds per operation."""
    info = cluster.info
    assert info is not None
    pid = next(d.pid for d in info.daemons if d.name == "namenode")
    table: dict[str, dict[int, float]] = {name: {} for name in ("/health", *NN_OPS)}
    cpu: dict[str, dict[int, float]] = {name: {} for name in ("/health", *NN_OPS)}
    txns_per_create: dict[int, float | None] = {}
    with FileSystem(info.namenode, info.token) as fs:
        fs.mkdir("/bench/listed")
        for i in range(LIST_SIZE):
            fs.write_bytes(f"/bench/listed/f{i}", b"")

    def make_fs(_t: int) -> FileSystem:
        return FileSystem(info.namenode, info.token)

    def health(client: httpx.Client, _t: int, _i: int) -> None:
        client.get(f"{info.namenode}/health").raise_for_status()

    for cell, threads in enumerate(thread_counts):
        table["/health"][threads], cpu["/health"][threads] = run_cell(
            threads,
            ops,
            lambda _t: httpx.Client(timeout=30),
            health,
            lambda h: h.close(),
            health,
            cpu_clock=lambda: process_cpu(pid),
        )
        print(f"  {'/health':<16} x{threads:<3} {table['/health'][threads]:9.0f} ops/s", flush=True)
        with FileSystem(info.namenode, info.token) as fs:
            prepare(fs, threads, cell)
        for name, op in namenode_ops(threads, cell).items():
            before = last_txid(info.namenode, info.token) if name == "create" else None
            rate, cpu[name][threads] = run_cell(
                threads,
                ops,
                make_fs,
                op,
                lambda f: f.close(),
                lambda f, _t, _i: f.stat("/"),
                cpu_clock=lambda: process_cpu(pid),
            )
            table[name][threads] = rate
            if name == "create":
                after = last_txid(info.namenode, info.token)
                done = max(1, ops // threads) * threads
                txns_per_create[threads] = (
                    (after - before) / done if before is not None and after is not None else None
                )
            print(f"  {name:<16} x{threads:<3} {rate:9.0f} ops/s", flush=True)
    return table, txns_per_create, cpu


# --- in process: the Namesystem without HTTP ------------------------------------------------


class InProcessNamenode:
    """A real `Namesystem` called directly, as NNThroughputBenchmark calls FSNamesystem: no
    HTTP, no JSON, but its real Raft log, fsynced with group commit in a folder on disk, and
    every mutation waits until it is committed and applied, as the HTTP handlers do.

    Around it, what the daemon has: three datanodes (no processes, only their protocol) and
    a monitor thread that calls `tick()` every `replication_interval` after a heartbeat from
    each datanode. A datanode reports a new replica at once, as minihadoop's datanodes do
    after storing a block, so the block map, the replication queue and placement's count of
    writes in flight do the work they do in a cluster, under the same lock.
    """

    def __init__(self, name_dir: Path) -> None:
        self.settings = Settings(token="bench")
        self.system = Namesystem(name_dir, self.settings)
        self.nodes = [f"dn{i}" for i in range(DATANODES)]
        for i, node in enumerate(self.nodes):
            self.system.register(
                RegisterRequest(
                    datanode_id=node, url=f"http://127.0.0.{i + 1}:9864", capacity=1 << 50,
                    remaining=1 << 50,
                )
            )  # fmt: skip
        # Every fdatasync of the Raft log, counted: how many creates share one.
        self.syncs = 0
        save = self.system.storage.save

        def counted(*args: Any, sync: bool, **kw: Any) -> None:
            self.syncs += sync
            save(*args, sync=sync, **kw)

        self.system.storage.save = counted  # type: ignore[method-assign]
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._run_monitor, daemon=True)
        self._monitor.start()

    def _run_monitor(self) -> None:
        while not self._stop.wait(self.settings.replication_interval):
            for node in self.nodes:
                self.system.heartbeat(
                    HeartbeatRequest(datanode_id=node, capacity=1 << 50, remaining=1 << 50)
                )
            self.system.tick()

    def stored(self, located: LocatedBlock) -> None:
        """Each target of `located` reports its new replica of FILE_LENGTH bytes."""
        b = located.block
        replica = ReplicaReport(block_id=b.block_id, gen=b.gen, length=FILE_LENGTH)
        for ref in located.locations:
            self.system.incremental_report(
                IncrementalReportRequest(datanode_id=ref.id, received=[replica])
            )

    def close(self) -> None:
        self._stop.set()
        self._monitor.join()
        self.system.close()

    # --- the operations: (client name, thread, op index) -> None ----------------------------

    def create_file(self, client: str, path: str) -> None:
        """A single-block file, as `FileSystem` writes one: create, add a block, complete,
        each call's edit fsynced before the next is made; between the last two, the three
        datanodes' reports of the block."""
        system = self.system
        system.create(CreateRequest(path=path, client=client), "hadoop")
        located = system.add_block(AddBlockRequest(path=path, client=client), None)
        self.stored(located)
        b = located.block
        last = Block(block_id=b.block_id, gen=b.gen, length=FILE_LENGTH)
        system.complete(CompleteRequest(path=path, client=client, last=last))

    def ops(self, threads: int, cell: int) -> dict[str, Op]:
        base = f"/bench/t{threads}-c{cell}"
        system = self.system
        return {
            "in-proc mkdir": lambda _c, t, i: system.mkdirs(f"{base}/mkdir/t{t}/d{i}", "hadoop"),
            "in-proc create": lambda client, t, i: self.create_file(
                client, f"{base}/create/t{t}/f{i}"
            ),
            "in-proc stat": lambda _c, _t, i: system.status(f"/bench/listed/f{i % LIST_SIZE}"),
            "in-proc list": lambda _c, _t, _i: system.listing("/bench/listed"),
        }

    def prepare(self, threads: int, cell: int) -> None:
        base = f"/bench/t{threads}-c{cell}"
        for t in range(threads):
            self.system.mkdirs(f"{base}/mkdir/t{t}", "hadoop")
            self.system.mkdirs(f"{base}/create/t{t}", "hadoop")


def measure_in_process(
    name_dir: Path, thread_counts: list[int], ops: int
) -> tuple[dict[str, dict[int, float]], dict[int, float], dict[str, dict[int, float]]]:
    """ops/s per in-process operation and thread count, log fsyncs per create, and CPU
    microseconds per operation (this process's: the namesystem, its monitor, the callers)."""
    nn = InProcessNamenode(name_dir)
    table: dict[str, dict[int, float]] = {name: {} for name in IN_OPS}
    cpu: dict[str, dict[int, float]] = {name: {} for name in IN_OPS}
    syncs_per_create: dict[int, float] = {}
    try:
        for i in range(LIST_SIZE):
            nn.create_file("bench-setup", f"/bench/listed/f{i}")
        for cell, threads in enumerate(thread_counts):
            nn.prepare(threads, cell)
            for name, op in nn.ops(threads, cell).items():
                before = nn.syncs
                rate, cpu[name][threads] = run_cell(threads, ops, lambda t: f"client-{t}", op)
                done = max(1, ops // threads) * threads
                table[name][threads] = rate
                if name == "in-proc create":
                    syncs_per_create[threads] = (nn.syncs - before) / done
                print(f"  {name:<16} x{threads:<3} {rate:9.0f} ops/s", flush=True)
    finally:
        nn.close()
    return table, syncs_per_create, cpu


# --- memory per file --------------------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build_namespace(files: int, traced: bool) -> dict[str, Any]:
    """Fill a Namespace with `files` single-block files, then record three replicas of each
    block in a BlockMap; bytes per file each took. Run in a fresh interpreter (see
    `measure_size`), so the process grew only for this.

    With `traced`, the bytes are tracemalloc's (what Python allocated, exactly; the build is
    ~6x slower); without, the growth of the resident set (allocator overhead included).
    """
    ns = Namespace()
    now = time.time_ns() // 1_000_000
    dirs = (files + FILES_PER_DIR - 1) // FILES_PER_DIR
    for d in range(dirs):
        ns.apply(c.Mkdirs(f"/data/d{d:05d}", now, "hadoop", "supergroup"))
    gc.collect()
    if traced:
        tracemalloc.start()

    def used() -> int:
        return tracemalloc.get_traced_memory()[0] if traced else rss_bytes()

    before = used()
    start = time.perf_counter()
    for i in range(files):
        path = f"/data/d{i // FILES_PER_DIR:05d}/part-{i:08d}"
        owner = b"hadoop".decode()  # a string per file, as a request or a replayed edit makes
        client = f"client-{i}"
        ns.apply(c.StartFile(path, client, now + i, owner, "supergroup", 3, BLOCK_SIZE))
        ns.apply(c.AddBlock(path, client))
        length = FILE_LENGTH + i % 4096  # an int of its own, as a request's is
        ns.apply(c.CompleteFile(path, client, now + i, length))
    seconds = time.perf_counter() - start
    gc.collect()
    namespace = used() - before
    # Replicas, as the namesystem records a reported one: the namespace's block id, the
    # registered node's id.
    blocks = BlockMap()
    nodes = [f"dn{n}" for n in range(DATANODES)]
    before = used()
    for block_id in ns.block_owner:
        for node in nodes:
            blocks.add(block_id, node)
    gc.collect()
    block_map = used() - before
    if traced:
        tracemalloc.stop()
    kind = "traced" if traced else "rss"
    return {
        f"{kind}_bytes_per_file": round(namespace / files),
        f"{kind}_blockmap_bytes_per_block": round(block_map / files),
        f"{kind}_seconds": seconds,
    }


def measure_size(files: int, traced: bool, timeout: float) -> dict[str, Any] | str:
    """`build_namespace` in a child interpreter; its row, or why there is none."""
    argv = [sys.executable, __file__, "--memory-child", str(files)]
    try:
        done = subprocess.run(
            [*argv, *(["--traced"] if traced else [])],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"stopped after {timeout:.0f} s"
    if done.returncode != 0:
        return f"failed: {done.stderr.strip()[-300:]}"
    row: dict[str, Any] = json.loads(done.stdout)
    return row


def measure_memory(max_seconds: float) -> list[dict[str, Any]]:
    """100k and 1M files: resident-set growth at both sizes (a 1M build takes ~15-30 s), and
    tracemalloc's count at 100k, and at 1M when 10x the 100k traced build fits in
    `max_seconds`."""
    rows = []
    traced_100k = 0.0
    for files in (100_000, 1_000_000):
        row: dict[str, Any] = {"files": files}
        for traced in (False, True):
            if traced and files > 100_000 and 10 * traced_100k > max_seconds:
                row["traced_skipped"] = (
                    f"100k took {traced_100k:.0f} s traced, so 1M would take "
                    f"~{10 * traced_100k:.0f} s (> --max-seconds {max_seconds:.0f})"
                )
                continue
            got = measure_size(files, traced, timeout=max(120.0, 3 * max_seconds))
            if isinstance(got, str):
                row["traced_skipped" if traced else "rss_skipped"] = got
                continue
            row.update(got)
            if traced and files == 100_000:
                traced_100k = got["traced_seconds"]
        rows.append(row)
        print(f"  {memory_line(row)}", flush=True)
    return rows


# --- output -----------------------------------------------------------------------------------


def throughput_table(table: dict[str, dict[int, float]], thread_counts: list[int]) -> str:
    health = table.get("/health")
    cols = "".join(f"{f'x{t} ops/s':>12}" for t in thread_counts)
    ratios = "".join(f"{f'x{t} /hlth':>10}" for t in thread_counts) if health else ""
    header = f"{'operation':<16}{cols}  {ratios}"
    lines = [header, "-" * len(header)]
    for name, cells in table.items():
        if name in IN_OPS:
            continue
        row = "".join(f"{cells[t]:12.0f}" for t in thread_counts)
        if name in NN_OPS and health:
            row += "  " + "".join(f"{cells[t] / health[t]:9.2f}x" for t in thread_counts)
        lines.append(f"{name:<16}{row}")
    return "\n".join(lines)


def in_process_table(table: dict[str, dict[int, float]], thread_counts: list[int]) -> str:
    """In-process ops/s, over the same operation through HTTP (what the HTTP stack costs)."""
    cols = "".join(f"{f'x{t} ops/s':>12}" for t in thread_counts)
    has_http = "stat" in table
    ratios = "".join(f"{f'x{t} /HTTP':>10}" for t in thread_counts) if has_http else ""
    header = f"{'operation':<16}{cols}  {ratios}{'target':>9}"
    lines = [header, "-" * len(header)]
    for name in IN_OPS:
        cells = table[name]
        row = "".join(f"{cells[t]:12.0f}" for t in thread_counts)
        http = table.get(name.removeprefix("in-proc "))
        row += "  " + (
            "".join(f"{cells[t] / http[t]:9.1f}x" for t in thread_counts) if http else ""
        )
        target = TARGETS.get(name)
        if target is not None:
            met = "met" if max(cells.values()) >= target else "NOT met"
            row += f"{target:>9,} {met}"
        lines.append(f"{name:<16}{row}")
    return "\n".join(lines)


def create_cost(
    table: dict[str, dict[int, float]],
    txns: dict[int, float | None],
    syncs: dict[int, float],
    thread_counts: list[int],
) -> str:
    header = (
        f"{'':<8}{'threads':>7} {'creates/s':>10} {'txn/create':>11} {'fsync/create':>13} "
        f"{'ms/create':>10} {'fdatasync/s':>12} {'vs mkdir':>9}"
    )
    lines = [header, "-" * len(header)]
    nan = float("nan")
    for t in thread_counts:
        if "create" not in table:
            break
        rate = table["create"][t]
        per = txns.get(t)
        lines.append(
            f"{'HTTP':<8}{t:>7} {rate:10.0f} {per if per is not None else nan:11.2f} "
            f"{'':>13} {1000 * t / rate:10.2f} "
            f"{table['local fdatasync'][t]:12.0f} {rate / table['mkdir'][t]:8.2f}x"
        )
    for t in thread_counts:
        rate = table["in-proc create"][t]
        lines.append(
            f"{'in-proc':<8}{t:>7} {rate:10.0f} {3:11.2f} {syncs.get(t, nan):13.2f} "
            f"{1000 * t / rate:10.2f} "
            f"{table['local fdatasync'][t]:12.0f} {rate / table['in-proc mkdir'][t]:8.2f}x"
        )
    return "\n".join(lines)


def cpu_table(cpu: dict[str, dict[int, float]], thread_counts: list[int]) -> str:
    """CPU time per operation: steadier than ops/s on a shared machine, since it counts what
    the namenode did, not how long it waited for a core or the disk."""
    header = f"{'operation':<16}" + "".join(f"{f'x{t} us/op':>12}" for t in thread_counts)
    lines = [header, "-" * len(header)]
    for name, cells in cpu.items():
        lines.append(f"{name:<16}" + "".join(f"{cells[t]:12.0f}" for t in thread_counts))
    return "\n".join(lines)


def memory_line(r: dict[str, Any]) -> str:
    def cell(key: str) -> str:
        return f"{r[key]:>9}" if key in r else f"{'-':>9}"

    def total(kind: str) -> str:
        keys = (f"{kind}_bytes_per_file", f"{kind}_blockmap_bytes_per_block")
        return f"{r[keys[0]] + r[keys[1]]:>9}" if all(k in r for k in keys) else f"{'-':>9}"

    traced, rss = r.get("traced_bytes_per_file"), r.get("rss_bytes_per_file")
    worst = max((v for v in (traced, rss) if v is not None), default=None)
    verdict = "" if worst is None else ("met" if worst <= MEMORY_TARGET else "NOT met")
    line = (
        f"{r['files']:>10,} {cell('traced_bytes_per_file')} {cell('rss_bytes_per_file')} "
        f"{cell('traced_blockmap_bytes_per_block')} {cell('rss_blockmap_bytes_per_block')} "
        f"{total('traced')} {total('rss')} {MEMORY_TARGET:>7} {verdict}"
    )
    notes = [f"{k}: {r[k]}" for k in ("traced_skipped", "rss_skipped") if k in r]
    return "\n".join([line, *(f"{'':>11}{n}" for n in notes)])


def memory_table(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'':>10} {'namespace B/file':>19} {'block map r=3 B/blk':>19} {'total B/file':>19}\n"
        f"{'files':>10} {'traced':>9} {'RSS':>9} {'traced':>9} {'RSS':>9} {'traced':>9} "
        f"{'RSS':>9} {'target':>7}"
    )
    lines = [header, "-" * 90]
    lines += [memory_line(r) for r in rows]
    return "\n".join(lines)


def record(lines: list[dict[str, Any]]) -> None:
    common = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "node": platform.node(),
        "commit": git_commit(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as f:
        for line in lines:
            f.write(json.dumps({**common, **line}) + "\n")


# --- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace, work: Path) -> None:
    thread_counts = args.threads
    table: dict[str, dict[int, float]] = {}
    local = local_ops(work / "local")
    for name, (make, op, close) in local.items():
        table[name] = {}
        for t in thread_counts:
            table[name][t] = run_cell(t, args.ops, make, op, close)[0]
            print(f"  {name:<16} x{t:<3} {table[name][t]:9.0f} ops/s", flush=True)
    shutil.rmtree(work / "local", ignore_errors=True)

    in_proc, syncs, cpu = measure_in_process(work / "in-process", thread_counts, args.ops)
    txns: dict[int, float | None] = {}
    startup = None
    if not args.no_http:
        cluster = LocalCluster(work / "cluster")
        try:
            start = time.perf_counter()
            cluster.start(datanodes=1, mapreduce=False)
            startup = time.perf_counter() - start
            print(f"  {'cluster start':<16} {startup:7.3f} s", flush=True)
            nn, txns, nn_cpu = measure_cluster(cluster, thread_counts, args.ops)
        finally:
            cluster.stop()
        table = {**nn, **table}
        cpu = {**nn_cpu, **cpu}
    table = {**table, **in_proc}

    print("\nmemory per file (a Namespace and a BlockMap in a fresh interpreter)", flush=True)
    memory = [] if args.no_memory else measure_memory(args.max_seconds)

    print()
    print(f"{args.ops} ops a cell, split over the threads; ops/s, and / the /health ceiling")
    print(throughput_table(table, thread_counts))
    print("\nin process: the Namesystem called directly (its log fsynced), / the same over HTTP")
    print(in_process_table(table, thread_counts))
    print("\ncreate+close: over HTTP an empty file; in process a single-block file")
    print(create_cost(table, txns, syncs, thread_counts))
    print("\nCPU per operation, us: the namenode process's over HTTP, this process's in process")
    print(cpu_table(cpu, thread_counts))
    if memory:
        print("\nnamenode memory per single-block file")
        print(memory_table(memory))
    record(
        [
            {
                "kind": "throughput",
                "ops": args.ops,
                "threads": thread_counts,
                "cluster_start_s": startup,
                "ops_per_s": {
                    name: {str(t): v for t, v in row.items()} for name, row in table.items()
                },
                "txns_per_create": {str(t): v for t, v in txns.items()},
                "fsyncs_per_create_in_process": {str(t): v for t, v in syncs.items()},
                "cpu_us_per_op": {
                    name: {str(t): v for t, v in row.items()} for name, row in cpu.items()
                },
            },
            *({"kind": "memory", **row} for row in memory),
        ]
    )
    print(f"\nappended to {RESULTS}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--ops", type=int, default=2000, help="operations per cell")
    parser.add_argument(
        "--threads",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 4, 16, 64],
        help="client thread counts, comma-separated",
    )
    parser.add_argument(
        "--max-seconds", type=float, default=60.0, help="budget for the 1M-file namespace"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    parser.add_argument(
        "--no-http", action="store_true", help="skip the cluster: in-process rows only"
    )
    workdir_options(parser)
    # Internal: one memory measurement, in a fresh interpreter (see measure_size).
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ops < 1 or not args.threads or min(args.threads) < 1:
        parser.error("--ops and every --threads count must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(build_namespace(args.memory_child, args.traced)))
        return 0
    return run_in_workdir(args, run)


if __name__ == "__main__":
    sys.exit(main())
