"""The journal (namenode.journal) and checkpoints (namenode.checkpoint) on real files:
whatever was synced comes back after a restart, through images and edit segments."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from namenode import checkpoint
from namenode import commands as c
from namenode.editlog import EditLogCorruptError, encode, segment_name, segments
from namenode.journal import Journal
from namenode.namespace import Namespace

BLOCK = 1024
T0 = 1_700_000_000_000


def image(ns: Namespace) -> dict[str, Any]:
    return checkpoint.dump(ns, 0)


def file_commands(ns: Namespace, path: str, i: int) -> list[c.NamespaceCommand]:
    """The commands that write a one-block file (its ids are allocated in apply)."""
    return [
        c.StartFile(path, "w", T0 + i, "alice", "g", 3, BLOCK),
        c.AddBlock(path, "w"),
        c.CompleteFile(path, "w", T0 + i, 10 + i),
    ]


OPENED: list[Journal] = []


@pytest.fixture(autouse=True)
def close_journals() -> Iterator[None]:
    """Tests leave journals open to play a crash (what was not synced is lost when the
    next one opens); their files are closed afterwards."""
    yield
    while OPENED:
        journal = OPENED.pop()
        if journal._log is not None:
            journal._log._file.close()


def open_journal(directory: Path, checkpoint_every: int = 1000) -> tuple[Namespace, Journal]:
    journal = Journal(directory, checkpoint_every=checkpoint_every)
    ns = journal.open()
    OPENED.append(journal)
    return ns, journal


class Namenode:
    """Drives a journal the way the namesystem does: apply, log, checkpoint when due;
    sync before answering."""

    def __init__(self, directory: Path, checkpoint_every: int = 1000) -> None:
        self.ns, self.journal = open_journal(directory, checkpoint_every)
        self.checkpoints = 0

    def do(self, cmd: c.NamespaceCommand) -> int:
        self.ns.apply(cmd)
        txid = self.journal.log(cmd)
        if self.journal.checkpoint_due():
            self.journal.checkpoint(self.ns)
            self.checkpoints += 1
        self.journal.sync(txid)
        return txid

    def mkdir(self, i: int) -> int:
        return self.do(c.Mkdirs(f"/dir{i}", T0 + i, "alice", "g"))

    def write_file(self, path: str, i: int) -> None:
        for cmd in file_commands(self.ns, path, i):
            self.do(cmd)


def reopen(directory: Path) -> tuple[Namespace, Journal]:
    return open_journal(directory)


def image_txids(directory: Path) -> list[int]:
    return [txid for txid, _ in checkpoint.images(directory)]


# --------------------------------------------------------------------------- journal


def test_a_fresh_folder_opens_as_an_empty_namespace(tmp_path: Path) -> None:
    directory = tmp_path / "name" / "current"
    ns, journal = open_journal(directory)
    assert image(ns) == image(Namespace())
    assert journal.replayed == 0
    assert [first for first, _ in segments(directory)] == [1]


def test_synced_edits_survive_a_restart(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    for i in range(5):
        nn.mkdir(i)
    nn.write_file("/dir0/f", 5)
    # No close: a crash right after the last answer.
    ns, journal = reopen(tmp_path)
    assert image(ns) == image(nn.ns)
    assert journal.replayed == 8
    assert ns.status("/dir0/f").length == 15


def test_edits_never_synced_are_lost_on_a_crash(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    nn.mkdir(1)
    acknowledged = image(nn.ns)
    cmd = c.Mkdirs("/unsynced", T0, "alice", "g")
    nn.ns.apply(cmd)
    nn.journal.log(cmd)  # logged but never synced: the client was never answered
    ns, _ = reopen(tmp_path)
    assert image(ns) == acknowledged


def test_open_after_a_checkpoint_and_more_edits_restores_the_same_namespace(
    tmp_path: Path,
) -> None:
    nn = Namenode(tmp_path)
    for i in range(4):
        nn.mkdir(i)
    nn.journal.checkpoint(nn.ns)
    assert image_txids(tmp_path) == [4]
    nn.write_file("/dir1/f", 1)
    nn.do(c.Rename("/dir2", "/dir1/moved", T0))
    start = c.StartFile("/dir3/open", "w2", T0, "alice", "g", 2, BLOCK)
    nn.do(start)  # a file still being written is part of the namespace too
    nn.do(c.AddBlock("/dir3/open", "w2"))

    ns, journal = reopen(tmp_path)
    assert image(ns) == image(nn.ns)
    assert journal.replayed == 6  # only what came after the image
    assert "/dir3/open" in ns.under_construction
    # The restored namespace goes on where the old one stopped: same ids next.
    assert (ns.last_block_id, ns.last_gen) == (nn.ns.last_block_id, nn.ns.last_gen)


def test_journal_with_checkpoint_every_5_checkpoints_on_its_own(tmp_path: Path) -> None:
    nn = Namenode(tmp_path, checkpoint_every=5)
    for i in range(12):
        nn.mkdir(i)
    assert nn.checkpoints == 2
    assert image_txids(tmp_path) == [5, 10]
    assert [first for first, _ in segments(tmp_path)] == [6, 11]  # 1..5 are in both images
    ns, journal = reopen(tmp_path)
    assert image(ns) == image(nn.ns)
    assert journal.replayed == 2


def test_checkpoint_purge_keeps_the_two_newest_images_and_the_edits_they_need(
    tmp_path: Path,
) -> None:
    nn = Namenode(tmp_path, checkpoint_every=3)
    for i in range(14):
        nn.mkdir(i)
    assert image_txids(tmp_path) == [9, 12]
    # Segments from the older kept image on: 10..12 and 13..
    assert [first for first, _ in segments(tmp_path)] == [10, 13]
    assert not list(tmp_path.glob("*.tmp"))
    ns, _ = reopen(tmp_path)
    assert image(ns) == image(nn.ns)


def test_a_damaged_newest_image_falls_back_to_the_one_before(tmp_path: Path) -> None:
    nn = Namenode(tmp_path, checkpoint_every=4)
    for i in range(10):
        nn.mkdir(i)
    newest = checkpoint.images(tmp_path)[-1][1]
    newest.write_text(newest.read_text()[:-20])  # cut short
    ns, journal = reopen(tmp_path)
    assert image(ns) == image(nn.ns)
    assert journal.replayed == 6  # from the image at 4


def test_close_checkpoints_what_was_logged_since_the_last_one(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    for i in range(3):
        nn.mkdir(i)
    nn.journal.close(nn.ns)
    assert image_txids(tmp_path) == [3]
    ns, journal = reopen(tmp_path)
    assert journal.replayed == 0
    assert image(ns) == image(nn.ns)
    journal.close(ns)  # nothing new: no new image
    assert image_txids(tmp_path) == [3]


def test_a_torn_tail_is_dropped_and_the_journal_goes_on(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    for i in range(3):
        nn.mkdir(i)
    synced = image(nn.ns)
    last = segments(tmp_path)[-1][1]
    with open(last, "ab") as f:  # the namenode died half-way through writing record 4
        f.write(encode(4, c.to_record(c.Mkdirs("/torn", T0, "a", "g")))[:15])

    second = Namenode(tmp_path)
    assert image(second.ns) == synced
    second.mkdir(99)
    after = image(second.ns)
    ns, _ = reopen(tmp_path)
    assert image(ns) == after


def test_a_missing_segment_is_reported_not_skipped(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    for i in range(3):
        nn.mkdir(i)
    nn.journal.log_.roll()
    for i in range(3, 6):
        nn.mkdir(i)
    nn.journal.log_.roll()
    nn.mkdir(6)
    (tmp_path / segment_name(4)).unlink()
    with pytest.raises(EditLogCorruptError, match=r"expected transaction 4, found 7"):
        reopen(tmp_path)


def test_corruption_in_the_middle_stops_the_start(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    for i in range(5):
        nn.mkdir(i)
    path = segments(tmp_path)[0][1]
    data = bytearray(path.read_bytes())
    data[12] ^= 1  # inside the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(EditLogCorruptError, match=rf"{path.name} is corrupt at offset 0"):
        reopen(tmp_path)


def test_a_record_that_does_not_replay_stops_the_start_naming_it(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    nn.mkdir(1)
    log = nn.journal.log_
    # Written behind the namespace's back: an unknown command, then one that fails.
    log.sync(log.append({"op": "Defragment", "path": "/"}))
    with pytest.raises(EditLogCorruptError, match="transaction 2 does not replay: not a names"):
        reopen(tmp_path)


def test_a_logged_command_that_fails_on_replay_is_reported(tmp_path: Path) -> None:
    nn = Namenode(tmp_path)
    log = nn.journal.log_
    log.sync(log.append(c.to_record(c.Rename("/missing", "/b", T0))))
    with pytest.raises(EditLogCorruptError, match="transaction 1 does not replay: File does"):
        reopen(tmp_path)


def test_the_journal_must_be_opened_first(tmp_path: Path) -> None:
    journal = Journal(tmp_path, checkpoint_every=5)
    with pytest.raises(AssertionError, match="open"):
        journal.log(c.Mkdirs("/a", T0, "a", "g"))
    journal.close()  # closing an unopened journal is harmless


# --------------------------------------------------------------------------- checkpoint files


def test_save_writes_an_image_atomically_and_load_newest_reads_it(tmp_path: Path) -> None:
    ns = Namespace()
    for i, cmd in enumerate(
        [c.Mkdirs("/a/b", T0, "alice", "g"), *file_commands(ns, "/a/f", 1)], start=1
    ):
        ns.apply(cmd)
        if i == 3:  # a file being written is saved too
            checkpoint.save(tmp_path, ns, 3)
    path = checkpoint.save(tmp_path, ns, 4)
    assert path.name == "fsimage_00000000000000000004.json"
    assert not list(tmp_path.glob("*.tmp"))
    data = json.loads(path.read_text())
    assert data["txid"] == 4
    loaded = checkpoint.load_newest(tmp_path)
    assert loaded is not None
    assert (image(loaded[0]), loaded[1]) == (image(ns), 4)
    older, txid = checkpoint.load(json.loads((tmp_path / checkpoint.image_name(3)).read_text()))
    assert txid == 3
    assert list(older.under_construction) == ["/a/f"]
    assert older.block_owner[1] is older.under_construction["/a/f"].file
    # A block of a file still being written in the image is not complete once loaded.
    assert not older.is_complete_block(1) and loaded[0].is_complete_block(1)


def test_save_leaves_the_garbage_collector_as_it_found_it(tmp_path: Path) -> None:
    """save() turns cyclic collection off while it builds the image (for speed): it must
    turn it back on, and not turn it on when the caller had it off."""
    ns = Namespace()
    assert gc.isenabled()
    checkpoint.save(tmp_path, ns, 1)
    assert gc.isenabled()
    gc.disable()
    try:
        checkpoint.save(tmp_path, ns, 2)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_load_newest_with_no_readable_image_is_none(tmp_path: Path) -> None:
    assert checkpoint.load_newest(tmp_path) is None
    (tmp_path / checkpoint.image_name(3)).write_text("{not json")
    (tmp_path / checkpoint.image_name(5)).write_text('{"version": 1}')
    good = checkpoint.dump(Namespace(), 7)
    for txid, root in ((7, ["F", 1, 0, 0, "o", "g", "644", 3, 1024, []]), (8, ["D", 1])):
        (tmp_path / checkpoint.image_name(txid)).write_text(json.dumps({**good, "root": root}))
    assert checkpoint.load_newest(tmp_path) is None


def test_purge_removes_leftover_temporary_images(tmp_path: Path) -> None:
    ns = Namespace()
    (tmp_path / "fsimage_00000000000000000009.tmp").write_text("half")
    checkpoint.save(tmp_path, ns, 1)
    checkpoint.purge(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [checkpoint.image_name(1)]
