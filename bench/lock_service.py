"""Lock acquisitions per second through the namenodes' leader, beside a namespace operation
through the same leader and log.

On a local group of three namenodes (no datanodes, no MapReduce), `--threads` threads each
open a session of their own and, for `--seconds`, acquire a lock of their own and release
it again (two log entries a round, like create + complete). The baseline, measured in the
same run against the same group: the same threads each making empty folders (`fs.mkdir`,
one log entry a call) — figures are per log entry, so the ratio says what the lock
service's path costs beyond the log itself. Then the same against a lone namenode.

Results are appended to `bench/results/lock_service.jsonl`.

Run: ``.venv/bin/python bench/lock_service.py [--threads 8] [--seconds 10]``
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import append_result, run_in_workdir, workdir_options

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

RESULTS = Path(__file__).resolve().parent / "results" / "lock_service.jsonl"


def rate(threads: int, seconds: float, one: Callable[[int], Callable[[], None]]) -> float:
    """Operations per second of `threads` threads, each running the loop `one(n)` gives."""
    done = [0] * threads
    ready = threading.Barrier(threads + 1)
    stop = threading.Event()

    def run(n: int) -> None:
        step = one(n)
        ready.wait()
        while not stop.is_set():
            step()
            done[n] += 1

    workers = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    ready.wait()
    began = time.monotonic()
    time.sleep(seconds)
    stop.set()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - began)


def measure(cluster: LocalCluster, threads: int, seconds: float) -> dict[str, float]:
    clients = [FileSystem.from_cluster(cluster.directory) for _ in range(threads)]
    sessions = [fs.lock_session(ttl=30) for fs in clients]
    try:

        def locking(n: int) -> Callable[[], None]:
            session = sessions[n]

            def step() -> None:
                session.acquire(f"bench-{n}", timeout=0)
                session.release(f"bench-{n}")

            return step

        def mkdirs(n: int) -> Callable[[], None]:
            fs, counter = clients[n], iter(range(10**9))
            return lambda: fs.mkdir(f"/bench/{n}/{next(counter)}")

        rounds = rate(threads, seconds, locking)
        folders = rate(threads, seconds, mkdirs)
    finally:
        for s in sessions:
            s.close()
        for fs in clients:
            fs.close()
    return {"acquisitions_per_s": rounds, "mkdirs_per_s": folders}


def start(work: Path, name: str, namenodes: int) -> LocalCluster:
    cluster = LocalCluster(work / name)
    cluster.start(datanodes=0, namenodes=namenodes, mapreduce=False, timeout=90.0)
    return cluster


def main(args: argparse.Namespace, work: Path) -> int:
    results: dict[str, Any] = {}
    for name, namenodes in (("group", 3), ("lone", 1)):
        cluster = start(work, name, namenodes)
        try:
            results[name] = measure(cluster, args.threads, args.seconds)
        finally:
            cluster.stop()
        r = results[name]
        # An acquisition is one entry and its release another; a mkdir is one.
        per_entry = 2 * r["acquisitions_per_s"] / r["mkdirs_per_s"]
        print(
            f"{name:>5} ({namenodes} namenode{'s' if namenodes > 1 else ''}), "
            f"{args.threads} threads: {r['acquisitions_per_s']:.0f} acquisitions/s "
            f"(+ release each), mkdir {r['mkdirs_per_s']:.0f}/s; "
            f"log entries/s, locks/mkdir: {per_entry:.2f}x"
        )
    append_result(RESULTS, threads=args.threads, **results)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
