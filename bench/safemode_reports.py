"""What a block report costs a namenode in safe mode, with many blocks: after a restart
every datanode sends its full report, and until enough blocks are reported the namenode
is in safe mode.

A namespace of `--files` one-block files is written as an image into a fresh name folder;
a real `Namesystem` starts on it (in safe mode, nothing reported), `--datanodes` datanodes
register, and each sends one full report holding its share of the blocks (every block on
`--replication` of them). Measured: the namenode's CPU per report, and the CPU until safe
mode is left, for

* **kept count** — safe mode's count kept as replicas are reported, the exact walk of every
  block made only when the monitor's tick finds the threshold may be reached (this tree);
* **walk per report (baseline)** — the same reports, each followed by the exact walk of
  every block that each report used to make (`_count_safe_blocks`), as before.

Both in the same run, on the same image. Results go to `bench/results/safemode_reports.jsonl`.

Run: ``.venv/bin/python bench/safemode_reports.py [--files 200000] [--datanodes 100]``
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from common import BENCH_DIR, append_result, run_in_workdir, workdir_options

from coord.machine import CoordMachine
from minihadoop.config import Settings
from minihadoop.models import BlockReportRequest, RegisterRequest, ReplicaReport
from namenode import commands as c
from namenode.machine import NamespaceMachine
from namenode.namesystem import Namesystem
from namenode.services import Services, replicated
from raft.storage import RaftStorage
from raft.types import HardState, Snapshot, SnapshotMeta

RESULTS = BENCH_DIR / "results" / "safemode_reports.jsonl"


def image(files: int) -> tuple[bytes, list[tuple[int, int]]]:
    """A namespace image of `files` one-block files; (block id, gen) of each block."""
    machine = NamespaceMachine(threading.RLock())
    ns = machine.ns
    blocks = []
    for i in range(files):
        folder = f"/data/{i // 1000:05d}"
        if i % 1000 == 0:
            ns.apply(c.Mkdirs(folder, 1, "bench", "supergroup"))
        path = f"{folder}/part-{i:08d}"
        ns.apply(c.StartFile(path, "w", 1, "bench", "supergroup", 3, 128 << 20))
        block_id, gen = ns.apply(c.AddBlock(path, "w")).result
        ns.apply(c.CompleteFile(path, "w", 2, 1000))
        blocks.append((block_id, gen))
    machine.applied_index = 1
    return replicated(Services(machine, CoordMachine())).snapshot(), blocks


def run(directory: Path, snapshot: bytes, blocks: list[tuple[int, int]], args: argparse.Namespace,
        walk_each: bool) -> dict[str, Any]:  # fmt: skip
    storage = RaftStorage.open(directory)
    storage.save(HardState(1, None, 1), [], Snapshot(SnapshotMeta(1, 1, ("nn1",)), snapshot),
                 sync=True)  # fmt: skip
    storage.close()
    system = Namesystem(directory, Settings(token="bench", safemode_extension=0))
    try:
        nodes = [f"dn{i}" for i in range(args.datanodes)]
        for i, node in enumerate(nodes):
            system.register(RegisterRequest(datanode_id=node, url=f"http://10.0.0.{i}:9864",
                                            capacity=1 << 40, remaining=1 << 40),
                            peer_ip="127.0.0.1")  # fmt: skip
        share: dict[str, list[ReplicaReport]] = {n: [] for n in nodes}
        for k, (block_id, gen) in enumerate(blocks):
            for r in range(args.replication):
                node = nodes[(k + r) % len(nodes)]
                share[node].append(ReplicaReport(block_id=block_id, gen=gen, length=1000))
        per_report = []
        started = time.process_time()
        left_at = None
        for n, node in enumerate(nodes):
            t = time.process_time()
            system.block_report(BlockReportRequest(datanode_id=node, replicas=share[node]))
            if walk_each:
                with system.lock:
                    system._count_safe_blocks()  # what each report cost before
            per_report.append(time.process_time() - t)
            if n % 10 == 9 or n == len(nodes) - 1:
                system.tick()  # the monitor's round (every replication interval)
                if left_at is None and not system.safemode.on:
                    left_at = time.process_time() - started
        return {
            "report_ms_mean": 1000 * sum(per_report) / len(per_report),
            "report_ms_max": 1000 * max(per_report),
            "cpu_to_leave_safemode_s": left_at,
            "left": not system.safemode.on,
        }
    finally:
        system.close()


def main(args: argparse.Namespace, work: Path) -> int:
    print(f"building a namespace of {args.files:,} one-block files", flush=True)
    snapshot, blocks = image(args.files)
    kept = run(work / "kept", snapshot, blocks, args, walk_each=False)
    walked = run(work / "walked", snapshot, blocks, args, walk_each=True)
    per = len(blocks) * args.replication // args.datanodes
    for name, r in (("kept count", kept), ("walk per report (baseline)", walked)):
        print(
            f"{name:>28}: {r['report_ms_mean']:.1f} ms CPU per report of ~{per:,} replicas "
            f"(max {r['report_ms_max']:.1f}), {r['cpu_to_leave_safemode_s']:.2f} s CPU until "
            f"safe mode is off"
        )
    ratio = walked["report_ms_mean"] / kept["report_ms_mean"]
    print(f"CPU per report, baseline / kept count: {ratio:.1f}x")
    append_result(RESULTS, files=args.files, datanodes=args.datanodes,
                  replication=args.replication, kept=kept, walked=walked)  # fmt: skip
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--datanodes", type=int, default=100)
    parser.add_argument("--replication", type=int, default=3)
    workdir_options(parser)
    sys.exit(run_in_workdir(parser.parse_args(), main))
