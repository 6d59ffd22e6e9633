"""Session leases as the leader and as a client count them. Pure: the time is passed in,
in milliseconds of the counter's own monotonic clock, never a log entry's time.

Only the leader expires sessions, by proposing `expire {session, renewed}`; the machine
applies it only if no keepalive committed since entry `renewed`. The leader's
`LeaseTracker` counts each session's lease from the moment *it* learnt of the renewal:

* on becoming leader (`lead`), every session's deadline is now + ttl — Chubby's grace
  period: a failover never takes a lock from a holder that is still keeping its session
  alive, whatever the old leader knew and the new one cannot (clocks of different
  machines are never compared);
* each `open` or `keepalive` applied while leading sets deadline = now + ttl;
* `due(now)` gives the expiries to propose for deadlines reached; one that is lost (the
  proposal dropped) is proposed again a retry interval later, and a duplicate is harmless;
* `step_down()` forgets everything: the next leader starts its own count.

A client's `ClientLease` counts from when it *sent* the keepalive that was acknowledged,
which is before any leader applied it: the client always believes in its lease for less
long than any leader honours it. While it believes, nobody else can be granted its locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coord.commands import Expire, to_record
from coord.machine import Effects, SessionInfo

RETRY_MS = 1_000


@dataclass(slots=True)
class _Lease:
    ttl_ms: int
    renewed: int  # the index of the renewal the deadline counts from
    deadline: int


class LeaseTracker:
    """The leader's deadlines for the sessions; leader-local soft state."""

    def __init__(self, *, retry_ms: int = RETRY_MS) -> None:
        self.retry_ms = retry_ms
        self.leading = False
        self._leases: dict[str, _Lease] = {}

    def lead(self, now: int, sessions: Iterable[SessionInfo]) -> None:
        """This node became leader; `sessions` is its machine's state as applied so far
        (entries applied later reach `renewed`/`ended`)."""
        self.leading = True
        self._leases = {s.id: _Lease(s.ttl_ms, s.last_renewed, now + s.ttl_ms) for s in sessions}

    def step_down(self) -> None:
        self.leading = False
        self._leases = {}

    def renewed(self, session: str, ttl_ms: int, renewed: int, now: int) -> None:
        if self.leading:
            self._leases[session] = _Lease(ttl_ms, renewed, now + ttl_ms)

    def ended(self, session: str) -> None:
        self._leases.pop(session, None)

    def observe(self, effects: Effects, now: int) -> None:
        """What an applied entry did to the sessions (`CoordMachine.effects`)."""
        for r in effects.renewed:
            self.renewed(r.session, r.ttl_ms, r.renewed, now)
        for session in effects.ended:
            self.ended(session)

    def due(self, now: int) -> list[dict[str, Any]]:
        """The `expire` commands to propose now, for every deadline reached."""
        commands = []
        for session, lease in self._leases.items():
            if lease.deadline <= now:
                commands.append(to_record(Expire(session, lease.renewed)))
                lease.deadline = now + self.retry_ms
        return commands

    def deadline(self, session: str) -> int | None:
        lease = self._leases.get(session)
        return None if lease is None else lease.deadline


class ClientLease:
    """A client's belief in one session: valid until the send time of its latest
    acknowledged open or keepalive, plus the ttl. A new session needs a new one: an
    answer about the old session, arriving late, must not extend the new one."""

    def __init__(self) -> None:
        self.until = 0

    def acknowledged(self, sent: int, ttl_ms: int) -> None:
        """The open or keepalive sent at `sent` was applied; answers may come out of order."""
        self.until = max(self.until, sent + ttl_ms)

    def valid(self, now: int) -> bool:
        return now < self.until

    def lost(self) -> None:
        """The session is known to have ended."""
        self.until = 0
