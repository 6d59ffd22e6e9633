"""The lock service as the namenodes serve it: Chubby's sessions, locks and small keys,
replicated by the namenodes' Raft log (`namenode.services`) beside the namespace.

Every change is a command committed to the log and answered once applied, on the leader
only (a follower answers StandbyError, as for the namespace). Reads are made after a read
barrier, so they are linearizable. What is the leader's alone:

* **The lease count** (`coord.leases.LeaseTracker`, on this process's monotonic clock).
  When this namenode becomes active it gives every session a full TTL from now (Chubby's
  grace period: a failover never takes a lock from a holder that goes on renewing), and
  `tick` proposes an `expire` for each session whose deadline passed. The entry ends the
  session only if no keepalive was committed since the one the deadline counted from.
* **Watchers.** A waiting `acquire` and a `watch` of a key are coroutines on the HTTP
  server's event loop (a thread each would let a few hundred waiters starve every other
  request of the thread pool): each sleeps on an `asyncio.Event`, set by every applied lock
  service entry that changed something, and answers when what it waits for is in the
  applied state, or when its time is up. At most `MAX_WAITERS` wait at once.

A session belongs to the user who opened it: another user's keepalive, acquire or release
naming it is refused (AccessControlException), and so is another user's write or delete of
a key held under it, so one user's mistake cannot end another's lock or key.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool

from coord import commands as cc
from coord.errors import NotPermittedError, SessionExpiredError
from coord.leases import LeaseTracker
from coord.machine import CoordMachine, Effects, KeyValue, LockStatus, SessionInfo
from minihadoop.errors import MiniHadoopError, UnavailableError

if TYPE_CHECKING:
    from namenode.namesystem import Namesystem, Session

T = TypeVar("T")
MAX_WAIT = 60.0  # seconds a long poll may be held
MAX_WAITERS = 1000
TICK = 0.2  # seconds between the leader's looks at its deadlines


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class LockService:
    def __init__(self, system: Namesystem) -> None:
        self.system = system
        self.machine = CoordMachine()
        self.tracker = LeaseTracker()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._waiters_lock = threading.Lock()

    # --- fed by the log and the clock ---------------------------------------------------------

    def applied(self, effects: Effects) -> None:
        """A lock service entry was applied (on the Raft loop, under the lock)."""
        self.tracker.observe(effects, _now_ms())
        if effects.changed or effects.ended:
            self._wake()

    def tick(self) -> None:
        """Follow this namenode's role, and expire the sessions whose lease ran out."""
        with self.system.lock:
            now = _now_ms()
            if self.system.active and not self.tracker.leading:
                self.tracker.lead(now, self.machine.sessions())
            elif not self.system.active and self.tracker.leading:
                self.tracker.step_down()
                self._wake()  # waiters answer StandbyError and go elsewhere
            due = self.tracker.due(now) if self.tracker.leading else []
        for record in due:
            # Lost with the leadership, or in doubt: the tracker asks again a retry later.
            with contextlib.suppress(MiniHadoopError):
                self._propose(record, None)

    def run(self, stopping: threading.Event) -> None:
        while not stopping.wait(TICK):
            self.tick()

    # --- sessions -----------------------------------------------------------------------------

    def open(self, user: str, ttl: float, session: Session | None) -> dict[str, Any]:
        return self._propose(cc.to_record(cc.Open(_ttl_ms(ttl), user)), session)

    def keepalive(self, user: str, sid: str, session: Session | None) -> dict[str, Any]:
        self._owned(user, sid)
        return self._propose(cc.to_record(cc.KeepAlive(sid)), session)

    def close(self, user: str, sid: str, session: Session | None) -> dict[str, Any]:
        self._owned(user, sid)
        return self._propose(cc.to_record(cc.Close(sid)), session)

    def sessions(self) -> list[dict[str, Any]]:
        self.system.read_barrier()
        return self.applied_sessions()

    def applied_sessions(self) -> list[dict[str, Any]]:
        """The sessions as this namenode has applied them (no read barrier: the dashboard's
        view, which a follower may show a moment behind)."""
        with self.system.lock:
            return [self._session_view(s) for s in self.machine.sessions()]

    def _session_view(self, s: SessionInfo) -> dict[str, Any]:
        deadline = self.tracker.deadline(s.id)
        left = None if deadline is None else max(0.0, (deadline - _now_ms()) / 1000)
        return {**asdict(s), "expires_in": left}

    # --- locks --------------------------------------------------------------------------------

    async def acquire(
        self,
        user: str,
        sid: str,
        name: str,
        *,
        shared: bool,
        wait: float,
        session: Session | None,
    ) -> dict[str, Any]:
        """Take lock `name` for session `sid`, or wait up to `wait` seconds in its queue.
        `{"granted": true, "token": T}`, or `{"granted": false, "position": n}` when still
        queued (ask again, the same way: the place is kept while the session lives)."""
        mode = cc.Mode.SHARED if shared else cc.Mode.EXCLUSIVE
        record = cc.to_record(cc.Acquire(sid, name, mode, wait > 0))

        def propose() -> dict[str, Any]:
            self._owned(user, sid)
            return self._propose(record, session)

        result = await run_in_threadpool(propose)
        if result.get("granted") or wait <= 0:
            return result

        def decided() -> dict[str, Any] | None:
            if self.machine.session(sid) is None:
                raise SessionExpiredError(f"session {sid} has ended")
            status = self.machine.lock_status(name)[0]
            for holder in status.holders:
                if holder.session == sid:
                    return {"granted": True, "token": holder.token}
            return None

        found = await self._until(decided, wait)
        if found is not None:
            return found
        with self.system.lock:
            queue = [w.session for w in self.machine.lock_status(name)[0].waiters]
        return {"granted": False, "position": queue.index(sid) + 1 if sid in queue else 0}

    def release(self, user: str, sid: str, name: str, session: Session | None) -> dict[str, Any]:
        self._owned(user, sid)
        return self._propose(cc.to_record(cc.Release(sid, name)), session)

    def locks(self, name: str | None = None) -> list[dict[str, Any]]:
        self.system.read_barrier()
        return self.applied_locks(name)

    def applied_locks(self, name: str | None = None) -> list[dict[str, Any]]:
        with self.system.lock:
            owners = {s.id: s.owner for s in self.machine.sessions()}
            return [_lock_view(s, owners) for s in self.machine.lock_status(name)]

    # --- keys ---------------------------------------------------------------------------------

    def put(
        self, user: str, key: str, value: str, sid: str | None, session: Session | None
    ) -> dict[str, Any]:
        if sid is not None:
            self._owned(user, sid)
        self._key_owned(user, key)
        return self._propose(cc.to_record(cc.Put(key, value, sid)), session)

    def delete(self, user: str, key: str, session: Session | None) -> dict[str, Any]:
        self._key_owned(user, key)
        return self._propose(cc.to_record(cc.Delete(key)), session)

    def _key_owned(self, user: str, key: str) -> None:
        """A key written under a session is its owner's while the session lives: another
        user may not replace or delete it (the job tracker's URL, say). A key written
        without a session is anyone's. (Checked against applied state before proposing:
        a courtesy between users who all hold the cluster token, not a wall.)"""
        with self.system.lock:
            found = self.machine.get(key)
            holder = None if found is None or found.session is None else found.session
            bound = None if holder is None else self.machine.session(holder)
        if bound is not None and bound.owner != user:
            raise NotPermittedError(f"{key} is held by {bound.owner}'s session {bound.id}")

    async def get(self, key: str, *, after: int = -1, wait: float = 0.0) -> dict[str, Any]:
        """The key's value and revision; with `after`, wait up to `wait` seconds for its
        revision to differ from `after` (a watch: `after` is the revision last seen)."""
        await run_in_threadpool(self.system.read_barrier)

        def changed() -> int | None:
            revision = self.machine.revision_of(key)
            return revision if revision != after else None

        if after >= 0 and wait > 0:
            await self._until(changed, wait)
        with self.system.lock:
            return _key_view(key, self.machine.get(key), self.machine.revision_of(key))

    # --- plumbing -----------------------------------------------------------------------------

    def _propose(self, record: dict[str, Any], session: Session | None) -> dict[str, Any]:
        result: dict[str, Any] = self.system.propose_coord(record, session)
        return result

    def _owned(self, user: str, sid: str) -> None:
        with self.system.lock:
            found = self.machine.session(sid)
        if found is None:
            self.system.read_barrier()  # perhaps this namenode is behind, or not the leader
            with self.system.lock:
                found = self.machine.session(sid)
        if found is None:
            raise SessionExpiredError(f"session {sid} has ended (or never began)")
        if found.owner != user:
            raise NotPermittedError(f"session {sid} is {found.owner}'s, not {user}'s")

    @property
    def waiting(self) -> int:
        """How many requests wait on the lock service now (long polls)."""
        with self._waiters_lock:
            return len(self._waiters)

    def _wake(self) -> None:
        with self._waiters_lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            with contextlib.suppress(RuntimeError):  # its loop has closed
                loop.call_soon_threadsafe(event.set)

    async def _until(self, check: Callable[[], T | None], wait: float) -> T | None:
        """Sleep until an applied change makes `check` give something, or `wait` seconds
        pass. Only the active namenode answers: it stops waiting when it stops being so."""
        event = asyncio.Event()
        me = (asyncio.get_running_loop(), event)
        with self._waiters_lock:
            if len(self._waiters) >= MAX_WAITERS:
                raise UnavailableError(f"{MAX_WAITERS} requests are waiting already; try later")
            self._waiters.add(me)
        deadline = time.monotonic() + min(wait, MAX_WAIT)
        try:
            while True:
                event.clear()
                with self.system.lock:
                    if not self.system.active:
                        raise self.system.standby()
                    found = check()
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), min(left, 1.0))
        finally:
            with self._waiters_lock:
                self._waiters.discard(me)


def _ttl_ms(ttl: float) -> int:
    return round(ttl * 1000)


def _lock_view(status: LockStatus, owners: dict[str, str]) -> dict[str, Any]:
    return {
        "name": status.name,
        "mode": None if status.mode is None else status.mode.value,
        "holders": [
            {"session": h.session, "owner": owners.get(h.session, ""), "token": h.token}
            for h in status.holders
        ],
        "waiters": [
            {"session": w.session, "owner": owners.get(w.session, ""), "mode": w.mode.value}
            for w in status.waiters
        ],
        "revision": status.revision,
    }


def _key_view(key: str, found: KeyValue | None, revision: int) -> dict[str, Any]:
    return {
        "key": key,
        "exists": found is not None,
        "value": None if found is None else found.value,
        "session": None if found is None else found.session,
        "revision": revision,
    }
