"""How one Raft node is set up, what it reports about itself, and the errors it raises.

RaftError
├── NotLeaderError        — propose/read_index/transfer on a node that does not lead;
│                           carries the leader it knows of, if any
├── ProposalDroppedError  — the leader is handing leadership over and takes no proposals
└── ReadyPendingError     — the host called into the core between ready() and advance()
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from raft.progress import ProgressState
from raft.types import NodeId, Role


@dataclass(frozen=True, slots=True)
class Config:
    """A node's identity, its group (static: every voter, including itself) and its clock.

    Ticks are the host's unit of time: a follower that hears from no leader for a random
    number of ticks in [election_tick, 2 * election_tick) campaigns; a leader sends
    heartbeats every `heartbeat_tick` ticks and, with `check_quorum`, steps down when a
    quorum has not answered it within `election_tick` ticks.
    """

    id: NodeId
    voters: tuple[NodeId, ...]
    election_tick: int = 10
    heartbeat_tick: int = 1
    pre_vote: bool = True
    check_quorum: bool = True
    max_entries_per_message: int = 256

    def __post_init__(self) -> None:
        if self.id not in self.voters:
            raise ValueError(f"{self.id} is not one of the voters {self.voters}")
        if len(set(self.voters)) != len(self.voters):
            raise ValueError(f"voters repeat: {self.voters}")
        if not 0 < self.heartbeat_tick < self.election_tick:
            raise ValueError("need 0 < heartbeat_tick < election_tick")
        if self.max_entries_per_message < 1:
            raise ValueError("max_entries_per_message must be at least 1")

    @property
    def quorum(self) -> int:
        return len(self.voters) // 2 + 1


@dataclass(frozen=True, slots=True)
class PeerStatus:
    """What a leader knows of one follower."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool


@dataclass(frozen=True, slots=True)
class Status:
    id: NodeId
    term: int
    vote: NodeId | None
    role: Role
    leader: NodeId | None
    commit: int
    applied: int
    first_index: int
    last_index: int
    progress: Mapping[NodeId, PeerStatus]  # empty unless leader


class RaftError(Exception):
    pass


class NotLeaderError(RaftError):
    def __init__(self, leader: NodeId | None) -> None:
        super().__init__(f"not the leader (leader: {leader or 'unknown'})")
        self.leader = leader


class ProposalDroppedError(RaftError):
    pass


class ReadyPendingError(RaftError):
    pass
