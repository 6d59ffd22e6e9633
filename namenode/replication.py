"""The replication queue: which blocks need copies made or removed, and by whom. Pure.

Events mark blocks as *suspect* (a node died, a replica was reported bad, a file's
replication changed, a block report arrived). `compute(now, ...)` looks at the suspect and
still-unhealthy blocks and returns decisions:

* `Replicate(block, source, targets)` for under-replicated blocks, fewest live replicas
  first (a block with one copy left is more urgent than one with two), at most
  `max_streams` outstanding copies per source node;
* `Delete(block, node)` for replicas beyond the file's replication factor, and for corrupt
  replicas once enough good ones exist.

A replication in flight is *pending* until its target reports the block or its deadline
passes; only then is it scheduled again, so one slow copy is not started twice per tick.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from namenode.blockmap import BlockMap
from namenode.placement import BlockPlacementPolicy, NodeView, choose_excess


@dataclass(frozen=True, slots=True)
class Replicate:
    block_id: int
    source: str
    targets: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Delete:
    block_id: int
    node: str


@dataclass(slots=True)
class _Pending:
    targets: set[str]
    deadline: float


@dataclass
class BlockHealth:
    under_replicated: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    corrupt: set[int] = field(default_factory=set)


class ReplicationQueue:
    def __init__(self, *, pending_timeout: float, max_streams: int) -> None:
        self.pending_timeout = pending_timeout
        self.max_streams = max_streams
        self._suspect: set[int] = set()
        self._unhealthy: set[int] = set()
        self._pending: dict[int, _Pending] = {}

    def check(self, block_ids: Iterable[int]) -> None:
        """Mark blocks to look at on the next `compute`."""
        self._suspect.update(block_ids)

    def replica_arrived(self, block_id: int, node: str) -> None:
        pending = self._pending.get(block_id)
        if pending is not None:
            pending.targets.discard(node)
            if not pending.targets:
                del self._pending[block_id]
        self._suspect.add(block_id)

    def forget(self, block_id: int) -> None:
        self._suspect.discard(block_id)
        self._unhealthy.discard(block_id)
        self._pending.pop(block_id, None)

    def in_flight(self) -> int:
        return len(self._pending)

    def compute(
        self,
        now: float,
        *,
        expected: Callable[[int], int | None],
        blocks: BlockMap,
        live: Mapping[str, NodeView],
        policy: BlockPlacementPolicy,
        rng: random.Random,
        writable: Mapping[str, NodeView] | None = None,
        block_size: Callable[[int], int] = lambda _b: 0,
        busy: Mapping[str, int] | None = None,
    ) -> list[Replicate | Delete]:
        """Decisions for this tick.

        `live` are the nodes whose replicas count (and may be copied from); `writable` those
        that may receive new replicas (default: all of `live`; draining nodes are not).
        """
        targets_ok = live if writable is None else writable
        for block_id, pending in list(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[block_id]
                self._unhealthy.add(block_id)
        work = self._suspect | self._unhealthy
        self._suspect = set()
        self._unhealthy = set()
        streams: dict[str, int] = dict(busy or {})
        decisions: list[Replicate | Delete] = []
        under: list[tuple[int, int, int]] = []  # (live count, block, needed)
        for block_id in work:
            want = expected(block_id)
            if want is None:
                continue
            good = [n for n in blocks.holders(block_id) if n in live]
            in_flight = len(self._pending[block_id].targets) if block_id in self._pending else 0
            if len(good) + in_flight < want:
                under.append((len(good), block_id, want - len(good) - in_flight))
                self._unhealthy.add(block_id)
            elif len(good) > want:
                for node in choose_excess([live[n] for n in good], len(good) - want):
                    decisions.append(Delete(block_id, node.id))
            elif in_flight:
                self._unhealthy.add(block_id)
            if len(good) >= want:
                decisions.extend(
                    Delete(block_id, n) for n in blocks.corrupt_holders(block_id) if n in live
                )
        for count, block_id, needed in sorted(under):
            if count == 0:
                continue  # missing: nothing to copy from; fsck reports it
            decision = self._replicate(
                block_id,
                needed,
                blocks,
                live,
                targets_ok,
                policy,
                rng,
                block_size(block_id),
                streams,
            )
            if decision is not None:
                decisions.append(decision)
                pending = self._pending.setdefault(
                    block_id, _Pending(set(), now + self.pending_timeout)
                )
                pending.targets.update(decision.targets)
                pending.deadline = now + self.pending_timeout
        return decisions

    def _replicate(
        self,
        block_id: int,
        needed: int,
        blocks: BlockMap,
        live: Mapping[str, NodeView],
        writable: Mapping[str, NodeView],
        policy: BlockPlacementPolicy,
        rng: random.Random,
        size: int,
        streams: dict[str, int],
    ) -> Replicate | None:
        holders = [live[n] for n in sorted(blocks.holders(block_id)) if n in live]
        sources = [h for h in holders if streams.get(h.id, 0) < self.max_streams]
        if not sources:
            return None
        source = min(sources, key=lambda h: (streams.get(h.id, 0), h.active_transfers, h.id))
        taken = blocks.holders(block_id) | blocks.corrupt_holders(block_id)
        pending = self._pending.get(block_id)
        if pending is not None:
            taken |= pending.targets
        candidates = [v for k, v in sorted(writable.items()) if k not in taken]
        targets = policy.choose_targets(
            needed, candidates, rng=rng, existing=holders, block_size=size
        )
        if not targets:
            return None
        streams[source.id] = streams.get(source.id, 0) + 1
        return Replicate(block_id, source.id, tuple(t.id for t in targets))


def classify(
    block_ids: Iterable[int],
    *,
    expected: Callable[[int], int | None],
    blocks: BlockMap,
    live: Mapping[str, NodeView] | set[str],
) -> BlockHealth:
    """Health of the given blocks, for fsck and the dashboard."""
    health = BlockHealth()
    for block_id in block_ids:
        want = expected(block_id)
        if want is None:
            continue
        good = sum(1 for n in blocks.holders(block_id) if n in live)
        if good == 0:
            if blocks.corrupt_holders(block_id):
                health.corrupt.add(block_id)
            else:
                health.missing.add(block_id)
        elif good < want:
            health.under_replicated.add(block_id)
    return health
