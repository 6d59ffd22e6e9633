"""HDFS's permission rules (namenode.permissions), applied by the namespace to a command
that carries its caller: each rule allows what it must and refuses the rest with
AccessControlError, and a refused command changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from minihadoop.errors import AccessControlError, IllegalArgumentError
from minihadoop.groups import GroupMapping, parse_overrides
from namenode import checkpoint
from namenode import commands as c
from namenode.machine import NamespaceMachine
from namenode.namespace import Namespace
from namenode.permissions import AS, READ, WRITE, Caller, Checker, mode_string
from raft.machine import Request

T0 = 1_700_000_000_000
ROOT = Caller("root", frozenset(), superuser=True)
ALICE = Caller("alice", frozenset({"alice", "eng"}))
BOB = Caller("bob", frozenset({"bob", "eng"}))
MALLORY = Caller("mallory", frozenset({"mallory"}))


def mkdir(ns: Namespace, path: str, who: Caller, mode: str = "755") -> None:
    ns.apply(c.Mkdirs(path, T0, who.user, "", mode), who)


def touch(ns: Namespace, path: str, who: Caller, mode: str = "644", *, overwrite: bool = False):
    fid = ns.apply(
        c.StartFile(path, f"w-{who.user}", T0, who.user, "", 3, 1024, overwrite, mode), who
    ).result
    ns.apply(c.CompleteFile(path, f"w-{who.user}", T0, None, fid))


def refused(ns: Namespace, cmd: Any, who: Caller, match: str = "Permission denied") -> None:
    before = checkpoint.dump(ns, 0)
    with pytest.raises(AccessControlError, match=match):
        ns.apply(cmd, who)
    assert checkpoint.dump(ns, 0) == before


@pytest.fixture
def ns() -> Namespace:
    """/ (the superuser's, 755), /tmp (1777), /user/alice and /user/bob (their own, 755)."""
    ns = Namespace()
    mkdir(ns, "/tmp", ROOT, "1777")
    for who in (ALICE, BOB):
        mkdir(ns, f"/user/{who.user}", ROOT)
        ns.apply(c.SetOwner(f"/user/{who.user}", who.user, None), ROOT)
    return ns


def test_a_new_entry_needs_write_on_the_nearest_folder_above(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/a/b", ALICE)  # several levels at once, in her own home
    touch(ns, "/user/alice/a/b/f", ALICE)
    refused(ns, c.Mkdirs("/user/alice/x", T0, "bob", "", "755"), BOB)
    refused(ns, c.Mkdirs("/data", T0, "alice", "", "755"), ALICE)
    refused(
        ns, c.StartFile("/user/alice/g", "w", T0, "bob", "", 3, 1024, False, "644"), BOB,
        'user=bob, access=WRITE, inode="/user/alice":alice:supergroup:drwxr-xr-x',
    )  # fmt: skip
    mkdir(ns, "/user/alice/a", BOB)  # it exists: nothing to make, nothing to check


def test_every_folder_on_the_way_needs_execute(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/private/deep", ALICE)
    touch(ns, "/user/alice/private/deep/f", ALICE)
    ns.apply(c.SetPermission("/user/alice/private", "700"), ALICE)
    refused(ns, c.SetTimes("/user/alice/private/deep/f", mtime=T0), BOB, "access=EXECUTE")
    check = Checker(ns, BOB)
    with pytest.raises(AccessControlError, match="EXECUTE"):
        check.traverse("/user/alice/private/deep/f")
    Checker(ns, ALICE).traverse("/user/alice/private/deep/f")


def test_new_entries_take_their_folders_group(ns: Namespace) -> None:
    ns.apply(c.SetOwner("/user/alice", None, "eng"), ALICE)  # she is in eng
    mkdir(ns, "/user/alice/shared", ALICE, "775")
    touch(ns, "/user/alice/shared/f", ALICE, "664")
    assert ns.status("/user/alice/shared").group == "eng"
    assert ns.status("/user/alice/shared/f").group == "eng"
    # bob is in eng too: the group's bits let him write there, mallory's others' do not.
    touch(ns, "/user/alice/shared/g", BOB)
    ns.apply(c.SetReplication("/user/alice/shared/f", 2), BOB)
    refused(ns, c.SetReplication("/user/alice/shared/f", 1), MALLORY, "access=WRITE")


def test_overwrite_append_setrep_touch_and_xattrs_need_write_on_the_file(
    ns: Namespace,
) -> None:
    touch(ns, "/tmp/f", ALICE, "644")
    for cmd in (
        c.StartFile("/tmp/f", "w", T0, "bob", "", 3, 1024, True, "644"),
        c.StartAppend("/tmp/f", "w", T0),
        c.SetReplication("/tmp/f", 1),
        c.SetTimes("/tmp/f", mtime=T0 + 5),
        c.SetXAttr("/tmp/f", "user.a", "eA=="),
        c.Truncate("/tmp/f", 0, T0),
    ):
        refused(ns, cmd, BOB, 'inode="/tmp/f":alice')
    ns.apply(c.SetXAttr("/tmp/f", "user.a", "eA=="), ALICE)
    refused(ns, c.RemoveXAttr("/tmp/f", "user.a"), BOB)
    touch(ns, "/tmp/f", ALICE, overwrite=True)


def test_a_writers_blocks_close_and_abandon_need_write_on_its_file(ns: Namespace) -> None:
    """Knowing a writer's client name and file id is not enough to write its file."""
    started = c.StartFile("/tmp/w", "w-alice", T0, "alice", "", 3, 1024, False, "644")
    fid = ns.apply(started, ALICE).result
    for cmd in (
        c.AddBlock("/tmp/w", "w-alice", None, fid),
        c.AbandonFile("/tmp/w", "w-alice", fid),
        c.CompleteFile("/tmp/w", "w-alice", T0, None, fid),
    ):
        refused(ns, cmd, BOB, 'inode="/tmp/w":alice')
    ns.apply(c.AddBlock("/tmp/w", "w-alice", None, fid), ALICE)
    checker = Checker(ns, BOB)
    with pytest.raises(AccessControlError):
        checker.pending(ns.pending_by_id(fid), WRITE)
    ns.apply(c.CompleteFile("/tmp/w", "w-alice", T0, 0, fid), ALICE)


def test_a_writers_client_name_does_not_let_another_user_restart_its_file(
    ns: Namespace,
) -> None:
    """The same client name is the writer starting over: only whoever may write the file
    being written (and, in a sticky folder, owns it or the folder) may do that."""
    mkdir(ns, "/user/alice/open", ALICE, "777")
    for folder in ("/tmp", "/user/alice/open"):
        path = f"{folder}/w"
        ns.apply(c.StartFile(path, "w-alice", T0, "alice", "", 3, 1024, False, "600"), ALICE)
        for overwrite in (False, True):
            cmd = c.StartFile(path, "w-alice", T0, "bob", "", 3, 1024, overwrite, "644")
            refused(ns, cmd, BOB, f'inode="{path}":alice')
    ns.apply(c.StartFile("/tmp/v", "w-alice", T0, "alice", "", 3, 1024, False, "666"), ALICE)
    cmd = c.StartFile("/tmp/v", "w-alice", T0, "bob", "", 3, 1024, True, "644")
    refused(ns, cmd, BOB, "sticky bit")  # 666: he may write it, not replace it in /tmp
    ns.apply(c.StartFile("/tmp/w", "w-alice", T0, "alice", "", 3, 1024, True, "600"), ALICE)


def test_delete_and_rename_need_write_on_the_parent(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/d", ALICE)
    touch(ns, "/user/alice/d/f", ALICE)
    refused(ns, c.Delete("/user/alice/d/f", False, T0), BOB)
    refused(ns, c.Rename("/user/alice/d/f", "/tmp/f", T0), BOB)
    refused(ns, c.Rename("/user/alice/d/f", "/user/bob/f", T0), ALICE)  # bob's folder
    mkdir(ns, "/user/alice/wo", ALICE, "733")
    ns.apply(c.SetOwner("/user/alice/wo", "bob", None), ROOT)
    ns.apply(c.SetPermission("/user/alice/wo", "666"), ROOT)  # w but no x for its owner
    refused(ns, c.Rename("/user/alice/d/f", "/user/alice/wo", T0), ALICE, "WRITE_EXECUTE")
    ns.apply(c.Rename("/user/alice/d/f", "/tmp", T0), ALICE)  # into /tmp: /tmp/f
    assert ns.lookup("/tmp/f") is not None
    assert ns.apply(c.Delete("/tmp/f", False, T0), ALICE).result is True


def test_a_recursive_delete_needs_all_on_every_non_empty_folder_below(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/tree/locked", ALICE)
    touch(ns, "/user/alice/tree/locked/f", ALICE)
    mkdir(ns, "/user/alice/tree/empty", ALICE)
    ns.apply(c.SetPermission("/user/alice/tree/locked", "500"), ALICE)
    ns.apply(c.SetPermission("/user/alice/tree/empty", "500"), ALICE)
    refused(ns, c.Delete("/user/alice/tree", True, T0), ALICE, "access=ALL")
    ns.apply(c.SetPermission("/user/alice/tree/locked", "700"), ALICE)
    assert ns.apply(c.Delete("/user/alice/tree", True, T0), ALICE).result is True


def test_the_sticky_bit_keeps_others_from_removing_what_is_not_theirs(ns: Namespace) -> None:
    touch(ns, "/tmp/alices", ALICE, "666")
    refused(ns, c.Delete("/tmp/alices", False, T0), BOB, "sticky bit")
    refused(ns, c.Rename("/tmp/alices", "/tmp/mine", T0), BOB, "sticky bit")
    ns.apply(c.SetTimes("/tmp/alices", mtime=T0 + 1), BOB)  # writing it is still allowed
    assert ns.apply(c.Delete("/tmp/alices", False, T0), ROOT).result is True  # super
    touch(ns, "/tmp/bobs", BOB)
    assert ns.apply(c.Delete("/tmp/bobs", False, T0), BOB).result is True  # his own


def test_only_the_owner_changes_the_mode_only_a_superuser_the_owner(ns: Namespace) -> None:
    touch(ns, "/tmp/f", ALICE, "666")
    refused(ns, c.SetPermission("/tmp/f", "777"), BOB, "is not the owner")
    refused(ns, c.SetOwner("/tmp/f", "bob", None), ALICE, "non-super user cannot change owner")
    refused(ns, c.SetOwner("/tmp/f", None, "admins"), ALICE, "does not belong to admins")
    refused(ns, c.SetOwner("/tmp/f", None, "eng"), BOB, "is not the owner")
    ns.apply(c.SetOwner("/tmp/f", "alice", "eng"), ALICE)  # herself, a group of hers
    ns.apply(c.SetOwner("/tmp/f", "bob", "staff"), ROOT)
    assert (ns.status("/tmp/f").owner, ns.status("/tmp/f").group) == ("bob", "staff")


def test_concat_needs_write_on_the_target_and_to_remove_each_source(ns: Namespace) -> None:
    for name in ("t", "s"):
        fid = ns.apply(
            c.StartFile(f"/tmp/{name}", "w", T0, "alice", "", 3, 1024, False, "644"), ALICE
        ).result
        ns.apply(c.AddBlock(f"/tmp/{name}", "w", None, fid))
        ns.apply(c.CompleteFile(f"/tmp/{name}", "w", T0, 1024, fid))
    refused(ns, c.Concat("/tmp/t", "/tmp/s", T0), BOB)
    ns.apply(c.Concat("/tmp/t", "/tmp/s", T0), ALICE)
    assert ns.status("/tmp/t").length == 2048


def test_moving_to_the_trash_needs_the_users_own_trash(ns: Namespace) -> None:
    touch(ns, "/user/alice/f", ALICE)
    trash = "/user/alice/.Trash/Current"
    refused(ns, c.MoveToTrash("/user/alice/f", "/user/bob/.Trash/Current", T0, "bob", ""), BOB)
    assert ns.apply(c.MoveToTrash("/user/alice/f", trash, T0, "alice", ""), ALICE).result


def test_reads_list_summarise_and_check_access(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/closed/inner", ALICE)
    touch(ns, "/user/alice/closed/inner/f", ALICE, "600")
    ns.apply(c.SetPermission("/user/alice/closed/inner", "711"), ALICE)  # enter, not list
    bob = Checker(ns, BOB)
    bob.listing("/user/alice/closed")
    with pytest.raises(AccessControlError, match="READ_EXECUTE"):
        bob.listing("/user/alice/closed/inner")
    with pytest.raises(AccessControlError, match="READ_EXECUTE"):
        bob.summary("/user/alice/closed")
    with pytest.raises(AccessControlError, match="access=READ,"):
        bob.access("/user/alice/closed/inner/f", READ)
    bob.traverse("/user/alice/closed/inner/f")  # a stat needs only the way there
    alice = Checker(ns, ALICE)
    alice.summary("/user/alice/closed")
    alice.access("/user/alice/closed/inner/f", READ | WRITE)


def test_a_superuser_and_a_command_without_caller_pass_everything(ns: Namespace) -> None:
    mkdir(ns, "/user/alice/locked", ALICE, "000")
    ns.apply(c.Mkdirs("/user/alice/locked/in", T0, "root", "", "755"), ROOT)
    ns.apply(c.Delete("/user/alice/locked", True, T0))  # the namenode's own doing


def test_the_caller_travels_in_the_log_entry_and_is_checked_on_apply() -> None:
    machine = NamespaceMachine(lock=__import__("threading").RLock())
    record = c.to_record(c.Mkdirs("/data", T0, "alice", "", "755"))
    refusal = machine.apply(1, Request({**record, AS: ALICE.to_record()}))
    assert refusal["error"]["RemoteException"]["exception"] == "AccessControlException"
    assert machine.ns.lookup("/data") is None
    assert machine.apply(2, Request({**record, AS: ROOT.to_record()})) == {"ok": True}
    bad = machine.apply(3, Request({**record, AS: {"user": 5}}))
    assert bad["error"]["RemoteException"]["exception"] == "IllegalArgumentException"


def test_mode_strings_and_the_caller_record() -> None:
    assert mode_string(True, "1777") == "drwxrwxrwt"
    assert mode_string(False, "640") == "-rw-r-----"
    assert mode_string(True, "1770") == "drwxrwx--T"
    assert Caller.from_record(ALICE.to_record()) == ALICE
    with pytest.raises(IllegalArgumentError):
        Caller.from_record({"user": "a", "groups": "eng", "super": False})


def test_groups_come_from_overrides_or_the_machine_and_are_cached() -> None:
    asked: list[str] = []

    def lookup(user: str) -> frozenset[str]:
        asked.append(user)
        return frozenset({f"{user}-grp"})

    now = [0.0]
    mapping = GroupMapping("alice=eng,staff; bob=", lookup, clock=lambda: now[0])
    assert mapping.groups("alice") == {"eng", "staff"} and mapping.groups("bob") == frozenset()
    assert mapping.groups("carol") == {"carol-grp"} and mapping.groups("carol")
    assert asked == ["carol"]
    now[0] = 301.0
    mapping.groups("carol")
    assert asked == ["carol", "carol"]
    assert parse_overrides("") == {}
    for bad in ("alice", "al ice=eng", "alice=e;ng,", "=eng"):
        with pytest.raises(IllegalArgumentError, match="user=group"):
            parse_overrides(bad)
