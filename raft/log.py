"""The Raft log as one node holds it in memory: a snapshot standing in for a prefix, the
entries after it, and three marks on it.

    offset (snapshot) < ... applied <= committed <= last
                        ... stable <= last

* `committed` — known to be on a quorum; never moves back while the node runs.
* `applied` — handed to the host to apply (in a `Ready` it then advanced past).
* `stable` — handed to the host to persist and acknowledged by `advance()`; entries after it
  are "unstable" and go out in the next `Ready`.

Entries up to `offset` are gone: `offset` and `offset_term` come from the latest snapshot,
which the log keeps (when it has its data) to send to followers that need what it replaced.
"""

from __future__ import annotations

from collections.abc import Sequence

from raft.types import Entry, Snapshot, SnapshotMeta


class LogError(Exception):
    """The log was asked to do something that would break Raft's invariants: a caller's bug."""


class RaftLog:
    def __init__(
        self,
        snapshot: SnapshotMeta,
        entries: Sequence[Entry],
        *,
        committed: int,
        applied: int,
        snapshot_data: Snapshot | None = None,
    ) -> None:
        self.offset = snapshot.index
        self.offset_term = snapshot.term
        self._entries: list[Entry] = list(entries)
        for position, entry in enumerate(self._entries):
            if entry.index != self.offset + 1 + position:
                raise LogError(f"entry {entry.index} out of place after {self.offset}")
        # A snapshot holds only committed entries, though the commit index stored with the
        # hard state may be older than it (a commit-only change need not be synced).
        committed = max(committed, self.offset)
        if committed > self.last_index():
            raise LogError(f"commit {committed} outside the log {self.offset}..{self.last_index()}")
        self.committed = committed
        self.applied = min(max(applied, self.offset), committed)
        self.stable = self.last_index()
        # The snapshot to send to followers behind `offset`; None when the host gave no data.
        self.snapshot = snapshot_data
        # A snapshot received from the leader, not yet handed to the host in a Ready.
        self.pending_snapshot: Snapshot | None = None

    # --- reading -------------------------------------------------------------------------

    def first_index(self) -> int:
        return self.offset + 1

    def last_index(self) -> int:
        return self.offset + len(self._entries)

    def last_term(self) -> int:
        term = self.term(self.last_index())
        assert term is not None
        return term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`; None when compacted away or past the end."""
        if index == self.offset:
            return self.offset_term
        if self.offset < index <= self.last_index():
            return self._entries[index - self.offset - 1].term
        return None

    def match_term(self, index: int, term: int) -> bool:
        return self.term(index) == term

    def entries(self, start: int, limit: int) -> list[Entry] | None:
        """At most `limit` entries from `start` on; None when `start` is compacted away."""
        if start <= self.offset:
            return None
        begin = start - self.offset - 1
        return self._entries[begin : begin + limit]

    def slice(self, start: int, end: int) -> list[Entry]:
        """Entries with start <= index <= end, all of which must be held."""
        if start <= self.offset or end > self.last_index():
            raise LogError(
                f"slice {start}..{end} outside {self.first_index()}..{self.last_index()}"
            )
        return self._entries[start - self.offset - 1 : end - self.offset]

    def unstable_entries(self) -> list[Entry]:
        return self._entries[self.stable - self.offset :]

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """Raft §5.4.1: a log ending (last_term, last_index) is at least as up to date as
        this one — a later last term wins, and on equal terms the longer log."""
        mine = self.last_term()
        return last_term > mine or (last_term == mine and last_index >= self.last_index())

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index <= `index` whose term is <= `term`, and that term: every entry
        between it and `index` has a later term, so cannot match a log whose entry at `index`
        has `term`. Lets a leader skip a whole diverging term in one probe."""
        index = min(index, self.last_index())
        while index > self.offset:
            found = self.term(index)
            assert found is not None
            if found <= term:
                return index, found
            index -= 1
        return index, self.offset_term if index == self.offset else 0

    # --- changing ------------------------------------------------------------------------

    def append(self, entries: Sequence[Entry]) -> int:
        """Append `entries`, first dropping every held entry from the first one's index on.
        Committed entries are never dropped."""
        if not entries:
            return self.last_index()
        after = entries[0].index - 1
        if after < self.committed:
            raise LogError(f"would truncate at {after + 1}, below commit {self.committed}")
        if after > self.last_index():
            raise LogError(f"gap: appending {after + 1} after {self.last_index()}")
        del self._entries[after - self.offset :]
        self._entries.extend(entries)
        self.stable = min(self.stable, after)
        return self.last_index()

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The index of the first of `entries` this log does not hold with the same term
        (a conflict or a new entry), or 0 when it holds them all."""
        for entry in entries:
            if entry.index <= self.offset:
                continue  # covered by the snapshot, hence committed, hence matching
            if not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: Sequence[Entry]
    ) -> int | None:
        """An AppendEntries after (log_term, index): None when this log does not hold that
        entry (the leader must probe further back); otherwise the last index the message
        vouches for. Only the entries from the first real conflict on replace what is held,
        so a stale or duplicated message truncates nothing."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def commit_to(self, index: int) -> bool:
        if index <= self.committed:
            return False
        if index > self.last_index():
            raise LogError(f"commit {index} past the last entry {self.last_index()}")
        self.committed = index
        return True

    def maybe_commit(self, index: int, term: int) -> bool:
        """Commit up to `index` if the entry there is of `term`: a leader commits by counting
        replicas only entries of its own term (Raft §5.4.2, Figure 8)."""
        return index > self.committed and self.term(index) == term and self.commit_to(index)

    def stable_to(self, index: int, term: int) -> None:
        """The host persisted the entries up to (term, index)."""
        if self.term(index) == term and index > self.stable:
            self.stable = index

    def applied_to(self, index: int) -> None:
        if index > self.committed:
            raise LogError(f"applied {index} past commit {self.committed}")
        self.applied = max(self.applied, index)

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by `snapshot` (received from the leader; the caller checked
        that this log does not hold its last entry with its term, so everything held after it
        diverges)."""
        meta = snapshot.meta
        self.offset, self.offset_term = meta.index, meta.term
        self._entries = []
        self.committed = meta.index
        self.stable = meta.index
        self.snapshot = snapshot
        self.pending_snapshot = snapshot

    def compact(self, snapshot: Snapshot) -> None:
        """Drop the entries the host's `snapshot` stands in for (all applied)."""
        meta = snapshot.meta
        if meta.index <= self.offset:
            return
        if meta.index > self.applied:
            raise LogError(f"snapshot at {meta.index} past applied {self.applied}")
        if self.term(meta.index) != meta.term:
            raise LogError(f"snapshot term {meta.term} differs from the log at {meta.index}")
        del self._entries[: meta.index - self.offset]
        self.offset, self.offset_term = meta.index, meta.term
        self.snapshot = snapshot
