"""Heartbeats are answered without the namesystem's lock: a beat gets its node's queued
commands while another thread holds the lock (a replication round, a block report), and
stale scheduled writes are forgotten on the monitor's tick, under the lock, instead."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from minihadoop.config import Settings
from minihadoop.models import Block, Command, HeartbeatRequest, HeartbeatResponse
from namenode.datanodes import DatanodeDescriptor
from namenode.namesystem import Namesystem
from tests.support import register_datanodes


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Namesystem]:
    system = Namesystem(tmp_path / "name", Settings(token="t"))
    register_datanodes(system, "dn1")
    yield system
    system.close()


def test_a_beat_is_answered_while_another_thread_holds_the_lock(system: Namesystem) -> None:
    delete = Command(kind="delete", block=Block(block_id=7))
    system.datanodes.queue("dn1", delete)
    answers: list[HeartbeatResponse] = []
    beat = threading.Thread(
        target=lambda: answers.append(system.heartbeat(HeartbeatRequest(datanode_id="dn1")))
    )
    with system.lock:  # held by this thread for the whole beat
        beat.start()
        beat.join(timeout=30)
        assert not beat.is_alive(), "the heartbeat waited for the namesystem's lock"
    assert [c.block.block_id for c in answers[0].commands if c.block] == [7]
    assert not system.datanodes.nodes["dn1"].commands  # handed out once


def test_stale_scheduled_writes_are_forgotten_by_the_tick_not_the_beat(
    system: Namesystem,
) -> None:
    node = system.datanodes.nodes["dn1"]
    node.schedule(42, 1000, system.clock() - DatanodeDescriptor.SCHEDULED_TTL - 1)
    system.heartbeat(HeartbeatRequest(datanode_id="dn1"))
    assert 42 in node.scheduled  # a beat iterates nothing
    system.tick()
    assert 42 not in node.scheduled and node.scheduled_bytes == 0
