"""Blocks scheduled: a burst of writes spreads over equal datanodes between two heartbeats.

An in-process `Namesystem` (real edit log in a temp folder) with three datanodes on the
writer's own host, as in a local cluster: their reported free space stands still between
heartbeats, so only the writes the namenode has itself scheduled can tell them apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

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
from namenode.datanodes import DatanodeDescriptor
from namenode.namesystem import Namesystem
from tests.support import register_datanodes

GIB = 1 << 30
BLOCK = 1 << 20


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Namesystem]:
    s = Namesystem(tmp_path / "name", Settings(token="secret", replication=1))
    register_datanodes(s, "dn-a", "dn-b", "dn-c", capacity=GIB)
    s.set_safemode("leave")
    yield s
    s.close()


def write_blocks(system: Namesystem, path: str, count: int) -> list[tuple[int, str]]:
    """Allocate `count` blocks of one file as a writer on 127.0.0.1 would; (block, node)."""
    system.create(CreateRequest(path=path, client="c1", block_size=BLOCK), "alice")
    placed: list[tuple[int, str]] = []
    previous = None
    for _ in range(count):
        located = system.add_block(
            AddBlockRequest(path=path, client="c1", previous=previous), writer_host="127.0.0.1"
        )
        previous = Block(block_id=located.block.block_id, gen=located.block.gen, length=BLOCK)
        placed.append((located.block.block_id, located.locations[0].id))
    system.complete(CompleteRequest(path=path, client="c1", last=previous))
    return placed


def test_a_burst_of_blocks_spreads_over_nodes_that_look_equal(system: Namesystem) -> None:
    per_node = Counter(node for _, node in write_blocks(system, "/burst", 30))
    assert set(per_node) == {"dn-a", "dn-b", "dn-c"}
    assert max(per_node.values()) - min(per_node.values()) <= 3, per_node


def test_scheduled_writes_count_until_reported(system: Namesystem) -> None:
    block_id, node_id = write_blocks(system, "/one", 1)[0]
    node = system.datanodes.nodes[node_id]
    assert node.view.active_transfers == 1
    assert node.view.remaining == GIB - BLOCK
    # A heartbeat alone does not clear it: the node may not have the block yet.
    system.heartbeat(HeartbeatRequest(datanode_id=node_id, capacity=GIB, remaining=GIB))
    assert node.view.active_transfers == 1
    system.incremental_report(
        IncrementalReportRequest(
            datanode_id=node_id, received=[ReplicaReport(block_id=block_id, length=BLOCK, gen=1)]
        )
    )
    assert node.view.active_transfers == 0
    assert node.view.remaining == GIB


def test_a_write_never_reported_stops_counting(system: Namesystem) -> None:
    _, node_id = write_blocks(system, "/lost", 1)[0]
    node = system.datanodes.nodes[node_id]
    node.forget_stale(system.clock() + DatanodeDescriptor.SCHEDULED_TTL + 1)
    assert node.view.active_transfers == 0


def test_scheduling_one_block_twice_counts_it_once(system: Namesystem) -> None:
    node = system.datanodes.nodes["dn-a"]
    node.schedule(7, BLOCK, 0.0)
    node.schedule(7, BLOCK, 1.0)  # chosen again, e.g. a retried copy
    assert (node.view.active_transfers, node.view.remaining) == (1, GIB - BLOCK)
    node.received(7)
    node.received(7)
    assert (node.view.active_transfers, node.view.remaining) == (0, GIB)
