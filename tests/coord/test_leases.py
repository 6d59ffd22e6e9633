"""The leader's lease count and the client's: time passed in, nothing slept."""

from __future__ import annotations

from coord.leases import ClientLease, LeaseTracker
from coord.machine import CoordMachine, Effects, Renewal, SessionInfo
from raft.machine import Request


def info(sid: str, ttl_ms: int, last_renewed: int) -> SessionInfo:
    return SessionInfo(sid, "", ttl_ms, 1, last_renewed, (), ())


def expire(sid: str, renewed: int) -> dict[str, object]:
    return {"op": "expire", "session": sid, "renewed": renewed}


def test_a_new_leader_gives_every_session_a_whole_ttl_from_now() -> None:
    tracker = LeaseTracker()
    # However long ago they were renewed by the log's reckoning: the old leader's count
    # is not this one's to continue.
    tracker.lead(50_000, [info("s-1", 1_000, 1), info("s-2", 3_000, 9)])
    assert tracker.deadline("s-1") == 51_000
    assert tracker.due(50_999) == []
    assert tracker.due(51_000) == [expire("s-1", 1)]
    assert tracker.due(53_000) == [expire("s-1", 1), expire("s-2", 9)]  # s-1: asked again


def test_a_renewal_moves_the_deadline_and_names_itself_in_the_expiry() -> None:
    tracker = LeaseTracker()
    tracker.lead(0, [])
    tracker.renewed("s-3", 1_000, 3, now=100)
    tracker.renewed("s-3", 1_000, 8, now=600)
    assert tracker.due(1_599) == []
    assert tracker.due(1_600) == [expire("s-3", 8)]


def test_an_expiry_not_yet_applied_is_proposed_again_after_the_retry_interval() -> None:
    tracker = LeaseTracker(retry_ms=500)
    tracker.lead(0, [info("s-1", 1_000, 1)])
    assert tracker.due(1_000) == [expire("s-1", 1)]
    assert tracker.due(1_499) == []
    assert tracker.due(1_500) == [expire("s-1", 1)]
    tracker.ended("s-1")
    assert tracker.due(10_000) == []


def test_a_follower_and_a_deposed_leader_count_nothing() -> None:
    tracker = LeaseTracker()
    tracker.renewed("s-1", 1_000, 1, now=0)
    assert tracker.due(5_000) == []
    tracker.lead(0, [info("s-1", 1_000, 1)])
    tracker.step_down()
    assert not tracker.leading
    assert tracker.due(5_000) == []
    assert tracker.deadline("s-1") is None


def test_the_tracker_follows_what_the_machine_applied() -> None:
    machine, tracker = CoordMachine(), LeaseTracker()
    tracker.lead(0, machine.sessions())
    machine.apply(1, Request({"op": "open", "ttl_ms": 1_000, "owner": ""}, "c", 1))
    tracker.observe(machine.effects, now=10)
    assert machine.effects.renewed == (Renewal("s-1", 1_000, 1),)
    [command] = tracker.due(1_010)
    machine.apply(2, Request({"op": "keepalive", "session": "s-1"}, "c", 2))
    tracker.observe(machine.effects, now=1_011)
    # The expiry proposed before the keepalive committed comes after it in the log: void.
    assert machine.apply(3, Request(command)) == {"ok": {"expired": False}}
    tracker.observe(machine.effects, now=1_012)
    assert tracker.due(2_011) == [expire("s-1", 2)]
    assert machine.apply(4, Request(expire("s-1", 2))) == {"ok": {"expired": True}}
    tracker.observe(machine.effects, now=2_012)
    assert machine.effects == Effects(ended=("s-1",))
    assert tracker.deadline("s-1") is None


def test_a_client_counts_from_when_it_sent() -> None:
    lease = ClientLease()
    assert not lease.valid(0)
    lease.acknowledged(sent=100, ttl_ms=1_000)
    assert lease.valid(1_099) and not lease.valid(1_100)
    lease.acknowledged(sent=50, ttl_ms=1_000)  # an older answer, late: changes nothing
    assert lease.until == 1_100
    lease.lost()
    assert not lease.valid(200)
