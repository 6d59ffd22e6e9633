"""Rebuilding a node's log and hard state from its write-ahead records, with no I/O.

The log is appended to, never rewritten, so the records say what happened in order and the
replay applies the same rules the writer did:

* An ENTRY with index i drops every entry read so far with index >= i, then takes its
  place (the Raft log-conflict rule, done by appending instead of rewriting the file).
  An index below the first one known (after old segments were deleted) restarts the log
  there; an index past the end plus one is a gap, which no writer makes.
* A RESET to (index, term) drops every entry read so far: the log continues at index + 1.
* The last HARD_STATE read wins.

Each segment is named after the index its first entry would have had (the last index plus
one when it was started), so a replay that starts at a segment knows where the log stood,
and one that crosses from a segment to the next checks that nothing is missing between.

Cost: one pass, O(records); truncations cost what they drop.
"""

from __future__ import annotations

from raft.records import Record, Reset
from raft.types import Entry, HardState, SnapshotMeta


class ReplayError(ValueError):
    """The records cannot have been written by this log's writer: something is missing."""


class LogReplay:
    def __init__(self) -> None:
        self.hard_state = HardState()
        self.base: int | None = None  # the log holds entries base+1 .. last
        self.entries: list[Entry] = []

    @property
    def last(self) -> int:
        return (self.base or 0) + len(self.entries)

    def start_segment(self, first_index: int) -> None:
        if first_index < 1:
            raise ReplayError(f"a segment cannot start at index {first_index}")
        if self.base is None:
            self.base = first_index - 1
        elif self.last != first_index - 1:
            raise ReplayError(
                f"the segment starts at index {first_index} but the log before it ends at "
                f"{self.last}: a segment is missing or was cut short"
            )

    def add(self, record: Record) -> None:
        if self.base is None:
            raise ReplayError("a record before any segment")
        if isinstance(record, Entry):
            i = record.index
            if i < 1 or record.term < 1:
                raise ReplayError(f"entry with index {i} and term {record.term}")
            if i > self.last + 1:
                raise ReplayError(f"entry {i} after entry {self.last}: a gap in the log")
            if i <= self.base:
                self.base, self.entries = i - 1, []
            else:
                del self.entries[i - self.base - 1 :]
            self.entries.append(record)
        elif isinstance(record, HardState):
            self.hard_state = record
        elif isinstance(record, Reset):
            if record.index < 1:
                raise ReplayError(f"reset to index {record.index}")
            self.base, self.entries = record.index, []

    def covers(self, meta: SnapshotMeta) -> bool:
        """Whether the log holds every entry after `meta` (or the snapshot covers it all)."""
        return meta.index >= (self.base or 0)

    def entries_after(self, meta: SnapshotMeta) -> list[Entry]:
        """The log as it stands on top of snapshot `meta` (which it must cover): the entries
        after it when the log holds the snapshot's last entry (or starts right after it),
        none when the log disagrees with the snapshot or ends before it (Raft §7: a snapshot
        whose last entry the log does not hold replaces the whole log)."""
        base = self.base or 0
        if meta.index == base:
            return self.entries
        if meta.index > self.last or self.entries[meta.index - base - 1].term != meta.term:
            return []
        return self.entries[meta.index - base :]
