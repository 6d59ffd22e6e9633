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
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minihadoop.config import Settings
from minihadoop.errors import UnavailableError
from minihadoop.models import (
    AddBlockRequest,
    Block,
    BlockReportRequest,
    CompleteRequest,
    CreateRequest,
    HeartbeatRequest,
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


def test_blocks_known_by_now_are_taken_and_later_ones_stay() -> None:
    early = EarlyReplicas()
    for block_id in (12, 10, 11, 20):
        early.add("dn-a", replica(block_id))
    assert early.take(11) == [("dn-a", replica(11))]
    early.add("dn-b", replica(11))  # held again: its id is in the heap twice now
    assert [(n, r.block_id) for n, r in early.take_known(12)] == [
        ("dn-a", 10), ("dn-b", 11), ("dn-a", 12)
    ]  # fmt: skip
    assert early.take_known(19) == []
    assert len(early) == 1


class Model:
    """What `EarlyReplicas` must do, the slow way: (block, node) -> replica, and the order
    in which blocks came to be held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: dict[tuple[int, str], ReplicaReport] = {}
        self.order: list[int] = []

    def add(self, node: str, r: ReplicaReport) -> None:
        if r.block_id not in self.order:
            self.order.append(r.block_id)
        self.held[(r.block_id, node)] = r
        while len(self.held) > self.limit:
            self._pop(self.order[0])

    def _pop(self, block_id: int) -> list[tuple[str, ReplicaReport]]:
        out = [(n, r) for (b, n), r in self.held.items() if b == block_id]
        for n, _ in out:
            del self.held[(block_id, n)]
        self.order.remove(block_id)
        return out

    def discard(self, block_id: int, node: str) -> None:
        self.held.pop((block_id, node), None)
        if block_id in self.order and not any(b == block_id for b, _ in self.held):
            self.order.remove(block_id)

    def forget_node(self, node: str) -> None:
        for b, n in list(self.held):
            if n == node:
                self.discard(b, n)

    def take(self, block_id: int) -> list[tuple[str, ReplicaReport]]:
        return self._pop(block_id) if block_id in self.order else []

    def take_known(self, last: int) -> list[tuple[str, ReplicaReport]]:
        return [p for b in sorted(b for b in self.order if b <= last) for p in self._pop(b)]


def keyed(pairs: list[tuple[str, ReplicaReport]]) -> list[tuple[str, int, int]]:
    return sorted((node, r.block_id, r.gen) for node, r in pairs)


def indexed(early: EarlyReplicas) -> list[tuple[str, int]]:
    """The (node, block) pairs of the per-node index, which must be exactly those held."""
    return sorted((node, b) for node, blocks in early._by_node.items() for b in blocks)


OPS = st.one_of(
    st.tuples(st.just("add"), st.sampled_from("abc"), st.integers(1, 12), st.integers(1, 3)),
    st.tuples(st.just("discard"), st.integers(1, 12), st.sampled_from("abc")),
    st.tuples(st.just("forget_node"), st.sampled_from("abc")),
    st.tuples(st.just("take"), st.integers(1, 12)),
    st.tuples(st.just("take_known"), st.integers(0, 12)),
    st.tuples(st.just("clear")),
)


@given(ops=st.lists(OPS, max_size=60), limit=st.integers(1, 8))
@settings(max_examples=300, deadline=None)
def test_it_holds_what_the_slow_model_holds(ops: list[tuple[Any, ...]], limit: int) -> None:
    early, model = EarlyReplicas(limit=limit), Model(limit)
    for op, *args in ops:
        match op:
            case "add":
                node, block_id, gen = args
                early.add(node, replica(block_id, gen))
                model.add(node, replica(block_id, gen))
            case "take" | "take_known":
                assert keyed(getattr(early, op)(*args)) == keyed(getattr(model, op)(*args))
            case "clear":
                early.clear()
                model = Model(limit)
            case _:
                getattr(early, op)(*args)
                getattr(model, op)(*args)
        assert len(early) == len(model.held)
        assert indexed(early) == sorted((n, b) for b, n in model.held)
    assert keyed(early.take_known(99)) == keyed(model.take_known(99))
    assert len(early) == 0


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
        self.clock = clock
        self.systems: dict[str, Namesystem] = {}
        peers = ",".join(f"{n}=http://127.0.0.1:{9 + i}" for i, n in enumerate(IDS))  # unused
        for node in IDS:
            settings = Settings(
                token="secret",
                replication=1,
                namenode_id=node,
                namenode_peers=peers,
                raft_tick=0.05,
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
            system._stopping.set()  # its lock-lease and block-report threads end
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


def roles(g: Group) -> tuple[Namesystem, Namesystem, Namesystem]:
    """The active namenode, and the other two."""
    leader = g.active()
    follower, third = [s for s in g.systems.values() if s is not leader]
    return leader, follower, third


def closed_file(leader: Namesystem, path: str, *told: Namesystem) -> Block:
    """A closed one-block file whose replica dn-a has reported to each of `told`."""
    block = start_block(leader, path)
    for system in told:
        received(system, block)
    leader.complete(CompleteRequest(path=path, client="c1", last=block))
    return block


def elect(g: Group, old: Namesystem, new: Namesystem, third: Namesystem) -> None:
    """Make `new` the leader: `third` is cut off while `old` commits one more edit with
    `new` (so `third`'s log is behind and `new` refuses it its vote), then `old` is cut off
    for good and `third` comes back."""
    g.cut(third)
    old.mkdirs("/one-more", "u")
    g.caught_up(new, old)
    g.cut(old)
    g.heal(third)
    old.host.stop()
    new.host.campaign()
    wait_for(lambda: new.host.status.role is Role.LEADER, timeout=WAIT, what="it to lead")


def hand_over(g: Group, old: Namesystem, new: Namesystem, third: Namesystem) -> Namesystem:
    """`elect` `new`, and its monitor's round makes it the active namenode."""
    elect(g, old, new, third)
    active = g.active(among=(new.node_id, third.node_id))
    assert active is new
    return active


def locations(located: LocatedBlocks) -> list[list[str]]:
    return [[loc.id for loc in b.locations] for b in located.blocks]


def test_a_replica_reported_to_a_follower_before_its_block_is_placed_once_applied(
    group: Group,
) -> None:
    leader, follower, third = roles(group)
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
    group: Group,
) -> None:
    leader, follower, third = roles(group)
    block = closed_file(leader, "/f", leader)  # the follower's report was lost with the leader
    new = hand_over(group, leader, follower, third)
    with pytest.raises(UnavailableError, match="not sent their block reports yet"):
        new.blocks_for_reader("/f")
    report = replica(block.block_id, block.gen)
    new.block_report(BlockReportRequest(datanode_id="dn-a", replicas=[report]))
    assert locations(new.blocks_for_reader("/f")) == [["dn-a"]]


def test_a_datanode_that_never_reports_holds_readers_up_only_for_a_while(
    group: Group, clock: Clock
) -> None:
    leader, follower, third = roles(group)
    closed_file(leader, "/f")
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


def test_what_a_follower_holds_goes_with_the_datanodes_word(group: Group) -> None:
    """A held replica is let go when its datanode deletes it, reports it bad, sends a full
    report without it, or dies; and only blocks still to come (or stamps ahead) are held."""
    leader, follower, _ = roles(group)
    register_datanodes(follower, "dn-b")
    group.cut(follower)
    blocks = [start_block(leader, f"/f{i}") for i in range(4)]
    for block in blocks:
        received(follower, block)
    assert len(follower.early) == 4
    follower.incremental_report(
        IncrementalReportRequest(datanode_id="dn-a", deleted=[blocks[0].block_id])
    )
    assert len(follower.early) == 3
    follower.report_bad_replica(blocks[1].block_id, "dn-a", "checksum")
    assert len(follower.early) == 2
    follower.block_report(BlockReportRequest(datanode_id="dn-a", replicas=[]))
    assert len(follower.early) == 0
    for block in blocks:
        received(follower, block)
    follower.incremental_report(
        IncrementalReportRequest(datanode_id="dn-b", received=[replica(blocks[3].block_id)])
    )
    assert len(follower.early) == 5
    group.clock.now += follower.settings.dead_node_timeout + 1
    follower.heartbeat(HeartbeatRequest(datanode_id="dn-b", capacity=1 << 40, remaining=1 << 40))
    follower.tick()  # dn-a is silent: dead, and what it said goes with it
    assert len(follower.early) == 1
    group.heal(follower)
    group.caught_up(follower, leader)
    assert [follower.blocks.holders(b.block_id) for b in blocks] == [set()] * 3 + [{"dn-b"}]
    # A block this namespace allocated and has forgotten since is garbage, not held.
    leader.abandon("/f0", "c1")
    group.caught_up(follower, leader)
    assert follower.ns.block_record(blocks[0].block_id) is None
    follower.incremental_report(
        IncrementalReportRequest(datanode_id="dn-b", received=[replica(blocks[0].block_id)])
    )
    assert len(follower.early) == 0


def test_a_stamp_ahead_of_a_followers_waits_and_marks_nothing_corrupt(group: Group) -> None:
    leader, follower, third = roles(group)
    block = closed_file(leader, "/f", leader)
    group.caught_up(follower, leader)
    ahead = ReplicaReport(block_id=block.block_id, gen=block.gen + 1, length=LENGTH - 1)
    follower.incremental_report(IncrementalReportRequest(datanode_id="dn-a", received=[ahead]))
    follower.tick()  # still ahead: held again
    assert len(follower.early) == 1
    assert follower.blocks.corrupt_holders(block.block_id) == set()
    new = hand_over(group, leader, follower, third)
    # Active with everything committed applied, and the stamp still ahead: let go, so the
    # full report asked for decides; nothing was placed or condemned meanwhile.
    assert len(new.early) == 0
    assert new.blocks.holders(block.block_id) == set()
    assert new.blocks.corrupt_holders(block.block_id) == set()


def test_a_leader_elected_a_moment_ago_refuses_reads_it_cannot_place(group: Group) -> None:
    leader, follower, third = roles(group)
    closed_file(leader, "/f", leader)  # never told to the follower
    elect(group, leader, follower, third)
    assert not follower.active  # the monitor has not run yet
    with pytest.raises(UnavailableError, match="just been elected"):
        follower.blocks_for_reader("/f")


def test_a_deposed_leader_sends_no_command_before_its_monitor_notices(group: Group) -> None:
    """A delete queued while it led is not handed out once it no longer leads — even with
    the newer term it has heard of, which a datanode would otherwise obey."""
    leader, _, _ = roles(group)
    closed_file(leader, "/f", leader)
    leader.delete("/f", recursive=False, skip_trash=True, user="u")  # queues a delete
    term = leader.host.status.term
    group.cut(leader)
    others = tuple(n for n in IDS if n != leader.node_id)
    group.active(among=others)
    group.heal(leader)
    wait_for(lambda: leader.host.status.term > term, timeout=WAIT, what="the newer term heard")
    beat = HeartbeatRequest(datanode_id="dn-a", capacity=1 << 40, remaining=1 << 40)
    reply = leader.heartbeat(beat)
    assert (reply.active, reply.commands) == (False, [])
