"""`minihadoop admin balance` on a real cluster: two empty datanodes join a loaded one, and
the balancer brings every node's use within the threshold of the mean, moving replicas
without ever lowering a block's replication; run again, it finds nothing to do."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable

import pytest

from minihadoop.balancer import NodeUse, classify
from minihadoop.errors import MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
MiB = 1 << 20


def balance(
    cluster: LocalCluster, *args: str, user: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINIHADOOP_HOME": str(cluster.directory)}
    if user is not None:
        env["MINIHADOOP_USER"] = user
    env.pop("MINIHADOOP_NAMENODE", None)
    return subprocess.run(
        [sys.executable, "-m", "cli", "admin", "balance", *args],
        capture_output=True, text=True, env=env, timeout=180,
    )  # fmt: skip


def uses(fs: FileSystem) -> list[NodeUse]:
    return [
        NodeUse(n["id"], n["capacity"], n["used"])
        for n in fs.cluster()["datanodes"]
        if n["state"] == "LIVE"
    ]


def test_two_new_datanodes_are_filled_without_lowering_any_replication(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=0, replication=2, mapreduce=False)
    for _ in range(2):
        cluster.add_datanode(capacity="40M")
    cluster.wait_for_datanodes(2)
    with FileSystem.from_cluster(cluster.directory) as fs:
        data = os.urandom(MiB)
        for i in range(20):  # 20 one-block files, on both nodes: 20 MiB of 40 on each
            fs.write_bytes(f"/load/f{i}", data)
        for _ in range(2):
            cluster.add_datanode(capacity="40M")
        cluster.wait_for_datanodes(4)
        wait_for(lambda: len(uses(fs)) == 4 and not classify(uses(fs), 10).balanced,
                 what="the new nodes' use reported")  # fmt: skip

        # Meanwhile, every block keeps its two live replicas, whatever the balancer does.
        lowest: list[int] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    report = fs.fsck("/load")
                except MiniHadoopError:
                    continue
                lowest.append(min(b["live_replicas"] for f in report["files_detail"]
                                  for b in f["blocks"]))  # fmt: skip

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            done = balance(cluster, "--threshold", "10")
        finally:
            stop.set()
            watcher.join()
        assert done.returncode == 0, done.stdout + done.stderr
        assert "The cluster is balanced" in done.stdout and "Iteration 1:" in done.stdout
        assert lowest and min(lowest) >= 2, "a move lowered a block's replication"

        # The datanodes' use as they report it: every node within 10 points of the mean.
        def balanced() -> bool:
            return classify(uses(fs), 10).balanced

        wait_for(balanced, what="every node within the threshold")
        mean = classify(uses(fs), 10).mean
        assert all(abs(n.utilization - mean) <= 10 for n in uses(fs))
        assert all(n.used > 0 for n in uses(fs))  # the new nodes hold replicas now
        report = fs.fsck("/")
        assert report["status"] == "HEALTHY" and report["under_replicated"] == 0
        assert all(b["live_replicas"] == 2 for f in report["files_detail"] for b in f["blocks"])
        assert all(fs.read_bytes(f"/load/f{i}") == data for i in range(20))

    # Run again: nothing to do. Stopped and run again is the same: it keeps no state.
    again = balance(cluster)
    assert again.returncode == 0 and "Iteration" not in again.stdout, again.stdout

    # Only a superuser balances, as in HDFS: anybody else is refused before anything moves,
    # even on a cluster with nothing to do.
    refused = balance(cluster, user="mallory")
    assert refused.returncode == 1 and "Superuser privilege is required" in refused.stderr
    assert "Iteration" not in refused.stdout and "balanced" not in refused.stdout
