"""The replication queue: which blocks need copies made or removed, and by whom. Pure.

Events mark blocks as *suspect* (a node died, a replica was reported bad, a file's
replication changed, a block report arrived). `compute(now, ...)` looks at the suspect and
still-unhealthy blocks and returns decisions:

* `Replicate(block, source, targets)` for under-replicated blocks, fewest live replicas
  first (a block with one copy left is more urgent than one with two), at most
  `max_streams` outstanding copies per source node: the copies it was asked for in earlier
  ticks and has not finished count, as do the `busy` ones the caller passes;
* `Delete(block, node)` for replicas beyond the file's replication factor, and for corrupt
  replicas once enough good ones exist, or sooner when a corrupt replica sits on a node a
  missing good copy could go to and no other node is left for it.

A replication in flight is *pending* until its target reports the block or its deadline
passes; only then is it scheduled again, so one slow copy is not started twice per tick.
A source whose copy timed out is the last choice for that block next time, so one broken
replica (a file gone from under its datanode) cannot stall the block's repair for ever.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

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
    """Copies of one block in flight: each target, and the source copying to it."""

    targets: dict[str, str]
    deadline: float


@dataclass
class BlockHealth:
    under_replicated: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)
    corrupt: set[int] = field(default_factory=set)


class ReplicationQueue:
    def __init__(
        self, *, pending_timeout: float, max_streams: int, max_per_tick: int = 10_000
    ) -> None:
        self.pending_timeout = pending_timeout
        self.max_streams = max_streams
        self.max_per_tick = max_per_tick  # blocks looked at in one `compute`
        self._suspect: set[int] = set()
        self._unhealthy: set[int] = set()
        self._pending: dict[int, _Pending] = {}
        self._failed_sources: dict[int, set[str]] = {}  # block -> sources whose copy timed out
        # The balancer's moves: block -> (source, target). The copy is in `_pending`; once
        # the target holds it, the source's replica is the excess one deleted (HDFS's
        # delete hint), and only then — a move never lowers a block's replication.
        self._moves: dict[int, tuple[str, str]] = {}

    def check(self, block_ids: Iterable[int]) -> None:
        """Mark blocks to look at on the next `compute`."""
        self._suspect.update(block_ids)

    def replica_arrived(self, block_id: int, node: str) -> None:
        pending = self._pending.get(block_id)
        if pending is not None:
            pending.targets.pop(node, None)
            if not pending.targets:
                del self._pending[block_id]
        self._suspect.add(block_id)

    def forget(self, block_id: int) -> None:
        self._suspect.discard(block_id)
        self._unhealthy.discard(block_id)
        self._pending.pop(block_id, None)
        self._failed_sources.pop(block_id, None)
        self._moves.pop(block_id, None)

    def in_flight(self) -> int:
        return len(self._pending)

    def moves(self) -> int:
        """The balancer's moves not finished yet."""
        return len(self._moves)

    def move(
        self,
        block_id: int,
        source: str,
        target: str,
        now: float,
        *,
        blocks: BlockMap,
        live: Mapping[str, NodeView],
        writable: Mapping[str, NodeView],
    ) -> Replicate:
        """Start moving `block_id`'s replica from `source` to `target` (the balancer's
        replaceBlock): a copy now, the source's replica deleted once the copy is there.
        Raises ValueError, changing nothing, for a move that cannot be made or would
        spread the block over fewer racks."""
        holders = blocks.holders(block_id)
        if block_id in self._pending or block_id in self._moves or block_id in self._unhealthy:
            raise ValueError(f"block {block_id} is being copied already")
        if source not in holders or source not in live:
            raise ValueError(f"{source} holds no live replica of block {block_id}")
        if target in holders or target in blocks.corrupt_holders(block_id):
            raise ValueError(f"{target} has a replica of block {block_id} already")
        if target not in writable:
            raise ValueError(f"{target} is not a live datanode that takes new replicas")
        racks = {live[n].rack for n in holders if n in live}
        after = {live[n].rack for n in holders if n in live and n != source}
        after.add(writable[target].rack)
        if len(after) < min(len(racks), 2):
            raise ValueError(f"moving block {block_id} to {target} would leave it on one rack")
        self._moves[block_id] = (source, target)
        self._pending[block_id] = _Pending({target: source}, now + self.pending_timeout)
        return Replicate(block_id, source, (target,))

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

        `live` are the nodes whose replicas may be copied from; `writable` those that may
        receive new replicas (default: all of `live`). A live node that is not writable is
        being drained: its replicas are copied from but do not count toward the replication
        factor, so the block gets its full count elsewhere, and they are never chosen as
        excess. `busy` counts copies a node is serving that this queue did not schedule.
        """
        # A copy chosen this tick makes its target busier for the rest of the tick, so one
        # tick's copies (a dead node's hundreds of blocks) spread instead of piling up.
        targets_ok = dict(live if writable is None else writable)
        self._expire_pending(now)
        work = self._suspect | self._unhealthy
        self._suspect = set()
        self._unhealthy = set()
        if len(work) > self.max_per_tick:
            # A whole namespace to look at (safe mode just left): a share a tick, so the
            # namenode's lock is never held for seconds; the rest wait for the next ticks.
            ordered = sorted(work)
            work, self._suspect = (
                set(ordered[: self.max_per_tick]),
                set(ordered[self.max_per_tick :]),
            )
        streams = self._streams(busy)
        decisions: list[Replicate | Delete] = []
        under: list[tuple[int, int, int]] = []  # (counted replicas, block, needed)
        for block_id in sorted(work):
            want = expected(block_id)
            if want is not None:
                decisions.extend(self._assess(block_id, want, blocks, live, targets_ok, under))
        for _, block_id, needed in sorted(under):
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
                for t in decision.targets:
                    node = targets_ok[t]
                    targets_ok[t] = replace(
                        node,
                        active_transfers=node.active_transfers + 1,
                        remaining=max(0, node.remaining - block_size(block_id)),
                    )
                pending = self._pending.setdefault(block_id, _Pending({}, now))
                pending.targets.update(dict.fromkeys(decision.targets, decision.source))
                pending.deadline = now + self.pending_timeout
        return decisions

    def _expire_pending(self, now: float) -> None:
        """Give up on copies past their deadline: the block is looked at again."""
        for block_id, pending in list(self._pending.items()):
            if pending.deadline <= now:
                del self._pending[block_id]
                self._moves.pop(block_id, None)
                self._unhealthy.add(block_id)
                self._failed_sources.setdefault(block_id, set()).update(pending.targets.values())

    def _streams(self, busy: Mapping[str, int] | None) -> dict[str, int]:
        """Copies each source is busy with: `busy`, plus one per block it is still copying."""
        streams: dict[str, int] = dict(busy or {})
        for pending in self._pending.values():
            for source in set(pending.targets.values()):
                streams[source] = streams.get(source, 0) + 1
        return streams

    def _assess(
        self,
        block_id: int,
        want: int,
        blocks: BlockMap,
        live: Mapping[str, NodeView],
        writable: Mapping[str, NodeView],
        under: list[tuple[int, int, int]],
    ) -> list[Delete]:
        """Deletions one block needs now; adds it to `under` when it needs copies."""
        readable = [n for n in blocks.holders(block_id) if n in live]
        counted = sorted(n for n in readable if n in writable)  # not on a draining node
        corrupt = sorted(n for n in blocks.corrupt_holders(block_id) if n in live)
        pending = self._pending.get(block_id)
        in_flight = pending.targets.keys() if pending is not None else set()
        needed = want - len(counted) - len(in_flight)
        deletes: list[Delete] = []
        if needed <= 0 and not in_flight:
            self._failed_sources.pop(block_id, None)  # healthy again: the past is forgiven
        if needed > 0:
            self._unhealthy.add(block_id)
            if readable:  # else missing: nothing to copy from; fsck reports it
                under.append((len(counted), block_id, needed))
        elif len(counted) > want:
            move = self._moves.pop(block_id, None)
            if move is not None and move[0] in counted and move[1] in counted:
                deletes.append(Delete(block_id, move[0]))  # the balancer's: its source
                counted.remove(move[0])
            for node in choose_excess([live[n] for n in counted], len(counted) - want):
                deletes.append(Delete(block_id, node.id))
        elif in_flight:
            self._unhealthy.add(block_id)
        if block_id not in self._pending:  # its copy landed (or gave up): the move is over
            self._moves.pop(block_id, None)
        if len(counted) >= want:
            deletes.extend(Delete(block_id, n) for n in corrupt)
        elif readable and corrupt:
            # A corrupt copy is kept while it might matter, but not when it takes the place
            # a good copy needs (three nodes, replication three): then it would stay
            # under-replicated for ever. Its deletion frees the node for a good copy.
            taken = set(blocks.holders(block_id)) | set(corrupt) | set(in_flight)
            free = sum(1 for n in writable if n not in taken)
            if free < needed:
                deletes.extend(Delete(block_id, n) for n in corrupt)
        return deletes

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
        failed = self._failed_sources.get(block_id, set())
        source = min(
            sources,
            key=lambda h: (h.id in failed, streams.get(h.id, 0), h.active_transfers, h.id),
        )
        taken = blocks.holders(block_id) | blocks.corrupt_holders(block_id)
        pending = self._pending.get(block_id)
        if pending is not None:
            taken |= pending.targets.keys()
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
