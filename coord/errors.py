"""The lock service's refusals, in minihadoop's one exception tree (`minihadoop.errors`).

    MiniHadoopError
    └── CoordError                       (IOException, 403)
        ├── InvalidCommandError          (IllegalArgumentException, 400): malformed command
        ├── SessionExpiredError          (SessionExpiredException, 404): no such session
        ├── LockHeldError                (LockHeldException, 409): not granted, not queued
        ├── LockNotHeldError             (LockNotHeldException, 409): release of a lock the
        │                                session neither holds nor waits for
        ├── KeyNotFoundError             (KeyNotFoundException, 404)
        ├── LimitExceededError           (QuotaExceededException, 403): too many sessions,
        │                                keys, or locks in one session
        ├── NotPermittedError            (AccessControlException, 403): a client proposed
        │                                what only the leader may (`expire`)
        └── StaleFenceError              (StaleFencingTokenException, 409): a namespace change
                                         fenced by a lock whose token is no longer current

The machine never raises these out of `apply`: a refusal is the entry's result,
`refusal(error)` — ``{"error": {"RemoteException": {...}}, "status": <HTTP status>}``, the
shape namenode.machine gives its own — the same on every replica.
"""

from __future__ import annotations

from typing import Any

from minihadoop.errors import MiniHadoopError, register_remote


class CoordError(MiniHadoopError):
    java_class = "org.minihadoop.coord.CoordException"


class InvalidCommandError(CoordError):
    status = 400
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class SessionExpiredError(CoordError):
    status = 404
    exception = "SessionExpiredException"
    java_class = "org.minihadoop.coord.SessionExpiredException"


class LockHeldError(CoordError):
    status = 409
    exception = "LockHeldException"
    java_class = "org.minihadoop.coord.LockHeldException"


class LockNotHeldError(CoordError):
    status = 409
    exception = "LockNotHeldException"
    java_class = "org.minihadoop.coord.LockNotHeldException"


class KeyNotFoundError(CoordError):
    status = 404
    exception = "KeyNotFoundException"
    java_class = "org.minihadoop.coord.KeyNotFoundException"


class LimitExceededError(CoordError):
    status = 403
    exception = "QuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.QuotaExceededException"


class NotPermittedError(CoordError):
    status = 403
    exception = "AccessControlException"
    java_class = "org.apache.hadoop.security.AccessControlException"


class StaleFenceError(CoordError):
    """A namespace change sent with a fencing token (`Fence`) that no longer holds its
    lock: the sender was deposed, and what it asked for was not done."""

    status = 409
    exception = "StaleFencingTokenException"
    java_class = "org.minihadoop.coord.StaleFencingTokenException"


register_remote(
    SessionExpiredError,
    LockHeldError,
    LockNotHeldError,
    KeyNotFoundError,
    NotPermittedError,
    StaleFenceError,
)


def refusal(error: CoordError) -> dict[str, Any]:
    return {"error": error.to_remote(), "status": error.status}
