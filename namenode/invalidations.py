"""Datanode commands held back until the edit that justifies them is durable.

A delete command is the one namenode decision that cannot be taken back: once a datanode
has removed a replica, a namenode that crashes before fsyncing the edit that freed the
block (an overwrite, a delete, an expired lease) restarts with a file whose blocks are gone.
HDFS calls `logSync` before it queues invalidations; here every such command is held with
the newest txid the namenode had logged when it decided, and leaves only once the edit log
is durable up to that txid. Holding on the newest txid, not the one record that justified
it, also covers deletes decided from a block report against an unsynced namespace. A block
recovery is held the same way: its new generation stamp must be durable before a datanode
restamps replicas with it, or a restarted namenode would hand the same stamp out again.

Pure: txids in, (datanode, command) pairs out, in the order they were held.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

C = TypeVar("C")


class HeldCommands(Generic[C]):
    def __init__(self) -> None:
        # Held in txid order: the namesystem holds with its log's newest txid, which only grows.
        self._held: deque[tuple[int, str, C]] = deque()

    def hold(self, txid: int, datanode_id: str, command: C) -> None:
        """Send `command` to `datanode_id` once every edit up to `txid` is durable."""
        self._held.append((txid, datanode_id, command))

    def release(self, durable_txid: int) -> list[tuple[str, C]]:
        """The held commands whose edits are now durable, oldest first; forgets them."""
        out = []
        while self._held and self._held[0][0] <= durable_txid:
            _, node, command = self._held.popleft()
            out.append((node, command))
        return out

    def __len__(self) -> int:
        return len(self._held)
