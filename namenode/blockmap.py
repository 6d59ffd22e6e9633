"""Where each block's replicas live. Soft state, rebuilt from block reports; pure.

A replica is *live* when a live datanode reported it with the right generation stamp and
length. A replica reported bad (by a reader or a scanner) or with a wrong length is
*corrupt*: it no longer counts, is never handed to readers, and is deleted once the block
has enough good replicas elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable


class BlockMap:
    """Replicas by block and by node.

    Memory: one entry per block of the namespace, so a block's good holders are a tuple (a
    few nodes; 64 bytes for three, where a set takes 216), and callers pass the block id
    the namespace already holds, so the keys here share its int instead of each keeping
    the copy a datanode's report was parsed into.
    """

    def __init__(self) -> None:
        self._holders: dict[int, tuple[str, ...]] = {}
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
        holders = self._holders.get(block_id, ())
        if datanode_id in holders:
            return False
        self._holders[block_id] = (*holders, datanode_id)
        self._node_blocks.setdefault(datanode_id, set()).add(block_id)
        corrupt = self._corrupt.get(block_id)
        if corrupt is not None:  # a good copy now (e.g. re-replicated onto the same node)
            corrupt.discard(datanode_id)
            if not corrupt:
                del self._corrupt[block_id]
        return True

    def remove(self, block_id: int, datanode_id: str) -> bool:
        """Forget a replica (deleted, or its node is gone); True when it was known."""
        found = self._drop_holder(block_id, datanode_id)
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

    def _drop_holder(self, block_id: int, datanode_id: str) -> bool:
        holders = self._holders.get(block_id, ())
        if datanode_id not in holders:
            return False
        rest = tuple(n for n in holders if n != datanode_id)
        if rest:
            self._holders[block_id] = rest
        else:
            del self._holders[block_id]
        return True

    def mark_corrupt(self, block_id: int, datanode_id: str) -> None:
        self._drop_holder(block_id, datanode_id)
        self._corrupt.setdefault(block_id, set()).add(datanode_id)
        self._node_blocks.setdefault(datanode_id, set()).add(block_id)

    def remove_node(self, datanode_id: str) -> set[int]:
        """Forget every replica on a node; the blocks that lost one."""
        blocks = self._node_blocks.pop(datanode_id, set())
        for block_id in blocks:
            self._drop_holder(block_id, datanode_id)
            corrupt = self._corrupt.get(block_id)
            if corrupt is not None:
                corrupt.discard(datanode_id)
                if not corrupt:
                    del self._corrupt[block_id]
        return blocks

    def forget_block(self, block_id: int) -> set[str]:
        """Drop a block that left the namespace; the nodes that still hold a copy."""
        nodes = set(self._holders.pop(block_id, ())) | self._corrupt.pop(block_id, set())
        for n in nodes:
            blocks = self._node_blocks.get(n)
            if blocks is not None:
                blocks.discard(block_id)
        return nodes
