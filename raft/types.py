"""What the Raft core and its host exchange. Frozen records, no behaviour.

A node is named by a short string (`nn1`). Indexes and terms start at 1; index 0 / term 0
mean "nothing" (the empty log before the first entry).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

NodeId = str


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. `data` is opaque to the core; empty `data` is the no-op a new leader
    appends so that it can commit entries of earlier terms (Raft §5.4.2)."""

    term: int
    index: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on stable storage before a node answers anyone: its current term, whom
    it voted for in that term, and how far it knows the log is committed."""

    term: int = 0
    vote: NodeId | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    """A snapshot stands in for every entry up to `index` (of `term`), and records the
    voters of the group as of that entry."""

    index: int = 0
    term: int = 0
    voters: tuple[NodeId, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    meta: SnapshotMeta
    data: bytes = b""


class MessageType(enum.StrEnum):
    APPEND = "append"  # entries (maybe none) after (log_term, index); leader's commit
    APPEND_RESP = "append_resp"  # index = last matching index, or reject + reject_hint
    VOTE = "vote"
    VOTE_RESP = "vote_resp"
    PRE_VOTE = "pre_vote"  # term = the term the sender would campaign in; changes nothing
    PRE_VOTE_RESP = "pre_vote_resp"
    HEARTBEAT = "heartbeat"  # commit = min(leader's commit, follower's match); context
    HEARTBEAT_RESP = "heartbeat_resp"  # echoes context (read-index rounds)
    SNAPSHOT = "snapshot"  # InstallSnapshot: snapshot carries meta and data
    TIMEOUT_NOW = "timeout_now"  # leadership transfer: campaign at once, skipping pre-vote


@dataclass(frozen=True, slots=True)
class Message:
    type: MessageType
    to: NodeId
    frm: NodeId
    term: int
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


class Role(enum.StrEnum):
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile: who leads (None when unknown) and this node's role."""

    leader: NodeId | None
    role: Role


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read-index round finished: a read with this `context` is linearizable once the
    state machine has applied up to `index`."""

    index: int
    context: bytes


@dataclass(frozen=True, slots=True)
class Ready:
    """A batch of work for the host. Contract, in order:

    1. write `hard_state` (if not None), then `snapshot` (if not None: it replaces the
       whole stored log — the core installs a snapshot only when it holds no entry after
       it that matches the leader's, so every stored entry is dropped), then `entries`
       (the first one may have an index at or below the last stored one: every stored
       entry from that index on is dropped first); fsync if `must_sync`;
    2. only then send `messages`;
    3. apply `committed_entries` in order (and restore `snapshot` into the state machine
       first, if there is one); hand `read_states` to readers once applied that far;
    4. call `advance(ready)` on the core.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: tuple[Entry, ...] = ()
    snapshot: Snapshot | None = None
    committed_entries: tuple[Entry, ...] = ()
    messages: tuple[Message, ...] = ()
    read_states: tuple[ReadState, ...] = ()
    must_sync: bool = False

    def is_empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.entries
            or self.snapshot
            or self.committed_entries
            or self.messages
            or self.read_states
        )


@dataclass(frozen=True, slots=True)
class PersistentState:
    """What a node finds on stable storage when it starts: the core is built from this."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: SnapshotMeta = field(default_factory=SnapshotMeta)
    entries: tuple[Entry, ...] = ()  # every stored entry after snapshot.index, in order
