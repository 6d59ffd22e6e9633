"""What the namenodes' Raft log replicates: the namespace and, beside it, the lock service.

One log, two state machines. An entry whose command is `{"coord": <lock service command>}`
goes to the `coord.machine.CoordMachine`; every other entry is a namespace command for the
`namenode.machine.NamespaceMachine`. Both are applied under the namesystem's lock, which is
what readers of either take. `on_coord` hears what each lock service entry did
(`coord.machine.Effects`) as it is applied, for the leader's lease count and the watchers.

A namespace command may come fenced — `{"fenced": {"lock": name, "token": n, "command":
<namespace command>}}` — by a lock of the lock service: it is applied only if `n` is still
a token of a holder of `name` when its entry is applied, and refused (`StaleFenceError`)
otherwise. Both machines are applied in log order under one lock, so every replica decides
the same: a deposed holder (a job tracker that slept past its session's TTL) can change
nothing once its successor's grant is in the log.

A snapshot holds both:

    MAGIC  u64 length of the namespace's part  namespace part  lock service part

A snapshot of an earlier version, the namespace's part alone (it starts with "{"), is read
as a namespace with no sessions, locks or keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from coord.errors import CoordError, InvalidCommandError, StaleFenceError, refusal
from coord.machine import CoordMachine, Effects
from namenode.machine import NamespaceMachine, retry_fingerprint
from raft.machine import Request
from raft.sessions import SessionTable

MAGIC = b"MHSVC1\n"
COORD = "coord"
FENCED = "fenced"


class Services:
    def __init__(
        self,
        namespace: NamespaceMachine,
        coord: CoordMachine,
        on_coord: Callable[[Effects], None] | None = None,
    ) -> None:
        self.namespace = namespace
        self.coord = coord
        self.lock: threading.RLock = namespace.lock
        self.on_coord = on_coord or (lambda _effects: None)

    def apply(self, index: int, request: Request) -> Any:
        fenced = request.command.get(FENCED)
        if fenced is not None:
            return self._fenced(index, request, fenced)
        inner = request.command.get(COORD)
        if inner is None:
            return self.namespace.apply(index, request)
        with self.lock:
            self.namespace.applied_index = index
            outcome = self.coord.apply(
                index, Request(inner, request.client, request.seq, request.time)
            )
            self.on_coord(self.coord.effects)
            return outcome

    def _fenced(self, index: int, request: Request, fenced: Any) -> Any:
        with self.lock:
            try:
                lock, token, command = _fence_fields(fenced)
                if not self.coord.current(lock, token):
                    raise StaleFenceError(
                        f"fencing token {token} of lock {lock} is no longer current: "
                        "its holder was replaced, and this change was not made"
                    )
            except CoordError as e:
                self.namespace.applied_index = index
                return refusal(e)
            inner = Request(command, request.client, request.seq, request.time)
            return self.namespace.apply(index, inner)

    def snapshot(self) -> bytes:
        with self.lock:
            namespace = self.namespace.snapshot()
            return MAGIC + len(namespace).to_bytes(8, "big") + namespace + self.coord.snapshot()

    def restore(self, data: bytes) -> None:
        with self.lock:
            if not data.startswith(MAGIC):  # an earlier version's: the namespace alone
                self.namespace.restore(data)
                self.coord.restore(CoordMachine().snapshot())
                return
            start = len(MAGIC) + 8
            size = int.from_bytes(data[len(MAGIC) : start], "big")
            self.namespace.restore(data[start : start + size])
            self.coord.restore(data[start + size :])


def replicated(services: Services) -> SessionTable:
    """What the Raft host applies the log to: the services behind the session table."""
    return SessionTable(services, fingerprint=_fingerprint)


def _fingerprint(request: Request) -> str:
    """A namespace request's `retry_fingerprint`, its fence included."""
    fenced = request.command.get(FENCED)
    if not isinstance(fenced, dict) or not isinstance(fenced.get("command"), dict):
        return retry_fingerprint(request)
    inner = retry_fingerprint(Request(fenced["command"]))
    return retry_fingerprint(Request({FENCED: {**fenced, "command": inner}}))


def fenced_command(command: dict[str, Any], lock: str, token: int) -> dict[str, Any]:
    """A namespace command applied only while `token` holds `lock`."""
    return {FENCED: {"lock": lock, "token": token, "command": command}}


def _fence_fields(fenced: Any) -> tuple[str, int, dict[str, Any]]:
    if not isinstance(fenced, dict) or set(fenced) != {"lock", "token", "command"}:
        raise InvalidCommandError("a fenced command takes exactly lock, token and command")
    lock, token, command = fenced["lock"], fenced["token"], fenced["command"]
    if not isinstance(lock, str) or not isinstance(command, dict):
        raise InvalidCommandError("a fence's lock is a string, its command an object")
    if isinstance(token, bool) or not isinstance(token, int) or token < 1:
        raise InvalidCommandError("a fencing token is a positive integer")
    return lock, token, command


def coord_command(record: dict[str, Any]) -> dict[str, Any]:
    """A lock service command as a log entry's command."""
    return {COORD: record}
