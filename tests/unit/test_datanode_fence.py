"""Which namenode's data commands a datanode carries out (datanode.fence), and what each
namenode's queue of block-received/deleted reports holds (datanode.incremental). Pure."""

from __future__ import annotations

import pytest

from datanode.fence import Fence, Judgement, Verdict
from datanode.incremental import IncrementalQueue, report_of
from minihadoop.models import ReplicaReport

NN1, NN2, NN3 = "http://nn1:8022", "http://nn2:8022", "http://nn3:8022"


def replies(fence: Fence, *script: tuple[str, bool, int]) -> list[Judgement]:
    return [fence.judge(url, active, term) for url, active, term in script]


def test_a_single_namenode_of_today_is_obeyed() -> None:
    """Today's namenode answers active at term 0, and a datanode starts at term 0."""
    fence = Fence()
    assert [j.verdict for j in replies(fence, (NN1, True, 0), (NN1, True, 0))] == [
        Verdict.ACTIVE,
        Verdict.ACTIVE,
    ]
    assert fence.active == NN1


def test_the_active_namenode_at_the_newest_term_is_obeyed_a_standby_never() -> None:
    fence = Fence()
    got = replies(fence, (NN2, False, 3), (NN1, True, 3), (NN3, False, 3), (NN1, True, 3))
    assert [j.verdict for j in got] == [
        Verdict.STANDBY,
        Verdict.ACTIVE,
        Verdict.STANDBY,
        Verdict.ACTIVE,
    ]
    assert (fence.active, fence.highest_term) == (NN1, 3)


def test_an_active_reply_with_a_lower_term_than_seen_is_a_deposed_leader() -> None:
    fence = Fence()
    got = replies(fence, (NN1, True, 4), (NN2, True, 5), (NN1, True, 4), (NN1, True, 4))
    assert [j.verdict for j in got] == [
        Verdict.ACTIVE,
        Verdict.ACTIVE,
        Verdict.DEPOSED,
        Verdict.DEPOSED,
    ]
    assert [j.news for j in got[2:]] == [True, False]  # logged once, not at every beat
    assert (fence.active, fence.highest_term) == (NN2, 5)


def test_a_standby_term_does_not_raise_the_fence() -> None:
    """Only an active reply moves the highest term: a follower that has voted in a newer
    election does not by itself depose the leader it still follows."""
    fence = Fence()
    got = replies(fence, (NN1, True, 4), (NN2, False, 9), (NN1, True, 4))
    assert got[2].verdict is Verdict.ACTIVE and fence.highest_term == 4


def test_a_deposed_leader_elected_again_is_obeyed_again() -> None:
    fence = Fence()
    got = replies(fence, (NN1, True, 4), (NN2, True, 5), (NN1, True, 4), (NN1, True, 6))
    assert got[3] == Judgement(Verdict.ACTIVE, news=True)
    assert (fence.active, fence.highest_term) == (NN1, 6)
    # deposed again later: news again, at the new term
    assert replies(fence, (NN2, True, 7), (NN1, True, 6))[1] == Judgement(Verdict.DEPOSED, True)


def test_a_leader_that_steps_down_leaves_no_leader_known() -> None:
    fence = Fence()
    got = replies(fence, (NN1, True, 4), (NN1, False, 4))
    assert got[1] == Judgement(Verdict.STANDBY, news=True)
    assert fence.active is None and fence.highest_term == 4


@pytest.mark.parametrize("term", [0, 1, 7])
def test_the_same_term_from_another_active_namenode_takes_over(term: int) -> None:
    """Raft has one leader per term; two namenodes both claiming it (two clusters of today
    sharing a datanode) are both obeyed, the later one counted active."""
    fence = Fence()
    got = replies(fence, (NN1, True, term), (NN2, True, term), (NN1, True, term))
    assert [j.verdict for j in got] == [Verdict.ACTIVE] * 3
    assert [j.news for j in got] == [True, False, False]  # no log line at every beat
    assert fence.active == NN1


def report(block_id: int, gen: int = 1, length: int = 10) -> ReplicaReport:
    return ReplicaReport(block_id=block_id, gen=gen, length=length)


def test_the_queue_reports_blocks_in_the_order_of_their_newest_change() -> None:
    queue = IncrementalQueue()
    queue.received(report(1))
    queue.received(report(2))
    queue.deleted(1)  # 1's newest change is now its deletion, after 2
    queue.received(report(3))
    request = report_of("dn", queue.peek())
    assert [r.block_id for r in request.received] == [2, 3]
    assert request.deleted == [1]
    assert [c.block_id for c in queue.pending()] == [2, 1, 3]


def test_a_newer_stamp_replaces_an_older_one() -> None:
    """An old stamp reported after the new one was committed would mark the replica bad."""
    queue = IncrementalQueue()
    queue.received(report(7, gen=1001, length=100))
    queue.received(report(7, gen=1002, length=90))
    assert report_of("dn", queue.peek()).received == [report(7, gen=1002, length=90)]


def test_nothing_is_forgotten_before_it_was_sent_nor_a_change_made_meanwhile() -> None:
    queue = IncrementalQueue()
    queue.received(report(1))
    queue.received(report(2))
    batch = queue.peek()
    queue.deleted(2)  # while the batch is in flight
    queue.received(report(3))
    queue.sent(batch)
    assert [(c.block_id, c.received) for c in queue.pending()] == [(2, None), (3, report(3))]


def test_a_batch_not_sent_stays_queued_in_order() -> None:
    queue = IncrementalQueue()
    for block_id in (5, 6, 7):
        queue.received(report(block_id))
    first = queue.peek(limit=2)
    assert [c.block_id for c in first] == [5, 6]
    queue.received(report(8))  # the send failed: nothing marked sent
    assert [c.block_id for c in queue.peek()] == [5, 6, 7, 8]
