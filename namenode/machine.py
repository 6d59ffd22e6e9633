"""The namespace as a replicated state machine: what every namenode of a group applies.

Each committed entry carries one namespace command (`namenode.commands`, in its record
form). `apply` runs it against the namespace and returns its outcome — `{"ok": result}`,
or a refusal `{"error": <WebHDFS RemoteException>, "status": <HTTP status>}` — the same on
every replica. What a command did that the leader's block manager must act on (blocks
that left the namespace, files closed, leases) is handed to `on_applied` as it is applied:
the entry is committed by then, so acting on it never runs ahead of the log.

A snapshot is the namespace's image (`namenode.checkpoint`), written by a child process
the Raft host forks (`raft.host`): the namesystem's lock is held only across the fork.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from minihadoop.errors import MiniHadoopError, from_remote
from namenode import checkpoint
from namenode import commands as c
from namenode.namespace import Effects, Namespace
from namenode.permissions import AS, Caller
from raft.machine import Request
from raft.sessions import command_fingerprint

Outcome = dict[str, Any]
Applied = Callable[[c.NamespaceCommand, Effects], None]


class NamespaceMachine:
    def __init__(
        self, lock: threading.RLock, on_applied: Applied | None = None, root_owner: str = "hadoop"
    ) -> None:
        self.lock = lock
        self.ns = Namespace(owner=root_owner)
        self.on_applied = on_applied or (lambda _cmd, _effects: None)
        self.applied_index = 0

    def apply(self, index: int, request: Request) -> Outcome:
        with self.lock:
            self.applied_index = index
            try:
                record = dict(request.command)
                caller = record.pop(AS, None)
                cmd = c.from_record(record)
                effects = self.ns.apply(cmd, None if caller is None else Caller.from_record(caller))
            except MiniHadoopError as e:
                return refusal(e)
            self.on_applied(cmd, effects)
            return {"ok": effects.result}

    def snapshot(self) -> bytes:
        with self.lock:
            return checkpoint.encode(self.ns, self.applied_index)

    def restore(self, data: bytes) -> None:
        with self.lock:
            self.ns, self.applied_index = checkpoint.load(json.loads(data))


def retry_fingerprint(request: Request) -> str:
    """What makes a namespace request the same one when it is sent again: its command but
    its time, which the namenode stamps afresh on each try."""
    command = {k: v for k, v in request.command.items() if k != "mtime"}
    return command_fingerprint(Request(command))


def refusal(error: MiniHadoopError) -> Outcome:
    return {"error": error.to_remote(), "status": error.status}


def result_of(outcome: Any) -> Any:
    """The command's result, or its refusal raised as the error it was."""
    if isinstance(outcome, dict) and "ok" in outcome:
        return outcome["ok"]
    if isinstance(outcome, dict) and "error" in outcome:
        raise from_remote(outcome["error"], int(outcome["status"]))
    raise MiniHadoopError(f"unexpected outcome {str(outcome)[:200]}")
