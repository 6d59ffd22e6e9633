"""Leases on real processes: a writer killed -9 mid-write loses its file to recovery (by
recoverLease, or another client's create or append past the soft limit) with every byte
the datanodes stored; a namenode restarted mid-recovery finishes it; a file renamed, or
its folder, while it is written is completed at its new path."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from minihadoop.errors import (
    AlreadyBeingCreatedError,
    FileNotFoundError_,
    IllegalArgumentError,
    RecoveryInProgressError,
)
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_cli import run
from tests.support import cluster_auth, wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]
Connect = Callable[[LocalCluster], FileSystem]
REPO = Path(__file__).resolve().parents[2]
BLOCK = 1 << 20  # the test clusters' block size

# Writes `blocks` whole blocks (block i is bytes i+1), each sent down its pipeline as soon
# as it is full; says so; then waits to be killed, its last block stored on the datanodes
# and its length never committed.
WRITER = """
import sys
from minihadoop.filesystem import FileSystem
directory, path, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
with FileSystem.from_cluster(directory) as fs:
    out = fs.create(path)
    for i in range(blocks):
        out.write(bytes([i + 1]) * (1 << 20))
    print("written", flush=True)
    sys.stdin.read()
"""


def content(blocks: int) -> bytes:
    return b"".join(bytes([i + 1]) * BLOCK for i in range(blocks))


@pytest.fixture
def killed_writer() -> Iterator[Callable[[LocalCluster, str, int], None]]:
    """Run a writer process to its pause, then kill -9 it."""
    procs: list[subprocess.Popen[str]] = []

    def write_and_die(cluster: LocalCluster, path: str, blocks: int) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(cluster.directory), path, str(blocks)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        procs.append(proc)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written", "the writer failed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    yield write_and_die
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                stream.close()


def healthy(fs: FileSystem, path: str) -> bool:
    report = fs.fsck(path)
    return report["status"] == "HEALTHY" and all(
        b["live_replicas"] == 3 for f in report["files_detail"] for b in f["blocks"]
    )


def test_recover_lease_closes_a_killed_writers_file_with_every_stored_byte(
    make_cluster: MakeCluster, connect: Connect, killed_writer: Callable[..., None]
) -> None:
    cluster = make_cluster(datanodes=3)  # the default soft limit: recoverLease does not wait
    fs = connect(cluster)
    killed_writer(cluster, "/dead/f", 2)
    assert not fs.exists("/dead/f")
    out = run(cluster.directory, "admin", "recover-lease", "/dead/f", "--retries", "5").stdout
    assert "recoverLease SUCCEEDED on /dead/f" in out
    assert fs.read_bytes("/dead/f") == content(2)
    # The recovered replicas carry the new stamp: none is taken for corrupt.
    wait_for(lambda: healthy(fs, "/dead/f"), what="three good replicas of every block")
    again = run(cluster.directory, "admin", "recover-lease", "/dead/f").stdout
    assert "recoverLease SUCCEEDED on /dead/f" in again  # already closed: true at once


def test_past_the_soft_limit_another_client_takes_a_dead_writers_file(
    make_cluster: MakeCluster, connect: Connect, killed_writer: Callable[..., None]
) -> None:
    cluster = make_cluster(datanodes=3, lease_soft_limit=1.0)
    fs = connect(cluster)
    killed_writer(cluster, "/dead/appended", 2)
    killed_writer(cluster, "/dead/overwritten", 2)

    def append() -> bool:
        try:
            with fs.append("/dead/appended") as out:
                out.write(b"tail")
        except (AlreadyBeingCreatedError, RecoveryInProgressError):
            return False  # the soft limit has not passed, or recovery is under way
        return True

    wait_for(append, what="an append to take the dead writer's file")
    assert fs.read_bytes("/dead/appended") == content(2) + b"tail"

    def overwrite() -> bool:
        try:
            fs.write_bytes("/dead/overwritten", b"new", overwrite=True)
        except AlreadyBeingCreatedError:
            return False
        return True

    wait_for(overwrite, what="an overwrite to take the dead writer's path")
    assert fs.read_bytes("/dead/overwritten") == b"new"
    wait_for(lambda: healthy(fs, "/dead"), what="three good replicas of every block")


def test_a_namenode_killed_mid_recovery_finishes_it_after_restart(
    make_cluster: MakeCluster, connect: Connect, killed_writer: Callable[..., None]
) -> None:
    cluster = make_cluster(datanodes=3, lease_soft_limit=4.0)
    fs = connect(cluster)
    killed_writer(cluster, "/dead/f", 2)
    datanodes = [d.name for d in cluster._require().daemons if d.name.startswith("datanode-")]
    for name in datanodes:  # the recovery's primary will not hear of it before the crash
        cluster.kill(name, signal.SIGSTOP)
    try:
        assert fs.recover_lease("/dead/f") is False  # started, logged, not done
        cluster.kill("namenode", signal.SIGKILL)
    finally:
        for name in datanodes:
            cluster.kill(name, signal.SIGCONT)
    cluster.restart("namenode")
    cluster.wait_for_datanodes(3)
    # From its log the namenode knows the file is being recovered; nobody sees it yet, and
    # the dead writer's lease is gone for good.
    assert not fs.exists("/dead/f")
    wait_for(lambda: fs.recover_lease("/dead/f"), timeout=60, what="the recovery to finish")
    assert fs.read_bytes("/dead/f") == content(2)
    wait_for(lambda: healthy(fs, "/dead/f"), what="three good replicas of every block")


def test_a_file_whose_folder_is_renamed_while_it_is_written_keeps_every_byte(
    fs: FileSystem,
) -> None:
    base = "/renamed-mid-write"
    data = os.urandom(3 * BLOCK + 12_345)
    out = fs.create(f"{base}/a/f")
    out.write(data[: BLOCK + 5])  # one block is on the datanodes, the next one begun
    # The file itself is not there until it is closed: it cannot be moved by its path.
    with pytest.raises(FileNotFoundError_):
        fs.mv(f"{base}/a/f", f"{base}/a/g")
    fs.mv(f"{base}/a", f"{base}/b")
    out.write(data[BLOCK + 5 :])
    out.close()
    assert fs.read_bytes(f"{base}/b/f") == data
    assert not fs.exists(f"{base}/a/f") and not fs.exists(f"{base}/b/g")
    # The old path is free at once, not held for the hard limit.
    fs.write_bytes(f"{base}/a/f", b"again")
    assert fs.read_bytes(f"{base}/a/f") == b"again"


def test_bad_recovery_requests_to_a_datanode_change_nothing(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    path = "/recovery-bad-input/f"
    fs.write_bytes(path, b"x" * 5000)
    located = fs.blocks(path).blocks[0]
    block, url = located.block, located.locations[0].url
    base = f"{url}/dn/v1/blocks/{block.block_id}"
    auth = cluster_auth(cluster._require().token)
    newer = block.gen + 1_000_000
    with httpx.Client(timeout=30) as http:
        answers = [
            http.post(f"{base}/recover", params={"gen": block.gen, "length": 10}, auth=auth),
            http.post(f"{base}/recover", params={"gen": newer, "length": 5001}, auth=auth),
            http.post(f"{base}/recover", params={"gen": "x", "length": 10}, auth=auth),
            http.post(f"{base}/recover", params={"gen": newer, "length": -1}, auth=auth),
            http.post(
                f"{url}/dn/v1/blocks/9000000/recover", params={"gen": 5, "length": 1}, auth=auth
            ),
            http.post(f"{base}/recover", params={"gen": newer, "length": 10}),  # no token
            http.get(f"{url}/dn/v1/blocks/9000000/replica", auth=auth),
            http.get(f"{base}/replica"),  # no token
        ]
        replica = http.get(f"{base}/replica", auth=auth)
    assert [r.status_code for r in answers] == [400, 400, 400, 400, 404, 401, 404, 401]
    for r in answers:
        assert set(r.json()["RemoteException"]) >= {"exception", "javaClassName", "message"}
    assert replica.json() == {"block_id": block.block_id, "gen": block.gen, "length": 5000}
    assert fs.read_bytes(path) == b"x" * 5000


def test_truncate_cuts_on_a_boundary_at_once_and_inside_a_block_by_recovery(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    path = "/truncated/f"
    data = os.urandom(2 * BLOCK + 5000)
    fs.write_bytes(path, data)
    assert fs.truncate(path, len(data)) is True  # nothing to cut
    before = fs.blocks(path).blocks[1].block
    # Inside the second block: the datanodes cut it under a new stamp; -w waits.
    assert fs.truncate(path, BLOCK + 1234, wait=True) is True
    assert fs.read_bytes(path) == data[: BLOCK + 1234]
    cut = fs.blocks(path).blocks[1].block
    assert (cut.block_id, cut.length) == (before.block_id, 1234) and cut.gen > before.gen
    wait_for(lambda: healthy(fs, path), what="three good replicas of the cut block")
    with fs.append(path) as out:  # the file is the writer's again
        out.write(b"tail")
    assert fs.read_bytes(path) == data[: BLOCK + 1234] + b"tail"
    assert fs.truncate(path, BLOCK) is True  # on the boundary: at once
    assert fs.read_bytes(path) == data[:BLOCK]
    with pytest.raises(IllegalArgumentError, match="larger file size"):
        fs.truncate(path, BLOCK + 1)

    # The CLI, as `hdfs dfs -truncate -w`, and WebHDFS's TRUNCATE.
    done = run(cluster.directory, "fs", "truncate", "-w", "100", path)
    assert f"Truncated {path} to length: 100" in done.stdout
    info = cluster._require()
    r = httpx.post(
        f"{info.namenode}/webhdfs/v1{path}",
        params={"op": "TRUNCATE", "newlength": "60", "user.name": fs.user},
        auth=cluster_auth(info.token),
    )
    assert r.status_code == 200 and r.json() == {"boolean": False}
    fs.wait_closed(path)
    assert fs.read_bytes(path) == data[:60]
    wait_for(lambda: healthy(fs, path), what="three good replicas after the second cut")
