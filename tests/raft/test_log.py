"""The log, progress and read-index pieces on their own: edge cases the scenarios and the
simulation reach only by chance."""

from __future__ import annotations

import pytest

from raft.log import LogError, RaftLog
from raft.progress import Progress, ProgressState
from raft.readindex import ReadIndexQueue
from raft.types import Entry, ReadState, Snapshot, SnapshotMeta


def make_log(*terms: int, committed: int = 0, offset: int = 0, offset_term: int = 0) -> RaftLog:
    entries = [Entry(t, offset + 1 + i) for i, t in enumerate(terms)]
    meta = SnapshotMeta(offset, offset_term)
    snapshot = Snapshot(meta) if offset else None
    return RaftLog(meta, entries, committed=committed, applied=0, snapshot_data=snapshot)


def test_terms_and_bounds() -> None:
    log = make_log(2, 3, offset=4, offset_term=1, committed=4)
    assert (log.first_index(), log.last_index(), log.last_term()) == (5, 6, 3)
    assert [log.term(i) for i in (3, 4, 5, 6, 7)] == [None, 1, 2, 3, None]
    assert log.entries(4, 10) is None
    assert [e.index for e in log.entries(5, 1) or []] == [5]


def test_up_to_date_compares_last_term_then_length() -> None:
    log = make_log(1, 1, 2)
    assert log.is_up_to_date(3, 2)
    assert log.is_up_to_date(1, 3)  # shorter, but a later last term
    assert not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(10, 1)  # longer, but an earlier last term


def test_a_duplicate_append_truncates_nothing() -> None:
    log = make_log(1, 1, 1)
    assert log.maybe_append(1, 1, 0, [Entry(1, 2)]) == 2
    assert log.last_index() == 3


def test_a_conflicting_append_replaces_from_the_conflict() -> None:
    log = make_log(1, 1, 1, committed=1)
    assert log.maybe_append(1, 1, 3, [Entry(1, 2), Entry(2, 3)]) == 3
    assert [log.term(i) for i in (1, 2, 3)] == [1, 1, 2]
    assert log.committed == 3
    assert log.stable == 2  # the replaced entry is unstable again


def test_an_append_after_an_unknown_entry_is_refused() -> None:
    log = make_log(1, 1)
    assert log.maybe_append(2, 2, 0, [Entry(2, 3)]) is None
    assert log.maybe_append(5, 1, 0, []) is None


def test_commit_is_capped_by_what_the_message_vouches_for() -> None:
    log = make_log(1, 1, 1)
    assert log.maybe_append(1, 1, 3, []) == 1
    assert log.committed == 1


def test_committed_entries_are_never_truncated() -> None:
    log = make_log(1, 1, committed=2)
    with pytest.raises(LogError):
        log.append([Entry(2, 2)])


def test_conflict_search_skips_a_whole_term() -> None:
    log = make_log(1, 1, 3, 3, 3)
    assert log.find_conflict_by_term(5, 2) == (2, 1)
    assert log.find_conflict_by_term(5, 3) == (5, 3)
    assert log.find_conflict_by_term(9, 1) == (2, 1)
    assert make_log(3, 3, offset=4, offset_term=2).find_conflict_by_term(6, 1) == (4, 2)


def test_maybe_commit_counts_only_entries_of_the_given_term() -> None:
    log = make_log(1, 2)
    assert not log.maybe_commit(1, 2)
    assert log.maybe_commit(2, 2)
    assert log.committed == 2


def test_compact_keeps_the_entries_after_the_snapshot() -> None:
    log = make_log(1, 1, 2, committed=3)
    log.applied_to(3)
    snapshot = Snapshot(SnapshotMeta(2, 1), b"s")
    log.compact(snapshot)
    assert (log.first_index(), log.last_index(), log.term(2), log.snapshot) == (3, 3, 1, snapshot)
    with pytest.raises(LogError):
        log.compact(Snapshot(SnapshotMeta(3, 1)))  # wrong term


def test_compact_refuses_what_is_not_applied() -> None:
    log = make_log(1, 1, committed=2)
    with pytest.raises(LogError):
        log.compact(Snapshot(SnapshotMeta(2, 1)))


def test_restore_replaces_everything() -> None:
    log = make_log(1, 1, 1, committed=1)
    snapshot = Snapshot(SnapshotMeta(5, 3))
    log.restore(snapshot)
    assert (log.first_index(), log.last_index(), log.committed) == (6, 5, 5)
    assert log.pending_snapshot is snapshot


def test_restart_commit_is_at_least_the_snapshot() -> None:
    log = RaftLog(SnapshotMeta(5, 2), [], committed=3, applied=0)
    assert (log.committed, log.applied) == (5, 5)


def test_probe_ignores_stale_rejections() -> None:
    pr = Progress(match=0, next=6)
    assert not pr.maybe_decrease_to(3, 1)  # answers an older probe
    assert pr.maybe_decrease_to(5, 2)
    assert pr.next == 3


def test_replicate_moves_next_optimistically_and_falls_back_on_rejection() -> None:
    pr = Progress(match=4, next=5)
    pr.become_replicate()
    pr.sent_entries(9)
    assert pr.next == 10 and not pr.is_paused()
    assert not pr.maybe_decrease_to(4, 0)  # at or below match: stale
    assert pr.maybe_decrease_to(7, 0)
    assert pr.next == 5


def test_probe_pauses_after_one_send() -> None:
    pr = Progress(match=0, next=1)
    pr.sent_entries(1)
    assert pr.is_paused()
    assert pr.maybe_update(1)
    assert not pr.is_paused()


def test_snapshot_state_waits_then_probes_after_it() -> None:
    pr = Progress(match=1, next=2)
    pr.become_snapshot(10)
    assert pr.is_paused() and pr.state is ProgressState.SNAPSHOT
    pr.become_probe()
    assert pr.next == 11


def test_reads_are_released_in_order_once_a_quorum_answers() -> None:
    queue = ReadIndexQueue()
    assert queue.add(3, b"a", "1")
    assert queue.add(4, b"b", "1")
    assert not queue.add(5, b"a", "1")
    assert queue.last_context() == b"b"
    assert queue.ack(b"zzz", "2", 2) == []
    # A quorum for the later read confirms the earlier one too.
    assert queue.ack(b"b", "2", 2) == [ReadState(3, b"a"), ReadState(4, b"b")]
    assert len(queue) == 0
