"""Read-index requests a leader holds until a quorum confirms it still leads (Raft §6.4).

A request records the commit index when it arrived. The leader sends a heartbeat round
carrying the request's context; once a quorum (counting the leader) has answered one, no
other leader can have been elected before the request arrived, so a read served after
applying up to the recorded index is linearizable. Requests are confirmed in order: a
quorum for a later request also confirms every earlier one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raft.types import NodeId, ReadState


@dataclass(slots=True)
class ReadRequest:
    index: int
    context: bytes
    acks: set[NodeId] = field(default_factory=set)


class ReadIndexQueue:
    def __init__(self) -> None:
        self._requests: list[ReadRequest] = []

    def __len__(self) -> int:
        return len(self._requests)

    def add(self, index: int, context: bytes, leader: NodeId) -> bool:
        """Queue a request; False when one with this context is already waiting."""
        if any(request.context == context for request in self._requests):
            return False
        self._requests.append(ReadRequest(index, context, {leader}))
        return True

    def last_context(self) -> bytes:
        return self._requests[-1].context if self._requests else b""

    def ack(self, context: bytes, voter: NodeId, quorum: int) -> list[ReadState]:
        """A heartbeat response echoing `context` arrived from `voter`: the requests that this
        confirms (that one and every earlier one) once a quorum has answered, else none."""
        for position, request in enumerate(self._requests):
            if request.context != context:
                continue
            request.acks.add(voter)
            if len(request.acks) < quorum:
                return []
            done = self._requests[: position + 1]
            del self._requests[: position + 1]
            return [ReadState(r.index, r.context) for r in done]
        return []
