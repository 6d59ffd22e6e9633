"""Where replicas live (namenode.blockmap): events in, consistent indexes out."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from namenode.blockmap import BlockMap

NODES = ["dn1", "dn2", "dn3", "dn4"]
BLOCKS = [1, 2, 3, 4, 5]


def check_invariants(bm: BlockMap) -> None:
    """The per-block and per-node indexes agree; good and corrupt replicas are disjoint."""
    by_node: dict[str, set[int]] = {}
    for block_id, holders in bm._holders.items():
        assert holders, f"block {block_id} kept with no holder"
        assert len(set(holders)) == len(holders), f"block {block_id} holder listed twice"
        assert not set(holders) & bm._corrupt.get(block_id, set())
        for n in holders:
            by_node.setdefault(n, set()).add(block_id)
    for block_id, corrupt in bm._corrupt.items():
        assert corrupt, f"block {block_id} kept with no corrupt replica"
        for n in corrupt:
            by_node.setdefault(n, set()).add(block_id)
    for n in set(by_node) | set(bm._node_blocks):
        assert bm.blocks_of(n) == by_node.get(n, set())
        assert bm.count_on(n) == len(by_node.get(n, set()))
    assert bm.corrupt_blocks() == set(bm._corrupt)
    assert set(bm.known_blocks()) == set(bm._holders)


@pytest.fixture
def bm() -> BlockMap:
    return BlockMap()


def test_add_records_a_good_replica_once(bm: BlockMap) -> None:
    assert bm.add(1, "dn1") is True
    assert bm.add(1, "dn1") is False
    assert bm.add(1, "dn2") is True
    assert bm.holders(1) == {"dn1", "dn2"}
    assert bm.blocks_of("dn1") == {1}
    assert bm.count_on("dn2") == 1
    assert bm.holders(99) == set()
    assert bm.blocks_of("nobody") == set()
    check_invariants(bm)


def test_queries_return_copies(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.mark_corrupt(1, "dn2")
    bm.holders(1).add("intruder")
    bm.corrupt_holders(1).add("intruder")
    bm.blocks_of("dn1").add(7)
    assert bm.holders(1) == {"dn1"}
    assert bm.corrupt_holders(1) == {"dn2"}
    assert bm.blocks_of("dn1") == {1}


def test_remove_forgets_one_replica(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.add(1, "dn2")
    bm.add(2, "dn1")
    assert bm.remove(1, "dn1") is True
    assert bm.remove(1, "dn1") is False
    assert bm.remove(42, "dn1") is False
    assert bm.holders(1) == {"dn2"}
    assert bm.blocks_of("dn1") == {2}
    assert bm.remove(1, "dn2") is True
    assert 1 not in set(bm.known_blocks())
    check_invariants(bm)


def test_mark_corrupt_moves_a_replica_out_of_the_good_ones(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.add(1, "dn2")
    bm.mark_corrupt(1, "dn1")
    assert bm.holders(1) == {"dn2"}
    assert bm.corrupt_holders(1) == {"dn1"}
    assert bm.corrupt_blocks() == {1}
    assert bm.blocks_of("dn1") == {1}  # the node still holds the (bad) copy
    # A node reported bad without having been reported good (a reader saw it first).
    bm.mark_corrupt(2, "dn3")
    assert bm.blocks_of("dn3") == {2}
    assert bm.holders(2) == set()
    check_invariants(bm)


def test_removing_a_corrupt_replica(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.mark_corrupt(1, "dn2")
    assert bm.remove(1, "dn2") is True
    assert bm.corrupt_holders(1) == set()
    assert bm.corrupt_blocks() == set()
    assert bm.blocks_of("dn2") == set()
    check_invariants(bm)


def test_a_good_report_clears_the_corrupt_mark(bm: BlockMap) -> None:
    bm.mark_corrupt(1, "dn1")
    assert bm.add(1, "dn1") is True  # a fresh copy replaced the bad one
    assert bm.corrupt_holders(1) == set()
    assert bm.corrupt_blocks() == set()
    assert bm.holders(1) == {"dn1"}
    check_invariants(bm)


def test_remove_node_forgets_every_replica_it_held(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.add(1, "dn2")
    bm.add(2, "dn1")
    bm.mark_corrupt(3, "dn1")
    bm.add(3, "dn2")
    assert bm.remove_node("dn1") == {1, 2, 3}
    assert bm.remove_node("dn1") == set()
    assert bm.holders(1) == {"dn2"}
    assert bm.holders(2) == set()
    assert bm.corrupt_holders(3) == set()
    assert bm.blocks_of("dn1") == set()
    check_invariants(bm)


def test_forget_block_returns_every_node_with_a_copy(bm: BlockMap) -> None:
    bm.add(1, "dn1")
    bm.add(1, "dn2")
    bm.mark_corrupt(1, "dn3")
    bm.add(2, "dn1")
    assert bm.forget_block(1) == {"dn1", "dn2", "dn3"}
    assert bm.forget_block(1) == set()
    assert bm.blocks_of("dn1") == {2}
    assert bm.blocks_of("dn3") == set()
    assert bm.corrupt_blocks() == set()
    check_invariants(bm)


events = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.sampled_from(BLOCKS), st.sampled_from(NODES)),
        st.tuples(st.just("remove"), st.sampled_from(BLOCKS), st.sampled_from(NODES)),
        st.tuples(st.just("mark_corrupt"), st.sampled_from(BLOCKS), st.sampled_from(NODES)),
        st.tuples(st.just("remove_node"), st.sampled_from(NODES)),
        st.tuples(st.just("forget_block"), st.sampled_from(BLOCKS)),
    ),
    max_size=60,
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(events=events)
def test_any_sequence_of_events_keeps_the_indexes_consistent(events: list[Any]) -> None:
    bm = BlockMap()
    good: set[tuple[int, str]] = set()  # a model: (block, node) pairs
    bad: set[tuple[int, str]] = set()
    for kind, *args in events:
        getattr(bm, kind)(*args)
        match kind:
            case "add":
                good.add((args[0], args[1]))
                bad.discard((args[0], args[1]))
            case "remove":
                good.discard((args[0], args[1]))
                bad.discard((args[0], args[1]))
            case "mark_corrupt":
                good.discard((args[0], args[1]))
                bad.add((args[0], args[1]))
            case "remove_node":
                good = {p for p in good if p[1] != args[0]}
                bad = {p for p in bad if p[1] != args[0]}
            case "forget_block":
                good = {p for p in good if p[0] != args[0]}
                bad = {p for p in bad if p[0] != args[0]}
        check_invariants(bm)
    for b in BLOCKS:
        assert bm.holders(b) == {n for bb, n in good if bb == b}
        assert bm.corrupt_holders(b) == {n for bb, n in bad if bb == b}
