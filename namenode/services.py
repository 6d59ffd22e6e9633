"""What the namenodes' Raft log replicates: the namespace and, beside it, the lock service.

One log, two state machines. An entry whose command is `{"coord": <lock service command>}`
goes to the `coord.machine.CoordMachine`; every other entry is a namespace command for the
`namenode.machine.NamespaceMachine`. Both are applied under the namesystem's lock, which is
what readers of either take. `on_coord` hears what each lock service entry did
(`coord.machine.Effects`) as it is applied, for the leader's lease count and the watchers.

A snapshot holds both:

    MAGIC  u64 length of the namespace's part  namespace part  lock service part

A snapshot of an earlier version, the namespace's part alone (it starts with "{"), is read
as a namespace with no sessions, locks or keys.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from coord.machine import CoordMachine, Effects
from namenode.machine import NamespaceMachine, retry_fingerprint
from raft.machine import Request
from raft.sessions import SessionTable

MAGIC = b"MHSVC1\n"
COORD = "coord"


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
    return SessionTable(services, fingerprint=retry_fingerprint)


def coord_command(record: dict[str, Any]) -> dict[str, Any]:
    """A lock service command as a log entry's command."""
    return {COORD: record}
