"""The DFS under failure: daemons killed, restarted, replicas rotted on disk."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from minihadoop.checksum import chunk_checksums
from minihadoop.errors import MiniHadoopError, SafeModeError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import cluster_auth, wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]
Connect = Callable[[LocalCluster], FileSystem]
FSYNC_GATE = Path(__file__).resolve().parent.parent / "fsyncgate"  # a sitecustomize


def replica_files(cluster: LocalCluster, block_id: int) -> dict[str, Path]:
    """datanode name -> the replica's data file, for every node holding one on disk."""
    found = {}
    for d in cluster._require().daemons:
        if d.name.startswith("datanode-"):
            path = Path(d.data_dir) / "current" / f"subdir{block_id % 64}" / f"blk_{block_id}"
            if path.exists():
                found[d.name] = path
    return found


def read_replica(path: Path) -> bytes | None:
    """A replica file's bytes, or None when its datanode deleted it since it was listed
    (the rotten replica is removed while the test polls)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def all_blocks_at(fs: FileSystem, path: str, replicas: int, avoid: set[str] = frozenset()) -> bool:
    report = fs.fsck(path)
    return all(
        b["live_replicas"] == replicas and not avoid & set(b["locations"])
        for f in report["files_detail"]
        for b in f["blocks"]
    )


def test_namenode_kill9_keeps_every_acknowledged_file(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    cluster = make_cluster(datanodes=3, checkpoint_every=7)  # checkpoints happen mid-run too
    fs = connect(cluster)
    acknowledged: dict[str, str] = {}
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        with FileSystem.from_cluster(cluster.directory) as client:
            i = 0
            while not stop.is_set():
                path, data = f"/acked/w{n}/f{i}", os.urandom(20_000 + 1000 * i)
                try:
                    client.write_bytes(path, data)
                except (MiniHadoopError, httpx.HTTPError):
                    continue  # not acknowledged: no promise made
                with lock:
                    acknowledged[path] = hashlib.sha256(data).hexdigest()
                i += 1

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(writer, n) for n in range(3)]
        wait_for(lambda: len(acknowledged) >= 30, what="30 files written")
        cluster.kill("namenode", signal.SIGKILL)
        stop.set()
        for f in futures:
            f.result()
    with lock:
        promised = dict(acknowledged)
    cluster.restart("namenode")
    cluster.wait_for_datanodes(3)
    for path, digest in promised.items():
        assert hashlib.sha256(fs.read_bytes(path)).hexdigest() == digest, path
    assert fs.fsck("/")["status"] == "HEALTHY"


def test_restarted_namenode_is_in_safe_mode_until_blocks_are_reported(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    cluster = make_cluster(datanodes=2, replication=2)
    fs = connect(cluster)
    fs.write_bytes("/safe/f", os.urandom(3 << 20))
    for name in ("datanode-0", "datanode-1"):
        cluster.kill(name)
    cluster.kill("namenode")
    cluster.restart("namenode")
    with pytest.raises(SafeModeError):
        fs.mkdir("/safe/blocked")
    assert fs.cluster()["safemode"] is True
    cluster.restart("datanode-0")
    wait_for(lambda: not fs.cluster()["safemode"], what="safe mode off after block reports")
    fs.mkdir("/safe/allowed")
    assert len(fs.read_bytes("/safe/f")) == 3 << 20


def test_dead_datanode_blocks_are_rereplicated(make_cluster: MakeCluster, connect: Connect) -> None:
    cluster = make_cluster(datanodes=4)
    fs = connect(cluster)
    data = os.urandom(6 << 20)
    fs.write_bytes("/rr/f", data)
    victim_url = fs.blocks("/rr/f").blocks[0].locations[0].url
    cluster.kill(cluster.daemon_at(victim_url).name, signal.SIGKILL)
    wait_for(lambda: fs.cluster()["dead"] == 1, what="datanode declared dead")
    wait_for(lambda: all_blocks_at(fs, "/rr", 3, {victim_url}), what="re-replication to 3")
    assert fs.read_bytes("/rr/f") == data


def test_returning_datanode_loses_its_excess_replicas(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    cluster = make_cluster(datanodes=4)
    fs = connect(cluster)
    fs.write_bytes("/back/f", os.urandom(4 << 20))
    victim = cluster.daemon_at(fs.blocks("/back/f").blocks[0].locations[0].url).name
    cluster.kill(victim)
    wait_for(lambda: all_blocks_at(fs, "/back", 3), what="re-replication while it is away")
    cluster.restart(victim)
    wait_for(lambda: fs.cluster()["live"] == 4, what="the node is back")
    # Its old replicas are reported again, making 4; the namenode trims back to 3.
    wait_for(lambda: all_blocks_at(fs, "/back", 3), what="excess replicas removed")
    block_ids = [b.block.block_id for b in fs.blocks("/back/f").blocks]
    wait_for(
        lambda: all(len(replica_files(cluster, b)) == 3 for b in block_ids),
        what="excess replica files deleted from disk",
    )


@pytest.mark.parametrize("gone", ["blk", "meta"])
def test_a_source_whose_replica_files_are_gone_does_not_stall_rereplication(
    make_cluster: MakeCluster, connect: Connect, gone: str
) -> None:
    cluster = make_cluster(datanodes=5)  # room for three good copies off both bad nodes
    fs = connect(cluster)
    data = os.urandom(1 << 20)
    fs.write_bytes("/src/f", data)
    located = fs.blocks("/src/f").blocks[0]
    block_id = located.block.block_id
    holders = sorted(located.locations, key=lambda n: n.id)
    # An idle namenode copies from the holder with the smallest id: break that one's files,
    # behind its datanode's back, then lose another holder so a copy is needed.
    broken, lost = holders[0], holders[-1]
    path = replica_files(cluster, block_id)[cluster.daemon_at(broken.url).name]
    (path if gone == "blk" else path.with_name(path.name + ".meta")).unlink()
    cluster.kill(cluster.daemon_at(lost.url).name, signal.SIGKILL)

    # The broken source reports its copy bad when it cannot send it, and the block is
    # copied from a good holder instead: three good replicas, none on the broken node.
    wait_for(
        lambda: all_blocks_at(fs, "/src", 3, {broken.url, lost.url}),
        timeout=60,
        what="three good replicas away from the broken and the lost node",
    )
    assert fs.read_bytes("/src/f") == data


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_corrupt_replica_is_never_served_and_is_replaced(
    make_cluster: MakeCluster, connect: Connect, damage: str
) -> None:
    cluster = make_cluster(datanodes=3)
    fs = connect(cluster)
    data = os.urandom(2 << 20)
    fs.write_bytes("/rot/f", data)
    first = fs.blocks("/rot/f").blocks[0]
    block_id = first.block.block_id
    # Rot the replica readers try first, so the read must detect it and fail over.
    victim = cluster.daemon_at(first.locations[0].url).name
    path = replica_files(cluster, block_id)[victim]
    with open(path, "r+b") as f:
        if damage == "flip":
            f.seek(1000)
            byte = f.read(1)
            f.seek(1000)
            f.write(bytes([byte[0] ^ 0xFF]))
        else:
            f.truncate(5000)
    # The datanode itself refuses to hand out a replica that is not its finalized length.
    if damage == "truncate":
        url = f"{first.locations[0].url}/dn/v1/blocks/{block_id}"
        raw = httpx.get(url, params={"token": first.token})  # as a reader without the cluster token
        assert raw.status_code == 409
        assert raw.json()["RemoteException"]["exception"] == "ChecksumException"

    def read_right_and_replaced() -> bool:
        # Readers pick replicas in random order: keep reading, every read must be right,
        # until some read has hit the rotten copy and the namenode has replaced it.
        assert fs.read_bytes("/rot/f") == data
        files = replica_files(cluster, block_id)
        good = [p for p in files.values() if read_replica(p) == data[: 1 << 20]]
        return len(good) == 3 and all_blocks_at(fs, "/rot", 3)

    wait_for(read_right_and_replaced, what="the rotten replica replaced by a good one")


def test_scanner_finds_rot_nobody_read(make_cluster: MakeCluster, connect: Connect) -> None:
    cluster = make_cluster(datanodes=3, scanner_interval=0.5)
    fs = connect(cluster)
    data = os.urandom(1 << 20)
    fs.write_bytes("/scan/f", data)
    block_id = fs.blocks("/scan/f").blocks[0].block.block_id
    path = next(iter(replica_files(cluster, block_id).values()))
    path.write_bytes(b"\0" * len(data))

    def repaired() -> bool:
        return read_replica(path) == data and all_blocks_at(fs, "/scan", 3)

    wait_for(repaired, what="scanner report and repair")


def test_write_goes_on_around_a_dead_pipeline_node(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    # Dead timeout long enough that the namenode still hands out the dead node.
    cluster = make_cluster(datanodes=3, dead_node_timeout=30.0)
    fs = connect(cluster)
    cluster.kill("datanode-1", signal.SIGKILL)
    data = os.urandom(5 << 20)
    fs.write_bytes("/pipe/f", data)  # every block's pipeline includes the dead node
    assert fs.read_bytes("/pipe/f") == data
    # Each block reached the two live nodes (their reports may trail the client's close).
    wait_for(lambda: all_blocks_at(fs, "/pipe", 2), what="two live replicas of every block")
    assert fs.fsck("/pipe")["status"] == "HEALTHY"


def test_unreachable_namenode_is_a_clear_error(tmp_path: Path) -> None:
    with (
        FileSystem("http://127.0.0.1:9", "t", retry_window=0) as fs,
        pytest.raises(MiniHadoopError, match="cannot reach"),
    ):
        fs.ls("/")


def test_decommissioned_node_is_drained_then_retired(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    cluster = make_cluster(datanodes=4)
    fs = connect(cluster)
    data = os.urandom(4 << 20)
    fs.write_bytes("/drain/f", data)
    victim = fs.blocks("/drain/f").blocks[0].locations[0].url
    assert fs.decommission(victim) == "DECOMMISSIONING"

    def retired() -> bool:
        states = {d["url"]: d["state"] for d in fs.cluster()["datanodes"]}
        return states[victim] == "DECOMMISSIONED" and all_blocks_at(fs, "/drain", 3, {victim})

    wait_for(retired, what="the node drained and retired")
    cluster.kill(cluster.daemon_at(victim).name)  # switching it off loses nothing
    assert fs.read_bytes("/drain/f") == data
    new = fs.write_bytes("/drain/g", b"x" * 5000)
    assert new is None and victim not in {
        loc.url for loc in fs.blocks("/drain/g").blocks[0].locations
    }


def test_full_datanode_gets_no_more_blocks_and_writes_go_on(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    # Random placement offers the small node its share; free-space placement would avoid it.
    cluster = make_cluster(datanodes=3, replication=3, placement="random")
    small = cluster.add_datanode(capacity="3M")
    cluster.wait_for_datanodes(4)
    fs = connect(cluster)
    written = {}
    for i in range(12):  # 12 MiB at replication 3 over 4 nodes: far more than 3 MiB each
        data = os.urandom(1 << 20)
        fs.write_bytes(f"/full/f{i}", data)
        written[f"/full/f{i}"] = data
    wait_for(lambda: all_blocks_at(fs, "/full", 3), what="every block at replication 3")
    node = next(d for d in fs.cluster()["datanodes"] if d["url"] == small.url)
    assert 0 < node["used"] <= 3 << 20  # it took what fit, then nothing more
    for path, data in written.items():
        assert fs.read_bytes(path) == data


def test_no_replica_is_deleted_before_the_edit_that_freed_it_is_durable(
    make_cluster: MakeCluster, connect: Connect, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A delete whose edit-log fsync hangs and then fails: while it hangs, heartbeats come
    and go but carry no delete command; when it fails the namenode stops, and restarted it
    still has the file, with every replica there to read it from."""
    cluster = make_cluster(datanodes=2, replication=2)
    fs = connect(cluster)
    data = os.urandom(300_000)
    fs.write_bytes("/kept", data)
    blocks = [b.block.block_id for b in fs.blocks("/kept").blocks]
    assert all(len(replica_files(cluster, b)) == 2 for b in blocks)

    gate = tmp_path / "gate"
    gate.mkdir()
    with monkeypatch.context() as env:  # only this namenode process gets the gate
        env.setenv(
            "PYTHONPATH", os.pathsep.join([str(FSYNC_GATE), os.environ.get("PYTHONPATH", "")])
        )
        env.setenv("FSYNC_GATE", str(gate))
        cluster.kill("namenode")
        cluster.restart("namenode")
    cluster.wait_for_datanodes(2)
    info = cluster._require()
    auth = cluster_auth(info.token)

    (gate / "stall").touch()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        deleting = pool.submit(
            httpx.delete,
            f"{info.namenode}/webhdfs/v1/kept?op=DELETE",
            auth=auth,
            timeout=60,
        )
        wait_for((gate / "stalled").exists, what="the delete's fsync to start")
        stalled_at = time.monotonic()

        def heartbeats_after_the_stall() -> bool:
            status = httpx.get(f"{info.namenode}/nn/v1/cluster", auth=auth, timeout=5).json()
            since = time.monotonic() - stalled_at
            # Each node's last heartbeat came a good while after the fsync began: several
            # heartbeat replies (every 0.2 s) went out while the edit was not durable.
            return all(since - d["last_heartbeat_age"] > 1.0 for d in status["datanodes"])

        wait_for(heartbeats_after_the_stall, what="heartbeats during the stalled fsync")
        assert all(len(replica_files(cluster, b)) == 2 for b in blocks)

        (gate / "fail").touch()
        (gate / "stall").unlink()
        namenode = cluster.daemon("namenode")
        wait_for(lambda: cluster._reap(namenode, 0.1), what="the namenode to stop")
        with pytest.raises(httpx.HTTPError):
            deleting.result()

    cluster.restart("namenode")
    cluster.wait_for_datanodes(2)
    assert fs.read_bytes("/kept") == data
    assert all(len(replica_files(cluster, b)) == 2 for b in blocks)


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, str], None]]:
    """Mounts a tmpfs of a given size (a real file system that fills up) on a folder; all
    unmounted when the test ends. Needs root, as the partition tests do."""
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> None:
        where.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True
        )
        mounted.append(where)

    yield mount
    for where in reversed(mounted):  # lazily: a datanode may still hold it open
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    """Write to `disk` until it is full; the file that filled it."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (4 << 10))
        except OSError:
            pass
    return filler


def test_a_disk_that_fills_mid_write_is_a_clear_error_and_leaves_no_replica(
    make_cluster: MakeCluster, small_disk: Callable[[Path, str], None]
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    disk = cluster.directory / "datanode-1"
    small_disk(disk, "4m")
    cluster.add_datanode(index=1)
    cluster.wait_for_datanodes(2)
    url, auth = cluster.daemon("datanode-1").url, cluster_auth(cluster._require().token)
    data, bpc, block_id = os.urandom(3 << 20), 4096, 7_900_000_001
    body = data + chunk_checksums(data, bpc)

    def received() -> int:
        return sum(p.stat().st_size for p in (disk / "tmp").glob(f"blk_{block_id}*"))

    def upload() -> Iterator[bytes]:
        yield body[: 1 << 20]
        # The datanode accepted the block (it fitted) and has begun writing it: now the disk
        # fills up under it, as when another writer takes the space.
        wait_for(lambda: received() >= 512 << 10, what="the upload to reach the disk")
        fill(disk)
        for i in range(1 << 20, len(body), 256 << 10):
            yield body[i : i + 256 << 10]

    r = httpx.put(
        f"{url}/dn/v1/blocks/{block_id}",
        params={"gen": 0, "length": len(data), "bpc": bpc},
        content=upload(),
        auth=auth,
        timeout=60,
    )
    assert r.status_code == 403, r.text
    error = r.json()["RemoteException"]
    assert error["exception"] == "DiskOutOfSpaceException", error
    assert str(disk) not in error["message"] and "tmp" not in error["message"], error
    assert list(disk.glob(f"*/blk_{block_id}*")) == []
    assert list(disk.glob(f"current/*/blk_{block_id}*")) == []
    log = Path(cluster.daemon("datanode-1").log).read_text()
    assert "Traceback" not in log
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_stray_files_in_a_datanodes_storage_are_skipped_with_a_warning(
    make_cluster: MakeCluster, connect: Connect
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    fs = connect(cluster)
    data = os.urandom(100_000)
    fs.write_bytes("/kept", data)
    current = Path(cluster.daemon("datanode-0").data_dir) / "current"
    strays = [
        current / "notes.txt",
        current / "subdir3" / "blk_old",  # an operator's backup of a replica, say
        current / "subdir3" / "blk_old.meta",
        current / "subdir5" / "blk_12.bak",
        current / "subdir7" / "README",
    ]
    for p in strays:
        p.parent.mkdir(exist_ok=True)
        p.write_text("not a replica")
    cluster.kill("datanode-0")
    cluster.restart("datanode-0")
    cluster.wait_for_datanodes(1)
    assert fs.read_bytes("/kept") == data
    log = Path(cluster.daemon("datanode-0").log).read_text()
    for p in strays:
        assert p.read_text() == "not a replica"  # not ours to delete
        assert f"skipping {p}" in log
