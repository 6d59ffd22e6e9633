"""The Python face of the namenodes' lock service (`namenode.locks`): sessions kept alive by
a thread, locks with fencing tokens, and small keys with watches.

    with fs.lock("nightly-import", ttl=10) as lock:
        write_somewhere(fencing_token=lock.token)

A `LockSession` is Chubby's session: opened with a TTL, kept alive by a daemon thread every
third of it, and ended by `close` or by expiry when keepalives stop (the process died, or
was stopped, or lost the namenodes). The session believes in itself only until the send
time of its last acknowledged keepalive plus the TTL (`coord.leases.ClientLease`) — never
longer than the namenodes honour it — and `lost` is set when that time passes without a
keepalive answered, or the namenodes say the session ended. Locks held under a session
end with it; `Lock.token` is the lock's fencing token: hand it to whatever the lock guards,
and have that refuse a token lower than the highest it has seen.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from coord.errors import (  # (registers them for clients)
    LockHeldError,
    LockNotHeldError,
    SessionExpiredError,
)
from coord.leases import ClientLease
from minihadoop.errors import MiniHadoopError
from minihadoop.retry import Replay

if TYPE_CHECKING:
    from minihadoop.filesystem import FileSystem

LONG_POLL = 30.0  # seconds one waiting request is held by the namenode


class LockLostError(MiniHadoopError):
    """The session holding a lock ended (or can no longer be believed in)."""


def _ms() -> int:
    return int(time.monotonic() * 1000)


class LockSession:
    def __init__(self, fs: FileSystem, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self.lease = ClientLease()
        self.lost = threading.Event()
        # The keepalives' own client: tries only as long as a keepalive is worth trying.
        self._fs = fs
        self._keeper = fs.with_retry_window(max(1.0, ttl / 3))
        sent = _ms()
        opened = self._fs.coord_call("POST", "/session/open", Replay.SESSION, params={"ttl": ttl})
        self.id: str = opened["session"]
        self.lease.acknowledged(sent, opened["ttl_ms"])
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._keep, name=f"lock-session-{self.id}", daemon=True
        )
        self._thread.start()

    def valid(self) -> bool:
        return not self.lost.is_set() and self.lease.valid(_ms())

    def _keep(self) -> None:
        while not self._closing.wait(self.ttl / 3):
            sent = _ms()
            try:
                answer = self._keeper.coord_call(
                    "POST", "/session/keepalive", Replay.SESSION, params={"session": self.id}
                )
            except SessionExpiredError:
                self.lease.lost()
                self.lost.set()
                return
            except MiniHadoopError:
                if not self.lease.valid(_ms()):
                    self.lost.set()
                    return
                continue
            self.lease.acknowledged(sent, answer["ttl_ms"])

    def acquire(self, name: str, *, shared: bool = False, timeout: float | None = None) -> Lock:
        """Take lock `name`, waiting in its queue up to `timeout` seconds (None: for ever;
        0: not at all). LockHeldError when it is not had in time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = LONG_POLL if deadline is None else max(0.0, deadline - time.monotonic())
            params = {
                "lock": name,
                "session": self.id,
                "shared": "true" if shared else "false",
                "wait": min(left, LONG_POLL),
            }
            try:
                answer = self._fs.coord_call("POST", "/lock/acquire", Replay.SESSION, params=params)
            except LockHeldError:  # not held, and not to wait: said as a wait that ran out
                answer = {"granted": False}
            if answer["granted"]:
                if not self.valid():
                    raise LockLostError(f"session {self.id} lapsed while {name} was granted")
                return Lock(self, name, int(answer["token"]), shared)
            if deadline is not None and time.monotonic() >= deadline:
                if timeout:  # leave the queue (or give back a grant that just came)
                    with suppress(LockNotHeldError):
                        self._fs.coord_call("POST", "/lock/release", Replay.SESSION, params=params)
                raise LockHeldError(
                    f"lock {name} is held by another session (waited {timeout:g} s)"
                )

    def release(self, name: str) -> None:
        self._fs.coord_call(
            "POST", "/lock/release", Replay.SESSION, params={"lock": name, "session": self.id}
        )

    def put(self, key: str, value: str) -> int:
        """Set `key` for as long as this session lives; its revision."""
        answer = self._fs.coord_call(
            "POST", "/key/put", Replay.SESSION, params={"key": key, "session": self.id},
            json={"value": value},
        )  # fmt: skip
        return int(answer["revision"])

    def close(self) -> None:
        """End the session: its locks are released and its keys deleted."""
        self._closing.set()
        # Its keepalive in flight, if any, ends before the client it uses is closed.
        self._thread.join(timeout=self._keeper.retry.window + 5)
        if self.valid():
            with suppress(SessionExpiredError):
                params = {"session": self.id}
                self._fs.coord_call("POST", "/session/close", Replay.SESSION, params=params)
        self.lost.set()
        self._keeper.close()

    def __enter__(self) -> LockSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Lock:
    def __init__(self, session: LockSession, name: str, token: int, shared: bool) -> None:
        self.session = session
        self.name = name
        self.token = token
        self.shared = shared

    def valid(self) -> bool:
        """Whether this process may still believe it holds the lock (its session's lease)."""
        return self.session.valid()

    def release(self) -> None:
        self.session.release(self.name)

    def __repr__(self) -> str:
        return f"Lock({self.name!r}, token={self.token}, session={self.session.id})"


@contextmanager
def hold(
    fs: FileSystem, name: str, *, ttl: float, shared: bool, timeout: float | None
) -> Iterator[Lock]:
    with LockSession(fs, ttl) as session:
        lock = session.acquire(name, shared=shared, timeout=timeout)
        yield lock
        # Closing the session releases the lock: one call, not two.
