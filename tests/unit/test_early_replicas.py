"""A follower told of a replica before it has applied the replica's block keeps the report
until it has (`namenode.early_replicas`), so a follower elected next knows where the last
blocks written before the election are. And a namenode just made active refuses, as
retriable, a read of a block no datanode has reported to it while the full reports it asked
for are still coming.

Three in-process namesystems with real Raft logs on disk, joined by a network of queues the
test cuts; the datanode is the test, calling the namesystems as a datanode's actors do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minihadoop.config import Settings
from minihadoop.errors import UnavailableError
from minihadoop.models import (
    AddBlockRequest,
    Block,
    BlockReportRequest,
    CompleteRequest,
    CreateRequest,
    IncrementalReportRequest,
    LocatedBlocks,
    ReplicaReport,
)
from namenode.early_replicas import EarlyReplicas
from namenode.namesystem import Namesystem
from raft.types import Role
from tests.raft.test_host import Network
from tests.support import Clock, register_datanodes, wait_for

IDS = ("a", "b", "c")
BLOCK = 1 << 20
LENGTH = 100
WAIT = 20.0


def replica(block_id: int, gen: int = 1001) -> ReplicaReport:
    return ReplicaReport(block_id=block_id, gen=gen, length=LENGTH)


# --- the pure part ------------------------------------------------------------------------


def test_replicas_wait_by_block_and_the_newest_report_of_one_wins() -> None:
    early = EarlyReplicas()
    early.add("dn-a", replica(7, gen=1))
    early.add("dn-b", replica(7, gen=1))
    early.add("dn-a", replica(7, gen=2))  # the same replica again, newer
    early.add("dn-a", replica(9))
    assert len(early) == 3
    assert early.take(7) == [("dn-a", replica(7, gen=2)), ("dn-b", replica(7, gen=1))]
    assert early.take(7) == []
    assert len(early) == 1


def test_a_deleted_replica_and_a_superseded_node_are_let_go() -> None:
    early = EarlyReplicas()
    for block_id in (5, 6, 7):
        early.add("dn-a", replica(block_id))
        early.add("dn-b", replica(block_id))
    early.discard(6, "dn-a")
    early.discard(6, "dn-a")  # twice: nothing more
    early.discard(99, "dn-a")  # never held
    assert len(early) == 5
    early.forget_node("dn-b")
    assert len(early) == 2
    assert early.take(6) == []  # held by dn-b only, which is forgotten
    assert early.take_known(7) == [("dn-a", replica(5)), ("dn-a", replica(7))]
    assert len(early) == 0


def test_blocks_known_are_taken_oldest_first_and_later_ones_stay() -> None:
    early = EarlyReplicas()
    for block_id in (12, 10, 11, 20):
        early.add("dn-a", replica(block_id))
    assert [r.block_id for _, r in early.take_known(12)] == [12, 10, 11]
    assert [r.block_id for _, r in early.take_known(19)] == []
    assert len(early) == 1


def test_past_the_limit_the_oldest_blocks_are_let_go() -> None:
    early = EarlyReplicas(limit=3)
    early.add("dn-a", replica(1))
    early.add("dn-b", replica(1))
    early.add("dn-a", replica(2))
    early.add("dn-a", replica(3))  # four: block 1's two go
    assert (len(early), early.dropped) == (2, 2)
    assert early.take_known(3) == [("dn-a", replica(2)), ("dn-a", replica(3))]


# --- in a namenode group --------------------------------------------------------------------


class Group:
    def __init__(self, root: Path, clock: Clock, *, checkpoint_every: int = 100_000) -> None:
        self.network = Network()
        self.systems: dict[str, Namesystem] = {}
        peers = ",".join(f"{n}=http://127.0.0.1:{9 + i}" for i, n in enumerate(IDS))  # unused
        for node in IDS:
            settings = Settings(
                token="secret",
                replication=1,
                namenode_id=node,
                namenode_peers=peers,
                raft_tick=0.02,
                heartbeat_interval=1.0,
                checkpoint_every=checkpoint_every,
            )
            system = Namesystem(
                root / node, settings, clock=clock, transport=self.network.transport(node)
            )
            system.on_fatal = pytest.fail
            self.network.hosts[node] = system.host
            self.systems[node] = system

    def cut(self, system: Namesystem) -> None:
        self.network.cut_off.add(system.node_id)

    def heal(self, system: Namesystem) -> None:
        self.network.cut_off.discard(system.node_id)

    def active(self, among: tuple[str, ...] = IDS) -> Namesystem:
        """The one namesystem of `among` that leads, once it has made itself active."""

        def one() -> Namesystem | None:
            leading = [
                s for n, s in self.systems.items()
                if n in among and s.host.status.role is Role.LEADER
            ]  # fmt: skip
            if len(leading) != 1:
                return None
            leading[0].tick()
            return leading[0] if leading[0].active else None

        found: Namesystem = wait_for(one, timeout=WAIT, what="an active namenode")
        return found

    def caught_up(self, system: Namesystem, leader: Namesystem) -> None:
        wait_for(
            lambda: system.host.status.applied >= leader.host.status.commit,
            timeout=WAIT,
            what=f"{system.node_id} to apply what {leader.node_id} committed",
        )

    def stop(self) -> None:
        for system in self.systems.values():
            system.host.stop()
            system.storage.close()


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def group(tmp_path: Path, clock: Clock) -> Iterator[Group]:
    g = Group(tmp_path, clock)
    try:
        for system in g.systems.values():
            register_datanodes(system, "dn-a")
        leader = g.active()
        leader.set_safemode("leave")
        yield g
    finally:
        g.stop()


def start_block(leader: Namesystem, path: str) -> Block:
    """A file with one new block, allocated (committed) by the leader; the block."""
    leader.create(CreateRequest(path=path, client="c1", block_size=BLOCK), "u")
    located = leader.add_block(AddBlockRequest(path=path, client="c1"), "127.0.0.1")
    return Block(block_id=located.block.block_id, gen=located.block.gen, length=LENGTH)


def received(system: Namesystem, block: Block) -> None:
    """dn-a tells `system` it holds `block`, as its actor for that namenode would."""
    report = ReplicaReport(block_id=block.block_id, gen=block.gen, length=block.length)
    system.incremental_report(IncrementalReportRequest(datanode_id="dn-a", received=[report]))


def hand_over(g: Group, old: Namesystem, new: Namesystem, third: Namesystem) -> Namesystem:
    """Make `new` the active namenode: `third` is cut off while `old` commits one more edit
    with `new` (so `third`'s log is behind and `new` refuses it its vote), then `old` is cut
    off for good and `third` comes back."""
    g.cut(third)
    old.mkdirs("/one-more", "u")
    g.caught_up(new, old)
    g.cut(old)
    g.heal(third)
    old.host.stop()
    new.host.campaign()
    active = g.active(among=(new.node_id, third.node_id))
    assert active is new
    return active


def locations(located: LocatedBlocks) -> list[list[str]]:
    return [[loc.id for loc in b.locations] for b in located.blocks]


def test_a_replica_reported_to_a_follower_before_its_block_is_placed_once_applied(
    group: Group,
) -> None:
    leader = group.active()
    follower, third = [s for s in group.systems.values() if s is not leader]
    group.cut(follower)  # it will hear of the block only after the datanode has
    block = start_block(leader, "/f")
    received(leader, block)
    received(follower, block)
    assert follower.ns.block_record(block.block_id) is None  # not applied there yet
    assert (len(follower.early), follower.blocks.holders(block.block_id)) == (1, set())
    group.heal(follower)
    group.caught_up(follower, leader)
    assert follower.blocks.holders(block.block_id) == {"dn-a"}
    assert len(follower.early) == 0
    leader.complete(CompleteRequest(path="/f", client="c1", last=block))

    new = hand_over(group, leader, follower, third)
    # No datanode has sent the new leader the full report it asked for; it knows anyway.
    assert new._reports_awaited == {"dn-a"}
    assert locations(new.blocks_for_reader("/f")) == [["dn-a"]]


def test_a_new_leader_not_told_of_a_replica_has_readers_retry_until_the_report_comes(
    group: Group, clock: Clock
) -> None:
    leader = group.active()
    follower, third = [s for s in group.systems.values() if s is not leader]
    block = start_block(leader, "/f")
    received(leader, block)  # the report to the follower was lost with the old leader
    leader.complete(CompleteRequest(path="/f", client="c1", last=block))

    new = hand_over(group, leader, follower, third)
    with pytest.raises(UnavailableError, match="not sent their block reports yet"):
        new.blocks_for_reader("/f")
    report = replica(block.block_id, block.gen)
    new.block_report(BlockReportRequest(datanode_id="dn-a", replicas=[report]))
    assert locations(new.blocks_for_reader("/f")) == [["dn-a"]]


def test_a_datanode_that_never_reports_holds_readers_up_only_for_a_while(
    group: Group, clock: Clock
) -> None:
    leader = group.active()
    follower, third = [s for s in group.systems.values() if s is not leader]
    block = start_block(leader, "/f")
    leader.complete(CompleteRequest(path="/f", client="c1", last=block))

    new = hand_over(group, leader, follower, third)
    with pytest.raises(UnavailableError):
        new.blocks_for_reader("/f")
    clock.now += 10 * new.settings.heartbeat_interval  # dn-a still silent, though live
    assert locations(new.blocks_for_reader("/f")) == [[]]  # the reader's "no live datanode"


def test_replicas_of_blocks_a_snapshot_brought_are_placed_by_the_monitor(
    tmp_path: Path, clock: Clock
) -> None:
    g = Group(tmp_path, clock, checkpoint_every=3)
    try:
        for system in g.systems.values():
            register_datanodes(system, "dn-a")
        leader = g.active()
        leader.set_safemode("leave")
        follower = next(s for s in g.systems.values() if s is not leader)
        g.cut(follower)
        block = start_block(leader, "/f")
        received(follower, block)
        for i in range(8):  # past a snapshot: the follower must be sent one
            leader.mkdirs(f"/d{i}", "u")
        wait_for(
            lambda: leader.host.status.first_index > follower.host.status.last_index + 1,
            timeout=WAIT,
            what="the leader to compact its log past the follower's",
        )
        g.heal(follower)
        g.caught_up(follower, leader)
        assert len(follower.early) == 1  # a snapshot applies no AddBlock
        follower.tick()
        assert follower.blocks.holders(block.block_id) == {"dn-a"}
        assert len(follower.early) == 0
    finally:
        g.stop()
