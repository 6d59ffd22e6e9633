"""The core's contract with its host: what it refuses, and a group of one."""

from __future__ import annotations

import random

import pytest

from raft.config import Config, NotLeaderError, ProposalDroppedError, ReadyPendingError
from raft.core import Raft
from raft.types import (
    Entry,
    Message,
    MessageType,
    PersistentState,
    ReadState,
    Role,
    Snapshot,
    SnapshotMeta,
)


def single() -> Raft:
    return Raft(Config("a", ("a",)), PersistentState(), random.Random(1))


def drain(raft: Raft) -> None:
    while raft.has_ready():
        raft.advance(raft.ready())


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        Config("a", ("b", "c"))
    with pytest.raises(ValueError):
        Config("a", ("a", "b"), election_tick=2, heartbeat_tick=2)
    assert Config("a", ("a", "b", "c")).quorum == 2


def test_a_stored_snapshot_needs_its_data() -> None:
    state = PersistentState(snapshot=SnapshotMeta(3, 1))
    with pytest.raises(ValueError):
        Raft(Config("a", ("a",)), state, random.Random(1))
    raft = Raft(
        Config("a", ("a",)),
        state,
        random.Random(1),
        snapshot=Snapshot(SnapshotMeta(3, 1), b"x"),
    )
    assert (raft.status().commit, raft.status().applied) == (3, 3)


def test_a_follower_refuses_proposals_and_reads() -> None:
    raft = Raft(Config("a", ("a", "b", "c")), PersistentState(), random.Random(1))
    with pytest.raises(NotLeaderError) as caught:
        raft.propose(b"x")
    assert caught.value.leader is None
    with pytest.raises(NotLeaderError):
        raft.read_index(b"r")


def test_nothing_may_happen_between_ready_and_advance() -> None:
    raft = single()
    raft.campaign()
    rd = raft.ready()
    assert not raft.has_ready()
    with pytest.raises(ReadyPendingError):
        raft.tick()
    with pytest.raises(ReadyPendingError):
        raft.advance(type(rd)())
    raft.advance(rd)


def test_a_group_of_one_commits_at_advance_and_reads_at_once() -> None:
    raft = single()
    raft.campaign()
    rd = raft.ready()
    assert raft.role is Role.LEADER and rd.must_sync
    assert rd.entries == (Entry(1, 1),) and rd.committed_entries == ()
    raft.advance(rd)  # the no-op is durable: now it is committed
    rd = raft.ready()
    assert rd.committed_entries == (Entry(1, 1),) and not rd.must_sync
    raft.advance(rd)
    index = raft.propose(b"x")
    raft.read_index(b"r")
    drain(raft)
    assert raft.status().commit == index
    raft.read_index(b"s")
    assert raft.ready().read_states == (ReadState(index, b"s"),)


def test_a_leader_handing_over_drops_proposals() -> None:
    config = Config("a", ("a", "b", "c"), pre_vote=False)
    raft = Raft(config, PersistentState(), random.Random(1))
    raft.campaign()
    drain(raft)
    raft.step(Message(MessageType.VOTE_RESP, "a", "b", raft.term))
    assert raft.role is Role.LEADER
    with pytest.raises(ValueError):
        raft.transfer_leadership("a")
    raft.transfer_leadership("b")
    with pytest.raises(ProposalDroppedError):
        raft.propose(b"x")
