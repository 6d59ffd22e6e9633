"""What must hold of a `CoordMachine` after every entry, for the unit, property and
simulation tests alike."""

from __future__ import annotations

from coord.commands import Mode
from coord.machine import CoordMachine, Effects


class InvariantViolation(AssertionError):
    pass


def check_state(machine: CoordMachine) -> None:
    """At most one exclusive holder and never exclusive with shared; nobody waits for a
    lock they could be granted; every holder and waiter is a live session, once."""
    live = {s.id for s in machine.sessions()}
    for lock in machine.lock_status():
        holders = [h.session for h in lock.holders]
        waiters = [w.session for w in lock.waiters]
        if not holders:
            raise InvariantViolation(f"{lock.name} is kept with nobody holding it: {lock}")
        if lock.mode is Mode.EXCLUSIVE and len(holders) > 1:
            raise InvariantViolation(f"{lock.name} has {len(holders)} exclusive holders")
        head = lock.waiters[0] if lock.waiters else None
        if head is not None and lock.mode is head.mode is Mode.SHARED:
            raise InvariantViolation(f"{lock.name}: {head} waits behind shared holders")
        everyone = holders + waiters
        if len(set(everyone)) != len(everyone) or not set(everyone) <= live:
            raise InvariantViolation(f"{lock.name}: holders and waiters {everyone}, live {live}")


class TokenWatch:
    """Fencing tokens, as one replica grants them: a lock's token is greater than every
    token of that lock granted by an earlier entry (shared holders served by one entry
    share its token)."""

    def __init__(self, machine: CoordMachine | None = None) -> None:
        # lock -> (highest token, the index of the entry that granted it)
        self.highest: dict[str, tuple[int, int]] = {}
        for lock in machine.lock_status() if machine else []:
            self.highest[lock.name] = (max(h.token for h in lock.holders), 0)

    def observe(self, index: int, effects: Effects) -> None:
        for grant in effects.granted:
            token, by = self.highest.get(grant.lock, (0, 0))
            if grant.token < token or (grant.token == token and by != index):
                raise InvariantViolation(f"{grant} by entry {index}; it had {token} by {by}")
            self.highest[grant.lock] = (grant.token, index)
