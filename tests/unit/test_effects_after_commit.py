"""Replica deletes and block recoveries leave the namenode only once the edit that justifies
them is committed: proposed, written and fsynced by the Raft log, then applied.

An in-process `Namesystem` (real Raft log in a temp folder) whose log writes are held at a
gate, or made to fail: a heartbeat must not carry the command out meanwhile, or ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from minihadoop.config import Settings
from minihadoop.errors import UnavailableError
from minihadoop.models import (
    AddBlockRequest,
    Block,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
    IncrementalReportRequest,
    ReplicaReport,
)
from namenode.namesystem import Namesystem
from tests.support import Clock, register_datanodes

GIB = 1 << 30
BLOCK = 1 << 20
WAIT = 10.0


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
    s.fatal: list[str] = []  # type: ignore[attr-defined]
    s.on_fatal = s.fatal.append  # type: ignore[attr-defined]  # the test sees it, not the process
    register_datanodes(s, "dn-a", capacity=GIB)
    s.set_safemode("leave")
    yield s
    s.host.stop()


class Gate:
    """Holds every write of the Raft log until opened; or makes them fail."""

    def __init__(self, system: Namesystem, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.reached = threading.Event()
        self.fail = False
        real: Callable[..., None] = system.storage.save

        def save(*args: Any, **kwargs: Any) -> None:
            self.reached.set()
            assert self.opened.wait(WAIT)
            if self.fail:
                raise OSError(5, "Input/output error")
            real(*args, **kwargs)

        monkeypatch.setattr(system.storage, "save", save)

    def open(self) -> None:
        self.opened.set()


def stored_block(system: Namesystem, path: str, *, complete: bool = True) -> int:
    """A one-block file whose replica dn-a has reported; its block id."""
    system.create(CreateRequest(path=path, client="c1", block_size=BLOCK), "u")
    located = system.add_block(AddBlockRequest(path=path, client="c1"), "127.0.0.1")
    block = Block(block_id=located.block.block_id, gen=located.block.gen, length=100)
    report = ReplicaReport(block_id=block.block_id, gen=block.gen, length=100)
    system.incremental_report(IncrementalReportRequest(datanode_id="dn-a", received=[report]))
    if complete:
        system.complete(CompleteRequest(path=path, client="c1", last=block))
    return block.block_id


def commanded(system: Namesystem, kind: str) -> list[int]:
    reply = system.heartbeat(HeartbeatRequest(datanode_id="dn-a", capacity=GIB, remaining=GIB))
    return [c.block.block_id for c in reply.commands if c.kind == kind and c.block]


def in_background(call: Callable[[], Any]) -> Future[Any]:
    pool = ThreadPoolExecutor(1)
    future = pool.submit(call)
    pool.shutdown(wait=False)
    return future


def test_a_delete_leaves_only_after_its_edit_is_written(
    system: Namesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    block_id = stored_block(system, "/f")
    gate = Gate(system, monkeypatch)
    answer = in_background(lambda: system.delete("/f", recursive=False, skip_trash=True, user="u"))
    assert gate.reached.wait(WAIT)  # proposed, being written
    assert commanded(system, "delete") == []
    assert system.status_or_none("/f") is not None  # not applied either
    assert not answer.done()
    gate.open()
    assert answer.result(WAIT) == (True, None)
    assert system.status_or_none("/f") is None
    assert commanded(system, "delete") == [block_id]


def test_a_delete_whose_edit_fails_never_leaves(
    system: Namesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored_block(system, "/f")
    gate = Gate(system, monkeypatch)
    gate.fail = True
    answer = in_background(lambda: system.delete("/f", recursive=False, skip_trash=True, user="u"))
    gate.open()
    with pytest.raises(UnavailableError):
        answer.result(WAIT)
    assert system.fatal  # type: ignore[attr-defined]  # a namenode that cannot log stops
    assert commanded(system, "delete") == []
    assert system.status_or_none("/f") is not None  # a restart would find it too


def test_an_expired_lease_frees_its_blocks_once_the_abandon_is_committed(
    system: Namesystem, clock: Clock
) -> None:
    block_id = stored_block(system, "/open", complete=False)
    system.tick()
    clock.now += 61
    assert commanded(system, "delete") == []  # a heartbeat: dn-a stays live
    system.tick()  # proposes the abandon and waits for it to be applied
    assert system.status_or_none("/open") is None
    assert system.ns.under_construction == {}
    assert commanded(system, "delete") == [block_id]


def test_no_block_recovery_leaves_before_its_new_stamp_is_written(
    system: Namesystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A datanode restamps replicas with the recovery's generation stamp: were that edit
    lost, a restarted namenode would hand the same stamp out again, find no replica older
    than it, and close the file without its last block."""
    block_id = stored_block(system, "/open", complete=False)
    gate = Gate(system, monkeypatch)
    answer = in_background(lambda: system.recover_lease("/open"))
    assert gate.reached.wait(WAIT)
    assert commanded(system, "recover") == []
    gate.open()
    assert answer.result(WAIT) is False
    assert commanded(system, "recover") == [block_id]
