"""A namenode restarted on its name folder comes back with every acknowledged change: after
a clean stop (from its snapshot) and after a crash (its log replayed), with refused
commands in the log changing nothing on replay, and ids going on where they stopped."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import crc32c
import pytest

from minihadoop.config import Settings
from minihadoop.errors import FileAlreadyExistsError, MiniHadoopError
from minihadoop.models import AddBlockRequest, Block, CompleteRequest, CreateRequest
from namenode import checkpoint
from namenode import commands as c
from namenode.namespace import Namespace
from namenode.namesystem import Namesystem
from tests.support import register_datanodes, wait_for


def start(name: Path, **settings: object) -> Namesystem:
    system = Namesystem(name, Settings(token="t", replication=1, **settings))  # type: ignore[arg-type]
    register_datanodes(system, "dn1")
    return system


def write(system: Namesystem, path: str, length: int) -> Block:
    system.create(CreateRequest(path=path, client="w"), "alice")
    located = system.add_block(AddBlockRequest(path=path, client="w"), None)
    last = located.block.model_copy(update={"length": length})
    system.complete(CompleteRequest(path=path, client="w", last=last))
    return last


def busy(system: Namesystem) -> None:
    system.mkdirs("/a/b", "alice")
    for i in range(5):
        write(system, f"/a/f{i}", 10 + i)
    system.rename("/a/f0", "/a/b/g")
    with pytest.raises(FileAlreadyExistsError):  # refused: in the log, changes nothing
        system.create(CreateRequest(path="/a/f1", client="w2"), "alice")
    system.delete("/a/f2", recursive=False, skip_trash=True, user="alice")
    system.create(CreateRequest(path="/a/open/x", client="w3"), "alice")  # makes /a/open
    system.add_block(AddBlockRequest(path="/a/open/x", client="w3"), None)


@pytest.mark.parametrize("clean", [True, False], ids=["clean stop", "crash"])
def test_a_restart_restores_the_namespace_and_goes_on_with_fresh_ids(
    tmp_path: Path, clean: bool
) -> None:
    first = start(tmp_path / "name", safemode_threshold=0)
    busy(first)
    image = checkpoint.dump(first.ns, 0)
    ids = (first.ns.last_inode_id, first.ns.last_block_id, first.ns.last_gen)
    if clean:
        first.close()  # snapshots
    else:
        first.host.stop()  # no snapshot: the log is all there is
        first.storage.close()

    second = start(tmp_path / "name", safemode_threshold=0)
    assert checkpoint.dump(second.ns, 0) == image
    assert (second.ns.last_inode_id, second.ns.last_block_id, second.ns.last_gen) == ids
    assert "/a/open/x" in second.ns.under_construction
    block = write(second, "/a/new", 3)
    assert block.block_id == ids[1] + 1
    second.close()


def test_a_restart_replays_past_many_snapshots(tmp_path: Path) -> None:
    first = start(tmp_path / "name", safemode_threshold=0, checkpoint_every=7)
    for i in range(40):
        first.mkdirs(f"/d{i}", "alice")
    image = checkpoint.dump(first.ns, 0)
    # Snapshots are built off the loop, from the last one and the entries since: the
    # restart must come back from one of them, not from the log alone.
    wait_for(lambda: first.host.status.first_index > 35, what="a snapshot of the last edits")
    first.host.stop()
    first.storage.close()
    second = start(tmp_path / "name", safemode_threshold=0, checkpoint_every=7)
    assert checkpoint.dump(second.ns, 0) == image
    second.close()


def old_segment(first_txid: int, records: list[dict[str, object]]) -> bytes:
    """Records framed as an earlier version's edit log wrote them."""
    out = b""
    for i, record in enumerate(records):
        payload = json.dumps({"txid": first_txid + i, **record}, separators=(",", ":")).encode()
        out += struct.pack("<II", len(payload), crc32c.crc32c(payload)) + payload
    return out


def test_a_name_folder_of_an_earlier_version_is_carried_forward(tmp_path: Path) -> None:
    """An earlier version's fsimage and edit log (ids chosen before logging) become the
    first snapshot, the old files are kept in previous/, and the ids go on where they
    stopped."""
    name = tmp_path / "name"
    name.mkdir()
    before = Namespace()
    before.apply(c.Mkdirs("/data", 1, "alice", "g"))
    (name / "fsimage_00000000000000000001.json").write_text(json.dumps(checkpoint.dump(before, 1)))
    records: list[dict[str, object]] = [
        {"op": "StartFile", "path": "/data/f", "client": "w", "mtime": 2, "owner": "alice",
         "group": "g", "replication": 1, "block_size": 1024},
        {"op": "AddBlock", "path": "/data/f", "client": "w", "block_id": 1, "gen": 1001,
         "previous_length": None},
        {"op": "AddBlock", "path": "/data/f", "client": "w", "block_id": 2, "gen": 1002,
         "previous_length": 1024},
        {"op": "CompleteFile", "path": "/data/f", "client": "w", "mtime": 3, "last_length": 7},
        {"op": "StartFile", "path": "/data/open", "client": "w2", "mtime": 4, "owner": "bob",
         "group": "g", "replication": 1, "block_size": 1024},
        {"op": "AddBlock", "path": "/data/open", "client": "w2", "block_id": 3, "gen": 1003},
        {"op": "ReassignLease", "file_id": 4, "holder": "HDFS_NameNode", "gen": 1004},
    ]  # fmt: skip
    torn = old_segment(9, [{"op": "Mkdirs", "path": "/torn"}])[:-3]  # a write cut short
    (name / "edits_00000000000000000002.log").write_bytes(old_segment(2, records) + torn)

    system = start(name, safemode_threshold=0)
    status, blocks = system.ns.file_blocks("/data/f")
    assert status.length == 1024 + 7
    assert [(b.block_id, b.gen) for b in blocks] == [(1, 1001), (2, 1002)]
    pending = system.ns.under_construction["/data/open"]
    assert pending.client == "HDFS_NameNode" and pending.file.blocks[-1].gen == 1004
    assert system.ns.lookup("/torn") is None
    assert sorted(p.name for p in (name / "previous").iterdir()) == [
        "edits_00000000000000000002.log",
        "fsimage_00000000000000000001.json",
    ]
    assert not list(name.glob("edits_*")) and not list(name.glob("fsimage_*"))
    block = write(system, "/data/new", 3)
    assert (block.block_id, block.gen) == (4, 1005)  # the old ids go on
    image = checkpoint.dump(system.ns, 0)
    system.close()
    again = start(name, safemode_threshold=0)
    assert checkpoint.dump(again.ns, 0) == image
    again.close()


def test_a_damaged_journal_of_an_earlier_version_is_refused_naming_the_place(
    tmp_path: Path,
) -> None:
    name = tmp_path / "name"
    name.mkdir()
    good = old_segment(1, [{"op": "Mkdirs", "path": f"/d{i}", "mtime": 1, "owner": "a",
                             "group": "g"} for i in range(3)])  # fmt: skip
    rotten = bytearray(good)
    rotten[20] ^= 0xFF  # inside the first record: good records follow, so not a torn tail
    (name / "edits_00000000000000000001.log").write_bytes(bytes(rotten))
    with pytest.raises(MiniHadoopError, match=r"edits_00000000000000000001\.log is corrupt at"):
        Namesystem(name, Settings(token="t"))
    assert (name / "edits_00000000000000000001.log").exists()  # left as it was
