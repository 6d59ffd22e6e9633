"""Block placement: where a block's replicas go, which replica a reader tries first, and which
replicas go away when a block has too many. Pure: no HTTP, no clock, no process state.

The block manager passes a snapshot of the live datanodes as `NodeView`s and a seeded
`random.Random`; the same arguments and the same generator state give the same answer. Every
function here orders its inputs by node id before drawing random numbers, so the answer does
not depend on the order the caller listed the candidates in either.

Policies are chosen by name with `make_policy` ("default", "random", "round-robin",
"least-used"). All of them honour the same contract, stated on
`BlockPlacementPolicy.choose_targets`.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

DEFAULT_RACK = "/default-rack"
BALANCED_TOLERANCE = Fraction(5, 100)  # power-of-two: scores this close count as equal


@dataclass(frozen=True, slots=True)
class NodeView:
    """What placement knows of one live datanode.

    `host` is the host part of the datanode's URL; it is compared with a writer's or a
    reader's host to find the node local to them. `capacity` and `remaining` are bytes;
    a `capacity` of 0 means "unknown" and such a node is never treated as full.
    `active_transfers` is the number of block reads and writes the node is serving now.
    """

    id: str
    host: str
    rack: str = DEFAULT_RACK
    capacity: int = 0
    remaining: int = 0
    active_transfers: int = 0


class BlockPlacementPolicy(Protocol):
    """Chooses the datanodes a block's new replicas are written to."""

    name: str

    def choose_targets(
        self,
        count: int,
        candidates: Sequence[NodeView],
        *,
        rng: random.Random,
        writer_host: str | None = None,
        existing: Sequence[NodeView] = (),
        block_size: int = 0,
    ) -> list[NodeView]:
        """Return up to `count` distinct nodes from `candidates`, ordered as a write pipeline.

        Never returns a node whose id is among `existing` (the nodes already holding a
        replica of the block), nor a full node: one with `capacity` > 0 and `remaining` <
        `block_size` when `block_size` > 0. Returns exactly `min(count, number of eligible
        candidates)` nodes (an empty list when `count` <= 0) and never raises because there
        are too few. Candidates listed twice under one id count once.
        """
        ...


# --------------------------------------------------------------------------- shared rules


def _has_room(node: NodeView, block_size: int) -> bool:
    """False only for a node known to be too full to take a block of `block_size` bytes."""
    return block_size <= 0 or node.capacity <= 0 or node.remaining >= block_size


def _eligible(
    candidates: Sequence[NodeView], existing: Sequence[NodeView], block_size: int
) -> list[NodeView]:
    """Candidates that may take a new replica: sorted by id, distinct, not in `existing`,
    not full."""
    taken = {node.id for node in existing}
    pool: list[NodeView] = []
    for node in sorted(candidates, key=lambda n: n.id):
        if node.id in taken or not _has_room(node, block_size):
            continue
        taken.add(node.id)
        pool.append(node)
    return pool


def _better(a: NodeView, b: NodeView) -> NodeView:
    """The node with the higher `remaining / (1 + active_transfers)`; `a` when the two are
    within `BALANCED_TOLERANCE` of each other.

    Scores are compared by cross-multiplication, exactly, without floating point. Near-equal
    nodes count as equal (as HDFS's available-space policy does, with the same 5 %): free
    space is reported only every heartbeat, and nodes that share a disk report the same
    space at different moments, so small differences say when a node last reported, not how
    full it is. Preferring the larger one anyway sent a burst of writes to one node.
    """
    score_a = a.remaining * (1 + max(0, b.active_transfers))
    score_b = b.remaining * (1 + max(0, a.active_transfers))
    if abs(score_a - score_b) * BALANCED_TOLERANCE.denominator <= (
        max(score_a, score_b) * BALANCED_TOLERANCE.numerator
    ):
        return a
    return a if score_a > score_b else b


def _power_of_two(pool: Sequence[NodeView], rng: random.Random) -> NodeView:
    """Power-of-two-choices: sample two distinct nodes of the non-empty `pool`, keep the
    `_better` one (the first sampled, a random one, when they are near-equal). A pool of one
    node gives that node without drawing from `rng`."""
    if len(pool) == 1:
        return pool[0]
    a, b = rng.sample(pool, 2)
    return _better(a, b)


def _max_per_rack(total_replicas: int, racks: int) -> int:
    """HDFS's maxNodesPerRack: at most `(total - 1) // racks + 2` replicas on one rack, and
    never all of them on one rack when there are several racks and several replicas."""
    if racks <= 1 or total_replicas <= 1:
        return max(total_replicas, 1)
    limit = (total_replicas - 1) // racks + 2
    if limit >= total_replicas:
        limit = total_replicas - 1
    return limit


# --------------------------------------------------------------------------- policies


class DefaultPlacement:
    """HDFS-like rack-aware placement ("default").

    Replicas are placed one after another, each chosen by power-of-two-choices (two random
    nodes sampled, the one with more free space per active transfer kept) from the best
    non-empty tier of: nodes wanted by the rule below and under the per-rack limit; any node
    under the per-rack limit; any node left. The rule, where "placed" means the nodes in
    `existing` followed by the nodes chosen so far:

    - nothing placed: a node on `writer_host` if one is eligible;
    - every placed node on one rack: a node on another rack (so the 2nd replica goes off the
      1st one's rack, and a re-replicated block confined to one rack spreads out);
    - two placed, on different racks: a node on the 2nd one's rack (the 3rd replica shares the
      2nd one's rack);
    - otherwise: no preference beyond the per-rack limit.

    The per-rack limit is `_max_per_rack(len(existing) + replicas this call can place,
    number of racks among existing and eligible candidates)`. With a single rack the rack
    rules never apply and every choice is power-of-two-choices over distinct nodes (the
    first one still on the writer's host when possible).
    """

    name: str = "default"

    def choose_targets(
        self,
        count: int,
        candidates: Sequence[NodeView],
        *,
        rng: random.Random,
        writer_host: str | None = None,
        existing: Sequence[NodeView] = (),
        block_size: int = 0,
    ) -> list[NodeView]:
        """See `BlockPlacementPolicy.choose_targets`; the rules are in the class docstring."""
        pool = _eligible(candidates, existing, block_size)
        wanted = min(count, len(pool))
        if wanted <= 0:
            return []
        placed = list(existing)
        racks = {node.rack for node in pool} | {node.rack for node in placed}
        limit = _max_per_rack(len(placed) + wanted, len(racks))
        per_rack = Counter(node.rack for node in placed)
        chosen: list[NodeView] = []
        while len(chosen) < wanted:
            node = self._choose_one(pool, placed, per_rack, limit, rng, writer_host)
            pool.remove(node)
            placed.append(node)
            per_rack[node.rack] += 1
            chosen.append(node)
        return chosen

    @staticmethod
    def _wanted(placed: Sequence[NodeView], writer_host: str | None) -> Callable[[NodeView], bool]:
        """The preference for the next replica, given the replicas placed so far."""
        if not placed:
            return lambda node: writer_host is not None and node.host == writer_host
        placed_racks = {node.rack for node in placed}
        if len(placed_racks) == 1:
            return lambda node: node.rack not in placed_racks
        if len(placed) == 2:
            second_rack = placed[1].rack
            return lambda node: node.rack == second_rack
        return lambda node: False

    def _choose_one(
        self,
        pool: Sequence[NodeView],
        placed: Sequence[NodeView],
        per_rack: Counter[str],
        limit: int,
        rng: random.Random,
        writer_host: str | None,
    ) -> NodeView:
        """Power-of-two-choices over the best non-empty tier of the non-empty `pool`."""
        wanted = self._wanted(placed, writer_host)
        under_limit = [node for node in pool if per_rack[node.rack] < limit]
        preferred = [node for node in under_limit if wanted(node)]
        tier = preferred or under_limit or list(pool)
        return _power_of_two(tier, rng)


class RandomPlacement:
    """Uniformly random distinct nodes ("random"); `writer_host` is ignored."""

    name: str = "random"

    def choose_targets(
        self,
        count: int,
        candidates: Sequence[NodeView],
        *,
        rng: random.Random,
        writer_host: str | None = None,
        existing: Sequence[NodeView] = (),
        block_size: int = 0,
    ) -> list[NodeView]:
        """See `BlockPlacementPolicy.choose_targets`: a `rng.sample` of the eligible nodes."""
        pool = _eligible(candidates, existing, block_size)
        return rng.sample(pool, max(0, min(count, len(pool))))


class RoundRobinPlacement:
    """Takes eligible nodes in id order, each call starting after the last node the previous
    call returned ("round-robin"), so repeated calls spread replicas evenly.

    The cursor is the last returned id, not an index: nodes joining or leaving between calls
    do not make it skip or repeat the others. `rng` and `writer_host` are ignored.
    """

    name: str = "round-robin"

    def __init__(self) -> None:
        self._last_id: str | None = None

    def choose_targets(
        self,
        count: int,
        candidates: Sequence[NodeView],
        *,
        rng: random.Random,
        writer_host: str | None = None,
        existing: Sequence[NodeView] = (),
        block_size: int = 0,
    ) -> list[NodeView]:
        """See `BlockPlacementPolicy.choose_targets`; advances the cursor when it returns
        any node."""
        pool = _eligible(candidates, existing, block_size)
        wanted = min(count, len(pool))
        if wanted <= 0:
            return []
        start = 0
        if self._last_id is not None:
            start = bisect_right([node.id for node in pool], self._last_id) % len(pool)
        chosen = [pool[(start + i) % len(pool)] for i in range(wanted)]
        self._last_id = chosen[-1].id
        return chosen


def _used_fraction(node: NodeView) -> Fraction:
    """`(capacity - remaining) / capacity`, exactly; 0 when the capacity is unknown (0)."""
    if node.capacity <= 0:
        return Fraction(0)
    return Fraction(node.capacity - node.remaining, node.capacity)


class LeastUsedPlacement:
    """The emptiest nodes first ("least-used"): lowest used fraction of capacity, then fewer
    active transfers, then id. Deterministic; `rng` and `writer_host` are ignored."""

    name: str = "least-used"

    def choose_targets(
        self,
        count: int,
        candidates: Sequence[NodeView],
        *,
        rng: random.Random,
        writer_host: str | None = None,
        existing: Sequence[NodeView] = (),
        block_size: int = 0,
    ) -> list[NodeView]:
        """See `BlockPlacementPolicy.choose_targets`."""
        pool = _eligible(candidates, existing, block_size)
        pool.sort(key=lambda node: (_used_fraction(node), node.active_transfers, node.id))
        return pool[: max(0, count)]


_POLICIES: dict[str, Callable[[], BlockPlacementPolicy]] = {
    "default": DefaultPlacement,
    "random": RandomPlacement,
    "round-robin": RoundRobinPlacement,
    "least-used": LeastUsedPlacement,
}

POLICY_NAMES: tuple[str, ...] = tuple(_POLICIES)
"""The names `make_policy` accepts."""


def make_policy(name: str) -> BlockPlacementPolicy:
    """A new instance of the policy called `name` (one of `POLICY_NAMES`).

    Each call returns a fresh instance, so stateful policies (round-robin) share nothing.
    Raises ValueError naming the valid policies when `name` is unknown.
    """
    try:
        factory = _POLICIES[name]
    except KeyError:
        valid = ", ".join(repr(n) for n in POLICY_NAMES)
        raise ValueError(f"unknown placement policy {name!r}; valid names: {valid}") from None
    return factory()


# --------------------------------------------------------------------------- reads, deletes


def order_for_reader(
    nodes: Sequence[NodeView],
    reader_host: str | None,
    rng: random.Random,
    *,
    reader_rack: str | None = None,
) -> list[NodeView]:
    """`nodes` reordered for a reader on `reader_host`: the order to try replicas in.

    Groups, nearest first: nodes on `reader_host`; nodes on the reader's rack; the rest. The
    reader's rack is that of any node in `nodes` on `reader_host`, or `reader_rack` when the
    caller knows it (a reader on a datanode that holds no replica). Within a group, fewer
    `active_transfers` first, ties in an order drawn from `rng` (shuffled, then stably
    sorted). Returns a permutation of `nodes`; `nodes` is not modified.
    """
    ordered = sorted(nodes, key=lambda node: node.id)
    rng.shuffle(ordered)
    local_racks = {
        node.rack for node in nodes if reader_host is not None and node.host == reader_host
    }
    if reader_rack is not None:
        local_racks.add(reader_rack)

    def distance(node: NodeView) -> int:
        if reader_host is not None and node.host == reader_host:
            return 0
        return 1 if node.rack in local_racks else 2

    ordered.sort(key=lambda node: (distance(node), node.active_transfers))
    return ordered


def choose_excess(holders: Sequence[NodeView], count: int) -> list[NodeView]:
    """The replicas to delete from a block held by `holders` (distinct ids) that has `count`
    too many: exactly `min(count, len(holders) - 1)` nodes (none when `count` <= 0), so at
    least one replica always survives.

    HDFS's rule, applied one deletion at a time: delete from a rack that still holds more than
    one replica when there is one (so no rack is emptied while another has spares), and among
    those the node with the least remaining space; ties go to the smaller id.
    """
    survivors = list(holders)
    victims: list[NodeView] = []
    for _ in range(max(0, min(count, len(holders) - 1))):
        per_rack = Counter(node.rack for node in survivors)
        shared = [node for node in survivors if per_rack[node.rack] > 1]
        victim = min(shared or survivors, key=lambda node: (node.remaining, node.id))
        survivors.remove(victim)
        victims.append(victim)
    return victims
