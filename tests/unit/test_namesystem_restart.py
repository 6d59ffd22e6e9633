"""A namenode restarted on its name folder comes back with every acknowledged change: after
a clean stop (from its snapshot) and after a crash (its log replayed), with refused
commands in the log changing nothing on replay, and ids going on where they stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from minihadoop.config import Settings
from minihadoop.errors import FileAlreadyExistsError, MiniHadoopError
from minihadoop.models import AddBlockRequest, Block, CompleteRequest, CreateRequest
from namenode import checkpoint
from namenode.namesystem import Namesystem
from tests.support import register_datanodes


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
    first.host.stop()
    first.storage.close()
    second = start(tmp_path / "name", safemode_threshold=0, checkpoint_every=7)
    assert checkpoint.dump(second.ns, 0) == image
    second.close()


def test_a_name_folder_in_the_old_journal_format_is_refused_clearly(tmp_path: Path) -> None:
    name = tmp_path / "name"
    name.mkdir()
    (name / "edits_00000000000000000001.log").write_bytes(b"")
    with pytest.raises(MiniHadoopError, match="old journal format"):
        Namesystem(name, Settings(token="t"))
