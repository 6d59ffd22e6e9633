"""Exactly-once requests over a replicated log: the client session table (Raft thesis §6.3).

A client that sends a request, loses the answer and sends it again (its connection broke,
or the leader died after committing it) would have it applied twice: a rename done twice
fails the second time, a block added twice leaves an empty block. So each request carries
`(client, seq)`, and the table — replicated state, applied on every replica and saved in
every snapshot — remembers each client's recent results. A repeat is answered with the
first result and not applied again; a new leader knows every result its predecessor
committed.

Bounded two ways, both by log contents only (so every replica forgets the same things at
the same entry): a client's `window` newest results are kept (an older seq is refused, as
it may or may not have been applied), and a client idle for `idle_ms` of log time is
forgotten altogether.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from raft.machine import Request, StateMachine

WINDOW = 256
IDLE_MS = 3_600_000


@dataclass(slots=True)
class _Session:
    last_seen: int
    # seq -> (the request's fingerprint, its result), oldest first
    results: dict[int, tuple[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Expired:
    """The result for a request older than its client's window: whether it was applied is
    no longer known. The client must not assume either."""

    client: str
    seq: int


@dataclass(frozen=True, slots=True)
class Reused:
    """The result for a request whose (client, seq) was first used for another request: a
    repeat must be the same request. Nothing is applied, and the first one's result is not
    given away."""

    client: str
    seq: int


def command_fingerprint(request: Request) -> str:
    """What makes two requests the same one: their command, as a digest."""
    text = json.dumps(request.command, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class SessionTable:
    """Wraps a state machine; is one. `apply` skips what it has answered before.

    A repeat is recognised by its (client, seq) *and* its `fingerprint`: the same numbers
    on another request (a client's bug, or someone else's client id) are refused, never
    answered with the first request's result. `fingerprint` must leave out what a retry
    legitimately changes (the time it was sent again)."""

    def __init__(
        self,
        machine: StateMachine,
        *,
        window: int = WINDOW,
        idle_ms: int = IDLE_MS,
        fingerprint: Callable[[Request], str] = command_fingerprint,
    ):
        self.machine = machine
        self.window = window
        self.idle_ms = idle_ms
        self.fingerprint = fingerprint
        self._sessions: dict[str, _Session] = {}
        self._last_sweep = 0

    def __len__(self) -> int:
        return len(self._sessions)

    def apply(self, index: int, request: Request) -> Any:
        self._sweep(request.time)
        if not request.client:
            return self.machine.apply(index, request)
        session = self._sessions.get(request.client)
        if session is None:
            session = self._sessions[request.client] = _Session(request.time)
        session.last_seen = max(session.last_seen, request.time)
        printed = self.fingerprint(request)
        if request.seq in session.results:
            first, result = session.results[request.seq]
            return result if first == printed else Reused(request.client, request.seq)
        if len(session.results) >= self.window and request.seq < min(session.results):
            return Expired(request.client, request.seq)
        result = self.machine.apply(index, request)
        session.results[request.seq] = (printed, result)
        if len(session.results) > self.window:
            del session.results[min(session.results)]
        return result

    def _sweep(self, now: int) -> None:
        """Forget idle clients, at most once per idle period of log time."""
        if now - self._last_sweep < self.idle_ms:
            return
        self._last_sweep = now
        idle = [c for c, s in self._sessions.items() if now - s.last_seen > self.idle_ms]
        for client in idle:
            del self._sessions[client]

    def snapshot(self) -> bytes:
        sessions = {
            c: [s.last_seen, [[seq, f, r] for seq, (f, r) in s.results.items()]]
            for c, s in self._sessions.items()
        }
        table = json.dumps({"sweep": self._last_sweep, "sessions": sessions}).encode()
        inner = self.machine.snapshot()
        return len(table).to_bytes(8, "big") + table + inner

    def restore(self, data: bytes) -> None:
        size = int.from_bytes(data[:8], "big")
        table = json.loads(data[8 : 8 + size])
        self._last_sweep = table["sweep"]
        self._sessions = {
            c: _Session(last, {int(seq): (f, r) for seq, f, r in results})
            for c, (last, results) in table["sessions"].items()
        }
        self.machine.restore(data[8 + size :])
