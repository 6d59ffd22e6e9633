"""The datanode registry (namenode.datanodes): registrations and heartbeats with the time
passed in; who is alive, and the commands waiting for each node."""

from __future__ import annotations

import pytest

from minihadoop.models import (
    Block,
    Command,
    DatanodeRef,
    DatanodeState,
    HeartbeatRequest,
    RegisterRequest,
)
from namenode.datanodes import DatanodeRegistry
from namenode.placement import NodeView

DEAD_AFTER = 30.0


def register(
    reg: DatanodeRegistry,
    node_id: str,
    now: float,
    *,
    url: str | None = None,
    rack: str = "/r1",
    remaining: int = 500,
) -> None:
    reg.register(
        RegisterRequest(
            datanode_id=node_id,
            url=url or f"http://{node_id}.example:9864/",
            rack=rack,
            capacity=1000,
            used=1000 - remaining,
            remaining=remaining,
        ),
        now,
    )


def beat(reg: DatanodeRegistry, node_id: str, now: float, **fields: int) -> bool:
    return reg.heartbeat(HeartbeatRequest(datanode_id=node_id, **fields), now) is not None


def delete(block_id: int) -> Command:
    return Command(kind="delete", block=Block(block_id=block_id))


@pytest.fixture
def reg() -> DatanodeRegistry:
    return DatanodeRegistry(dead_timeout=DEAD_AFTER)


def test_register_makes_a_live_node_with_its_view(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 10.0, rack="/rack-a", remaining=300)
    node = reg.get("dn1")
    assert node is not None
    assert node.state is DatanodeState.LIVE and node.is_live
    assert node.url == "http://dn1.example:9864"  # trailing slash dropped
    assert (node.registered_at, node.last_heartbeat) == (10.0, 10.0)
    assert node.ref == DatanodeRef(id="dn1", url="http://dn1.example:9864", rack="/rack-a")
    assert node.view == NodeView(
        id="dn1", host="dn1.example", rack="/rack-a", capacity=1000, remaining=300
    )
    assert set(reg.live()) == {"dn1"}
    assert set(reg.writable()) == {"dn1"}
    assert reg.by_url() == {"http://dn1.example:9864": node}
    assert reg.get("nobody") is None


def test_heartbeats_update_usage_and_keep_a_node_alive(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    for now in (20.0, 40.0, 60.0):
        assert beat(reg, "dn1", now, capacity=1000, used=900, remaining=100, active_transfers=2)
        assert reg.expire(now + DEAD_AFTER) == []
    node = reg.get("dn1")
    assert node is not None
    assert (node.remaining, node.used, node.active_transfers) == (100, 900, 2)
    assert node.view.active_transfers == 2


def test_a_silent_node_is_declared_dead_after_the_timeout(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    register(reg, "dn2", 0.0)
    beat(reg, "dn2", 20.0)
    assert reg.expire(DEAD_AFTER) == []  # exactly the timeout: not yet
    dead = reg.expire(DEAD_AFTER + 0.1)
    assert [n.id for n in dead] == ["dn1"]
    assert dead[0].state is DatanodeState.DEAD
    assert reg.expire(DEAD_AFTER + 1) == []  # reported once, not every tick
    assert set(reg.live()) == set(reg.writable()) == {"dn2"}
    assert [n.id for n in reg.expire(20.0 + DEAD_AFTER + 1)] == ["dn2"]


def test_a_dead_nodes_heartbeat_asks_it_to_register_again(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    reg.expire(100.0)
    assert beat(reg, "dn1", 101.0) is False
    assert reg.nodes["dn1"].state is DatanodeState.DEAD
    assert beat(reg, "unknown", 101.0) is False
    register(reg, "dn1", 102.0)
    node = reg.get("dn1")
    assert node is not None and node.state is DatanodeState.LIVE
    assert node.registered_at == 102.0
    assert beat(reg, "dn1", 103.0) is True


def test_commands_queue_and_leave_with_the_next_heartbeat(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    for b in range(1, 6):
        reg.queue("dn1", delete(b))
    assert reg.take_commands("dn1", limit=2) == [delete(1), delete(2)]
    assert reg.take_commands("dn1") == [delete(3), delete(4), delete(5)]
    assert reg.take_commands("dn1") == []
    assert reg.take_commands("nobody") == []


def test_commands_for_dead_or_unknown_nodes_are_dropped(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    reg.queue("dn1", delete(1))
    reg.expire(100.0)  # what it was told to do no longer matters: its replicas are forgotten
    reg.queue("dn1", delete(2))
    reg.queue("ghost", delete(3))
    assert reg.take_commands("dn1") == []
    assert reg.take_commands("ghost") == []


def test_a_live_node_registering_again_keeps_its_state_but_not_its_commands(
    reg: DatanodeRegistry,
) -> None:
    register(reg, "dn1", 0.0)
    reg.queue("dn1", delete(1))
    node = reg.get("dn1")
    assert node is not None
    node.state = DatanodeState.DECOMMISSIONING
    register(reg, "dn1", 5.0, url="http://moved.example:1/", rack="/r2")
    again = reg.get("dn1")
    assert again is node
    assert again.state is DatanodeState.DECOMMISSIONING
    assert (again.url, again.rack, again.last_heartbeat) == ("http://moved.example:1", "/r2", 5.0)
    assert again.registered_at == 0.0
    assert reg.take_commands("dn1") == []  # it restarted: old commands are stale


def test_a_draining_node_is_live_but_takes_no_new_replicas(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    register(reg, "dn2", 0.0)
    reg.nodes["dn1"].state = DatanodeState.DECOMMISSIONING
    assert set(reg.live()) == {"dn1", "dn2"}
    assert set(reg.writable()) == {"dn2"}
    assert beat(reg, "dn1", 1.0)
    reg.queue("dn1", delete(1))
    assert reg.take_commands("dn1") == [delete(1)]
    # It is still watched: silent too long, it is dead like any other.
    assert [n.id for n in reg.expire(1.0 + DEAD_AFTER + 1)] == ["dn1", "dn2"]


def test_expire_resets_transfers_of_the_dead(reg: DatanodeRegistry) -> None:
    register(reg, "dn1", 0.0)
    beat(reg, "dn1", 1.0, active_transfers=4)
    (dead,) = reg.expire(100.0)
    assert dead.active_transfers == 0
    assert not dead.commands
