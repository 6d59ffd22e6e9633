"""Replica deletions held back until the edit that justifies them is durable.

A delete command is the one namenode decision that cannot be taken back: once a datanode
has removed a replica, a namenode that crashes before fsyncing the edit that freed the
block (an overwrite, a delete, an expired lease) restarts with a file whose blocks are gone.
HDFS calls `logSync` before it queues invalidations; here every delete is held with the
newest txid the namenode had logged when it decided, and leaves only once the edit log is
durable up to that txid. Holding on the newest txid, not the one record that freed the
block, also covers deletes decided from a block report against an unsynced namespace.

Pure: txids in, (datanode, block) pairs out, in the order they were held.
"""

from __future__ import annotations

from collections import deque


class Invalidations:
    def __init__(self) -> None:
        # Held in txid order: the namesystem holds with its log's newest txid, which only grows.
        self._held: deque[tuple[int, str, int]] = deque()

    def hold(self, txid: int, datanode_id: str, block_id: int) -> None:
        """Delete `block_id` on `datanode_id` once every edit up to `txid` is durable."""
        self._held.append((txid, datanode_id, block_id))

    def release(self, durable_txid: int) -> list[tuple[str, int]]:
        """The held deletes whose edits are now durable, oldest first; forgets them."""
        out = []
        while self._held and self._held[0][0] <= durable_txid:
            _, node, block_id = self._held.popleft()
            out.append((node, block_id))
        return out

    def __len__(self) -> int:
        return len(self._held)
