"""HDFS's name and space quotas (namenode.namespace): checked before a command is applied,
with HDFS's messages; a refusal changes nothing; what a folder holds is kept as commands
change it and survives a checkpoint. (The random command sequences of test_namespace set
quotas too, and check after every command that the kept counts match a walk and that no
command took a folder past a quota.)"""

from __future__ import annotations

import json

import pytest

from minihadoop.errors import (
    AccessControlError,
    DSQuotaExceededError,
    FileNotFoundError_,
    IllegalArgumentError,
    NSQuotaExceededError,
)
from namenode import checkpoint
from namenode import commands as c
from namenode.namespace import Namespace
from namenode.permissions import Caller
from tests.unit.test_namespace import (
    BLOCK,
    T0,
    add_block,
    check_invariants,
    complete,
    fails_unchanged,
    mkdirs,
    start,
    write,
)


def quota(ns: Namespace, path: str, names: int | None = None, space: int | None = None) -> None:
    ns.apply(c.SetQuota(path, names, space))
    check_invariants(ns)


def used(ns: Namespace, path: str) -> tuple[int, int]:
    q = ns.quota(path)
    assert q is not None
    return q.used_names, q.used_space


@pytest.fixture
def ns() -> Namespace:
    ns = Namespace(now=T0)
    mkdirs(ns, "/q")
    mkdirs(ns, "/free")
    return ns


def test_a_name_quota_counts_the_folder_and_everything_below(ns: Namespace) -> None:
    quota(ns, "/q", names=3)
    assert used(ns, "/q") == (1, 0)  # the folder itself
    mkdirs(ns, "/q/a")
    start(ns, "/q/a/f")  # a file being written is a name already, as in HDFS
    message = fails_unchanged(ns, c.Mkdirs("/q/b", T0, "alice", "supergroup"), NSQuotaExceededError)
    assert message == (
        "The NameSpace quota (directories and files) of directory /q is exceeded: "
        "quota=3 file count=4"
    )
    fails_unchanged(ns, c.StartFile("/q/g", "w2", T0, "a", "g", 1, BLOCK), NSQuotaExceededError)
    # Several levels at once count every level.
    quota(ns, "/q", names=4)
    fails_unchanged(ns, c.Mkdirs("/q/x/y", T0, "a", "g"), NSQuotaExceededError)
    ns.apply(c.AbandonFile("/q/a/f", "w1"))  # an abandoned file frees its name
    assert used(ns, "/q") == (2, 0)
    mkdirs(ns, "/q/x/y")
    assert used(ns, "/q") == (4, 0)
    check_invariants(ns)


def test_a_space_quota_charges_a_block_being_written_whole(ns: Namespace) -> None:
    quota(ns, "/q", space=5 * BLOCK)
    start(ns, "/q/f", replication=2)
    add_block(ns, "/q/f")
    assert used(ns, "/q") == (2, 2 * BLOCK)  # the block being written: whole, twice
    add_block(ns, "/q/f", previous=BLOCK)
    assert used(ns, "/q") == (2, 4 * BLOCK)
    message = fails_unchanged(ns, c.AddBlock("/q/f", "w1", BLOCK), DSQuotaExceededError)
    assert message == (
        "The DiskSpace quota of /q is exceeded: quota = 5120 B = 5 KB but diskspace "
        "consumed = 6144 B = 6 KB"
    )
    complete(ns, "/q/f", last=100)  # closed: charged what it holds
    assert used(ns, "/q") == (2, 2 * (BLOCK + 100))
    check_invariants(ns)


def test_quotas_hold_across_renames_setrep_concat_and_the_trash(ns: Namespace) -> None:
    write(ns, "/free/big", [BLOCK, BLOCK], replication=1)
    write(ns, "/free/small", [10], replication=1)
    quota(ns, "/q", names=3, space=BLOCK)
    fails_unchanged(ns, c.Rename("/free/big", "/q/big", T0), DSQuotaExceededError)
    fails_unchanged(ns, c.Rename("/free/big", "/q", T0), DSQuotaExceededError)  # into it
    ns.apply(c.Rename("/free/small", "/q", T0))
    assert used(ns, "/q") == (2, 10)
    fails_unchanged(ns, c.SetReplication("/q/small", 200), DSQuotaExceededError)
    ns.apply(c.SetReplication("/q/small", 3))
    assert used(ns, "/q") == (2, 30)
    fails_unchanged(ns, c.Concat("/q/small", "/free/big", T0), DSQuotaExceededError)
    ns.apply(c.Rename("/q/small", "/free/small", T0))  # moving out frees it
    assert used(ns, "/q") == (1, 0)
    # The trash is charged to the folder it is in: a full home cannot take one more.
    mkdirs(ns, "/q/home")
    write(ns, "/q/home/old", [5], replication=1)
    trash = c.MoveToTrash("/q/home/old", "/q/home/.Trash/Current", T0, "alice", "g")
    fails_unchanged(ns, trash, NSQuotaExceededError)
    check_invariants(ns)


def test_a_folder_over_its_quota_may_shrink_but_not_grow(ns: Namespace) -> None:
    for name in ("a", "b", "c"):
        write(ns, f"/q/{name}", [100], replication=1)
    quota(ns, "/q", names=2, space=50)  # lower than it holds: allowed, as in HDFS
    assert used(ns, "/q") == (4, 300)
    fails_unchanged(ns, c.StartFile("/q/d", "w1", T0, "a", "g", 1, BLOCK), NSQuotaExceededError)
    ns.apply(c.Delete("/q/a", False, T0))
    ns.apply(c.Rename("/q/b", "/q/b2", T0))  # a move inside it changes nothing
    assert used(ns, "/q") == (3, 200)
    quota(ns, "/q", names=-1)  # clears the name quota only
    start(ns, "/q/d")
    fails_unchanged(ns, c.AddBlock("/q/d", "w1", None), DSQuotaExceededError)
    quota(ns, "/q", space=-1)
    assert ns.quota("/q") is None
    add_block(ns, "/q/d")
    check_invariants(ns)


def test_nested_quotas_each_hold_and_go_with_their_folder(ns: Namespace) -> None:
    quota(ns, "/q", names=10)
    mkdirs(ns, "/q/inner")
    quota(ns, "/q/inner", names=2)
    start(ns, "/q/inner/f")
    fails_unchanged(ns, c.Mkdirs("/q/inner/g", T0, "a", "g"), NSQuotaExceededError)
    ns.apply(c.Rename("/q/inner", "/free/inner", T0))  # its quota moves with it
    assert used(ns, "/free/inner") == (2, 0) and used(ns, "/q") == (1, 0)
    ns.apply(c.Delete("/free/inner", True, T0))
    assert len(ns.quotas) == 1  # a deleted folder's quota goes with it
    check_invariants(ns)


def test_quotas_survive_a_checkpoint_and_bad_ones_are_refused(ns: Namespace) -> None:
    quota(ns, "/q", names=5, space=6 * BLOCK)
    write(ns, "/q/f", [BLOCK], replication=2)
    start(ns, "/q/g")
    add_block(ns, "/q/g")
    loaded, _ = checkpoint.load(json.loads(json.dumps(checkpoint.dump(ns, 1))))
    assert used(loaded, "/q") == used(ns, "/q") == (3, 2 * BLOCK + 3 * BLOCK)
    fails_unchanged(loaded, c.AddBlock("/q/g", "w1", BLOCK), DSQuotaExceededError)
    check_invariants(loaded)

    fails_unchanged(ns, c.SetQuota("/q/f", 3, None), FileNotFoundError_)  # a file
    fails_unchanged(ns, c.SetQuota("/nowhere", 3, None), FileNotFoundError_)
    fails_unchanged(ns, c.SetQuota("/q", 0, None), IllegalArgumentError)
    fails_unchanged(ns, c.SetQuota("/q", None, -5), IllegalArgumentError)
    with pytest.raises(AccessControlError, match="Superuser privilege is required"):
        ns.apply(c.SetQuota("/q", -1, -1), Caller("alice", frozenset({"alice"})))
    assert used(ns, "/q")[0] == 3
