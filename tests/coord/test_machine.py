"""The lock service's state machine, one command at a time: what each answers, and that
every refusal leaves the state exactly as it was."""

from __future__ import annotations

from typing import Any

import pytest

from coord import machine as m
from coord.commands import Mode
from coord.machine import CoordMachine, Effects, Grant, Holder, Renewal, Waiter
from raft.machine import Request
from tests.coord.invariants import TokenWatch, check_state


class Log:
    """Applies commands at successive indices, as the replicated log does, checking the
    invariants after each."""

    def __init__(self) -> None:
        self.machine = CoordMachine()
        self.index = 0
        self.tokens = TokenWatch()

    def apply(self, op: str, client: str = "c1", **fields: Any) -> Any:
        self.index += 1
        outcome = self.machine.apply(self.index, Request({"op": op, **fields}, client, 1))
        check_state(self.machine)
        self.tokens.observe(self.index, self.machine.effects)
        return outcome

    def ok(self, op: str, **fields: Any) -> Any:
        outcome = self.apply(op, **fields)
        assert "ok" in outcome, outcome
        return outcome["ok"]

    def refused(self, op: str, exception: str, status: int, **fields: Any) -> str:
        before = self.machine.snapshot()
        outcome = self.apply(op, **fields)
        assert outcome["status"] == status, outcome
        remote = outcome["error"]["RemoteException"]
        assert remote["exception"] == exception
        assert set(remote) == {"exception", "javaClassName", "message"}
        assert self.machine.snapshot() == before
        assert self.machine.effects == Effects()
        return str(remote["message"])

    def open(self, ttl_ms: int = 10_000, owner: str = "worker") -> str:
        return str(self.ok("open", ttl_ms=ttl_ms, owner=owner)["session"])

    def acquire(
        self, session: str, lock: str = "L", mode: str = "exclusive", wait: bool = True
    ) -> Any:
        return self.ok("acquire", session=session, lock=lock, mode=mode, wait=wait)

    def holders(self, lock: str = "L") -> list[tuple[str, int]]:
        [status] = self.machine.lock_status(lock)
        return [(h.session, h.token) for h in status.holders]

    def waiters(self, lock: str = "L") -> list[str]:
        [status] = self.machine.lock_status(lock)
        return [w.session for w in status.waiters]


@pytest.fixture
def log() -> Log:
    return Log()


# --- sessions --------------------------------------------------------------------------


def test_open_names_the_session_after_its_entry(log: Log) -> None:
    log.index = 16
    assert log.ok("open", ttl_ms=5_000, owner="job-7") == {"session": "s-17", "ttl_ms": 5_000}
    assert log.machine.effects.renewed == (Renewal("s-17", 5_000, 17),)
    [info] = log.machine.sessions()
    assert (info.id, info.owner, info.opened, info.last_renewed) == ("s-17", "job-7", 17, 17)
    assert log.machine.session("s-17") == info
    assert log.machine.session("s-16") is None


def test_keepalive_records_its_index(log: Log) -> None:
    s = log.open(ttl_ms=2_000)
    assert log.ok("keepalive", session=s) == {"session": s, "ttl_ms": 2_000, "renewed": 2}
    assert log.machine.sessions()[0].last_renewed == 2
    assert log.machine.effects.renewed == (Renewal(s, 2_000, 2),)


def test_an_unknown_session_has_expired(log: Log) -> None:
    cases: list[tuple[str, dict[str, Any]]] = [
        ("keepalive", {}),
        ("close", {}),
        ("release", {"lock": "L"}),
        ("acquire", {"lock": "L", "mode": "shared", "wait": False}),
    ]
    for op, fields in cases:
        log.refused(op, "SessionExpiredException", 404, session="s-9", **fields)
    log.refused("put", "SessionExpiredException", 404, key="k", value="v", session="s-9")


def test_close_releases_serves_waiters_and_deletes_its_keys(log: Log) -> None:
    a, b, c = log.open(), log.open(), log.open()
    log.acquire(a, "L")
    log.acquire(a, "M", mode="shared")
    log.acquire(b, "L")
    log.acquire(c, "N")
    log.acquire(a, "N")  # a waits for N
    log.ok("put", key="ephemeral", value="1", session=a)
    log.ok("put", key="kept", value="2", session=None)
    assert log.ok("close", session=a) == {"released": ["L", "M"], "deleted": ["ephemeral"]}
    assert log.holders("L") == [(b, log.index)]
    assert log.machine.effects.granted == (Grant("L", b, Mode.EXCLUSIVE, log.index),)
    assert log.machine.effects.ended == (a,)
    assert log.waiters("N") == []
    assert log.machine.lock_status("M")[0].holders == ()
    assert log.machine.get("ephemeral") is None
    assert log.machine.get("kept") is not None
    assert [s.id for s in log.machine.sessions()] == [b, c]
    assert log.machine.session(a) is None


def test_expire_ends_a_session_not_renewed_since(log: Log) -> None:
    a, b = log.open(), log.open()
    log.acquire(a)
    log.acquire(b)
    assert log.ok("expire", client="", session=a, renewed=1) == {"expired": True}
    assert log.holders() == [(b, log.index)]
    assert log.machine.effects.ended == (a,)


def test_a_keepalive_committed_before_the_expiry_wins(log: Log) -> None:
    a = log.open()
    log.acquire(a)
    log.ok("keepalive", session=a)  # entry 3
    before = log.machine.snapshot()
    assert log.ok("expire", client="", session=a, renewed=1) == {"expired": False}
    assert log.machine.snapshot() == before
    assert log.ok("expire", client="", session=a, renewed=3) == {"expired": True}
    assert log.ok("expire", client="", session=a, renewed=3) == {"expired": False}


def test_only_the_leader_expires(log: Log) -> None:
    a = log.open()
    log.refused("expire", "AccessControlException", 403, client="c1", session=a, renewed=1)


# --- locks -----------------------------------------------------------------------------


def test_a_grant_carries_its_entry_index_and_a_holder_gets_it_again(log: Log) -> None:
    a = log.open()
    log.index = 41
    assert log.acquire(a) == {"granted": True, "token": 42}
    assert log.acquire(a) == {"granted": True, "token": 42}
    assert log.acquire(a, wait=False) == {"granted": True, "token": 42}
    assert log.machine.effects == Effects()


def test_a_holder_asking_in_the_other_mode_is_refused(log: Log) -> None:
    a = log.open()
    log.acquire(a, mode="shared")
    log.refused("acquire", "LockHeldException", 409, session=a, lock="L", mode="exclusive",
                wait=True)  # fmt: skip


def test_without_wait_a_held_lock_is_refused(log: Log) -> None:
    a, b = log.open(), log.open()
    log.acquire(a)
    message = log.refused(
        "acquire", "LockHeldException", 409, session=b, lock="L", mode="exclusive", wait=False
    )
    assert a in message


def test_waiters_are_served_first_come_first_served_with_growing_tokens(log: Log) -> None:
    a, b, c = log.open(), log.open(), log.open()
    first = log.acquire(a)["token"]
    assert log.acquire(b) == {"granted": False, "position": 1}
    assert log.acquire(c) == {"granted": False, "position": 2}
    assert log.acquire(b) == {"granted": False, "position": 1}  # asking again: its place
    assert log.ok("release", session=a, lock="L") == {"released": True}
    second = log.index
    assert log.holders() == [(b, second)]
    assert log.acquire(b) == {"granted": True, "token": second}
    log.ok("release", session=b, lock="L")
    assert log.holders() == [(c, log.index)]
    assert first < second < log.index


def test_a_waiter_asking_without_wait_or_in_another_mode_is_refused(log: Log) -> None:
    a, b = log.open(), log.open()
    log.acquire(a)
    log.acquire(b)
    for mode, wait in [("exclusive", False), ("shared", True)]:
        log.refused("acquire", "LockHeldException", 409, session=b, lock="L", mode=mode,
                    wait=wait)  # fmt: skip


def test_shared_holders_share_until_an_exclusive_request_waits(log: Log) -> None:
    a, b, c, d, e = (log.open() for _ in range(5))
    assert log.acquire(a, mode="shared")["granted"]
    assert log.acquire(b, mode="shared")["granted"]
    assert log.acquire(c) == {"granted": False, "position": 1}
    # A shared request behind a waiting exclusive one waits: no writer starvation.
    assert log.acquire(d, mode="shared") == {"granted": False, "position": 2}
    assert log.acquire(e, mode="shared") == {"granted": False, "position": 3}
    log.ok("release", session=a, lock="L")
    assert log.waiters() == [c, d, e]
    log.ok("release", session=b, lock="L")
    assert log.holders() == [(c, log.index)]
    log.ok("release", session=c, lock="L")
    # Both shared waiters are served by the one entry, and share its token.
    assert log.holders() == [(d, log.index), (e, log.index)]
    [status] = log.machine.lock_status("L")
    assert status.mode is Mode.SHARED


def test_withdrawing_the_head_wait_serves_those_behind_it(log: Log) -> None:
    a, b, c = log.open(), log.open(), log.open()
    log.acquire(a, mode="shared")
    log.acquire(b)
    log.acquire(c, mode="shared")
    assert log.ok("release", session=b, lock="L") == {"released": False}
    assert log.holders() == [(a, 1 + 3), (c, log.index)]
    assert log.machine.effects.granted == (Grant("L", c, Mode.SHARED, log.index),)


def test_releasing_what_one_neither_holds_nor_waits_for_is_refused(log: Log) -> None:
    a, b = log.open(), log.open()
    log.refused("release", "LockNotHeldException", 409, session=a, lock="L")
    log.acquire(b)
    log.refused("release", "LockNotHeldException", 409, session=a, lock="L")


def test_lock_status_of_a_free_lock_and_of_all(log: Log) -> None:
    a, b = log.open(), log.open()
    log.acquire(a, "L")
    log.acquire(b, "L")
    [free] = log.machine.lock_status("free")
    assert (free.mode, free.holders, free.waiters) == (None, (), ())
    [status] = log.machine.lock_status()
    assert status.holders == (Holder(a, 3),)
    assert status.waiters == (Waiter(b, Mode.EXCLUSIVE),)
    assert status.revision == 4
    assert log.machine.sessions()[1].locks == ("L",)


def test_a_session_may_hold_and_wait_for_a_bounded_number_of_locks(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(m, "MAX_LOCKS_PER_SESSION", 2)
    a = log.open()
    log.acquire(a, "L1")
    log.acquire(a, "L2")
    log.refused("acquire", "QuotaExceededException", 403, session=a, lock="L3",
                mode="shared", wait=True)  # fmt: skip
    assert log.acquire(a, "L1")["granted"]  # asking again is not a new lock


# --- keys ------------------------------------------------------------------------------


def test_put_get_delete_with_revisions(log: Log) -> None:
    assert log.ok("put", key="k", value="v1", session=None) == {"revision": 1}
    assert log.ok("put", key="k", value="v2", session=None) == {"revision": 2}
    got = log.machine.get("k")
    assert got is not None and (got.value, got.session, got.revision) == ("v2", None, 2)
    assert log.ok("delete", key="k") == {"revision": 3}
    assert log.machine.get("k") is None
    log.refused("delete", "KeyNotFoundException", 404, key="k")


def test_a_key_belongs_to_the_session_that_last_wrote_it(log: Log) -> None:
    a, b = log.open(), log.open()
    log.ok("put", key="k", value="1", session=a)
    log.ok("put", key="k", value="2", session=b)
    assert log.ok("close", session=a)["deleted"] == []
    assert log.ok("close", session=b)["deleted"] == ["k"]
    log.ok("put", key="j", value="1", session=log.open())
    log.ok("put", key="j", value="2", session=None)  # now nobody's: outlives the session
    assert log.ok("close", session=log.machine.sessions()[0].id)["deleted"] == []


def test_the_number_of_keys_and_sessions_is_bounded(
    log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(m, "MAX_KEYS", 1)
    monkeypatch.setattr(m, "MAX_SESSIONS", 1)
    log.ok("put", key="k", value="", session=None)
    log.ok("put", key="k", value="again", session=None)
    log.refused("put", "QuotaExceededException", 403, key="j", value="", session=None)
    log.open()
    log.refused("open", "QuotaExceededException", 403, ttl_ms=1_000, owner="")


# --- revisions, for watches ------------------------------------------------------------


def test_revisions_grow_with_every_change_and_never_go_back(log: Log) -> None:
    a, b = log.open(), log.open()
    seen = {"L": 0, "k": 0}

    def moved() -> set[str]:
        now = {name: log.machine.revision_of(name) for name in seen}
        assert all(now[n] >= seen[n] for n in seen)
        changed = {n for n in seen if now[n] != seen[n]}
        seen.update(now)
        return changed

    steps: list[tuple[str, dict[str, Any], set[str]]] = [
        ("acquire", {"session": a, "lock": "L", "mode": "exclusive", "wait": True}, {"L"}),
        ("acquire", {"session": b, "lock": "L", "mode": "exclusive", "wait": True}, {"L"}),
        ("put", {"key": "k", "value": "1", "session": a}, {"k"}),
        ("put", {"key": "L", "value": "a key named as a lock", "session": None}, {"L"}),
        ("close", {"session": a}, {"L", "k"}),
        ("release", {"session": b, "lock": "L"}, {"L"}),
        ("delete", {"key": "L"}, {"L"}),
    ]
    for op, fields, changed in steps:
        log.ok(op, **fields)
        assert log.machine.effects.changed == changed, op
        assert changed <= moved(), op  # a name that is absent may also move


# --- malformed commands ----------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        {"op": "open", "ttl_ms": 999, "owner": ""},
        {"op": "open", "ttl_ms": 600_001, "owner": ""},
        {"op": "open", "ttl_ms": True, "owner": ""},
        {"op": "open", "ttl_ms": 1_000.0, "owner": ""},
        {"op": "open", "ttl_ms": 1_000, "owner": "x" * 129},
        {"op": "open", "ttl_ms": 1_000, "owner": "line\nbreak"},
        {"op": "open", "ttl_ms": 1_000},
        {"op": "open", "ttl_ms": 1_000, "owner": "", "extra": 1},
        {"op": "keepalive", "session": ""},
        {"op": "keepalive", "session": 7},
        {"op": "expire", "session": "s-1", "renewed": -1},
        {"op": "expire", "session": "s-1", "renewed": "1"},
        {"op": "acquire", "session": "s-1", "lock": "L", "mode": "read", "wait": True},
        {"op": "acquire", "session": "s-1", "lock": "L", "mode": "shared", "wait": 1},
        {"op": "acquire", "session": "s-1", "lock": "x" * 257, "mode": "shared", "wait": True},
        {"op": "release", "session": "s-1", "lock": None},
        {"op": "put", "key": "k", "value": b"bytes".decode() * 4000, "session": None},
        {"op": "put", "key": "k", "value": 1, "session": None},
        {"op": "put", "key": "k", "value": "v"},
        {"op": "delete", "key": ""},
        {"op": "rename", "key": "k"},
        {"key": "k"},
        ["op", "delete"],
    ],
)
def test_a_malformed_command_is_refused_and_changes_nothing(log: Log, command: Any) -> None:
    log.open()  # entry 1 is s-1, so only the malformation can be wrong
    before = log.machine.snapshot()
    outcome = log.machine.apply(2, Request(command))
    assert outcome["status"] == 400
    assert outcome["error"]["RemoteException"]["exception"] == "IllegalArgumentException"
    assert log.machine.snapshot() == before


def test_a_snapshot_of_another_version_is_not_read() -> None:
    with pytest.raises(ValueError, match="version 2"):
        CoordMachine().restore(b'{"v": 2}')
