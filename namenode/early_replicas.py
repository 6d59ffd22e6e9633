"""Replicas reported for blocks this namenode has not applied yet. Pure.

A datanode tells every namenode of the group of a new replica at once. The leader applied
the block's `AddBlock` before the writer was given the block; a follower learns that the
entry is committed only from the leader's next message, so it is usually told of a replica
*before* it knows the block. Dropped, such a report would leave a follower elected in the
next moment without a location for the last blocks written before the election, until its
datanodes' full reports arrive: a read in that gap fails with "no live datanode has it".
As HDFS's standby queues them (`PendingDataNodeMessages`), they wait here, by block, and are
placed when the block is applied.

Block ids are allocated in log order, so a block id above the namespace's last allocated
one names a block still to come; at or below it, a block the namespace does not know was
deleted, or never committed, and its replica is garbage. A replica whose generation stamp
is ahead of the block's (a truncate or a recovery not applied here yet) waits the same way.
The caller decides which is which. Bounded: past `limit` replicas the oldest block's are
let go (a full block report finds them). Every operation costs what it touches: a full
report or a node's death finds that node's replicas by an index, and a round of the
monitor finds the blocks known by now in a heap of ids.
"""

from __future__ import annotations

import heapq

from minihadoop.models import ReplicaReport

LIMIT = 100_000


class EarlyReplicas:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._by_block: dict[int, dict[str, ReplicaReport]] = {}  # oldest block first
        self._by_node: dict[str, set[int]] = {}
        self._ids: list[int] = []  # a heap of the held block ids (and some let go since)
        self._count = 0
        self.dropped = 0  # replicas let go to stay within `limit`

    def __len__(self) -> int:
        return self._count

    def add(self, datanode_id: str, replica: ReplicaReport) -> None:
        """Hold `replica` of `datanode_id` until its block's edit is applied; a newer report
        of the same replica replaces the older."""
        block_id = replica.block_id
        held = self._by_block.get(block_id)
        if held is None:
            held = self._by_block[block_id] = {}
            heapq.heappush(self._ids, block_id)
            if len(self._ids) > 2 * len(self._by_block) + 64:  # mostly ids let go: rebuild
                self._ids = list(self._by_block)
                heapq.heapify(self._ids)
        if datanode_id not in held:
            self._count += 1
            self._by_node.setdefault(datanode_id, set()).add(block_id)
        held[datanode_id] = replica
        while self._count > self.limit:
            oldest = next(iter(self._by_block))
            self.dropped += len(self._pop(oldest))

    def discard(self, block_id: int, datanode_id: str) -> None:
        """The datanode no longer holds it (it reported it deleted, or bad)."""
        held = self._by_block.get(block_id)
        if held is None or held.pop(datanode_id, None) is None:
            return
        self._count -= 1
        self._unindex(datanode_id, block_id)
        if not held:
            del self._by_block[block_id]

    def forget_node(self, datanode_id: str) -> None:
        """Everything one datanode said: it died, or a full report of it supersedes it."""
        for block_id in list(self._by_node.get(datanode_id, ())):
            self.discard(block_id, datanode_id)

    def take(self, block_id: int) -> list[tuple[str, ReplicaReport]]:
        """The held replicas of a block whose edit is applied now, no longer held."""
        return list(self._pop(block_id).items())

    def take_known(self, last_block_id: int) -> list[tuple[str, ReplicaReport]]:
        """The held replicas of every block allocated by now (`last_block_id` and below),
        no longer held: after a snapshot brought many blocks at once, or for a stamp ahead."""
        taken: list[tuple[str, ReplicaReport]] = []
        while self._ids and self._ids[0] <= last_block_id:
            taken += self.take(heapq.heappop(self._ids))
        return taken

    def clear(self) -> None:
        self._by_block.clear()
        self._by_node.clear()
        self._ids.clear()
        self._count = 0

    def _pop(self, block_id: int) -> dict[str, ReplicaReport]:
        held = self._by_block.pop(block_id, {})
        self._count -= len(held)
        for datanode_id in held:
            self._unindex(datanode_id, block_id)
        return held

    def _unindex(self, datanode_id: str, block_id: int) -> None:
        blocks = self._by_node[datanode_id]
        blocks.discard(block_id)
        if not blocks:
            del self._by_node[datanode_id]
