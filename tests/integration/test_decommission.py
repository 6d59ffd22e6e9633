"""Decommissioning on real processes: a node retires only when switching it off loses
nothing, and stays retired across a namenode restart."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_cli import run
from tests.support import wait_for

pytestmark = pytest.mark.integration


def state(fs: FileSystem, url: str) -> str:
    states: dict[str, str] = {d["url"]: d["state"] for d in fs.cluster()["datanodes"]}
    return states.get(url, "not registered yet")  # a just-restarted namenode may not know it


def replicas(fs: FileSystem, path: str) -> list[tuple[int, set[str]]]:
    """(live replicas, their locations) of each block of `path`."""
    report = fs.fsck(path)
    return [
        (b["live_replicas"], set(b["locations"]))
        for f in report["files_detail"]
        for b in f["blocks"]
    ]


def test_decommissioned_only_when_fully_replicated_elsewhere_and_after_a_restart(
    make_cluster: Callable[..., LocalCluster], connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster = make_cluster(datanodes=3)  # replication 3: every node holds every block
    fs = connect(cluster)
    data = os.urandom(2 << 20)
    fs.write_bytes("/decom/f", data)
    fs.write_bytes("/decom/probe", b"probe")
    victim = cluster.daemon("datanode-0").url
    assert fs.decommission(victim) == "DECOMMISSIONING"

    # The probe's extra replica is removed by a tick of the replication monitor, and the
    # same tick decides whether the victim is retired: once the probe has shrunk, that
    # decision has been taken. Only two other nodes can hold the data: it must not retire.
    fs.setrep("/decom/probe", 1)
    wait_for(lambda: len(replicas(fs, "/decom/probe")[0][1] - {victim}) == 1, what="a tick")
    assert state(fs, victim) == "DECOMMISSIONING"

    cluster.add_datanode()  # room for a third replica elsewhere: now it can retire

    def retired() -> bool:
        done = all(n == 3 and victim not in where for n, where in replicas(fs, "/decom/f"))
        return done and state(fs, victim) == "DECOMMISSIONED"

    wait_for(retired, what="the victim drained and retired")

    # The operator's view, as `hdfs dfsadmin -report` gives it.
    report = run(cluster.directory, "admin", "report").stdout
    assert "Live datanodes (3):" in report and "Decommissioning datanodes (1):" in report
    section = report.split("Decommissioning datanodes (1):", 1)[1]
    assert f"Name: {urlsplit(victim).netloc} (" in section
    assert "Decommission Status : Decommissioned" in section
    # Each node's lines in HDFS's order, so a script reading them by position works.
    order = ["Name:", "Hostname:", "Rack:", "Decommission Status :", "Configured Capacity:",
             "DFS Used:", "Non DFS Used:", "DFS Remaining:", "DFS Used%:", "DFS Remaining%:",
             "Last contact:", "Num of Blocks:"]  # fmt: skip
    node = section.strip().split("\n\n", 1)[0].splitlines()
    assert [line.split(" ")[0] for line in node] == [o.split(" ")[0] for o in order]
    assert all(line.startswith(o) for line, o in zip(node, order, strict=True)), node
    assert "Missing blocks: 0" in report and "Under replicated blocks: 0" in report
    assert "Live datanodes" not in run(cluster.directory, "admin", "report", "-dead").stdout
    picked = json.loads(run(cluster.directory, "admin", "report", "-live", "--json").stdout)
    assert picked["live"] == 3 and picked["decommissioned"] == 1 and picked["missing"] == 0
    assert sorted(n["state"] for n in picked["datanodes"]) == ["LIVE"] * 3
    assert picked["capacity"] == sum(n["capacity"] for n in picked["datanodes"])

    cluster.kill("namenode", signal.SIGKILL)
    cluster.restart("namenode")
    cluster.wait_for_datanodes(3)
    wait_for(lambda: state(fs, victim) == "DECOMMISSIONED", what="still retired after restart")
    fs.write_bytes("/decom/after", b"x" * 5000)
    assert all(victim not in where for _, where in replicas(fs, "/decom/after"))
    assert fs.read_bytes("/decom/f") == data
