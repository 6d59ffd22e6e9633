"""The replication queue (namenode.replication): block states in, Replicate/Delete out.

Time is a number passed to `compute`; nothing sleeps. The least-used placement policy is
deterministic, so most tests can name the exact targets.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from namenode.blockmap import BlockMap
from namenode.placement import NodeView, choose_excess, make_policy
from namenode.replication import Delete, Replicate, ReplicationQueue, classify

TIMEOUT = 10.0


def nodes(*ids: str, rack: str = "/r1") -> dict[str, NodeView]:
    return {i: NodeView(id=i, host=f"{i}.example", rack=rack, remaining=1000) for i in ids}


class Cluster:
    """A block map, the expected replication of each block, and the live nodes."""

    def __init__(self, live: Iterable[str], *, max_streams: int = 2) -> None:
        self.blocks = BlockMap()
        self.want: dict[int, int] = {}
        self.live = nodes(*live)
        self.queue = ReplicationQueue(pending_timeout=TIMEOUT, max_streams=max_streams)

    def block(
        self, block_id: int, want: int, holders: Iterable[str] = (), corrupt: Iterable[str] = ()
    ) -> None:
        self.want[block_id] = want
        for n in holders:
            self.blocks.add(block_id, n)
        for n in corrupt:
            self.blocks.mark_corrupt(block_id, n)
        self.queue.check([block_id])

    def compute(
        self,
        now: float = 0.0,
        *,
        writable: Mapping[str, NodeView] | None = None,
        busy: Mapping[str, int] | None = None,
    ) -> list[Replicate | Delete]:
        return self.queue.compute(
            now,
            expected=self.want.get,
            blocks=self.blocks,
            live=self.live,
            policy=make_policy("least-used"),
            rng=random.Random(0),
            writable=writable,
            busy=busy,
        )

    def carry_out(self, decisions: list[Replicate | Delete]) -> None:
        """What the datanodes and the namesystem do with the decisions."""
        for d in decisions:
            if isinstance(d, Replicate):
                for t in d.targets:
                    self.blocks.add(d.block_id, t)
                    self.queue.replica_arrived(d.block_id, t)
            else:
                self.blocks.remove(d.block_id, d.node)


def replicates(decisions: list[Replicate | Delete]) -> list[Replicate]:
    return [d for d in decisions if isinstance(d, Replicate)]


def deletes(decisions: list[Replicate | Delete]) -> list[Delete]:
    return [d for d in decisions if isinstance(d, Delete)]


# --------------------------------------------------------------------------- under-replication


def test_an_under_replicated_block_is_copied_from_a_holder_to_new_nodes() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"])
    cl.block(1, 3, holders=["dn2"])
    assert cl.compute() == [Replicate(1, "dn2", ("dn1", "dn3"))]
    assert cl.queue.in_flight() == 1


def test_fewest_live_replicas_go_first() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4", "dn5"], max_streams=1)
    cl.block(2, 3, holders=["dn1", "dn2"])  # 2 of 3: lower id, less urgent
    cl.block(9, 3, holders=["dn1"])  # 1 of 3
    decisions = cl.compute()
    assert [d.block_id for d in decisions] == [9, 2]
    # With dn2 busy, dn1 is the only source and can take one copy: the urgent block gets it.
    cl2 = Cluster(["dn1", "dn2", "dn3", "dn4", "dn5"], max_streams=1)
    cl2.block(2, 3, holders=["dn1", "dn2"])
    cl2.block(9, 3, holders=["dn1"])
    assert [d.block_id for d in cl2.compute(busy={"dn2": 1})] == [9]


def test_pending_copies_are_not_scheduled_again_before_their_deadline() -> None:
    cl = Cluster(["dn1", "dn2", "dn3"])
    cl.block(1, 2, holders=["dn1"])
    first = cl.compute(now=100.0)
    assert first == [Replicate(1, "dn1", ("dn2",))]
    for now in (101.0, 105.0, 109.999):
        cl.queue.check([1])  # the block keeps being looked at (block reports, ...)
        assert cl.compute(now=now) == []
    # The copy never arrived: at the deadline it is scheduled again.
    assert cl.compute(now=110.0) == [Replicate(1, "dn1", ("dn2",))]
    assert cl.compute(now=115.0) == []


def test_an_arrived_replica_clears_its_pending_copy() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"])
    cl.block(1, 3, holders=["dn1"])
    decision = cl.compute(now=0.0)
    assert decision == [Replicate(1, "dn1", ("dn2", "dn3"))]
    cl.blocks.add(1, "dn2")
    cl.queue.replica_arrived(1, "dn2")
    assert cl.queue.in_flight() == 1  # dn3 still copying
    assert cl.compute(now=1.0) == []
    cl.blocks.add(1, "dn3")
    cl.queue.replica_arrived(1, "dn3")
    assert cl.queue.in_flight() == 0
    assert cl.compute(now=2.0) == []
    assert cl.compute(now=50.0) == []  # healthy: nothing expires, nothing is redone


def test_a_block_that_could_not_be_placed_is_retried_without_a_new_event() -> None:
    cl = Cluster(["dn1"])
    cl.block(1, 2, holders=["dn1"])
    assert cl.compute(now=0.0) == []  # nowhere to put a second copy
    cl.live.update(nodes("dn2"))
    assert cl.compute(now=1.0) == [Replicate(1, "dn1", ("dn2",))]


def test_missing_blocks_produce_nothing() -> None:
    cl = Cluster(["dn1", "dn2", "dn3"])
    cl.block(1, 3)  # never reported anywhere
    cl.block(2, 3, corrupt=["dn1"])  # only a bad copy
    cl.block(3, 3, holders=["gone"])  # only on a dead node
    assert cl.compute() == []
    assert cl.queue.in_flight() == 0


def test_blocks_outside_the_namespace_are_ignored() -> None:
    cl = Cluster(["dn1", "dn2", "dn3"])
    cl.blocks.add(7, "dn1")
    cl.queue.check([7])  # no expected replication: deleted, or still being written
    assert cl.compute() == []


def test_a_draining_node_is_a_source_but_takes_no_replica_and_does_not_count() -> None:
    cl = Cluster(["draining", "dn2", "dn3"])
    cl.block(1, 2, holders=["draining"])
    writable = {k: v for k, v in cl.live.items() if k != "draining"}
    # Its copy will go away with it: the block needs its two replicas elsewhere.
    assert cl.compute(writable=writable) == [Replicate(1, "draining", ("dn2", "dn3"))]


def test_decommissioning_moves_a_fully_replicated_block_off_the_node() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"])
    cl.block(1, 3, holders=["dn1", "dn2", "dn3"])
    assert cl.compute(now=0.0) == []
    writable = {k: v for k, v in cl.live.items() if k != "dn1"}  # dn1 starts draining
    cl.queue.check([1])
    decisions = cl.compute(now=1.0, writable=writable)
    assert decisions == [Replicate(1, "dn1", ("dn4",))]
    cl.carry_out(decisions)
    # Three counted replicas and one on the draining node: nothing is excess.
    assert cl.compute(now=2.0, writable=writable) == []
    assert cl.blocks.holders(1) == {"dn1", "dn2", "dn3", "dn4"}


def test_forget_drops_a_block_and_its_pending_copies() -> None:
    cl = Cluster(["dn1", "dn2", "dn3"])
    cl.block(1, 3, holders=["dn1"])
    assert cl.compute(now=0.0)
    cl.queue.forget(1)
    del cl.want[1]
    assert cl.queue.in_flight() == 0
    assert cl.compute(now=100.0) == []


# --------------------------------------------------------------------------- streams per source


def test_max_streams_per_source_within_one_tick() -> None:
    cl = Cluster(["src", "dn2", "dn3"], max_streams=2)
    for b in range(1, 6):
        cl.block(b, 2, holders=["src"])
    decisions = cl.compute(now=0.0)
    assert len(decisions) == 2
    assert all(isinstance(d, Replicate) and d.source == "src" for d in decisions)


def test_max_streams_counts_copies_still_in_flight_from_earlier_ticks() -> None:
    cl = Cluster(["src", "dn2", "dn3"], max_streams=2)
    for b in range(1, 6):
        cl.block(b, 2, holders=["src"])
    first = replicates(cl.compute(now=0.0))
    assert len(first) == 2
    # The next tick, both copies are still running: src may start nothing new.
    assert cl.compute(now=1.0) == []
    # One finishes: one slot frees up.
    done = first[0]
    cl.blocks.add(done.block_id, done.targets[0])
    cl.queue.replica_arrived(done.block_id, done.targets[0])
    second = replicates(cl.compute(now=2.0))
    assert len(second) == 1
    assert second[0].block_id not in {d.block_id for d in first}


def test_busy_nodes_passed_in_count_against_max_streams() -> None:
    cl = Cluster(["a", "b", "c", "d"], max_streams=2)
    cl.block(1, 3, holders=["a", "b"])
    assert replicates(cl.compute(busy={"a": 2}))[0].source == "b"
    cl2 = Cluster(["a", "b", "c", "d"], max_streams=2)
    cl2.block(1, 3, holders=["a", "b"])
    assert cl2.compute(busy={"a": 2, "b": 5}) == []


def test_the_least_busy_holder_is_the_source() -> None:
    cl = Cluster(["a", "b", "c", "d", "e"], max_streams=3)
    cl.block(1, 2, holders=["a"])
    cl.block(2, 3, holders=["a", "b"])
    cl.block(3, 3, holders=["a", "b"])
    # Block 1 can only come from a; then b has copied less than a, then they are even and
    # the smaller id wins.
    assert [(d.block_id, d.source) for d in replicates(cl.compute())] == [
        (1, "a"),
        (2, "b"),
        (3, "a"),
    ]


# --------------------------------------------------------------------------- deletions


def test_over_replicated_blocks_lose_exactly_the_excess() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4", "dn5"])
    cl.live["dn4"] = NodeView(id="dn4", host="h4", rack="/r1", remaining=1)
    cl.block(1, 2, holders=["dn1", "dn2", "dn3", "dn4", "dn5"])
    decisions = cl.compute()
    assert all(isinstance(d, Delete) and d.block_id == 1 for d in decisions)
    victims = [d.node for d in deletes(decisions)]
    assert len(victims) == 3
    expected = choose_excess([cl.live[n] for n in sorted(cl.live)], 3)
    assert victims == [v.id for v in expected]
    assert "dn4" in victims  # the fullest node goes first
    cl.carry_out(decisions)
    assert cl.compute() == []


def test_corrupt_replicas_are_deleted_only_once_enough_good_ones_exist() -> None:
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"])
    cl.block(1, 3, holders=["dn1", "dn2"], corrupt=["dn3"])
    decisions = cl.compute(now=0.0)
    # Too few good copies: the bad one stays (it may be all that is left one day); a copy
    # goes to a node that holds no replica, good or bad.
    assert decisions == [Replicate(1, "dn1", ("dn4",))]
    cl.carry_out(decisions)
    assert cl.compute(now=1.0) == [Delete(1, "dn3")]


def test_a_corrupt_replica_in_the_way_of_the_only_free_node_is_deleted_first() -> None:
    cl = Cluster(["dn1", "dn2", "dn3"])
    cl.block(1, 3, holders=["dn1", "dn2"], corrupt=["dn3"])
    first = cl.compute(now=0.0)
    assert first == [Delete(1, "dn3")]  # else 2 of 3 for ever: dn3 is the only other node
    cl.carry_out(first)
    second = cl.compute(now=1.0)
    assert second == [Replicate(1, "dn1", ("dn3",))]
    cl.carry_out(second)
    assert cl.compute(now=2.0) == []
    assert cl.blocks.holders(1) == {"dn1", "dn2", "dn3"}


def test_the_last_copies_are_kept_even_if_corrupt() -> None:
    cl = Cluster(["dn1", "dn2"])
    cl.block(1, 3, corrupt=["dn1", "dn2"])  # no good copy anywhere: keep what there is
    assert cl.compute() == []


def test_corrupt_replicas_on_dead_nodes_are_not_deleted() -> None:
    cl = Cluster(["dn1", "dn2"])
    cl.block(1, 2, holders=["dn1", "dn2"], corrupt=["dead"])
    assert cl.compute() == []


# --------------------------------------------------------------------------- properties


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    live=st.sets(st.sampled_from([f"dn{i}" for i in range(8)]), min_size=1),
    writable_mask=st.lists(st.booleans(), min_size=8, max_size=8),
    layout=st.lists(
        st.tuples(
            st.integers(1, 4),  # expected replication
            st.sets(st.sampled_from([f"dn{i}" for i in range(9)])),  # holders (dn8: dead)
            st.sets(st.sampled_from([f"dn{i}" for i in range(9)])),  # corrupt
        ),
        min_size=1,
        max_size=8,
    ),
    max_streams=st.integers(1, 3),
    policy=st.sampled_from(["default", "random", "round-robin", "least-used"]),
    seed=st.integers(0, 1000),
)
def test_decisions_never_break_the_rules(
    live: set[str],
    writable_mask: list[bool],
    layout: list[tuple[int, set[str], set[str]]],
    max_streams: int,
    policy: str,
    seed: int,
) -> None:
    live_views = nodes(*sorted(live))
    writable = {k: v for k, v in live_views.items() if writable_mask[int(k[2:])]}
    blocks = BlockMap()
    want: dict[int, int] = {}
    queue = ReplicationQueue(pending_timeout=TIMEOUT, max_streams=max_streams)
    for block_id, (replication, holders, corrupt) in enumerate(layout, start=1):
        want[block_id] = replication
        for n in sorted(holders):
            blocks.add(block_id, n)
        for n in sorted(corrupt - holders):
            blocks.mark_corrupt(block_id, n)
    queue.check(want)
    rng = random.Random(seed)
    chosen = make_policy(policy)
    for tick in range(3):  # a few ticks, no copy ever arriving
        decisions = queue.compute(
            float(tick),
            expected=want.get,
            blocks=blocks,
            live=live_views,
            policy=chosen,
            rng=rng,
            writable=writable,
        )
        per_source = Counter(d.source for d in replicates(decisions))
        assert all(n <= max_streams for n in per_source.values())
        for d in decisions:
            readable = blocks.holders(d.block_id) & live
            counted = readable & set(writable)  # replicas on draining nodes do not count
            if isinstance(d, Replicate):
                assert d.source in readable
                assert d.targets and len(set(d.targets)) == len(d.targets)
                assert set(d.targets) <= set(writable)
                assert not set(d.targets) & blocks.holders(d.block_id)
                assert not set(d.targets) & blocks.corrupt_holders(d.block_id)
                assert len(counted) + len(d.targets) <= want[d.block_id]
            else:
                assert d.node in live
                if d.node in blocks.corrupt_holders(d.block_id):
                    # Enough good copies, or a good one exists and the corrupt copy is in
                    # the way of the copies still needed.
                    pending = queue._pending.get(d.block_id)
                    taken = blocks.holders(d.block_id) | blocks.corrupt_holders(d.block_id)
                    free = set(writable) - taken - set(pending.targets if pending else ())
                    in_way = readable and len(free) < want[d.block_id] - len(counted)
                    assert len(counted) >= want[d.block_id] or in_way
                else:
                    assert d.node in counted
                    assert len(counted) > want[d.block_id]
        for block_id in want:
            removed = {d.node for d in deletes(decisions) if d.block_id == block_id}
            counted = blocks.holders(block_id) & live & set(writable)
            assert len(counted - removed) >= min(len(counted), want[block_id])
        # Streams in flight from earlier ticks keep counting.
        total = Counter(src for p in queue._pending.values() for src in set(p.targets.values()))
        assert all(n <= max_streams for n in total.values())


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    live=st.sets(st.sampled_from([f"dn{i}" for i in range(6)]), min_size=1),
    draining=st.sets(st.sampled_from([f"dn{i}" for i in range(6)]), max_size=2),
    layout=st.lists(
        st.tuples(
            st.integers(1, 4),
            st.sets(st.sampled_from([f"dn{i}" for i in range(6)]), min_size=1),
            st.sets(st.sampled_from([f"dn{i}" for i in range(6)])),
        ),
        min_size=1,
        max_size=6,
    ),
    max_streams=st.integers(1, 2),
)
def test_carrying_out_the_decisions_converges_to_the_replication_factor(
    live: set[str],
    draining: set[str],
    layout: list[tuple[int, set[str], set[str]]],
    max_streams: int,
) -> None:
    cl = Cluster(sorted(live), max_streams=max_streams)
    writable = {k: v for k, v in cl.live.items() if k not in draining}
    for block_id, (replication, holders, corrupt) in enumerate(layout, start=1):
        cl.block(block_id, replication, holders=sorted(holders), corrupt=sorted(corrupt - holders))
    for tick in range(30):
        decisions = cl.compute(now=float(tick), writable=writable)
        if not decisions and cl.queue.in_flight() == 0:
            break
        cl.carry_out(decisions)
    else:
        raise AssertionError("no steady state after 30 ticks")
    for block_id, want in cl.want.items():
        readable = cl.blocks.holders(block_id) & set(cl.live)
        if not readable:
            continue  # missing from the start: nothing can be done
        counted = readable & set(writable)
        assert len(counted) == min(want, len(writable))
        if len(counted) >= want:
            assert not cl.blocks.corrupt_holders(block_id) & set(cl.live)


# --------------------------------------------------------------------------- classify


def test_classify_block_health() -> None:
    bm = BlockMap()
    want = {1: 3, 2: 3, 3: 3, 4: 2}
    for n in ("a", "b", "c"):
        bm.add(1, n)  # healthy
    bm.add(2, "a")  # under-replicated
    bm.add(2, "dead")
    bm.mark_corrupt(3, "a")  # every copy is bad
    bm.add(4, "dead")  # missing: its only copy is on a dead node
    bm.add(5, "a")  # not in the namespace
    for live in ({"a", "b", "c"}, nodes("a", "b", "c")):
        health = classify([1, 2, 3, 4, 5, 6], expected=want.get, blocks=bm, live=live)
        assert health.under_replicated == {2}
        assert health.corrupt == {3}
        assert health.missing == {4}


@pytest.mark.parametrize("live_count", [0, 1, 2, 3, 4])
def test_classify_by_live_count(live_count: int) -> None:
    bm = BlockMap()
    for i in range(live_count):
        bm.add(1, f"dn{i}")
    health = classify([1], expected={1: 3}.get, blocks=bm, live={f"dn{i}" for i in range(9)})
    assert (1 in health.missing) == (live_count == 0)
    assert (1 in health.under_replicated) == (0 < live_count < 3)
    assert not health.corrupt


def test_a_source_whose_copy_timed_out_is_not_asked_again_while_another_exists() -> None:
    # dn1 holds a broken replica it cannot send: its copy never arrives.
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"])
    cl.block(1, 3, holders=["dn1", "dn2"])
    assert replicates(cl.compute(now=0.0)) == [Replicate(1, "dn1", ("dn3",))]
    retry = replicates(cl.compute(now=TIMEOUT + 1))
    assert [r.source for r in retry] == ["dn2"]
    # When every source has failed once, the least busy is tried again rather than none.
    assert [r.source for r in replicates(cl.compute(now=2 * TIMEOUT + 2))] == ["dn1"]
    cl.carry_out(replicates(cl.compute(now=3 * TIMEOUT + 3)))
    assert cl.compute(now=3 * TIMEOUT + 4) == []


def test_one_ticks_copies_spread_over_targets_that_looked_equal() -> None:
    # A node died: 30 blocks left with one copy on dn1. The live nodes report the same free
    # space; each copy chosen this tick makes its target look busier for the next choice.
    cl = Cluster(["dn1", "dn2", "dn3", "dn4"], max_streams=100)
    for b in range(30):
        cl.block(b, 2, holders=["dn1"])
    targets = Counter(t for r in replicates(cl.compute()) for t in r.targets)
    assert sum(targets.values()) == 30
    assert set(targets) == {"dn2", "dn3", "dn4"}
    assert max(targets.values()) - min(targets.values()) <= 1, targets


def test_a_whole_namespace_to_check_is_looked_at_a_share_a_tick() -> None:
    """Safe mode left: every block is checked, but at most `max_per_tick` a round, so the
    namenode's lock is never held for the whole namespace at once; none is forgotten."""
    c = Cluster(["a", "b", "c"], max_streams=100)
    c.queue.max_per_tick = 10
    for block_id in range(1, 26):  # each one replica short
        c.block(block_id, 2, holders=["a"])
    copied: list[int] = []
    for tick in range(6):  # arrivals are looked at again too: a few more rounds
        decisions = c.compute(float(tick))
        assert len(decisions) <= 10
        copied += [d.block_id for d in replicates(decisions)]
        c.carry_out(decisions)
    assert sorted(copied) == list(range(1, 26))
