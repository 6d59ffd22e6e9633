"""The balancer's planning (minihadoop.balancer) and the namenode's side of a move
(namenode.replication): pure, no cluster."""

from __future__ import annotations

import pytest

from minihadoop.balancer import ABOVE, BELOW, OVER, UNDER, Move, NodeUse, classify, plan
from namenode.blockmap import BlockMap
from namenode.placement import NodeView
from namenode.replication import Delete, Replicate, ReplicationQueue

MiB = 1 << 20


def test_nodes_are_classed_against_the_mean_of_all_capacity() -> None:
    nodes = [NodeUse("a", 100, 90), NodeUse("b", 100, 55), NodeUse("c", 100, 45),
             NodeUse("d", 100, 10), NodeUse("gone", 0, 0)]  # fmt: skip
    classes = classify(nodes, threshold=10)
    assert classes.mean == 50.0
    assert [[n.id for n in classes.nodes[k]] for k in (OVER, ABOVE, BELOW, UNDER)] == [
        ["a"],
        ["b"],
        ["c"],
        ["d"],
    ]
    assert not classes.balanced
    assert classify([NodeUse("a", 100, 55), NodeUse("b", 100, 45)], 10).balanced


def test_a_plan_moves_over_to_under_within_the_budget_and_never_twice() -> None:
    nodes = [NodeUse("full", 100 * MiB, 80 * MiB), NodeUse("empty", 100 * MiB, 0),
             NodeUse("mid", 100 * MiB, 40 * MiB)]  # fmt: skip
    held = {"full": [(i, MiB, ["full", "mid"] if i < 30 else ["full"]) for i in range(80)],
            "mid": [(i, MiB, ["full", "mid"]) for i in range(30)]}  # fmt: skip
    asked: list[tuple[str, int]] = []

    def blocks_of(node: str, size: int) -> list[tuple[int, int, list[str]]]:
        asked.append((node, size))
        return held.get(node, [])

    moves = plan(nodes, threshold=10, budget=25 * MiB, blocks_of=blocks_of)
    assert moves and all(isinstance(m, Move) for m in moves)
    assert len({m.block_id for m in moves}) == len(moves)  # no block twice
    into_empty = [m for m in moves if m.target == "empty"]
    assert sum(m.length for m in into_empty) <= 25 * MiB  # the throttle's budget
    assert {m.source for m in moves} == {"full"}
    # "mid" holds blocks 0..29 already: none of those goes there.
    assert all(m.block_id >= 30 for m in moves if m.target == "mid")
    # No source goes below the mean (40 %): "full" sheds at most 40 MiB.
    assert sum(m.length for m in moves) <= 40 * MiB


def views(*ids: str, rack: str = "/r") -> dict[str, NodeView]:
    return {i: NodeView(id=i, rack=rack, remaining=MiB, active_transfers=0, host=i) for i in ids}


def test_a_move_copies_then_deletes_the_source_and_never_lowers_replication() -> None:
    blocks = BlockMap()
    for node in ("a", "b"):
        blocks.add(7, node)
    live = views("a", "b", "c")
    queue = ReplicationQueue(pending_timeout=30, max_streams=4)
    # From "b": left to itself, the excess rule would delete "a" (the smaller id).
    assert queue.move(7, "b", "c", 0.0, blocks=blocks, live=live, writable=live) == Replicate(
        7, "b", ("c",)
    )
    assert queue.moves() == 1
    with pytest.raises(ValueError, match="being copied"):
        queue.move(7, "a", "c", 0.0, blocks=blocks, live=live, writable=live)
    blocks.add(8, "a")
    with pytest.raises(ValueError, match="no live replica"):
        queue.move(8, "c", "b", 0.0, blocks=blocks, live=live, writable=live)

    def tick(now: float) -> list[Replicate | Delete]:
        return queue.compute(now, expected=lambda _b: 2, blocks=blocks, live=live,
                             policy=None, rng=None, writable=live)  # type: ignore[arg-type]  # fmt: skip

    assert tick(1.0) == []  # copying: the source's replica stays
    blocks.add(7, "c")
    queue.replica_arrived(7, "c")
    assert tick(2.0) == [Delete(7, "b")]  # the source's, not another's
    assert queue.moves() == 0


def test_a_move_is_refused_that_would_crowd_a_block_onto_one_rack() -> None:
    blocks = BlockMap()
    blocks.add(9, "a")
    blocks.add(9, "b")
    live = {**views("a", rack="/r1"), **views("b", "c", rack="/r2")}
    queue = ReplicationQueue(pending_timeout=30, max_streams=4)
    with pytest.raises(ValueError, match="one rack"):
        queue.move(9, "a", "c", 0.0, blocks=blocks, live=live, writable=live)
    with pytest.raises(ValueError, match="has a replica"):
        queue.move(9, "a", "b", 0.0, blocks=blocks, live=live, writable=live)


def test_a_move_whose_copy_never_lands_is_given_up() -> None:
    blocks = BlockMap()
    blocks.add(5, "a")
    live = views("a", "b")
    queue = ReplicationQueue(pending_timeout=10, max_streams=4)
    queue.move(5, "a", "b", 0.0, blocks=blocks, live=live, writable=live)
    queue.compute(11.0, expected=lambda _b: 1, blocks=blocks, live=live, policy=None,
                  rng=None, writable=live)  # type: ignore[arg-type]  # fmt: skip
    assert queue.moves() == 0 and blocks.holders(5) == {"a"}
