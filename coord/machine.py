"""The lock service's replicated state: sessions, locks and a small key-value space, as a
`raft.machine.StateMachine` applied beside the namespace. Chubby's model, in miniature.

Deterministic: it reads no clock and draws no randomness. Ids and tokens come from the
log index of the entry being applied: a session opened by entry 17 is "s-17", and a lock
granted by entry 42 carries fencing token 42 — so a lock's tokens only ever grow.

Commands (`coord.commands`, record form) and their results, `{"ok": result}` or a refusal
`{"error": {"RemoteException": {...}}, "status": <HTTP status>}` (`coord.errors`) that
changes nothing:

    open {ttl_ms, owner}        -> {"session": "s-<index>", "ttl_ms": int}
    keepalive {session}         -> {"session", "ttl_ms", "renewed": <index>}
                                   SessionExpiredException (404) when it has ended
    close {session}             -> {"released": [lock...], "deleted": [key...]}
    expire {session, renewed}   -> {"expired": bool}: proposed by the leader only (a
                                   request with a client is refused); ends the session
                                   only if it exists and was last renewed by entry `renewed`
    acquire {session, lock, mode, wait}
                                -> {"granted": true, "token": int}
                                   {"granted": false, "position": int}  queued (wait), 1-based
                                   LockHeldException (409) when not granted and not `wait`
    release {session, lock}     -> {"released": bool}: true for a held lock, false for a
                                   withdrawn wait; LockNotHeldException (409) for neither
    put {key, value, session}   -> {"revision": <index>}
    delete {key}                -> {"revision": <index>}; KeyNotFoundException (404)

Ending a session (close, or expire) releases its locks, withdraws its waits and deletes the
keys last written under it. Whenever a lock's holders leave, its waiters are served in
FIFO order, each promotion taking the token of the entry that served it: shared requests
share the lock while no exclusive one holds it, and a waiting exclusive request blocks
every request behind it, shared or not (no starvation). Acquiring a lock one already holds
in the same mode answers its token again; while queued, the same request answers its place.

Queries (call after a read barrier; they return fresh immutable values): `lock_status`,
`get`, `sessions`, `revision_of`. After each `apply`, `effects` tells the host what it did:
the lock and key names whose revision moved (to wake watchers), the sessions renewed
(for the leader's `coord.leases.LeaseTracker`), the sessions ended, the locks granted.

A name's revision (`revision_of`) never goes back and grows with every change to the lock
or key of that name; a name with no lock or no key counts the index of the latest removal
of anything for that missing part, so it may also grow when something else is removed.
A watcher thus waits for "revision_of(name) != the revision I saw" and misses nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from coord.commands import (
    Acquire,
    Close,
    Command,
    Delete,
    Expire,
    KeepAlive,
    Mode,
    Open,
    Put,
    Release,
    parse,
)
from coord.errors import (
    CoordError,
    KeyNotFoundError,
    LimitExceededError,
    LockHeldError,
    LockNotHeldError,
    NotPermittedError,
    SessionExpiredError,
    refusal,
)
from raft.machine import Request

MAX_SESSIONS = 10_000
MAX_KEYS = 10_000
MAX_LOCKS_PER_SESSION = 64  # held and waited for
SNAPSHOT_VERSION = 1

Outcome = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Renewal:
    """A session opened or kept alive by entry `renewed`."""

    session: str
    ttl_ms: int
    renewed: int


@dataclass(frozen=True, slots=True)
class Grant:
    lock: str
    session: str
    mode: Mode
    token: int


@dataclass(frozen=True, slots=True)
class Effects:
    """What one `apply` did; empty for a refusal."""

    changed: frozenset[str] = frozenset()  # lock and key names whose revision moved
    renewed: tuple[Renewal, ...] = ()
    ended: tuple[str, ...] = ()
    granted: tuple[Grant, ...] = ()


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    owner: str
    ttl_ms: int
    opened: int  # the index of its open
    last_renewed: int  # the index of its open or latest keepalive
    locks: tuple[str, ...]  # held or waited for
    keys: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Holder:
    session: str
    token: int


@dataclass(frozen=True, slots=True)
class Waiter:
    session: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class LockStatus:
    name: str
    mode: Mode | None  # None: free
    holders: tuple[Holder, ...]
    waiters: tuple[Waiter, ...]  # first in line first
    revision: int


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: str
    session: str | None
    revision: int


@dataclass(slots=True)
class _Session:
    owner: str
    ttl_ms: int
    opened: int
    last_renewed: int
    # Derived, rebuilt on restore: what ending the session must undo.
    locks: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Lock:
    """Exists while someone holds or waits for it."""

    revision: int
    mode: Mode | None = None
    holders: dict[str, int] = field(default_factory=dict)  # session -> token
    waiters: list[tuple[str, Mode]] = field(default_factory=list)


@dataclass(slots=True)
class _Key:
    value: str
    session: str | None
    revision: int


@dataclass(slots=True)
class _Changes:
    changed: set[str] = field(default_factory=set)
    renewed: list[Renewal] = field(default_factory=list)
    ended: list[str] = field(default_factory=list)
    granted: list[Grant] = field(default_factory=list)

    def freeze(self) -> Effects:
        return Effects(
            frozenset(self.changed), tuple(self.renewed), tuple(self.ended), tuple(self.granted)
        )


def _compatible(held: Mode | None, wanted: Mode) -> bool:
    return held is None or held is wanted is Mode.SHARED


class CoordMachine:
    def __init__(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._locks: dict[str, _Lock] = {}
        self._keys: dict[str, _Key] = {}
        self._removed = 0  # the index of the latest removal of a lock or key
        self._fx = _Changes()
        self.effects = Effects()

    # --- applying ----------------------------------------------------------------------

    def apply(self, index: int, request: Request) -> Outcome:
        # Every handler checks all it needs before changing anything: a refusal leaves the
        # state as it was.
        self._fx = _Changes()
        try:
            result = self._apply(index, parse(request.command), request.client)
        except CoordError as e:
            self._fx = _Changes()
            return refusal(e)
        finally:
            self.effects = self._fx.freeze()
        return {"ok": result}

    def _apply(self, index: int, command: Command, client: str) -> dict[str, Any]:
        match command:
            case Open():
                return self._open(index, command)
            case KeepAlive(sid):
                return self._keepalive(index, sid)
            case Close(sid):
                self._session(sid)
                return self._end(index, sid)
            case Expire():
                if client:
                    raise NotPermittedError("only the leader expires sessions")
                return self._expire(index, command)
            case Acquire():
                return self._acquire(index, command)
            case Release(sid, name):
                return self._release(index, sid, name)
            case Put():
                return self._put(index, command)
            case Delete(key):
                return self._delete(index, key)

    # --- sessions ----------------------------------------------------------------------

    def _open(self, index: int, c: Open) -> dict[str, Any]:
        if len(self._sessions) >= MAX_SESSIONS:
            raise LimitExceededError(f"{MAX_SESSIONS} sessions are open")
        sid = f"s-{index}"
        self._sessions[sid] = _Session(c.owner, c.ttl_ms, index, index)
        self._fx.renewed.append(Renewal(sid, c.ttl_ms, index))
        return {"session": sid, "ttl_ms": c.ttl_ms}

    def _keepalive(self, index: int, sid: str) -> dict[str, Any]:
        session = self._session(sid)
        session.last_renewed = index
        self._fx.renewed.append(Renewal(sid, session.ttl_ms, index))
        return {"session": sid, "ttl_ms": session.ttl_ms, "renewed": index}

    def _expire(self, index: int, c: Expire) -> dict[str, Any]:
        session = self._sessions.get(c.session)
        if session is None or session.last_renewed != c.renewed:
            return {"expired": False}  # gone already, or a keepalive came in between
        self._end(index, c.session)
        return {"expired": True}

    def _session(self, sid: str) -> _Session:
        session = self._sessions.get(sid)
        if session is None:
            raise SessionExpiredError(f"session {sid} has ended or never was")
        return session

    def _end(self, index: int, sid: str) -> dict[str, Any]:
        session = self._sessions.pop(sid)
        released = []
        for name in sorted(session.locks):
            if sid in self._locks[name].holders:
                released.append(name)
            self._leave(index, name, sid)
        deleted = sorted(session.keys)
        for key in deleted:
            del self._keys[key]
            self._remove(index, key)
        self._fx.ended.append(sid)
        return {"released": released, "deleted": deleted}

    # --- locks -------------------------------------------------------------------------

    def _acquire(self, index: int, c: Acquire) -> dict[str, Any]:
        session = self._session(c.session)
        lock = self._locks.get(c.lock)
        if lock is not None and c.session in lock.holders:
            if lock.mode is not c.mode:
                raise LockHeldError(f"{c.lock} is held {_mode(lock.mode)} by this session")
            return {"granted": True, "token": lock.holders[c.session]}
        if lock is not None:
            for position, (sid, mode) in enumerate(lock.waiters, 1):
                if sid != c.session:
                    continue
                if mode is not c.mode or not c.wait:
                    raise LockHeldError(f"{c.lock}: this session waits for it {mode.value}")
                return {"granted": False, "position": position}
        if len(session.locks) >= MAX_LOCKS_PER_SESSION:
            raise LimitExceededError(f"a session holds or waits for {MAX_LOCKS_PER_SESSION}")
        if lock is None:
            lock = _Lock(index)
        elif lock.waiters or not _compatible(lock.mode, c.mode):
            if not c.wait:
                holders = ", ".join(lock.holders)
                raise LockHeldError(f"{c.lock} is held {_mode(lock.mode)} by {holders}")
            lock.waiters.append((c.session, c.mode))
            session.locks.add(c.lock)
            self._touch(index, c.lock, lock)
            return {"granted": False, "position": len(lock.waiters)}
        self._locks[c.lock] = lock
        self._grant(index, c.lock, lock, c.session, c.mode)
        return {"granted": True, "token": index}

    def _release(self, index: int, sid: str, name: str) -> dict[str, Any]:
        self._session(sid)
        lock = self._locks.get(name)
        held = lock is not None and sid in lock.holders
        if lock is None or not (held or any(s == sid for s, _ in lock.waiters)):
            raise LockNotHeldError(f"session {sid} neither holds nor waits for {name}")
        self._leave(index, name, sid)
        return {"released": held}

    def _grant(self, index: int, name: str, lock: _Lock, sid: str, mode: Mode) -> None:
        lock.holders[sid] = index
        lock.mode = mode
        self._sessions[sid].locks.add(name)
        self._fx.granted.append(Grant(name, sid, mode, index))
        self._touch(index, name, lock)

    def _leave(self, index: int, name: str, sid: str) -> None:
        """`sid` lets go of lock `name`, held or waited for; the next in line are served."""
        lock = self._locks[name]
        if lock.holders.pop(sid, None) is None:
            lock.waiters = [(s, m) for s, m in lock.waiters if s != sid]
        elif not lock.holders:
            lock.mode = None
        if sid in self._sessions:
            self._sessions[sid].locks.discard(name)
        self._touch(index, name, lock)
        while lock.waiters and _compatible(lock.mode, lock.waiters[0][1]):
            waiter, mode = lock.waiters.pop(0)
            self._grant(index, name, lock, waiter, mode)
        if not lock.holders:
            del self._locks[name]
            self._remove(index, name)

    def _touch(self, index: int, name: str, lock: _Lock) -> None:
        lock.revision = index
        self._fx.changed.add(name)

    # --- keys --------------------------------------------------------------------------

    def _put(self, index: int, c: Put) -> dict[str, Any]:
        owner = None if c.session is None else self._session(c.session)
        found = self._keys.get(c.key)
        if found is None and len(self._keys) >= MAX_KEYS:
            raise LimitExceededError(f"{MAX_KEYS} keys are stored")
        if found is not None and found.session is not None:
            self._sessions[found.session].keys.discard(c.key)
        self._keys[c.key] = _Key(c.value, c.session, index)
        if owner is not None:
            owner.keys.add(c.key)
        self._fx.changed.add(c.key)
        return {"revision": index}

    def _delete(self, index: int, key: str) -> dict[str, Any]:
        found = self._keys.get(key)
        if found is None:
            raise KeyNotFoundError(f"no key {key}")
        del self._keys[key]
        if found.session is not None:
            self._sessions[found.session].keys.discard(key)
        self._remove(index, key)
        return {"revision": index}

    def _remove(self, index: int, name: str) -> None:
        self._removed = index
        self._fx.changed.add(name)

    # --- queries -----------------------------------------------------------------------

    def lock_status(self, name: str | None = None) -> list[LockStatus]:
        """Every lock held or waited for, by name; with `name`, just that lock (free, with
        no holders, when nobody holds or waits for it)."""
        if name is not None:
            lock = self._locks.get(name)
            if lock is None:
                return [LockStatus(name, None, (), (), self.revision_of(name))]
            return [self._status(name, lock)]
        return [self._status(n, lock) for n, lock in sorted(self._locks.items())]

    def _status(self, name: str, lock: _Lock) -> LockStatus:
        holders = tuple(Holder(s, t) for s, t in lock.holders.items())
        waiters = tuple(Waiter(s, m) for s, m in lock.waiters)
        return LockStatus(name, lock.mode, holders, waiters, self.revision_of(name))

    def current(self, name: str, token: int) -> bool:
        """Whether `token` is a fencing token of lock `name` still held: a resource that
        checks this at the lock service itself needs no memory of the highest token seen."""
        lock = self._locks.get(name)
        return lock is not None and token in lock.holders.values()

    def get(self, key: str) -> KeyValue | None:
        found = self._keys.get(key)
        if found is None:
            return None
        return KeyValue(key, found.value, found.session, found.revision)

    def sessions(self) -> list[SessionInfo]:
        """Every live session, in the order they were opened."""
        return [_info(sid, s) for sid, s in self._sessions.items()]

    def session(self, sid: str) -> SessionInfo | None:
        """One live session; None once it has ended (or never began)."""
        found = self._sessions.get(sid)
        return None if found is None else _info(sid, found)

    def revision_of(self, name: str) -> int:
        lock, key = self._locks.get(name), self._keys.get(name)
        return max(
            lock.revision if lock is not None else self._removed,
            key.revision if key is not None else self._removed,
        )

    # --- snapshots ---------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """JSON, in the dicts' own order, so a restored machine iterates as this one does."""
        state = {
            "v": SNAPSHOT_VERSION,
            "removed": self._removed,
            "sessions": [
                [sid, s.owner, s.ttl_ms, s.opened, s.last_renewed]
                for sid, s in self._sessions.items()
            ],
            "locks": [
                [
                    name,
                    lock.revision,
                    _mode(lock.mode),
                    list(lock.holders.items()),
                    [[s, m.value] for s, m in lock.waiters],
                ]
                for name, lock in self._locks.items()
            ],
            "keys": [[k, v.value, v.session, v.revision] for k, v in self._keys.items()],
        }
        return json.dumps(state, separators=(",", ":")).encode()

    def restore(self, data: bytes) -> None:
        state = json.loads(data)
        if state.get("v") != SNAPSHOT_VERSION:
            raise ValueError(f"lock service snapshot of version {state.get('v')}")
        self._removed = state["removed"]
        self._sessions = {sid: _Session(*rest) for sid, *rest in state["sessions"]}
        self._locks = {}
        for name, revision, mode, holders, waiters in state["locks"]:
            lock = _Lock(
                revision,
                None if mode == "free" else Mode(mode),
                {s: t for s, t in holders},
                [(s, Mode(m)) for s, m in waiters],
            )
            self._locks[name] = lock
            for sid in [*lock.holders, *(s for s, _ in lock.waiters)]:
                self._sessions[sid].locks.add(name)
        self._keys = {k: _Key(v, s, r) for k, v, s, r in state["keys"]}
        for key, found in self._keys.items():
            if found.session is not None:
                self._sessions[found.session].keys.add(key)
        self.effects = Effects()


def _info(sid: str, s: _Session) -> SessionInfo:
    locks, keys = tuple(sorted(s.locks)), tuple(sorted(s.keys))
    return SessionInfo(sid, s.owner, s.ttl_ms, s.opened, s.last_renewed, locks, keys)


def _mode(mode: Mode | None) -> str:
    return "free" if mode is None else mode.value
