"""Replica deletes leave the namenode only after the edit that freed the blocks is durable.

`HeldCommands` on its own, then an in-process `Namesystem` (real edit log in a temp folder)
whose edit log's fdatasync is made to fail: a heartbeat must not carry the delete out.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from minihadoop.config import Settings
from minihadoop.models import (
    AddBlockRequest,
    Block,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
    IncrementalReportRequest,
    ReplicaReport,
)
from namenode import editlog
from namenode.editlog import EditLogFailedError
from namenode.invalidations import HeldCommands
from namenode.namesystem import Namesystem
from tests.support import Clock, register_datanodes

GIB = 1 << 30
BLOCK = 1 << 20


def test_deletes_are_released_in_order_once_their_txid_is_durable() -> None:
    held: HeldCommands[int] = HeldCommands()
    held.hold(3, "dn-a", 10)
    held.hold(3, "dn-b", 10)
    held.hold(5, "dn-a", 11)
    assert held.release(2) == []
    assert held.release(4) == [("dn-a", 10), ("dn-b", 10)]
    assert len(held) == 1
    assert held.release(5) == [("dn-a", 11)]
    assert held.release(9) == []


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def system(tmp_path: Path, clock: Clock) -> Iterator[Namesystem]:
    s = Namesystem(
        tmp_path / "name",
        Settings(token="secret", replication=1, lease_hard_limit=60),
        clock=clock,
    )
    s.on_fatal = lambda _reason: None  # the test, not the process, sees the failure
    register_datanodes(s, "dn-a", capacity=GIB)
    s.set_safemode("leave")
    yield s
    # After a failed fsync the checkpoint on close fails too; the second close just shuts
    # the segment file.
    with contextlib.suppress(EditLogFailedError):
        s.close()
    with contextlib.suppress(EditLogFailedError):
        s.journal.close()


def failing_fsync(monkeypatch: pytest.MonkeyPatch) -> None:
    def fdatasync(_fd: int) -> None:
        raise OSError(5, "Input/output error")

    fake_os = SimpleNamespace(**{n: getattr(os, n) for n in dir(os) if not n.startswith("__")})
    fake_os.fdatasync = fdatasync
    monkeypatch.setattr(editlog, "os", fake_os)


def stored_block(system: Namesystem, path: str, *, complete: bool = True) -> int:
    """A one-block file whose replica dn-a has reported; its block id."""
    system.sync(system.create(CreateRequest(path=path, client="c1", block_size=BLOCK), "u")[0])
    located, txid = system.add_block(AddBlockRequest(path=path, client="c1"), "127.0.0.1")
    system.sync(txid)
    block = Block(block_id=located.block.block_id, gen=located.block.gen, length=100)
    report = ReplicaReport(block_id=block.block_id, gen=block.gen, length=100)
    system.incremental_report(IncrementalReportRequest(datanode_id="dn-a", received=[report]))
    if complete:
        system.sync(system.complete(CompleteRequest(path=path, client="c1", last=block)))
    return block.block_id


def commanded(system: Namesystem, kind: str) -> list[int]:
    reply = system.heartbeat(HeartbeatRequest(datanode_id="dn-a", capacity=GIB, remaining=GIB))
    return [c.block.block_id for c in reply.commands if c.kind == kind and c.block]


def deletes(system: Namesystem) -> list[int]:
    return commanded(system, "delete")


def test_no_delete_leaves_before_the_edit_that_freed_the_block_is_durable(
    system: Namesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_id = stored_block(system, "/f")
    failing_fsync(monkeypatch)
    _, _, txid = system.delete("/f", recursive=False, skip_trash=True, user="u")
    assert deletes(system) == []  # decided, but its edit is not on disk yet
    with pytest.raises(OSError):
        system.sync(txid)
    assert deletes(system) == []  # and never will be: a restart brings the file back
    held = [(node, c.block and c.block.block_id) for node, c in system.held.release(txid)]
    assert held == [("dn-a", block_id)]  # still held


def test_a_delete_leaves_with_the_first_heartbeat_after_its_edit_is_durable(
    system: Namesystem,
) -> None:
    block_id = stored_block(system, "/f")
    _, _, txid = system.delete("/f", recursive=False, skip_trash=True, user="u")
    assert deletes(system) == []
    system.sync(txid)
    assert deletes(system) == [block_id]


def test_an_expired_lease_is_synced_by_the_monitor_so_its_blocks_are_freed(
    system: Namesystem, clock: Clock
) -> None:
    block_id = stored_block(system, "/open", complete=False)
    system.tick()
    clock.now += 61
    assert deletes(system) == []  # a heartbeat: dn-a stays live
    system.tick()  # drops the unfinished file, and makes that durable before returning
    assert system.status_or_none("/open") is None
    assert system.journal.synced_txid == system.journal.last_txid
    assert deletes(system) == [block_id]


def test_the_monitor_syncs_what_a_failed_request_logged_and_never_synced(
    system: Namesystem,
) -> None:
    """A request that logs an edit and then fails before its sync (here: the delete is
    logged, the caller never syncs) must not leave the delete held until some other
    client's sync: the monitor's next round makes it durable."""
    block_id = stored_block(system, "/f")
    system.delete("/f", recursive=False, skip_trash=True, user="u")  # txid never synced
    assert deletes(system) == []
    system.tick()
    assert deletes(system) == [block_id]


def test_no_block_recovery_leaves_before_its_new_stamp_is_durable(
    system: Namesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A datanode restamps replicas with the recovery's generation stamp: were that edit
    lost, a restarted namenode would hand the same stamp out again, find no replica older
    than it, and close the file without its last block."""
    stored_block(system, "/open", complete=False)
    failing_fsync(monkeypatch)
    closed, txid = system.recover_lease("/open")
    assert not closed and commanded(system, "recover") == []
    with pytest.raises(OSError):
        system.sync(txid)
    assert commanded(system, "recover") == []


def test_a_block_recovery_leaves_once_its_edit_is_durable(system: Namesystem) -> None:
    block_id = stored_block(system, "/open", complete=False)
    closed, txid = system.recover_lease("/open")
    assert not closed and commanded(system, "recover") == []
    system.sync(txid)
    assert commanded(system, "recover") == [block_id]
