"""Namenode metadata throughput and memory per file, in the style of NNThroughputBenchmark.

What is measured, for 1, 4, 16 and 64 client threads (`--threads`), each thread with its own
`FileSystem` (its own connection pool), all started together behind a barrier; a cell is
`--ops` operations in all, split evenly between the threads, and its figure is ops / wall time:

* **mkdir** — `fs.mkdir` of distinct new folders (one edit-log transaction each, fsynced).
* **create** — `fs.create(path).close()` of distinct empty files: StartFile, then CompleteFile,
  each its own edit-log transaction that the client waits to see fsynced. The transactions a
  create costs are counted from the edit log on disk, not assumed.
* **stat** — `fs.stat` of existing files. **list** — `fs.ls` of a folder of 100 files.
* **/health** — `GET /health` on the namenode with one `httpx.Client` per thread: the
  smallest request the namenode's HTTP stack answers, so the ceiling for any operation here.
* **local mkdir / create / stat / list** — `os.mkdir`, `open(..., "wb").close()`, `os.stat`,
  `os.listdir` (of 100 entries) on the local disk, with the same threads and counts.
* **local fdatasync** — appending 100 bytes to a file and `os.fdatasync`, one file per thread:
  what one edit-log group commit costs on this disk.

Then, in-process (no HTTP, no disk), the memory a namespace needs per file: a
`namenode.namespace.Namespace` is filled with N single-block files (StartFile, AddBlock,
CompleteFile, 1,000 files a folder) and `tracemalloc` compares snapshots taken before and after
(folders made before the first snapshot). Each file's owner is a string of its own, as it is
when it comes from a request; its group and permission are shared constants, as in the
namenode. 100,000 files, then 1,000,000 if the first run says it would take under
`--max-seconds` (default 60).

Results are appended to `bench/results/namenode_ops.jsonl`: one line for the throughput table,
one per memory size.

Run: ``.venv/bin/python bench/namenode_ops.py [--ops 2000] [--threads 1,4,16,64] [--keep]``
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shutil
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from common import git_commit, run_in_workdir

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from namenode import commands as c
from namenode.checkpoint import images
from namenode.editlog import read_segment, segments
from namenode.namespace import Namespace

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "namenode_ops.jsonl"
LIST_SIZE = 100
FILES_PER_DIR = 1000
BLOCK_SIZE = 64 << 20
NN_OPS = ("mkdir", "create", "stat", "list")

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
) -> float:
    """Run `total` ops split over `threads` threads; return ops per second."""
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
        start = time.perf_counter()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - start
    finally:
        for client in clients:
            close(client)
    if errors:
        raise SystemExit(f"FAIL: {errors[0]!r}")
    return per_thread * threads / elapsed


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


def last_txid(name_dir: Path) -> int | None:
    """The newest transaction id in the namenode's edit log (or its newest checkpoint)."""
    newest = max((txid for txid, _ in images(name_dir)), default=0)
    try:
        for _, path in segments(name_dir)[-1:]:
            for txid, _record in read_segment(path, is_last=False):
                newest = max(newest, txid)
    except Exception:  # a record being written: leave the count out rather than guess
        return None
    return newest


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


def measure_cluster(
    cluster: LocalCluster, thread_counts: list[int], ops: int
) -> tuple[dict[str, dict[int, float]], dict[int, float | None]]:
    """ops/s per namenode operation and thread count, and edit-log transactions per create."""
    info = cluster.info
    assert info is not None
    name_dir = cluster.directory / "namenode"
    table: dict[str, dict[int, float]] = {name: {} for name in ("/health", *NN_OPS)}
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
        table["/health"][threads] = run_cell(
            threads, ops, lambda _t: httpx.Client(timeout=30), health, lambda h: h.close(), health
        )
        print(f"  {'/health':<16} x{threads:<3} {table['/health'][threads]:9.0f} ops/s", flush=True)
        with FileSystem(info.namenode, info.token) as fs:
            prepare(fs, threads, cell)
        for name, op in namenode_ops(threads, cell).items():
            before = last_txid(name_dir) if name == "create" else None
            rate = run_cell(
                threads, ops, make_fs, op, lambda f: f.close(), lambda f, _t, _i: f.stat("/")
            )
            table[name][threads] = rate
            if name == "create":
                after = last_txid(name_dir)
                done = max(1, ops // threads) * threads
                txns_per_create[threads] = (
                    (after - before) / done if before is not None and after is not None else None
                )
            print(f"  {name:<16} x{threads:<3} {rate:9.0f} ops/s", flush=True)
    return table, txns_per_create


# --- memory per file --------------------------------------------------------------------------


def build_namespace(files: int, deadline: float) -> tuple[int, float, bool]:
    """Fill a Namespace with `files` single-block files; (bytes per file, seconds, finished)."""
    ns = Namespace()
    now = time.time_ns() // 1_000_000
    dirs = (files + FILES_PER_DIR - 1) // FILES_PER_DIR
    for d in range(dirs):
        ns.apply(c.Mkdirs(f"/data/d{d:05d}", now, "hadoop", "supergroup"))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    start = time.perf_counter()
    finished = True
    for i in range(files):
        if i % 10_000 == 0 and time.perf_counter() > deadline:
            finished = False
            break
        path = f"/data/d{i // FILES_PER_DIR:05d}/part-{i:08d}"
        owner = b"hadoop".decode()  # a string per file, as a request or a replayed edit makes
        client = f"client-{i}"
        block_id = ns.next_block_id()
        ns.apply(c.StartFile(path, client, now + i, owner, "supergroup", 3, BLOCK_SIZE))
        ns.apply(c.AddBlock(path, client, block_id, ns.next_gen()))
        ns.apply(c.CompleteFile(path, client, now + i, 1 << 20))
    seconds = time.perf_counter() - start
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    done = i + 1 if finished else i
    del ns
    gc.collect()
    return round(grown / max(1, done)), seconds, finished


def measure_memory(max_seconds: float) -> list[dict[str, Any]]:
    rows = []
    per_file, seconds, _ = build_namespace(100_000, time.perf_counter() + 10 * max_seconds)
    rows.append({"files": 100_000, "bytes_per_file": per_file, "seconds": seconds})
    print(f"  {100_000:>9,} files {per_file:6d} B/file  {seconds:6.1f} s", flush=True)
    estimate = seconds * 10
    if estimate > max_seconds:
        note = f"skipped: 100k took {seconds:.1f} s, so 1M would take ~{estimate:.0f} s"
        rows.append({"files": 1_000_000, "skipped": note})
        print(f"  1,000,000 files {note}", flush=True)
        return rows
    per_file, seconds, finished = build_namespace(1_000_000, time.perf_counter() + 2 * max_seconds)
    row: dict[str, Any] = {"files": 1_000_000, "bytes_per_file": per_file, "seconds": seconds}
    if not finished:
        row["skipped"] = f"stopped after {seconds:.0f} s"
    rows.append(row)
    print(f"  {1_000_000:>9,} files {per_file:6d} B/file  {seconds:6.1f} s", flush=True)
    return rows


# --- output -----------------------------------------------------------------------------------


def throughput_table(table: dict[str, dict[int, float]], thread_counts: list[int]) -> str:
    health = table["/health"]
    cols = "".join(f"{f'x{t} ops/s':>12}" for t in thread_counts)
    ratios = "".join(f"{f'x{t} /hlth':>10}" for t in thread_counts)
    header = f"{'operation':<16}{cols}  {ratios}"
    lines = [header, "-" * len(header)]
    for name, cells in table.items():
        row = "".join(f"{cells[t]:12.0f}" for t in thread_counts)
        if name in NN_OPS:
            row += "  " + "".join(f"{cells[t] / health[t]:9.2f}x" for t in thread_counts)
        lines.append(f"{name:<16}{row}")
    return "\n".join(lines)


def create_cost(
    table: dict[str, dict[int, float]], txns: dict[int, float | None], thread_counts: list[int]
) -> str:
    header = (
        f"{'threads':>7} {'creates/s':>10} {'txn/create':>11} {'txn/s':>8} "
        f"{'ms/create':>10} {'fdatasync/s':>12} {'vs mkdir':>9}"
    )
    lines = [header, "-" * len(header)]
    for t in thread_counts:
        rate = table["create"][t]
        per = txns.get(t)
        lines.append(
            f"{t:>7} {rate:10.0f} {per if per is not None else float('nan'):11.2f} "
            f"{rate * per if per is not None else float('nan'):8.0f} {1000 * t / rate:10.2f} "
            f"{table['local fdatasync'][t]:12.0f} {rate / table['mkdir'][t]:8.2f}x"
        )
    return "\n".join(lines)


def memory_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'files':>10} {'bytes/file':>11} {'build s':>8}", "-" * 31]
    for r in rows:
        if "bytes_per_file" in r:
            lines.append(f"{r['files']:>10,} {r['bytes_per_file']:>11} {r['seconds']:8.1f}")
        if "skipped" in r:
            lines.append(f"{r['files']:>10,} {r['skipped']}")
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
            table[name][t] = run_cell(t, args.ops, make, op, close)
            print(f"  {name:<16} x{t:<3} {table[name][t]:9.0f} ops/s", flush=True)
    shutil.rmtree(work / "local", ignore_errors=True)

    cluster = LocalCluster(work / "cluster")
    try:
        start = time.perf_counter()
        cluster.start(datanodes=1, mapreduce=False)
        startup = time.perf_counter() - start
        print(f"  {'cluster start':<16} {startup:7.3f} s", flush=True)
        nn, txns = measure_cluster(cluster, thread_counts, args.ops)
    finally:
        cluster.stop()
    table = {**nn, **table}

    print("\nmemory per file (in-process Namespace, tracemalloc)", flush=True)
    memory = [] if args.no_memory else measure_memory(args.max_seconds)

    print()
    print(f"{args.ops} ops a cell, split over the threads; ops/s, and / the /health ceiling")
    print(throughput_table(table, thread_counts))
    print("\ncreate+close of an empty file: what it costs")
    print(create_cost(table, txns, thread_counts))
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
    parser.add_argument("--keep", action="store_true", help="keep the temp folder for a look")
    parser.add_argument("--tmpdir", type=Path, default=None, help="where the temp folder goes")
    args = parser.parse_args(argv)
    if args.ops < 1 or not args.threads or min(args.threads) < 1:
        parser.error("--ops and every --threads count must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_in_workdir(args, run)


if __name__ == "__main__":
    sys.exit(main())
