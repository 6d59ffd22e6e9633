"""The namespace (namenode.namespace): commands in, state and effects out, no I/O.

Every failing command must leave the namespace exactly as it was (compared through
`checkpoint.dump`): a refused command is still in the log, applied on every replica and on
every replay, and its refusal must change nothing anywhere.
"""

from __future__ import annotations

import base64
import json
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minihadoop import paths
from minihadoop.errors import (
    AccessControlError,
    AlreadyBeingCreatedError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    InvalidPathError,
    LeaseExpiredError,
    MiniHadoopError,
    ParentNotDirectoryError,
    PathIsNotEmptyDirectoryError,
)
from minihadoop.models import FileType
from namenode import checkpoint
from namenode import commands as c
from namenode.leases import RECOVERY_HOLDER
from namenode.namespace import Directory, File, Namespace

BLOCK = 1024
T0 = 1_700_000_000_000
TRASH = "/user/alice/.Trash/Current"


# --------------------------------------------------------------------------- helpers


def image(ns: Namespace) -> dict[str, Any]:
    return checkpoint.dump(ns, 0)


def mkdirs(ns: Namespace, path: str, mtime: int = T0, permission: str = "755") -> None:
    ns.apply(c.Mkdirs(path, mtime, "alice", "supergroup", permission))


def start(
    ns: Namespace,
    path: str,
    client: str = "w1",
    *,
    overwrite: bool = False,
    replication: int = 3,
    mtime: int = T0,
) -> int:
    cmd = c.StartFile(path, client, mtime, "alice", "supergroup", replication, BLOCK, overwrite)
    result = ns.apply(cmd).result
    assert isinstance(result, int)
    return result


def add_block(ns: Namespace, path: str, client: str = "w1", previous: int | None = None) -> int:
    block_id, _ = ns.apply(c.AddBlock(path, client, previous)).result
    assert isinstance(block_id, int)
    return block_id


def reassign(ns: Namespace, fid: int) -> int:
    """Take file `fid` for recovery; the recovery's new generation stamp."""
    _, gen = ns.apply(c.ReassignLease(fid, RECOVERY_HOLDER)).result
    assert isinstance(gen, int)
    return gen


def complete(
    ns: Namespace, path: str, client: str = "w1", last: int | None = None, mtime: int = T0
) -> list[int]:
    return ns.apply(c.CompleteFile(path, client, mtime, last)).removed_blocks


def write(
    ns: Namespace,
    path: str,
    lengths: list[int],
    client: str = "w1",
    *,
    overwrite: bool = False,
    replication: int = 3,
    mtime: int = T0,
) -> list[int]:
    """Write a whole file of blocks with `lengths`; the ids of its blocks."""
    start(ns, path, client, overwrite=overwrite, replication=replication, mtime=mtime)
    ids: list[int] = []
    previous: int | None = None
    for length in lengths:
        ids.append(add_block(ns, path, client, previous))
        previous = length
    complete(ns, path, client, previous, mtime=mtime)
    return ids


def fails_unchanged(ns: Namespace, cmd: c.NamespaceCommand, error: type[Exception]) -> str:
    """Apply `cmd`, expecting `error` and no change at all; the error's message."""
    before = image(ns)
    with pytest.raises(error) as info:
        ns.apply(cmd)
    assert image(ns) == before, f"{cmd} failed but changed the namespace"
    check_invariants(ns)
    return str(info.value)


def names(ns: Namespace, path: str) -> list[str]:
    return [paths.name(s.path) for s in ns.listing(path)]


def check_invariants(ns: Namespace) -> None:
    """What must hold between any two commands."""
    inode_ids: list[int] = []
    owners: dict[int, File] = {}
    files: list[File] = []
    folders = 0
    for path, node in ns.walk("/"):
        inode_ids.append(node.id)
        if isinstance(node, File):
            files.append(node)
        else:
            folders += 1
            assert path == "/" or ns.lookup(path) is node
    # The counts the metrics report are kept as the tree changes: they match a walk.
    assert (ns.files, ns.folders) == (len(files), folders), "the file and folder counts drifted"
    # So is what each quota's folder holds: it matches a fresh count of its tree.
    for path, node in ns.walk("/"):
        quota = ns.quotas.get(node.id)
        if quota is not None:
            assert (quota.used_names, quota.used_space) == ns.charge(path), (
                f"{path}'s quota drifted"
            )
    live = {node.id for _, node in ns.walk("/") if isinstance(node, Directory)}
    assert set(ns.quotas) <= live, "a quota outlived its folder"
    # A truncate's recovery rewrites its file's last block: that block is the rewrite's.
    shared: dict[int, File] = {}
    for path, pending in ns.under_construction.items():
        assert pending.path == path
        assert ns.pending_by_id(pending.file.id) is pending, f"{path} is not found by its id"
        files.append(pending.file)
        parent = ns.lookup(paths.parent(path))
        assert isinstance(parent, Directory), f"{path} is being written in no folder"
        existing = ns.lookup(path)
        if pending.append_to is not None:  # an append (or a truncate): of the file there
            assert existing is pending.append_to and pending.file.id == existing.id
            if pending.truncating_to is not None:
                shared[pending.file.blocks[-1].block_id] = pending.file
            continue
        inode_ids.append(pending.file.id)
        assert not isinstance(existing, Directory), f"{path} is a folder and a file"
        assert existing is None or pending.overwrite, f"{path} cannot be completed"
    for f in files:
        for b in f.blocks:
            if b.block_id in shared:
                owners[b.block_id] = shared[b.block_id]
                continue
            assert b.block_id not in owners, f"block {b.block_id} belongs to two files"
            owners[b.block_id] = f
            assert 0 < b.block_id <= ns.last_block_id
            assert b.gen <= ns.last_gen
            assert 0 <= b.length <= f.block_size
    assert len(inode_ids) == len(set(inode_ids)), "inode ids are not unique"
    assert max(inode_ids) <= ns.last_inode_id
    assert set(ns.block_owner) == set(owners)
    assert all(ns.block_owner[b] is f for b, f in owners.items())
    # is_complete_block keeps its own record of the files being written; it must agree.
    writing = [p.file for p in ns.under_construction.values()]
    for b, f in owners.items():
        assert ns.is_complete_block(b) == all(f is not w for w in writing)
    assert set(ns.complete_block_ids()) == {b for b in owners if ns.is_complete_block(b)}


@pytest.fixture
def ns() -> Namespace:
    return Namespace(now=T0)


# --------------------------------------------------------------------------- mkdirs


def test_new_namespace_has_only_the_root(ns: Namespace) -> None:
    root = ns.status("/")
    assert root.type is FileType.DIRECTORY
    assert root.children_num == 0
    assert ns.listing("/") == []
    assert [p for p, _ in ns.walk()] == ["/"]


def test_mkdirs_creates_every_missing_parent(ns: Namespace) -> None:
    mkdirs(ns, "/a/b/c", mtime=T0 + 5, permission="750")
    for path in ("/a", "/a/b", "/a/b/c"):
        status = ns.status(path)
        assert status.is_dir
        assert status.modification_time == T0 + 5
        assert status.permission == "750"
        assert status.owner == "alice"
    assert ns.status("/").modification_time == T0 + 5
    check_invariants(ns)


def test_mkdirs_on_an_existing_folder_succeeds_and_changes_nothing(ns: Namespace) -> None:
    mkdirs(ns, "/a/b")
    before = image(ns)
    assert ns.apply(c.Mkdirs("/a/b", T0 + 9, "bob", "staff")).result is True
    assert ns.apply(c.Mkdirs("/", T0 + 9, "bob", "staff")).result is True
    assert image(ns) == before


def test_mkdirs_over_or_under_a_file_fails(ns: Namespace) -> None:
    write(ns, "/f", [10])
    fails_unchanged(ns, c.Mkdirs("/f", T0, "a", "g"), FileAlreadyExistsError)
    fails_unchanged(ns, c.Mkdirs("/f/sub/deeper", T0, "a", "g"), ParentNotDirectoryError)


def test_mkdirs_on_or_under_a_file_being_written_fails(ns: Namespace) -> None:
    start(ns, "/f")
    fails_unchanged(ns, c.Mkdirs("/f", T0, "a", "g"), FileAlreadyExistsError)
    # A folder under it would turn /f into a folder before the writer completes the file.
    fails_unchanged(ns, c.Mkdirs("/f/sub", T0, "a", "g"), FileAlreadyExistsError)


# --------------------------------------------------------------------------- create, write


def test_a_file_being_written_is_invisible_until_complete(ns: Namespace) -> None:
    mkdirs(ns, "/d")
    inode = start(ns, "/d/f", mtime=T0 + 1)
    first = add_block(ns, "/d/f")
    second = add_block(ns, "/d/f", previous=BLOCK)
    for query in (ns.status, ns.file_blocks):
        with pytest.raises(FileNotFoundError_):
            query("/d/f")
    assert ns.listing("/d") == []
    assert ns.status("/d").children_num == 0
    assert ns.content_summary("/d").file_count == 0
    assert not ns.is_complete_block(first)
    assert set(ns.complete_block_ids()) == set()

    assert complete(ns, "/d/f", last=100, mtime=T0 + 2) == []

    status, blocks = ns.file_blocks("/d/f")
    assert status.type is FileType.FILE
    assert status.file_id == inode
    assert status.length == BLOCK + 100
    assert status.modification_time == status.access_time == T0 + 2
    assert (status.replication, status.block_size) == (3, BLOCK)
    assert [(b.block_id, b.length) for b in blocks] == [(first, BLOCK), (second, 100)]
    assert names(ns, "/d") == ["f"]
    assert ns.status("/d").modification_time == T0 + 2
    assert ns.is_complete_block(first) and ns.is_complete_block(second)
    assert set(ns.complete_block_ids()) == {first, second}
    check_invariants(ns)


def test_create_needs_an_existing_parent_folder(ns: Namespace) -> None:
    cmd = c.StartFile("/no/f", "w1", T0, "alice", "g", 3, BLOCK)
    fails_unchanged(ns, cmd, FileNotFoundError_)
    write(ns, "/file", [1])
    cmd = c.StartFile("/file/f", "w1", T0, "a", "g", 3, BLOCK)
    assert fails_unchanged(ns, cmd, ParentNotDirectoryError).endswith(": /file")


def test_create_with_parents_is_one_command(ns: Namespace) -> None:
    fid = ns.apply(c.StartFile("/a/b/f", "w1", T0, "bob", "g", 3, BLOCK, create_parent=True))
    assert ns.under_construction["/a/b/f"].file.id == fid.result
    folder = ns.status("/a/b")
    assert (folder.owner, folder.permission, folder.modification_time) == ("bob", "755", T0)
    # Refused as a whole: below a file, or below a file being written, nothing is made.
    write(ns, "/file", [1])
    cmd = c.StartFile("/file/x/f", "w1", T0, "a", "g", 3, BLOCK, create_parent=True)
    fails_unchanged(ns, cmd, ParentNotDirectoryError)
    start(ns, "/open", "w2")
    cmd = c.StartFile("/open/x/f", "w1", T0, "a", "g", 3, BLOCK, create_parent=True)
    fails_unchanged(ns, cmd, FileAlreadyExistsError)
    check_invariants(ns)


def test_parent_not_folder_names_the_file_in_the_way(ns: Namespace) -> None:
    mkdirs(ns, "/a/b")
    write(ns, "/a/b/a", [1])  # a name that also appears higher up the path
    cmd = c.StartFile("/a/b/a/x", "w1", T0, "alice", "g", 3, BLOCK)
    message = fails_unchanged(ns, cmd, ParentNotDirectoryError)
    assert message.endswith(": /a/b/a")


def test_files_are_write_once(ns: Namespace) -> None:
    write(ns, "/f", [10])
    cmd = c.StartFile("/f", "w2", T0, "alice", "g", 3, BLOCK)
    fails_unchanged(ns, cmd, FileAlreadyExistsError)
    mkdirs(ns, "/d")
    for overwrite in (False, True):
        cmd = c.StartFile("/d", "w2", T0, "alice", "g", 3, BLOCK, overwrite)
        fails_unchanged(ns, cmd, FileAlreadyExistsError)
    fails_unchanged(
        ns, c.StartFile("/", "w2", T0, "a", "g", 3, BLOCK, True), FileAlreadyExistsError
    )


def test_overwrite_replaces_the_old_file_atomically_on_complete(ns: Namespace) -> None:
    old = write(ns, "/f", [BLOCK, 5])
    old_status = ns.status("/f")
    start(ns, "/f", "w2", overwrite=True, replication=2)
    new = add_block(ns, "/f", "w2")
    # Readers still see the old file, whole, while the new one is written.
    assert ns.status("/f") == old_status
    assert [b.block_id for b in ns.file_blocks("/f")[1]] == old
    assert ns.is_complete_block(old[0]) and not ns.is_complete_block(new)

    removed = complete(ns, "/f", "w2", last=7)

    assert sorted(removed) == sorted(old)
    status, blocks = ns.file_blocks("/f")
    assert (status.length, status.replication) == (7, 2)
    assert status.file_id != old_status.file_id
    assert [b.block_id for b in blocks] == [new]
    assert all(ns.block_record(b) is None for b in old)
    assert ns.expected_replication(old[0]) is None
    check_invariants(ns)


def test_another_clients_create_on_a_file_being_written_fails(ns: Namespace) -> None:
    start(ns, "/f", "w1")
    for overwrite in (False, True):
        cmd = c.StartFile("/f", "w2", T0, "alice", "g", 3, BLOCK, overwrite)
        message = fails_unchanged(ns, cmd, AlreadyBeingCreatedError)
        # The writer's client name is not told: it is the key to the writer's session.
        assert "w1" not in message and "being written by another client" in message
    # An append too, though the new file is not in the tree yet: it is there, only open.
    message = fails_unchanged(ns, c.StartAppend("/f", "w2", T0), AlreadyBeingCreatedError)
    assert "w1" not in message


def test_the_same_client_starting_again_drops_what_it_wrote(ns: Namespace) -> None:
    start(ns, "/f", "w1")
    first = add_block(ns, "/f", "w1")
    effects = ns.apply(c.StartFile("/f", "w1", T0, "alice", "g", 1, BLOCK))
    assert effects.removed_blocks == [first]
    assert ns.under_construction["/f"].file.blocks == ()
    check_invariants(ns)


def test_only_the_lease_holder_may_add_complete_or_abandon(ns: Namespace) -> None:
    start(ns, "/f", "w1")
    add_block(ns, "/f", "w1")
    fails_unchanged(ns, c.AddBlock("/f", "w2", 0), LeaseExpiredError)
    fails_unchanged(ns, c.CompleteFile("/f", "w2", T0, 0), LeaseExpiredError)
    fails_unchanged(ns, c.AbandonFile("/f", "w2"), LeaseExpiredError)
    # Nor on a file that is not open at all.
    fails_unchanged(ns, c.AddBlock("/g", "w1", None), LeaseExpiredError)
    fails_unchanged(ns, c.CompleteFile("/g", "w1", T0), LeaseExpiredError)


def test_add_block_rules(ns: Namespace) -> None:
    start(ns, "/f")
    fails_unchanged(ns, c.AddBlock("/f", "w1", 10), IllegalArgumentError)  # no previous
    first = add_block(ns, "/f")
    missing_previous = c.AddBlock("/f", "w1", None)
    assert "previous block's length" in fails_unchanged(ns, missing_previous, IllegalArgumentError)
    for bad_length in (-1, BLOCK + 1):
        cmd = c.AddBlock("/f", "w1", bad_length)
        assert "outside" in fails_unchanged(ns, cmd, IllegalArgumentError)
    # Ids are allocated in apply, in log order: never one already used.
    gen = ns.last_gen
    second, second_gen = ns.apply(c.AddBlock("/f", "w1", BLOCK)).result
    assert (second, second_gen) == (first + 1, gen + 1)
    assert (ns.last_block_id, ns.last_gen) == (second, second_gen)
    record = ns.block_record(first)
    assert record is not None and record.length == BLOCK  # committed by the next AddBlock
    check_invariants(ns)


def test_complete_rules(ns: Namespace) -> None:
    start(ns, "/f")
    add_block(ns, "/f")
    fails_unchanged(ns, c.CompleteFile("/f", "w1", T0, None), IllegalArgumentError)
    fails_unchanged(ns, c.CompleteFile("/f", "w1", T0, BLOCK + 1), IllegalArgumentError)


def test_complete_drops_an_empty_last_block(ns: Namespace) -> None:
    start(ns, "/f")
    full = add_block(ns, "/f")
    empty = add_block(ns, "/f", previous=BLOCK)
    assert complete(ns, "/f", last=0) == [empty]
    assert [b.block_id for b in ns.file_blocks("/f")[1]] == [full]
    assert ns.block_record(empty) is None
    check_invariants(ns)


def test_an_empty_file_has_no_blocks(ns: Namespace) -> None:
    start(ns, "/empty")
    assert complete(ns, "/empty") == []
    status, blocks = ns.file_blocks("/empty")
    assert (status.length, blocks) == (0, [])


def test_abandon_drops_the_file_and_returns_its_blocks(ns: Namespace) -> None:
    old = write(ns, "/f", [3])
    before = image(ns)
    start(ns, "/f", "w2", overwrite=True)
    written = [add_block(ns, "/f", "w2"), add_block(ns, "/f", "w2", previous=BLOCK)]
    effects = ns.apply(c.AbandonFile("/f", "w2"))
    assert effects.removed_blocks == written
    assert "/f" not in ns.under_construction
    assert [b.block_id for b in ns.file_blocks("/f")[1]] == old  # the old file is untouched
    after = image(ns)
    for key in ("root", "under_construction"):
        assert after[key] == before[key]
    check_invariants(ns)


# --------------------------------------------------------------------------- delete


def test_delete_a_non_empty_folder_needs_recursive(ns: Namespace) -> None:
    mkdirs(ns, "/d/e")
    fails_unchanged(ns, c.Delete("/d", False, T0), PathIsNotEmptyDirectoryError)
    assert ns.apply(c.Delete("/d/e", False, T0 + 3)).result is True
    assert ns.status("/d").modification_time == T0 + 3
    assert ns.lookup("/d/e") is None


def test_recursive_delete_returns_every_block_below(ns: Namespace) -> None:
    mkdirs(ns, "/d/e/f")
    blocks = write(ns, "/d/x", [BLOCK, 1]) + write(ns, "/d/e/f/y", [2])
    keep = write(ns, "/other", [4])
    effects = ns.apply(c.Delete("/d", True, T0 + 1))
    assert effects.result is True
    assert sorted(effects.removed_blocks) == sorted(blocks)
    assert names(ns, "/") == ["other"]
    assert all(ns.block_record(b) is None for b in blocks)
    assert ns.block_record(keep[0]) is not None
    check_invariants(ns)


def test_delete_a_file_returns_its_blocks(ns: Namespace) -> None:
    blocks = write(ns, "/f", [BLOCK, BLOCK, 9])
    assert sorted(ns.apply(c.Delete("/f", False, T0)).removed_blocks) == sorted(blocks)


def test_delete_of_a_missing_path_is_false_and_changes_nothing(ns: Namespace) -> None:
    write(ns, "/f", [1])
    before = image(ns)
    for path in ("/missing", "/f/below-a-file"):
        effects = ns.apply(c.Delete(path, True, T0 + 1))
        assert (effects.result, effects.removed_blocks) == (False, [])
    assert image(ns) == before


def test_delete_root_is_refused(ns: Namespace) -> None:
    fails_unchanged(ns, c.Delete("/", True, T0), IllegalArgumentError)


def test_deleting_a_folder_drops_the_files_being_written_in_it(ns: Namespace) -> None:
    mkdirs(ns, "/d/e")
    start(ns, "/d/e/f", "w1")
    pending_block = add_block(ns, "/d/e/f", "w1")
    start(ns, "/elsewhere", "w2")
    # A folder whose only content is a file being written is not empty.
    fails_unchanged(ns, c.Delete("/d/e", False, T0), PathIsNotEmptyDirectoryError)
    effects = ns.apply(c.Delete("/d", True, T0))
    assert effects.removed_blocks == [pending_block]
    assert list(ns.under_construction) == ["/elsewhere"]
    # The writer learns on its next call; re-creating the folder does not revive the file.
    mkdirs(ns, "/d/e")
    fails_unchanged(ns, c.CompleteFile("/d/e/f", "w1", T0, 1), LeaseExpiredError)
    check_invariants(ns)


def test_deleting_a_file_keeps_its_overwrite_being_written(ns: Namespace) -> None:
    write(ns, "/f", [1])
    start(ns, "/f", "w2", overwrite=True)
    ns.apply(c.Delete("/f", False, T0))
    assert "/f" in ns.under_construction
    complete(ns, "/f", "w2")
    assert ns.status("/f").length == 0


# --------------------------------------------------------------------------- rename


def test_rename_a_file(ns: Namespace) -> None:
    mkdirs(ns, "/a")
    mkdirs(ns, "/b")
    blocks = write(ns, "/a/f", [5])
    inode = ns.status("/a/f").file_id
    assert ns.apply(c.Rename("/a/f", "/b/g", T0 + 7)).result is True
    assert ns.lookup("/a/f") is None
    assert ns.status("/b/g").file_id == inode
    assert [b.block_id for b in ns.file_blocks("/b/g")[1]] == blocks
    assert ns.status("/a").modification_time == ns.status("/b").modification_time == T0 + 7
    check_invariants(ns)


def test_rename_into_an_existing_folder_moves_inside_it(ns: Namespace) -> None:
    mkdirs(ns, "/src/sub")
    write(ns, "/src/sub/f", [1])
    mkdirs(ns, "/dst")
    ns.apply(c.Rename("/src", "/dst", T0))
    assert names(ns, "/") == ["dst"]
    assert names(ns, "/dst/src/sub") == ["f"]
    check_invariants(ns)


def test_rename_onto_an_existing_file_fails(ns: Namespace) -> None:
    write(ns, "/f", [1])
    write(ns, "/g", [2])
    fails_unchanged(ns, c.Rename("/f", "/g", T0), FileAlreadyExistsError)
    fails_unchanged(ns, c.Rename("/f", "/f", T0), FileAlreadyExistsError)
    mkdirs(ns, "/d")
    write(ns, "/d/f", [3])
    fails_unchanged(ns, c.Rename("/f", "/d", T0), FileAlreadyExistsError)  # /d/f is taken


def test_rename_into_itself_fails(ns: Namespace) -> None:
    mkdirs(ns, "/a/b")
    fails_unchanged(ns, c.Rename("/a", "/a/b/c", T0), IllegalArgumentError)
    fails_unchanged(ns, c.Rename("/a", "/a/b", T0), IllegalArgumentError)  # -> /a/b/a
    fails_unchanged(ns, c.Rename("/a", "/a", T0), IllegalArgumentError)  # -> /a/a
    fails_unchanged(ns, c.Rename("/", "/x", T0), IllegalArgumentError)


def test_rename_missing_source_or_target_parent_fails(ns: Namespace) -> None:
    mkdirs(ns, "/a")
    fails_unchanged(ns, c.Rename("/missing", "/b", T0), FileNotFoundError_)
    fails_unchanged(ns, c.Rename("/a", "/no/such/b", T0), FileNotFoundError_)
    write(ns, "/f", [1])
    fails_unchanged(ns, c.Rename("/a", "/f/b", T0), ParentNotDirectoryError)


def test_rename_onto_a_file_being_written_fails(ns: Namespace) -> None:
    write(ns, "/f", [1])
    start(ns, "/g", "w1")
    fails_unchanged(ns, c.Rename("/f", "/g", T0), FileAlreadyExistsError)
    fails_unchanged(ns, c.Rename("/g", "/h", T0), FileNotFoundError_)  # not there yet
    fails_unchanged(ns, c.Rename("/nope", "/h", T0), FileNotFoundError_)


def test_a_file_being_written_is_nothing_yet_by_its_own_path(ns: Namespace) -> None:
    # A listing does not show it, so neither exists, delete nor rename may find it: a
    # rename that moved it while listings could not see it is not linearizable.
    mkdirs(ns, "/a")
    fid = start(ns, "/a/f", "w1")
    add_block(ns, "/a/f", "w1")
    assert ns.lookup("/a/f") is None and ns.listing("/a") == []
    fails_unchanged(ns, c.Rename("/a/f", "/a/g", T0 + 1), FileNotFoundError_)
    assert ns.apply(c.Delete("/a/f", False, T0 + 1)).result is False
    ns.apply(c.CompleteFile("/a/f", "w1", T0 + 2, 5, file_id=fid))
    assert ns.status("/a/f").length == 5
    check_invariants(ns)


def test_renaming_an_old_file_leaves_its_overwrite_being_written_in_place(ns: Namespace) -> None:
    write(ns, "/f", [1])
    fid = start(ns, "/f", "w1", overwrite=True)
    ns.apply(c.Rename("/f", "/old", T0 + 1))  # the visible, closed one
    assert list(ns.under_construction) == ["/f"]
    ns.apply(c.CompleteFile("/f", "w1", T0 + 2, None, file_id=fid))
    assert ns.status("/old").length == 1 and ns.status("/f").length == 0
    check_invariants(ns)


def test_a_writer_follows_its_file_when_its_folder_is_renamed(ns: Namespace) -> None:
    mkdirs(ns, "/a/b")
    fid = start(ns, "/a/b/f", "w1")
    add_block(ns, "/a/b/f", "w1")
    ns.apply(c.Rename("/a", "/z", T0))
    # By path alone the writer has lost its file; by inode id it has not.
    fails_unchanged(ns, c.CompleteFile("/a/b/f", "w1", T0, 3), LeaseExpiredError)
    fails_unchanged(ns, c.CompleteFile("/a/b/f", "w2", T0, 3, file_id=fid), LeaseExpiredError)
    ns.apply(c.CompleteFile("/a/b/f", "w1", T0, 3, file_id=fid))
    assert ns.status("/z/b/f").length == 3
    check_invariants(ns)


def test_an_abandon_by_inode_id_finds_a_file_whose_folder_was_renamed(ns: Namespace) -> None:
    mkdirs(ns, "/a")
    fid = start(ns, "/a/f", "w1")
    block = add_block(ns, "/a/f", "w1")
    ns.apply(c.Rename("/a", "/b", T0))
    assert ns.apply(c.AbandonFile("/a/f", "w1", fid)).removed_blocks == [block]
    assert ns.under_construction == {}
    check_invariants(ns)


def test_renaming_a_folder_moves_the_files_being_written_in_it(ns: Namespace) -> None:
    mkdirs(ns, "/a/b")
    start(ns, "/a/b/f", "w1")
    block = add_block(ns, "/a/b/f", "w1")
    start(ns, "/ab", "w2")  # shares a prefix with /a but is not below it
    ns.apply(c.Rename("/a", "/z", T0))
    assert set(ns.under_construction) == {"/z/b/f", "/ab"}
    assert ns.under_construction["/z/b/f"].path == "/z/b/f"
    complete(ns, "/z/b/f", "w1", last=4)
    assert [b.block_id for b in ns.file_blocks("/z/b/f")[1]] == [block]
    check_invariants(ns)


# --------------------------------------------------------------------------- lease recovery


def test_reassign_lease_takes_the_file_from_its_writer(ns: Namespace) -> None:
    fid = start(ns, "/f", "w1")
    add_block(ns, "/f", "w1")
    last = add_block(ns, "/f", "w1", previous=BLOCK)
    before = ns.last_gen
    path, gen = ns.apply(c.ReassignLease(fid, RECOVERY_HOLDER)).result
    assert (path, gen) == ("/f", before + 1)
    pending = ns.under_construction["/f"]
    assert pending.client == RECOVERY_HOLDER
    assert pending.file.blocks[-1].block_id == last and pending.file.blocks[-1].gen == gen
    assert ns.last_gen == gen
    # The old writer, alive after all, can no longer add, complete or abandon.
    fails_unchanged(ns, c.AddBlock("/f", "w1", 1), LeaseExpiredError)
    fails_unchanged(ns, c.CompleteFile("/f", "w1", T0, 1, file_id=fid), LeaseExpiredError)
    fails_unchanged(ns, c.AbandonFile("/f", "w1", fid), LeaseExpiredError)
    check_invariants(ns)


def test_reassign_lease_refusals(ns: Namespace) -> None:
    fid = start(ns, "/f", "w1")
    fails_unchanged(ns, c.ReassignLease(fid, RECOVERY_HOLDER), IllegalArgumentError)  # no block
    add_block(ns, "/f", "w1")
    fails_unchanged(ns, c.ReassignLease(fid + 99, RECOVERY_HOLDER), LeaseExpiredError)


def test_close_recovered_closes_the_file_with_the_agreed_length(ns: Namespace) -> None:
    fid = start(ns, "/f", "w1")
    first = add_block(ns, "/f", "w1")
    last = add_block(ns, "/f", "w1", previous=BLOCK)
    gen = reassign(ns, fid)
    # The answer to a recovery that was superseded (another stamp) is refused.
    fails_unchanged(ns, c.CloseRecovered(fid, T0 + 5, 300, gen - 1), LeaseExpiredError)
    fails_unchanged(ns, c.CloseRecovered(fid, T0 + 5, BLOCK + 1, gen), IllegalArgumentError)
    assert ns.apply(c.CloseRecovered(fid, T0 + 5, 300, gen)).removed_blocks == []
    status, blocks = ns.file_blocks("/f")
    assert [(b.block_id, b.gen, b.length) for b in blocks][-1] == (last, gen, 300)
    assert blocks[0].block_id == first
    assert status.length == BLOCK + 300 and status.modification_time == T0 + 5
    assert ns.under_construction == {} and ns.is_complete_block(last)
    fails_unchanged(ns, c.CloseRecovered(fid, T0, 300, gen), LeaseExpiredError)  # closed
    check_invariants(ns)


def test_close_recovered_with_no_replica_drops_the_last_block(ns: Namespace) -> None:
    fid = start(ns, "/f", "w1")
    add_block(ns, "/f", "w1")
    last = add_block(ns, "/f", "w1", previous=BLOCK)
    gen = ns.under_construction["/f"].file.blocks[-1].gen  # no recovery was needed
    assert ns.apply(c.CloseRecovered(fid, T0, 0, gen)).removed_blocks == [last]
    assert ns.status("/f").length == BLOCK
    empty = start(ns, "/e", "w1")
    fails_unchanged(ns, c.CloseRecovered(empty, T0, 0, gen), IllegalArgumentError)
    ns.apply(c.CloseRecovered(empty, T0))
    assert ns.status("/e").length == 0
    check_invariants(ns)


def test_close_recovered_finishes_an_overwrite_and_an_append(ns: Namespace) -> None:
    old = write(ns, "/f", [10])
    fid = start(ns, "/f", "w1", overwrite=True)
    seven = add_block(ns, "/f", "w1")
    gen = reassign(ns, fid)
    assert ns.apply(c.CloseRecovered(fid, T0, 7, gen)).removed_blocks == old
    assert ns.status("/f").length == 7
    # An append that rewrote the partial last block: the recovered block replaces it.
    ns.apply(c.StartAppend("/f", "w2", T0, replace_last=True))
    rewrite = add_block(ns, "/f", "w2")
    gen = reassign(ns, fid)
    removed = ns.apply(c.CloseRecovered(fid, T0, 12, gen)).removed_blocks
    assert [b.block_id for b in ns.file_blocks("/f")[1]] == [rewrite]
    assert removed == [seven]
    assert ns.status("/f").length == 12
    check_invariants(ns)


def test_a_restart_mid_recovery_comes_back_held_by_the_recovery(ns: Namespace) -> None:
    fid = start(ns, "/f", "w1")
    add_block(ns, "/f", "w1")
    _, gen = ns.apply(c.ReassignLease(fid, RECOVERY_HOLDER)).result
    # Through a checkpoint (JSON) and through the log's record form, as a restart reads them.
    restarted, _ = checkpoint.load(json.loads(json.dumps(checkpoint.dump(ns, 1))))
    assert image(restarted) == image(ns)
    assert restarted.pending_by_id(fid) is restarted.under_construction["/f"]
    assert restarted.under_construction["/f"].client == RECOVERY_HOLDER
    fails_unchanged(restarted, c.CompleteFile("/f", "w1", T0, 1), LeaseExpiredError)
    finish = c.CloseRecovered(fid, T0, 9, gen)
    restarted.apply(c.from_record(json.loads(json.dumps(c.to_record(finish)))))
    ns.apply(finish)
    assert image(restarted) == image(ns)
    assert restarted.status("/f").length == 9


# --------------------------------------------------------------------------- trash


def test_move_to_trash_keeps_the_full_path_under_the_trash_root(ns: Namespace) -> None:
    mkdirs(ns, "/data/logs")
    blocks = write(ns, "/data/logs/app.log", [9])
    cmd = c.MoveToTrash("/data/logs/app.log", TRASH, T0 + 1, "alice", "supergroup")
    effects = ns.apply(cmd)
    moved = f"{TRASH}/data/logs/app.log"
    assert (effects.result, effects.removed_blocks) == (moved, [])  # where it went
    assert ns.lookup("/data/logs/app.log") is None
    assert [b.block_id for b in ns.file_blocks(moved)[1]] == blocks
    trash_dir = ns.status(f"{TRASH}/data/logs")
    assert (trash_dir.permission, trash_dir.owner) == ("700", "alice")
    check_invariants(ns)


def test_move_to_trash_appends_the_time_on_a_name_clash(ns: Namespace) -> None:
    mkdirs(ns, "/d")
    write(ns, "/d/f", [1])
    ns.apply(c.MoveToTrash("/d/f", TRASH, T0 + 1, "alice", "g"))
    write(ns, "/d/f", [2])
    again = ns.apply(c.MoveToTrash("/d/f", TRASH, T0 + 2, "alice", "g"))
    assert again.result == f"{TRASH}/d/f{T0 + 2}"
    assert names(ns, f"{TRASH}/d") == ["f", f"f{T0 + 2}"]
    assert ns.status(f"{TRASH}/d/f{T0 + 2}").length == 2
    # Same name, same millisecond: nowhere left to put it.
    write(ns, "/d/f", [3])
    cmd = c.MoveToTrash("/d/f", TRASH, T0 + 2, "alice", "g")
    fails_unchanged(ns, cmd, FileAlreadyExistsError)
    check_invariants(ns)


def test_move_to_trash_treats_a_file_being_written_there_as_a_clash(ns: Namespace) -> None:
    mkdirs(ns, f"{TRASH}/d")
    start(ns, f"{TRASH}/d/f", "w1")
    mkdirs(ns, "/d")
    write(ns, "/d/f", [1])
    ns.apply(c.MoveToTrash("/d/f", TRASH, T0 + 4, "alice", "g"))
    assert names(ns, f"{TRASH}/d") == [f"f{T0 + 4}"]
    check_invariants(ns)


def test_move_to_trash_never_turns_a_file_being_written_into_a_folder(ns: Namespace) -> None:
    mkdirs(ns, TRASH)
    start(ns, f"{TRASH}/d", "w1")
    mkdirs(ns, "/d")
    write(ns, "/d/f", [1])
    cmd = c.MoveToTrash("/d/f", TRASH, T0, "alice", "g")
    fails_unchanged(ns, cmd, FileAlreadyExistsError)


def test_move_to_trash_refuses_a_time_stamped_name_too_long_to_address(ns: Namespace) -> None:
    longest = "x" * paths.MAX_COMPONENT_LENGTH
    mkdirs(ns, f"{TRASH}/{longest}")
    mkdirs(ns, f"/{longest}")
    cmd = c.MoveToTrash(f"/{longest}", TRASH, T0, "alice", "g")
    fails_unchanged(ns, cmd, InvalidPathError)


def test_trashing_a_folder_takes_the_files_being_written_in_it_along(ns: Namespace) -> None:
    mkdirs(ns, "/d")
    start(ns, "/d/f", "w1")
    ns.apply(c.MoveToTrash("/d", TRASH, T0, "alice", "g"))
    assert list(ns.under_construction) == [f"{TRASH}/d/f"]
    check_invariants(ns)


def test_move_to_trash_refusals(ns: Namespace) -> None:
    mkdirs(ns, "/user/alice")
    fails_unchanged(ns, c.MoveToTrash("/", TRASH, T0, "a", "g"), IllegalArgumentError)
    fails_unchanged(ns, c.MoveToTrash("/user", TRASH, T0, "a", "g"), IllegalArgumentError)
    fails_unchanged(ns, c.MoveToTrash("/missing", TRASH, T0, "a", "g"), FileNotFoundError_)
    # Something in the trash whose trash path would lie below itself.
    mkdirs(ns, f"{TRASH}/user")
    cmd = c.MoveToTrash(f"{TRASH}/user", TRASH, T0, "a", "g")
    fails_unchanged(ns, cmd, IllegalArgumentError)
    ns.apply(c.Delete("/user", True, T0))
    write(ns, "/user", [1])  # a file where the trash folder should be
    write(ns, "/x", [1])
    fails_unchanged(ns, c.MoveToTrash("/x", TRASH, T0, "a", "g"), ParentNotDirectoryError)


# --------------------------------------------------------------------------- attributes


def test_setrep_on_a_folder_applies_to_every_file_below(ns: Namespace) -> None:
    mkdirs(ns, "/d/e")
    below = write(ns, "/d/f", [BLOCK, 1]) + write(ns, "/d/e/g", [1])
    other = write(ns, "/other", [1])
    effects = ns.apply(c.SetReplication("/d", 5))
    assert sorted(effects.replication_changed) == sorted(below)
    assert ns.status("/d/f").replication == ns.status("/d/e/g").replication == 5
    assert all(ns.expected_replication(b) == 5 for b in below)
    assert ns.expected_replication(other[0]) == 3
    assert ns.apply(c.SetReplication("/other", 1)).replication_changed == other
    assert ns.expected_replication(other[0]) == 1
    fails_unchanged(ns, c.SetReplication("/missing", 2), FileNotFoundError_)


def test_set_times_permission_owner(ns: Namespace) -> None:
    write(ns, "/f", [1])
    ns.apply(c.SetTimes("/f", mtime=T0 + 10, atime=T0 + 20))
    ns.apply(c.SetTimes("/f", mtime=-1, atime=None))  # -1 and None: leave it alone
    ns.apply(c.SetPermission("/f", "600"))
    ns.apply(c.SetOwner("/f", owner="bob"))
    ns.apply(c.SetOwner("/f", group="staff"))
    s = ns.status("/f")
    assert (s.modification_time, s.access_time) == (T0 + 10, T0 + 20)
    assert (s.permission, s.owner, s.group) == ("600", "bob", "staff")
    for cmd in (c.SetTimes("/m", 1), c.SetPermission("/m", "600"), c.SetOwner("/m", "bob")):
        fails_unchanged(ns, cmd, FileNotFoundError_)


def test_files_alike_share_their_attributes_and_change_them_alone(ns: Namespace) -> None:
    """Memory: equal (owner, group, permission) and (replication, block size) are held once
    however many files have them, even from distinct strings (as each request brings its
    own); changing one file's leaves the others as they were."""
    for name in ("/a", "/b"):
        owner = "".join(["al", "ice"])  # a string of its own, equal to the others
        ns.apply(c.StartFile(name, "w", T0, owner, "g", 3, BLOCK))
        ns.apply(c.CompleteFile(name, "w", T0))
    a, b = ns.lookup("/a"), ns.lookup("/b")
    assert isinstance(a, File) and isinstance(b, File)
    assert a.owner is b.owner
    assert a._access is b._access and a._layout is b._layout
    ns.apply(c.SetOwner("/a", owner="bob"))
    ns.apply(c.SetPermission("/a", "600"))
    ns.apply(c.SetReplication("/a", 1))
    assert (a.owner, a.group, a.permission, a.replication) == ("bob", "g", "600", 1)
    assert (b.owner, b.group, b.permission, b.replication) == ("alice", "g", "644", 3)
    assert a.block_size == b.block_size == BLOCK


def test_unknown_command_is_refused(ns: Namespace) -> None:
    fails_unchanged(ns, "Mkdirs /x", IllegalArgumentError)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- queries


def test_content_summary(ns: Namespace) -> None:
    mkdirs(ns, "/d/e")
    mkdirs(ns, "/d/empty")
    write(ns, "/d/f", [BLOCK, 10], replication=3)
    write(ns, "/d/e/g", [5], replication=2)
    write(ns, "/outside", [100])
    start(ns, "/d/being-written")
    summary = ns.content_summary("/d")
    assert summary.length == BLOCK + 15
    assert summary.file_count == 2
    assert summary.directory_count == 3  # /d, /d/e, /d/empty
    assert summary.space_consumed == (BLOCK + 10) * 3 + 5 * 2
    file_only = ns.content_summary("/d/e/g")
    assert (file_only.length, file_only.file_count, file_only.directory_count) == (5, 1, 0)
    with pytest.raises(FileNotFoundError_):
        ns.content_summary("/missing")


def test_listing_and_walk_are_sorted_parents_first(ns: Namespace) -> None:
    mkdirs(ns, "/b/y")
    mkdirs(ns, "/a")
    write(ns, "/b/x", [1])
    write(ns, "/c", [1])
    assert [s.path for s in ns.listing("/")] == ["/a", "/b", "/c"]
    assert [s.path for s in ns.listing("/b")] == ["/b/x", "/b/y"]
    assert [s.path for s in ns.listing("/c")] == ["/c"]  # a file lists as itself
    assert [p for p, _ in ns.walk()] == ["/", "/a", "/b", "/b/x", "/b/y", "/c"]
    assert [p for p, _ in ns.walk("/b")] == ["/b", "/b/x", "/b/y"]
    with pytest.raises(FileNotFoundError_):
        ns.listing("/missing")


def test_file_blocks_of_a_folder_is_not_found(ns: Namespace) -> None:
    mkdirs(ns, "/d")
    with pytest.raises(FileNotFoundError_, match="not a file"):
        ns.file_blocks("/d")


# --------------------------------------------------------------------------- random sequences

SEGMENTS = ["a", "b", "c"]
CLIENTS = ["w1", "w2"]
TRASH_ROOT = "/a/b"  # inside the paths the ops use, so trash and rename meet


def _all_paths() -> list[str]:
    out = ["/"]
    frontier = [""]
    for _ in range(3):
        frontier = [f"{p}/{s}" for p in frontier for s in SEGMENTS[:2]]
        out.extend(frontier)
    return out


ALL_PATHS = _all_paths()
KINDS = [
    "mkdirs", "start", "add", "add", "complete", "abandon", "delete", "rename", "trash",
    "setrep", "touch", "reassign", "recovered", "quota",
]  # fmt: skip


@dataclass(frozen=True)
class Op:
    """An operation chosen before the namespace is known. `materialize` resolves its picks
    against the current namespace, so most ops hit paths that exist (and succeed) while
    `wild` ones hit any path (and mostly fail)."""

    kind: str
    pick: int
    other: int
    wild: bool
    client: str
    flag: bool
    number: int


ops_strategy = st.builds(
    Op,
    kind=st.sampled_from(KINDS),
    pick=st.integers(0, 1000),
    other=st.integers(0, 1000),
    wild=st.integers(0, 4).map(lambda n: n == 0),
    client=st.sampled_from(CLIENTS),
    flag=st.booleans(),
    number=st.integers(0, 1000),
)


def materialize(ns: Namespace, op: Op, now: int) -> c.NamespaceCommand:
    """The command the namesystem would log for `op`, at time `now`."""
    tree = [p for p, _ in ns.walk()]
    folders = [p for p, node in ns.walk() if isinstance(node, Directory)]
    writing = list(ns.under_construction)

    def choose(pool: list[str], n: int) -> str:
        return ALL_PATHS[n % len(ALL_PATHS)] if op.wild or not pool else pool[n % len(pool)]

    def new_child(n: int) -> str:
        return paths.join(choose(folders, n), SEGMENTS[n % len(SEGMENTS)])

    match op.kind:
        case "mkdirs":
            return c.Mkdirs(new_child(op.pick), now, "alice", "supergroup")
        case "start":
            path = new_child(op.pick)
            return c.StartFile(
                path, op.client, now, "a", "g", op.number % 3 + 1, BLOCK, op.flag,
                create_parent=op.other % 3 == 0,
            )  # fmt: skip
        case "add" | "complete" | "abandon" | "reassign" | "recovered":
            return _writer_command(ns, op, choose(writing, op.pick), now)
        case "delete":
            return c.Delete(choose(tree, op.pick), op.flag, now)
        case "rename":  # files being written move with their folder
            dst = choose(tree, op.other) if op.flag else new_child(op.other)
            return c.Rename(choose(tree + writing, op.pick), dst, now)
        case "trash":
            return c.MoveToTrash(choose(tree, op.pick), TRASH_ROOT, now, "alice", "g")
        case "setrep":
            return c.SetReplication(choose(tree, op.pick), op.number % 4 + 1)
        case "touch":
            return c.SetTimes(choose(tree, op.pick), mtime=now, atime=now)
        case "quota":
            return _quota_command(op, choose(folders, op.pick))
    raise AssertionError(op.kind)


def _quota_command(op: Op, folder: str) -> c.SetQuota:
    """Quotas tight enough to be hit: a few names, a few blocks' worth; or cleared."""
    names = [-1, 1, 2, 4, 8, None][op.number % 6]
    space = [-1, BLOCK, 3 * BLOCK, 8 * BLOCK, None][op.other % 5]
    return c.SetQuota(folder, names, space)


def _writer_command(ns: Namespace, op: Op, path: str, now: int) -> c.NamespaceCommand:
    """AddBlock, CompleteFile or AbandonFile on `path`, mostly by its writer; or its
    recovery's commands."""
    if op.kind in ("reassign", "recovered"):
        return _recovery_command(ns, op, path, now)
    pending = ns.under_construction.get(path)
    client = pending.client if pending is not None and op.flag else op.client
    length = [BLOCK, 7, 0, None, -1, BLOCK + 1][op.number % 6]
    if pending is not None and not pending.file.blocks:
        length = None
    # Half the time by inode id, as a client does; an id that names nothing now and then.
    file_id = 0
    if op.other % 2:
        file_id = pending.file.id if pending is not None and op.other % 7 else op.number + 1
    if op.kind == "abandon":
        return c.AbandonFile(path, client, file_id)
    if op.kind == "complete":
        return c.CompleteFile(path, client, now, length, file_id)
    return c.AddBlock(path, client, length, file_id)


def _recovery_command(ns: Namespace, op: Op, path: str, now: int) -> c.NamespaceCommand:
    """ReassignLease or CloseRecovered of the file at `path`, mostly as the namesystem
    would send them; now and then with a stale stamp or an id that names nothing."""
    pending = ns.under_construction.get(path)
    file_id = pending.file.id if pending is not None and op.other % 7 else op.number + 1
    last = pending.file.blocks[-1] if pending is not None and pending.file.blocks else None
    if op.kind == "reassign":
        return c.ReassignLease(file_id, RECOVERY_HOLDER)
    if last is None:
        return c.CloseRecovered(file_id, now)
    gen = last.gen if op.other % 5 else last.gen - 1
    return c.CloseRecovered(file_id, now, [BLOCK, 7, 0, BLOCK + 1][op.number % 4], gen)


def quota_use(ns: Namespace) -> dict[int, tuple[int, int, int, int]]:
    return {i: (q.names, q.space, q.used_names, q.used_space) for i, q in ns.quotas.items()}


def check_quota_growth(
    before: dict[int, tuple[int, int, int, int]], ns: Namespace, cmd: c.NamespaceCommand
) -> None:
    """A command that succeeded took no folder past a quota: usage over a limit is only
    ever a limit set below what the folder already held, and it may only shrink."""
    for inode, (names, space, used_names, used_space) in quota_use(ns).items():
        if inode not in before or isinstance(cmd, c.SetQuota):
            continue
        was_names, was_space = before[inode][2], before[inode][3]
        assert names < 0 or used_names <= max(names, was_names), f"{cmd} passed a name quota"
        assert space < 0 or used_space <= max(space, was_space), f"{cmd} passed a space quota"


def run(ops: list[Op]) -> tuple[Namespace, list[c.NamespaceCommand], int]:
    """Apply `ops`; the namespace, the commands that succeeded, and how many failed."""
    ns = Namespace()
    applied: list[c.NamespaceCommand] = []
    failures = 0
    for i, op in enumerate(ops):
        cmd = materialize(ns, op, now=T0 + i)
        before, quotas = image(ns), quota_use(ns)
        try:
            ns.apply(cmd)
        except MiniHadoopError:
            failures += 1
            assert image(ns) == before, f"failed {cmd} changed the namespace"
            assert quota_use(ns) == quotas, f"failed {cmd} changed a quota's count"
        else:
            applied.append(cmd)
            check_quota_growth(quotas, ns, cmd)
        check_invariants(ns)
    return ns, applied, failures


def replay(commands: list[c.NamespaceCommand], ns: Namespace | None = None) -> Namespace:
    ns = ns or Namespace()
    for cmd in commands:
        # Through the edit log's record form, JSON and back, as a restart would.
        ns.apply(c.from_record(json.loads(json.dumps(c.to_record(cmd)))))
    return ns


@settings(max_examples=150, derandomize=True, deadline=None)
@given(ops=st.lists(ops_strategy, min_size=10, max_size=60), cut=st.integers(min_value=0))
def test_random_commands_keep_invariants_and_replay_identically(ops: list[Op], cut: int) -> None:
    ns, applied, _ = run(ops)
    final = image(ns)

    # A checkpoint reads back as the same namespace, through JSON as `save` writes it.
    loaded, txid = checkpoint.load(json.loads(json.dumps(checkpoint.dump(ns, 42))))
    assert txid == 42
    assert image(loaded) == final
    check_invariants(loaded)

    # Replaying the accepted commands on a fresh namespace builds the same one...
    assert image(replay(applied)) == final
    # ...and so does an image taken part-way plus the commands after it (a restart).
    cut %= len(applied) + 1
    middle = json.loads(json.dumps(checkpoint.dump(replay(applied[:cut]), cut)))
    restarted, _ = checkpoint.load(middle)
    assert image(replay(applied[cut:], restarted)) == final


def test_random_sequences_exercise_every_command_both_ways() -> None:
    """Guard for the generator above: every command type must succeed sometimes, and many
    kinds of failure must occur, or the property test proves little."""
    rng = random.Random(7)
    succeeded: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    for _ in range(60):
        ns = Namespace()
        for i in range(40):
            op = Op(
                kind=rng.choice(KINDS),
                pick=rng.randrange(1000),
                other=rng.randrange(1000),
                wild=rng.random() < 0.2,
                client=rng.choice(CLIENTS),
                flag=rng.random() < 0.5,
                number=rng.randrange(1000),
            )
            cmd = materialize(ns, op, T0 + i)
            quotas = quota_use(ns)
            try:
                ns.apply(cmd)
            except MiniHadoopError as e:
                failed[type(e).__name__] += 1
            else:
                succeeded[type(cmd).__name__] += 1
                check_quota_growth(quotas, ns, cmd)
            check_invariants(ns)
    assert set(succeeded) == {
        "Mkdirs", "StartFile", "AddBlock", "CompleteFile", "AbandonFile", "Delete", "Rename",
        "MoveToTrash", "SetReplication", "SetTimes", "ReassignLease", "CloseRecovered",
        "SetQuota",
    }  # fmt: skip
    assert min(succeeded.values()) >= 10, succeeded
    assert len(failed) >= 6, failed
    assert failed["NSQuotaExceededError"] >= 5 and failed["DSQuotaExceededError"] >= 5, failed


@pytest.mark.parametrize(
    "cmd",
    [
        c.Mkdirs("/a", 1, "o", "g", "700"),
        c.StartFile("/f", "cl", 2, "o", "g", 3, BLOCK, True, "600"),
        c.StartFile("/d/f", "cl", 2, "o", "g", 3, BLOCK, create_parent=True),
        c.AddBlock("/f", "cl", 12),
        c.AddBlock("/f", "cl"),
        c.CompleteFile("/f", "cl", 3, None),
        c.AbandonFile("/f", "cl"),
        c.AddBlock("/f", "cl", 12, 16386),
        c.CompleteFile("/f", "cl", 3, 5, 16386),
        c.AbandonFile("/f", "cl", 16386),
        c.ReassignLease(16386, "HDFS_NameNode"),
        c.CloseRecovered(16386, 4, 300, 1002),
        c.CloseRecovered(16386, 4),
        c.Delete("/a", True, 4),
        c.Rename("/a", "/b", 5),
        c.MoveToTrash("/a", TRASH, 6, "o", "g"),
        c.SetReplication("/a", 2),
        c.SetTimes("/a", None, 9),
        c.SetPermission("/a", "711"),
        c.SetOwner("/a", None, "staff"),
    ],
)
def test_every_command_survives_its_record_form(cmd: c.NamespaceCommand) -> None:
    record = json.loads(json.dumps(c.to_record(cmd)))
    assert record["op"] == type(cmd).__name__
    assert c.from_record(record) == cmd


@pytest.mark.parametrize(
    "record",
    [
        {"op": "Format", "path": "/"},
        {"path": "/a"},
        {"op": "Mkdirs", "path": "/a"},  # fields missing
        {"op": "Delete", "path": "/a", "recursive": True, "mtime": 1, "extra": 1},
    ],
)
def test_a_record_that_is_no_command_is_refused(record: dict[str, Any]) -> None:
    with pytest.raises(IllegalArgumentError, match="not a namespace command"):
        c.from_record(record)


# --------------------------------------------------------------------------- concat


def test_concat_moves_the_sources_blocks_in_order_and_removes_the_sources(
    ns: Namespace,
) -> None:
    mkdirs(ns, "/d")
    target = write(ns, "/d/t", [BLOCK, 100], replication=2)
    a = write(ns, "/d/a", [BLOCK, BLOCK, 7])
    mkdirs(ns, "/other")
    b = write(ns, "/other/b", [5])
    empty = write(ns, "/d/empty", [])
    effects = ns.apply(c.Concat("/d/t", "/d/a\n/other/b\n/d/empty", T0 + 5))
    assert effects.result is True and effects.replication_changed == a + b + empty
    status, blocks = ns.file_blocks("/d/t")
    assert [x.block_id for x in blocks] == target + a + b
    assert status.length == BLOCK + 100 + 2 * BLOCK + 7 + 5
    assert status.replication == 2 and status.modification_time == T0 + 5
    assert names(ns, "/d") == ["t"] and names(ns, "/other") == []
    assert all(ns.block_owner[x] is ns.lookup("/d/t") for x in a + b)
    check_invariants(ns)


def test_concat_refusals_change_nothing(ns: Namespace) -> None:
    write(ns, "/t", [10])
    write(ns, "/a", [10])
    mkdirs(ns, "/dir")
    start(ns, "/open")
    add_block(ns, "/open")
    refused = [
        (c.Concat("/t", "", T0), IllegalArgumentError, "at least one source"),
        (c.Concat("/t", "/a\n/a", T0), IllegalArgumentError, "more than once"),
        (c.Concat("/t", "/t", T0), IllegalArgumentError, "among the sources"),
        (c.Concat("/nope", "/a", T0), FileNotFoundError_, "/nope"),
        (c.Concat("/t", "/a\n/nope", T0), FileNotFoundError_, "/nope"),
        (c.Concat("/t", "/dir", T0), FileNotFoundError_, "not a file"),
        (c.Concat("/t", "/a\n/open", T0), FileNotFoundError_, "/open"),  # not yet a file
    ]
    for cmd, error, message in refused:
        assert message in fails_unchanged(ns, cmd, error)
    ns.apply(c.StartAppend("/a", "w9", T0))  # an append in progress: the file is busy
    before = image(ns)
    with pytest.raises(AlreadyBeingCreatedError, match="being written"):
        ns.apply(c.Concat("/t", "/a", T0))
    assert image(ns) == before
    other = Namespace(now=T0)
    other.apply(c.StartFile("/big", "w1", T0, "alice", "supergroup", 3, 2 * BLOCK))
    other.apply(c.CompleteFile("/big", "w1", T0, None))
    write(other, "/t", [10])
    assert "block size" in fails_unchanged(other, c.Concat("/t", "/big", T0), IllegalArgumentError)


# --------------------------------------------------------------------------- xattrs


def test_xattrs_follow_hdfs_flags_and_limits(ns: Namespace) -> None:
    write(ns, "/f", [1])

    def set_(name: str, value: bytes, flag: str = "CREATE,REPLACE") -> c.SetXAttr:
        return c.SetXAttr("/f", name, base64.b64encode(value).decode(), flag)

    ns.apply(set_("user.a", b"1", "CREATE"))
    assert "already exists" in fails_unchanged(ns, set_("user.a", b"2", "CREATE"), MiniHadoopError)
    assert "does not exist" in fails_unchanged(ns, set_("user.b", b"2", "REPLACE"), MiniHadoopError)
    ns.apply(set_("user.a", b"2", "REPLACE"))
    ns.apply(set_("user.b", b"\x00\xff"))
    assert ns.get_xattrs("/f") == {"user.a": b"2", "user.b": b"\x00\xff"}
    for bad, error in [
        (set_("nospace", b""), IllegalArgumentError),
        (set_("user.", b""), IllegalArgumentError),
        (set_("trusted.x", b""), AccessControlError),
        (set_("user.big", b"x" * 16384), IllegalArgumentError),
        (set_("user.a", b"", "BOTH"), IllegalArgumentError),
        (c.SetXAttr("/f", "user.z", "not base64!", "CREATE"), IllegalArgumentError),
        (c.SetXAttr("/nope", "user.z", "", "CREATE"), FileNotFoundError_),
        (c.RemoveXAttr("/f", "user.none"), MiniHadoopError),
    ]:
        fails_unchanged(ns, bad, error)
    for i in range(30):
        ns.apply(set_(f"user.n{i}", b""))
    assert "exceed limit of 32" in fails_unchanged(
        ns, set_("user.one-more", b""), IllegalArgumentError
    )
    ns.apply(c.RemoveXAttr("/f", "user.a"))
    assert "user.a" not in ns.get_xattrs("/f") and len(ns.get_xattrs("/f")) == 31


def test_xattrs_move_with_renames_leave_with_deletes_and_survive_the_image(
    ns: Namespace,
) -> None:
    mkdirs(ns, "/d/e")
    write(ns, "/d/e/f", [1])
    value = base64.b64encode(b"v").decode()
    ns.apply(c.SetXAttr("/d", "user.dir", value))
    ns.apply(c.SetXAttr("/d/e/f", "user.file", value))
    ns.apply(c.Rename("/d", "/moved", T0))
    assert ns.get_xattrs("/moved/e/f") == {"user.file": b"v"}
    loaded, _ = checkpoint.load(json.loads(checkpoint.encode(ns, 7)))
    assert loaded.get_xattrs("/moved") == {"user.dir": b"v"}
    assert image(loaded) == image(ns)
    ns.apply(c.Delete("/moved", True, T0))
    assert ns.xattrs == {}  # forgotten with their inodes
    mkdirs(ns, "/moved")
    assert ns.get_xattrs("/moved") == {}  # a new inode at the old path has none


# --------------------------------------------------------------------------- truncate


def test_truncate_on_a_block_boundary_drops_the_blocks_past_it_at_once(ns: Namespace) -> None:
    ids = write(ns, "/f", [BLOCK, BLOCK, 7])
    effects = ns.apply(c.Truncate("/f", BLOCK, T0 + 1))
    assert effects.result is True and effects.removed_blocks == ids[1:]
    assert ns.status("/f").length == BLOCK and not ns.under_construction
    assert ns.apply(c.Truncate("/f", BLOCK, T0 + 2)).result is True  # nothing to cut
    assert ns.apply(c.Truncate("/f", 0, T0 + 3)).removed_blocks == ids[:1]
    assert ns.status("/f").length == 0
    check_invariants(ns)


def test_truncate_inside_a_block_leaves_it_to_a_recovery(ns: Namespace) -> None:
    ids = write(ns, "/f", [BLOCK, BLOCK, 7])
    effects = ns.apply(c.Truncate("/f", BLOCK + 100, T0 + 1))
    assert effects.result is False and effects.removed_blocks == [ids[2]]
    assert ns.status("/f").length == BLOCK + 100  # shown cut at once
    pending = ns.under_construction["/f"]
    assert pending.client == RECOVERY_HOLDER and pending.truncating_to == 100
    check_invariants(ns)
    # Nobody writes to it meanwhile, nor cuts it again.
    fails_unchanged(ns, c.StartAppend("/f", "w2", T0), AlreadyBeingCreatedError)
    fails_unchanged(ns, c.Truncate("/f", 10, T0), AlreadyBeingCreatedError)
    fid = pending.file.id
    _, gen = ns.apply(c.ReassignLease(fid, RECOVERY_HOLDER)).result
    effects = ns.apply(c.CloseRecovered(fid, T0 + 2, 100, gen))
    assert ids[1] not in effects.removed_blocks  # the block cut is kept, not deleted
    status, blocks = ns.file_blocks("/f")
    assert status.length == BLOCK + 100 and [b.block_id for b in blocks] == ids[:2]
    assert blocks[1].gen == gen and blocks[1].length == 100
    assert not ns.under_construction
    check_invariants(ns)


def test_a_file_dropped_while_its_truncate_recovers_takes_its_blocks_once(
    ns: Namespace,
) -> None:
    ids = write(ns, "/f", [BLOCK, 50])
    ns.apply(c.Truncate("/f", BLOCK + 10, T0))
    check_invariants(ns)
    image_now = checkpoint.load(json.loads(json.dumps(image(ns))))[0]  # survives an image
    assert image_now.under_construction["/f"].truncating_to == 10
    removed = ns.apply(c.Delete("/f", False, T0)).removed_blocks
    assert sorted(removed) == sorted(ids) and not ns.under_construction
    check_invariants(ns)


def test_bad_truncates_are_refused_and_change_nothing(ns: Namespace) -> None:
    write(ns, "/f", [10])
    mkdirs(ns, "/d")
    start(ns, "/g", "w1")
    assert "larger file size" in fails_unchanged(ns, c.Truncate("/f", 11, T0), IllegalArgumentError)
    fails_unchanged(ns, c.Truncate("/f", -1, T0), IllegalArgumentError)
    fails_unchanged(ns, c.Truncate("/nope", 0, T0), FileNotFoundError_)
    fails_unchanged(ns, c.Truncate("/d", 0, T0), FileNotFoundError_)
    fails_unchanged(ns, c.Truncate("/g", 0, T0), FileNotFoundError_)  # not there yet


def test_a_webhdfs_status_is_the_status_in_webhdfs_shape(ns: Namespace) -> None:
    """GETFILESTATUS's answer, built from the inode, is the FileStatus model's own, for
    files of several blocks and none, folders full and empty, the root, after changes."""
    mkdirs(ns, "/d/empty", permission="700")
    write(ns, "/d/f", [1024, 1024, 7], replication=2, mtime=T0 + 9)
    write(ns, "/d/none", [])
    ns.apply(c.SetTimes("/d/f", mtime=T0 + 20, atime=T0 + 30))
    ns.apply(c.SetOwner("/d/none", owner="bob", group="staff"))
    ns.apply(c.SetReplication("/d/none", 5))
    for path in ("/", "/d", "/d/empty", "/d/f", "/d/none"):
        assert ns.webhdfs_status(path) == ns.status(path).to_webhdfs(""), path
    assert ns.webhdfs_status("/d/f")["length"] == 2055
    with pytest.raises(FileNotFoundError_):
        ns.webhdfs_status("/d/missing")
