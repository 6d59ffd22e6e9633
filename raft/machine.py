"""What a replicated state machine must be, and the envelope every log entry's data wears.

A `StateMachine` is applied the committed log, in order, on every replica. `apply` must be
deterministic: the same entries in the same order give the same state and the same results
everywhere, so it reads no clock and draws no randomness (the time travels in the entry).
A request the machine refuses is not an exception: the refusal is the entry's result, the
same on every replica, and it changes nothing.

Results must be JSON-able: they are kept in the session table (`raft.sessions`), which is
part of the replicated state and of every snapshot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

# The version of `Request`'s encoding. A replica meeting a newer one must stop, not skip
# the entry: every replica applies every entry, or the replicas diverge.
VERSION = 1


class StateMachine(Protocol):
    def apply(self, index: int, request: Request) -> Any:
        """Apply the committed entry at `index`; its result (JSON-able)."""

    def snapshot(self) -> bytes:
        """The whole state, as of the last applied entry."""

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a `snapshot()`'s."""


class UnreadableEntryError(Exception):
    """A committed entry this replica cannot decode: it must stop rather than skip it."""


@dataclass(frozen=True, slots=True)
class Request:
    """A log entry's data: a client's command and who sent it.

    `client` and `seq` make a retry recognisable (the session table answers it from memory
    instead of applying it twice); a request without a client ("" — the leader's own, such
    as a lease expiry) is applied every time it is committed. `time` is the proposing
    leader's wall clock in milliseconds: the one clock every replica agrees on.
    """

    command: dict[str, Any]
    client: str = ""
    seq: int = 0
    time: int = 0

    def encode(self) -> bytes:
        record = {
            "v": VERSION,
            "c": self.client,
            "s": self.seq,
            "t": self.time,
            "cmd": self.command,
        }
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Request:
        try:
            record = json.loads(data)
            version = record["v"]
        except (ValueError, TypeError, KeyError) as e:
            raise UnreadableEntryError(f"not a log entry: {data[:100]!r} ({e})") from None
        if version != VERSION:
            raise UnreadableEntryError(
                f"log entry of format version {version}; this build reads {VERSION}: "
                "upgrade this namenode"
            )
        try:
            return cls(record["cmd"], str(record["c"]), int(record["s"]), int(record["t"]))
        except (KeyError, TypeError, ValueError) as e:
            raise UnreadableEntryError(f"malformed log entry {data[:100]!r} ({e})") from None
