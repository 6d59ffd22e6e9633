"""The namenode group: how long a write waits when the leader dies, and what replication
costs a create.

On a local cluster of three namenodes and three datanodes (no MapReduce), with the default
Raft clock (a tick of 0.1 s, elections after 10 to 20 ticks) unless `--tick` says otherwise:

* **failover** — `--kills` times (default 20): four writer threads create small files in a
  loop; the leader is killed with SIGKILL; the time from the kill to the first create that
  succeeds after it is recorded (the writers' own FileSystem clients find the new leader).
  The killed namenode is started again, and the next round waits until it has caught up.
  Every create that was acknowledged is read back at the end: the count lost must be 0.
* **creates/s** — fsynced creates per second (an empty file each: create + complete, each
  committed before it is answered) by `--threads` threads against the group, and, as the
  baseline measured in the same run, against a lone namenode on the same machine. The
  ratio group/lone is the figure; the aim is at least 0.5.

Results are appended as one JSON line to `bench/results/namenode_failover.jsonl`.

Run: ``.venv/bin/python bench/namenode_failover.py [--kills 20] [--threads 8]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import append_result, run_in_workdir, workdir_options

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

RESULTS = Path(__file__).resolve().parent / "results" / "namenode_failover.jsonl"
WRITERS = 4


def start(work: Path, name: str, namenodes: int, tick: float) -> LocalCluster:
    cluster = LocalCluster(work / name)
    cluster.start(
        datanodes=3,
        namenodes=namenodes,
        mapreduce=False,
        settings={"raft_tick": tick, "heartbeat_interval": 0.5, "retry_window": 60.0},
        timeout=90.0,
    )
    return cluster


def failover(cluster: LocalCluster, kills: int) -> dict[str, Any]:
    acknowledged: list[tuple[float, str]] = []
    errors: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        with FileSystem.from_cluster(cluster.directory) as fs:
            i = 0
            while not stop.is_set():
                path = f"/failover/{n}/{i}"
                try:
                    fs.write_bytes(path, path.encode())
                except Exception as e:  # a user-visible error: counted, and the writer stops
                    errors.append(f"{path}: {type(e).__name__}: {e}")
                    return
                with lock:
                    acknowledged.append((time.monotonic(), path))
                i += 1

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(WRITERS)]
    for t in threads:
        t.start()
    gaps: list[float] = []
    try:
        for k in range(kills):
            leader = cluster.leader(timeout=60)
            caught_up_to = len(acknowledged)
            while len(acknowledged) < caught_up_to + 20:  # writes flowing before the kill
                time.sleep(0.01)
            name = cluster.daemon_at(leader).name
            cluster.kill(name)  # returns once the process is gone: no answer can leave it now
            killed_at = time.monotonic()
            while not any(t > killed_at for t, _ in acknowledged[-WRITERS * 2 :]):
                if errors:
                    raise RuntimeError(errors[0])
                time.sleep(0.005)
            first = min(t for t, _ in acknowledged if t > killed_at)
            gaps.append(first - killed_at)
            print(f"  kill {k + 1:>2}: first write {gaps[-1]:.2f} s after", flush=True)
            cluster.restart(name, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    with FileSystem.from_cluster(cluster.directory) as fs:
        lost = [p for _, p in acknowledged if fs.read_bytes(p) != p.encode()]
    return {
        "kills": kills,
        "median_s": statistics.median(gaps),
        "worst_s": max(gaps),
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "errors": errors,
    }


def creates_per_second(cluster: LocalCluster, threads: int, seconds: float) -> float:
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(n: int) -> None:
        with FileSystem.from_cluster(cluster.directory) as fs:
            fs.mkdir(f"/creates/{n}")
            i = 0
            while time.monotonic() < stop:
                fs.create(f"/creates/{n}/{i}").close()
                i += 1
            done[n] = i

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    began = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - began)


def main(args: argparse.Namespace, work: Path) -> int:
    group = start(work, "group", 3, args.tick)
    try:
        print(f"failover: {args.kills} leader kills, {WRITERS} writers", flush=True)
        result = failover(group, args.kills)
        group_rate = creates_per_second(group, args.threads, args.seconds)
    finally:
        group.stop()
    lone = start(work, "lone", 1, args.tick)
    try:
        lone_rate = creates_per_second(lone, args.threads, args.seconds)
    finally:
        lone.stop()
    print(
        f"kill -9 of the leader to the first acknowledged write: median {result['median_s']:.2f} s,"
        f" worst {result['worst_s']:.2f} s over {args.kills} kills"
    )
    print(f"acknowledged creates lost: {result['lost']} of {result['acknowledged']}")
    print(f"user-visible errors: {len(result['errors'])}")
    print(
        f"fsynced creates/s, {args.threads} threads: group of 3 {group_rate:.0f}, "
        f"lone namenode {lone_rate:.0f}: {group_rate / lone_rate:.2f}x"
    )
    append_result(
        RESULTS,
        tick=args.tick,
        **{k: v for k, v in result.items() if k != "errors"},
        errors=len(result["errors"]),
        threads=args.threads,
        group_creates_per_s=group_rate,
        lone_creates_per_s=lone_rate,
    )
    return 1 if result["lost"] or result["errors"] else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0, help="per creates/s figure")
    parser.add_argument("--tick", type=float, default=0.1, help="raft_tick, seconds")
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
