"""How long a namenode's Raft loop stops while a snapshot of a large namespace is taken.

A namespace of `--files` single-block files (in `--files / 1000` folders) is built straight
into a state machine and stored as the Raft host's first snapshot; the host (a group of one,
its log fsynced in a folder on disk) then takes proposals from `--threads` threads, each
a new folder, and its next snapshot falls due after `--every` of them. Measured, each run on
a fresh host of the same namespace:

* **off the loop** (what the namenode does): the snapshot written by a child process the
  loop forks, the loop only swapping the finished file in;
* **on the loop** (the baseline: the way it was done before, and what a host without a
  replica maker still does): the live machine serialised by the loop itself.

The figure is the longest a proposal waited while the snapshot was made, off the loop
against on it, beside the median wait when no snapshot is being made. Results are appended
to `bench/results/namenode_snapshot.jsonl`.

Run: ``.venv/bin/python bench/namenode_snapshot.py [--files 200000] [--threads 4]``
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
from safemode_reports import image

from coord.machine import CoordMachine
from namenode import commands as c
from namenode.machine import NamespaceMachine
from namenode.services import Services, replicated
from raft.config import Config
from raft.host import RaftHost
from raft.machine import Request
from raft.storage import RaftStorage
from raft.types import HardState, Snapshot, SnapshotMeta

RESULTS = Path(__file__).resolve().parent / "results" / "namenode_snapshot.jsonl"


def namespace_image(files: int) -> bytes:
    """A namespace image of `files` one-block files (`safemode_reports.image`)."""
    return image(files)[0]


def run(directory: Path, image: bytes, args: argparse.Namespace, off_loop: bool) -> dict[str, Any]:
    storage = RaftStorage.open(directory)
    storage.save(HardState(1, None, 1), [], Snapshot(SnapshotMeta(1, 1, ("a",)), image), sync=True)
    lock = threading.RLock()
    host = RaftHost(
        Config(id="a", voters=("a",)),
        storage,
        replicated(Services(NamespaceMachine(lock), CoordMachine())),
        tick_seconds=0.1,
        snapshot_every=args.every,
        fork_lock=lock if off_loop else None,
    )
    host.start()
    host.campaign()
    while host.status.role.value != "leader":
        time.sleep(0.01)
    waits: list[tuple[float, float]] = []  # (started, waited)
    counting = threading.Lock()
    stop = threading.Event()

    def propose(n: int) -> None:
        i = 0
        while not stop.is_set():
            cmd = c.to_record(c.Mkdirs(f"/new/{n}/{i}", 3, "bench", "supergroup"))
            began = time.monotonic()
            host.propose(Request(cmd, time=3), timeout=600)
            with counting:
                waits.append((began, time.monotonic() - began))
            i += 1

    threads = [threading.Thread(target=propose, args=(n,)) for n in range(args.threads)]
    began = time.monotonic()
    for t in threads:
        t.start()
    first = host.status.first_index
    while host.status.first_index == first:  # until the snapshot is in and the log compacted
        time.sleep(0.01)
    kept = time.monotonic()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    host.stop()
    storage.close()
    during = [w for s, w in waits if s < kept]
    return {
        "snapshot_s": kept - began,
        "longest_wait_s": max(during),
        "median_wait_ms": 1000 * statistics.median(w for _, w in waits),
        "proposals": len(waits),
    }


def main(args: argparse.Namespace, work: Path) -> int:
    print(f"building a namespace of {args.files:,} files", flush=True)
    image = namespace_image(args.files)
    print(f"  image: {len(image) / 2**20:.0f} MiB", flush=True)
    off = run(work / "off", image, args, off_loop=True)
    on = run(work / "on", image, args, off_loop=False)
    for name, r in (("off the loop", off), ("on the loop (baseline)", on)):
        print(
            f"{name:>24}: snapshot in {r['snapshot_s']:.2f} s, longest proposal wait "
            f"{r['longest_wait_s'] * 1000:.0f} ms, median {r['median_wait_ms']:.1f} ms"
        )
    print(f"longest wait, off/on the loop: {off['longest_wait_s'] / on['longest_wait_s']:.2f}x")
    append_result(RESULTS, files=args.files, image_bytes=len(image), off_loop=off, on_loop=on)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--every", type=int, default=2000, help="proposals between snapshots")
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
