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
deleted, or never committed, and its replica is garbage (the caller decides that). Bounded:
past `limit` replicas the oldest block's are dropped (a full block report finds them).
"""

from __future__ import annotations

from minihadoop.models import ReplicaReport

LIMIT = 100_000


class EarlyReplicas:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._by_block: dict[int, dict[str, ReplicaReport]] = {}  # oldest block first
        self._count = 0
        self.dropped = 0  # replicas let go to stay within `limit`

    def __len__(self) -> int:
        return self._count

    def add(self, datanode_id: str, replica: ReplicaReport) -> None:
        """Hold `replica` of `datanode_id` until its block is known; a newer report of the
        same replica replaces the older."""
        held = self._by_block.setdefault(replica.block_id, {})
        if datanode_id not in held:
            self._count += 1
        held[datanode_id] = replica
        while self._count > self.limit:
            oldest = next(iter(self._by_block))
            let_go = len(self._by_block.pop(oldest))
            self._count -= let_go
            self.dropped += let_go

    def discard(self, block_id: int, datanode_id: str) -> None:
        """The datanode no longer holds it (it reported it deleted)."""
        held = self._by_block.get(block_id)
        if held is not None and held.pop(datanode_id, None) is not None:
            self._count -= 1
            if not held:
                del self._by_block[block_id]

    def forget_node(self, datanode_id: str) -> None:
        """Everything one datanode said: it died, or a full report of it supersedes it."""
        for block_id in [b for b, held in self._by_block.items() if datanode_id in held]:
            self.discard(block_id, datanode_id)

    def take(self, block_id: int) -> list[tuple[str, ReplicaReport]]:
        """The held replicas of a block that is known now, no longer held."""
        held = self._by_block.pop(block_id, {})
        self._count -= len(held)
        return list(held.items())

    def take_known(self, last_block_id: int) -> list[tuple[str, ReplicaReport]]:
        """The held replicas of every block allocated by now (`last_block_id` and below),
        oldest first, no longer held: after a snapshot brought many blocks at once."""
        known = [b for b in self._by_block if b <= last_block_id]
        return [pair for block_id in known for pair in self.take(block_id)]

    def clear(self) -> None:
        self._by_block.clear()
        self._count = 0
