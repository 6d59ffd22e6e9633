"""The lock service as a namenode serves it (`namenode.locks`), on a real namesystem with its
Raft log on disk: sessions owned by their user, locks served in order with growing fencing
tokens, waits that answer when the lock is theirs, keys and watches, expiry by the leader's
lease count, and a snapshot holding both the namespace and the lock service."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from coord.errors import LockHeldError, NotPermittedError, SessionExpiredError
from coord.machine import CoordMachine
from minihadoop.config import Settings
from namenode import checkpoint
from namenode import commands as c
from namenode.locks import LockService
from namenode.machine import NamespaceMachine
from namenode.namesystem import Namesystem
from namenode.services import Services, replicated
from raft.machine import Request
from tests.support import wait_for


def acquire(locks: LockService, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(locks.acquire(*args, **kwargs))


def get(locks: LockService, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return asyncio.run(locks.get(*args, **kwargs))


def activated(system: Namesystem) -> Namesystem:
    def active() -> bool:
        system.tick()
        return system.active

    wait_for(active, what="an active namenode")
    return system


def start(name: Path) -> Namesystem:
    return activated(Namesystem(name, Settings(token="t", replication=1, safemode_threshold=0)))


@pytest.fixture
def system(tmp_path: Path) -> Iterator[Namesystem]:
    s = start(tmp_path / "name")
    yield s
    s.close()


def test_locks_are_served_in_order_with_growing_tokens(system: Namesystem) -> None:
    locks = system.locks
    a = locks.open("alice", 10, None)["session"]
    b = locks.open("bob", 10, None)["session"]
    first = acquire(locks, "alice", a, "jobtracker", shared=False, wait=0, session=None)
    assert first["granted"] and first["token"] > 0
    with pytest.raises(LockHeldError):
        acquire(locks, "bob", b, "jobtracker", shared=False, wait=0, session=None)
    queued = acquire(locks, "bob", b, "jobtracker", shared=False, wait=0.2, session=None)
    assert queued == {"granted": False, "position": 1}
    [status] = locks.locks("jobtracker")
    assert status["holders"] == [{"session": a, "owner": "alice", "token": first["token"]}]
    assert [w["owner"] for w in status["waiters"]] == ["bob"]

    got: list[dict[str, object]] = []
    waiter = threading.Thread(
        target=lambda: got.append(
            acquire(locks, "bob", b, "jobtracker", shared=False, wait=20, session=None)
        )
    )
    waiter.start()
    wait_for(lambda: locks.waiting == 1, what="the acquire waiting")
    assert not got
    locks.release("alice", a, "jobtracker", None)
    waiter.join(timeout=20)
    assert got and got[0]["granted"]
    assert int(got[0]["token"]) > first["token"]  # type: ignore[call-overload]


def test_a_session_is_its_users_alone(system: Namesystem) -> None:
    locks = system.locks
    a = locks.open("alice", 10, None)["session"]
    for call in (
        lambda: locks.keepalive("mallory", a, None),
        lambda: acquire(locks, "mallory", a, "x", shared=False, wait=0, session=None),
        lambda: locks.release("mallory", a, "x", None),
        lambda: locks.close("mallory", a, None),
    ):
        with pytest.raises(NotPermittedError):
            call()
    assert [s["id"] for s in locks.sessions()] == [a]
    locks.put("alice", "alices", "mine", a, None)
    with pytest.raises(NotPermittedError):
        locks.put("mallory", "alices", "theirs", None, None)
    with pytest.raises(NotPermittedError):
        locks.delete("mallory", "alices", None)
    assert get(locks, "alices")["value"] == "mine"
    locks.put("alice", "anyones", "x", None, None)  # without a session: anyone's
    locks.put("mallory", "anyones", "y", None, None)
    locks.delete("mallory", "anyones", None)
    with pytest.raises(SessionExpiredError):
        locks.keepalive("alice", "s-999999", None)


def test_the_leader_expires_a_session_not_kept_alive_and_serves_the_next(
    system: Namesystem,
) -> None:
    locks = system.locks
    quiet = locks.open("alice", 1, None)["session"]  # a one-second lease, never renewed
    held = acquire(locks, "alice", quiet, "l", shared=False, wait=0, session=None)
    locks.put("alice", "leader-address", "http://a:1", quiet, None)
    b = locks.open("bob", 30, None)["session"]
    began = time.monotonic()
    got = acquire(locks, "bob", b, "l", shared=False, wait=20, session=None)
    assert got["granted"] and int(got["token"]) > held["token"]  # type: ignore[call-overload]
    assert time.monotonic() - began >= 0.5  # not before its lease could have run out
    assert quiet not in [s["id"] for s in locks.sessions()]
    assert get(locks, "leader-address")["exists"] is False  # its keys went with it


def test_a_watch_answers_when_the_key_changes(system: Namesystem) -> None:
    locks = system.locks
    first = get(locks, "config")
    assert first["exists"] is False
    seen: list[dict[str, object]] = []
    watcher = threading.Thread(
        target=lambda: seen.append(get(locks, "config", after=first["revision"], wait=20))
    )
    watcher.start()
    wait_for(lambda: locks.waiting == 1, what="the watch waiting")  # before the key changes
    assert not seen
    locks.put("alice", "config", "v1", None, None)
    watcher.join(timeout=20)
    assert seen and seen[0]["value"] == "v1" and seen[0]["revision"] != first["revision"]
    timed_out = get(locks, "config", after=int(seen[0]["revision"]), wait=0.3)  # type: ignore[call-overload]
    assert timed_out["value"] == "v1"


def test_sessions_and_locks_survive_a_restart_from_snapshot_and_log(tmp_path: Path) -> None:
    first = activated(
        Namesystem(
            tmp_path / "name",
            Settings(token="t", replication=1, safemode_threshold=0, checkpoint_every=5),
        )
    )
    a = first.locks.open("alice", 60, None)["session"]
    token = acquire(first.locks, "alice", a, "l", shared=False, wait=0, session=None)["token"]
    for i in range(12):
        first.mkdirs(f"/d{i}", "alice")
    wait_for(lambda: first.host.status.first_index > 5, what="a snapshot")
    first.close()
    second = start(tmp_path / "name")
    try:
        [status] = second.locks.locks("l")
        assert status["holders"] == [{"session": a, "owner": "alice", "token": token}]
        assert len(second.ns.root.children) == 12
    finally:
        second.close()


def test_a_snapshot_of_an_earlier_version_is_the_namespace_alone(tmp_path: Path) -> None:
    old = NamespaceMachine(threading.RLock())
    old.ns.apply(c.Mkdirs("/kept", 1, "alice", "g"))
    earlier = old.snapshot()  # what a namenode before the lock service wrote
    services = Services(NamespaceMachine(threading.RLock()), CoordMachine())
    services.coord.apply(1, Request({"op": "open", "ttl_ms": 5000, "owner": "a"}, "c", 1))
    services.restore(earlier)
    assert checkpoint.dump(services.namespace.ns, 0) == checkpoint.dump(old.ns, 0)
    assert services.coord.sessions() == []
    again = Services(NamespaceMachine(threading.RLock()), CoordMachine())
    table = replicated(services)
    table.apply(2, Request({"coord": {"op": "open", "ttl_ms": 5000, "owner": "a"}}, "c", 1))
    replicated(again).restore(table.snapshot())
    assert [s.owner for s in again.coord.sessions()] == ["a"]
    assert checkpoint.dump(again.namespace.ns, 0) == checkpoint.dump(old.ns, 0)
