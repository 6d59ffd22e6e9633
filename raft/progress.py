"""What a leader knows of one follower's log, and how it paces what it sends it.

* PROBE — the leader does not know where the follower's log matches its own: one append
  at a time, moved back on each rejection, until one is accepted. A heartbeat response
  lets the next probe go (the last one may have been lost).
* REPLICATE — the logs match up to `match`: entries stream optimistically, `next` moving
  ahead of the acknowledgements.
* SNAPSHOT — the follower needs entries the leader no longer holds; a snapshot is on its
  way and nothing else is sent until the follower answers (or a heartbeat response shows it
  is alive but did not get it, when the leader probes again).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ProgressState(enum.StrEnum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    match: int
    next: int
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False
    pending_snapshot: int = 0
    # Heard from since the leader last checked its quorum (check-quorum).
    recent_active: bool = False

    def is_paused(self) -> bool:
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        return self.state is ProgressState.SNAPSHOT

    def become_probe(self) -> None:
        # After a snapshot the follower holds at least its index: probe from just after it.
        if self.state is ProgressState.SNAPSHOT:
            self.next = max(self.match + 1, self.pending_snapshot + 1)
        else:
            self.next = self.match + 1
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0

    def become_replicate(self) -> None:
        self.state = ProgressState.REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.pending_snapshot = 0

    def become_snapshot(self, index: int) -> None:
        self.state = ProgressState.SNAPSHOT
        self.pending_snapshot = index
        self.probe_sent = False

    def sent_entries(self, last: int) -> None:
        """An append ending at `last` went out."""
        if self.state is ProgressState.REPLICATE:
            self.next = max(self.next, last + 1)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """The follower holds the leader's log up to `index`; True when that is news."""
        updated = index > self.match
        if updated:
            self.match = index
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decrease_to(self, rejected: int, hint: int) -> bool:
        """The follower rejected an append after `rejected`, suggesting `hint` as the last
        index that may match. False when the rejection is stale (answers an append sent
        before something the leader has since learned)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), self.match + 1)
        self.probe_sent = False
        return True
