"""`minihadoop cluster stop|start|restart|status|down` as a user runs them, on real daemons."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from minihadoop.config import ClusterInfo
from minihadoop.errors import MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_cli import run
from tests.support import wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def row(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.split()[:1] == [name])


def datanode_state(fs: FileSystem, url: str) -> str | None:
    try:
        states = {d["url"]: d["state"] for d in fs.cluster()["datanodes"]}
    except MiniHadoopError:
        return None  # the namenode is not back yet
    return states.get(url)


def environment(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(v.decode().split("=", 1) for v in raw if b"=" in v)


def test_one_daemon_stopped_started_and_restarted_by_hand(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster = make_cluster(datanodes=2, replication=2)
    home = cluster.directory
    fs = connect(cluster)
    fs.write_bytes("/byhand/f", b"kept")

    # A crash of the namenode, by hand: back on its port, with the cluster's settings.
    nn = cluster.daemon("namenode")
    assert "restarted namenode" in run(home, "cluster", "restart", "namenode", "--kill").stdout
    nn_again = LocalCluster(home).daemon("namenode")
    assert not alive(nn.pid) and nn_again.pid != nn.pid and nn_again.url == nn.url
    assert environment(nn_again.pid)["MINIHADOOP_DEAD_NODE_TIMEOUT"] == "2.0"
    cluster.wait_for_datanodes(2)
    assert fs.read_bytes("/byhand/f") == b"kept"

    # A datanode stopped cleanly: its process is gone, status shows it, the namenode
    # declares it dead (after the cluster's 2 s, not the default minute).
    dn = cluster.daemon("datanode-1")
    assert "stopped datanode-1" in run(home, "cluster", "stop", "datanode-1").stdout
    assert not alive(dn.pid)
    status = run(home, "cluster", "status").stdout
    assert "stopped" in row(status, "datanode-1") and "running" in row(status, "namenode")
    wait_for(lambda: datanode_state(fs, dn.url) == "DEAD", what="datanode-1 declared dead")
    assert "was not running" in run(home, "cluster", "stop", "datanode-1").stdout

    started = run(home, "cluster", "start", "datanode-1").stdout
    assert "started datanode-1" in started and dn.url in started
    assert LocalCluster(home).daemon("datanode-1").pid != dn.pid
    wait_for(lambda: datanode_state(fs, dn.url) == "LIVE", what="datanode-1 back")

    again = run(home, "cluster", "start", "datanode-1", check=False)
    assert again.returncode == 1 and "datanode-1 is already running" in again.stderr
    bad = run(home, "cluster", "stop", "datanode-9", check=False)
    assert bad.returncode == 1 and "no daemon named datanode-9" in bad.stderr
    assert "namenode, " in bad.stderr and "Traceback" not in bad.stderr


def test_status_lists_every_daemon_even_with_the_namenode_down(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    home = cluster.directory
    run(home, "cluster", "stop", "namenode", "--kill")
    status = run(home, "cluster", "status", check=False)
    assert status.returncode == 1 and "cannot reach" in status.stderr
    for name in ("datanode-0", "jobtracker", "worker-0"):
        assert "running" in row(status.stdout, name)
    assert "stopped" in row(status.stdout, "namenode")


def test_down_signals_only_the_processes_the_cluster_started(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    home = cluster.directory
    cluster.kill("worker-0")
    # The kernel hands worker-0's pid to an unrelated process: cluster.json names it now.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        info = ClusterInfo.load(home)
        next(d for d in info.daemons if d.name == "worker-0").pid = stranger.pid
        info.save(home)
        assert "stopped" in row(run(home, "cluster", "status").stdout, "worker-0")
        down = run(home, "cluster", "down").stdout
        assert "stopped 3 daemons" in down  # namenode, datanode-0, job tracker
        assert stranger.poll() is None, "cluster down signalled a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()
