"""Where each block's replicas live. Soft state, rebuilt from block reports; pure.

A replica is *live* when a live datanode reported it with the right generation stamp and
length. A replica reported bad (by a reader or a scanner) or with a wrong length is
*corrupt*: it no longer counts, is never handed to readers, and is deleted once the block
has enough good replicas elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable


class BlockMap:
    def __init__(self) -> None:
        self._holders: dict[int, set[str]] = {}
        self._node_blocks: dict[str, set[int]] = {}
        self._corrupt: dict[int, set[str]] = {}

    # --- queries ----------------------------------------------------------------------------

    def holders(self, block_id: int) -> set[str]:
        """Datanodes with a good replica of the block (live or not: callers filter)."""
        return set(self._holders.get(block_id, ()))

    def corrupt_holders(self, block_id: int) -> set[str]:
        return set(self._corrupt.get(block_id, ()))

    def blocks_of(self, datanode_id: str) -> set[int]:
        return set(self._node_blocks.get(datanode_id, ()))

    def count_on(self, datanode_id: str) -> int:
        return len(self._node_blocks.get(datanode_id, ()))

    def corrupt_blocks(self) -> set[int]:
        return {b for b, nodes in self._corrupt.items() if nodes}

    def known_blocks(self) -> Iterable[int]:
        return self._holders.keys()

    # --- events -----------------------------------------------------------------------------

    def add(self, block_id: int, datanode_id: str) -> bool:
        """Record a good replica; True when it is new."""
        holders = self._holders.setdefault(block_id, set())
        if datanode_id in holders:
            return False
        holders.add(datanode_id)
        self._node_blocks.setdefault(datanode_id, set()).add(block_id)
        corrupt = self._corrupt.get(block_id)
        if corrupt is not None:  # a good copy now (e.g. re-replicated onto the same node)
            corrupt.discard(datanode_id)
            if not corrupt:
                del self._corrupt[block_id]
        return True

    def remove(self, block_id: int, datanode_id: str) -> bool:
        """Forget a replica (deleted, or its node is gone); True when it was known."""
        found = False
        holders = self._holders.get(block_id)
        if holders and datanode_id in holders:
            holders.discard(datanode_id)
            found = True
            if not holders:
                del self._holders[block_id]
        corrupt = self._corrupt.get(block_id)
        if corrupt and datanode_id in corrupt:
            corrupt.discard(datanode_id)
            found = True
            if not corrupt:
                del self._corrupt[block_id]
        blocks = self._node_blocks.get(datanode_id)
        if blocks is not None:
            blocks.discard(block_id)
        return found

    def mark_corrupt(self, block_id: int, datanode_id: str) -> None:
        holders = self._holders.get(block_id)
        if holders:
            holders.discard(datanode_id)
            if not holders:
                del self._holders[block_id]
        self._corrupt.setdefault(block_id, set()).add(datanode_id)
        self._node_blocks.setdefault(datanode_id, set()).add(block_id)

    def remove_node(self, datanode_id: str) -> set[int]:
        """Forget every replica on a node; the blocks that lost one."""
        blocks = self._node_blocks.pop(datanode_id, set())
        for block_id in blocks:
            for table in (self._holders, self._corrupt):
                nodes = table.get(block_id)
                if nodes is not None:
                    nodes.discard(datanode_id)
                    if not nodes:
                        del table[block_id]
        return blocks

    def forget_block(self, block_id: int) -> set[str]:
        """Drop a block that left the namespace; the nodes that still hold a copy."""
        nodes = self._holders.pop(block_id, set()) | self._corrupt.pop(block_id, set())
        for n in nodes:
            blocks = self._node_blocks.get(n)
            if blocks is not None:
                blocks.discard(block_id)
        return nodes
