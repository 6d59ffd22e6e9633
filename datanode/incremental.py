"""Block-received and block-deleted reports waiting for one namenode. Pure.

Each namenode a datanode serves has its own queue, so a namenode that is down gets every
change once it is back while the others are told at once. As in HDFS's
IncrementalBlockReportManager, a queue holds only the newest change per block: a replica
received, then deleted, is reported deleted; deleted, then received again (a re-replication
or a recovery's new stamp), is reported received with its newest stamp and length. An old
stamp reported after a newer one was committed would mark the replica corrupt. Blocks are
reported in the order of their newest change.

A batch is taken with `peek` and dropped with `sent` only once the namenode has answered,
so a failed send loses nothing; a change that arrives while a batch is in flight replaces
the queued one, and `sent` leaves it queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from minihadoop.models import IncrementalReportRequest, ReplicaReport


@dataclass(frozen=True, slots=True)
class Change:
    block_id: int
    received: ReplicaReport | None  # None: the replica was deleted


class IncrementalQueue:
    def __init__(self) -> None:
        self._changes: dict[int, Change] = {}  # insertion order is report order

    def __len__(self) -> int:
        return len(self._changes)

    def received(self, replica: ReplicaReport) -> None:
        self._put(Change(replica.block_id, replica))

    def deleted(self, block_id: int) -> None:
        self._put(Change(block_id, None))

    def _put(self, change: Change) -> None:
        self._changes.pop(change.block_id, None)  # to the back: its newest change is now
        self._changes[change.block_id] = change

    def peek(self, limit: int = 1000) -> list[Change]:
        """The oldest `limit` changes, still queued."""
        batch: list[Change] = []
        for change in self._changes.values():
            if len(batch) >= limit:
                break
            batch.append(change)
        return batch

    def sent(self, batch: list[Change]) -> None:
        """The namenode has `batch`: forget each change not replaced since it was peeked."""
        for change in batch:
            if self._changes.get(change.block_id) is change:
                del self._changes[change.block_id]

    def pending(self) -> list[Change]:
        return list(self._changes.values())


def report_of(datanode_id: str, batch: list[Change]) -> IncrementalReportRequest:
    """One report for `batch`; each block appears once, so the namenode's order of handling
    (received, then deleted) cannot reorder a block's changes."""
    return IncrementalReportRequest(
        datanode_id=datanode_id,
        received=[c.received for c in batch if c.received is not None],
        deleted=[c.block_id for c in batch if c.received is None],
    )
