"""The client session table: a repeated request is answered from memory, never applied
twice, on every replica alike — including one restored from a snapshot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from raft.machine import Request, UnreadableEntryError
from raft.sessions import Expired, Reused, SessionTable, command_fingerprint

HOUR = 3_600_000


class Counter:
    """A state machine whose every apply is visible: a counter and the indexes applied."""

    def __init__(self) -> None:
        self.value = 0
        self.applied: list[int] = []

    def apply(self, index: int, request: Request) -> Any:
        self.value += int(request.command["add"])
        self.applied.append(index)
        return {"ok": self.value}

    def snapshot(self) -> bytes:
        return json.dumps([self.value, self.applied]).encode()

    def restore(self, data: bytes) -> None:
        self.value, self.applied = json.loads(data)


def add(n: int, client: str = "c1", seq: int = 0, time: int = 1) -> Request:
    return Request({"add": n}, client, seq, time)


def test_a_repeat_is_answered_with_the_first_result_and_not_applied_again() -> None:
    table = SessionTable(Counter())
    assert table.apply(1, add(5, seq=1)) == {"ok": 5}
    assert table.apply(2, add(7, seq=2)) == {"ok": 12}
    assert table.apply(3, add(5, seq=1)) == {"ok": 5}  # the retry of seq 1
    assert table.machine.applied == [1, 2]  # type: ignore[attr-defined]
    # Another client's seq 1 is its own.
    assert table.apply(4, add(1, client="c2", seq=1)) == {"ok": 13}


def test_requests_without_a_client_are_applied_every_time() -> None:
    table = SessionTable(Counter())
    table.apply(1, add(1, client=""))
    table.apply(2, add(1, client=""))
    assert table.machine.value == 2  # type: ignore[attr-defined]
    assert len(table) == 0


def test_a_request_older_than_the_window_is_refused_not_applied() -> None:
    table = SessionTable(Counter(), window=3)
    for seq in range(1, 6):
        table.apply(seq, add(1, seq=seq))
    assert table.apply(9, add(1, seq=1)) == Expired("c1", 1)
    assert table.apply(10, add(1, seq=5)) == {"ok": 5}  # still remembered
    assert table.machine.value == 5  # type: ignore[attr-defined]


def test_idle_clients_are_forgotten_by_log_time() -> None:
    table = SessionTable(Counter(), idle_ms=HOUR)
    table.apply(1, add(1, client="old", seq=1, time=10))
    table.apply(2, add(1, client="busy", seq=1, time=HOUR))
    table.apply(3, add(1, client="busy", seq=2, time=2 * HOUR + 20))
    assert len(table) == 1  # "old" was idle for over an hour of log time
    # Forgotten, its retry is applied again: the window is what a client may rely on.
    assert table.apply(4, add(1, client="old", seq=1, time=2 * HOUR + 30)) == {"ok": 4}


def test_a_restored_replica_answers_repeats_as_the_original_does() -> None:
    original = SessionTable(Counter())
    original.apply(1, add(3, seq=1))
    original.apply(2, add(4, client="c2", seq=9))
    restored = SessionTable(Counter())
    restored.restore(original.snapshot())
    for table in (original, restored):
        assert table.apply(3, add(3, seq=1)) == {"ok": 3}
        assert table.apply(4, add(4, client="c2", seq=9)) == {"ok": 7}
        assert table.apply(5, add(1, seq=2)) == {"ok": 8}
    assert original.snapshot() == restored.snapshot()


def test_entries_round_trip_and_bad_ones_are_refused_clearly() -> None:
    request = Request({"op": "Mkdirs", "path": "/a"}, "client-1", 42, 1700)
    assert Request.decode(request.encode()) == request
    with pytest.raises(UnreadableEntryError, match="not a log entry"):
        Request.decode(b"\xff\x00garbage")
    future = json.dumps({"v": 99, "c": "", "s": 0, "t": 0, "cmd": {}}).encode()
    with pytest.raises(UnreadableEntryError, match="version 99"):
        Request.decode(future)
    with pytest.raises(UnreadableEntryError, match="malformed"):
        Request.decode(json.dumps({"v": 1, "c": "x"}).encode())


def test_the_same_numbers_on_another_request_are_refused_not_answered() -> None:
    """(client, seq) names one request: reused for another (a bug, or another holder of the
    client's id), the second is neither applied nor given the first one's result."""
    table = SessionTable(Counter())
    assert table.apply(1, add(5, seq=1)) == {"ok": 5}
    assert table.apply(2, add(7, seq=1)) == Reused("c1", 1)
    assert table.machine.value == 5  # type: ignore[attr-defined]
    restored = SessionTable(Counter())
    restored.restore(table.snapshot())
    assert restored.apply(3, add(7, seq=1)) == Reused("c1", 1)
    assert restored.apply(4, add(5, seq=1)) == {"ok": 5}


def test_a_fingerprint_can_leave_out_what_a_retry_changes() -> None:
    def without_time(request: Request) -> str:
        return command_fingerprint(Request({"add": request.command["add"]}))

    table = SessionTable(Counter(), fingerprint=without_time)
    table.apply(1, Request({"add": 2, "mtime": 10}, "c1", 1, 10))
    assert table.apply(2, Request({"add": 2, "mtime": 99}, "c1", 1, 99)) == {"ok": 2}
    assert table.machine.value == 2  # type: ignore[attr-defined]
