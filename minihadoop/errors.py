"""The one exception tree of minihadoop, shared by daemons and clients.

    MiniHadoopError                      (java.io.IOException, 403)
    ├── InvalidPathError                 (IllegalArgumentException, 400)
    ├── IllegalArgumentError             (IllegalArgumentException, 400)
    ├── FileNotFoundError_               (FileNotFoundException, 404)
    ├── FileAlreadyExistsError           (FileAlreadyExistsException, 403)
    ├── ParentNotDirectoryError          (ParentNotDirectoryException, 403)
    ├── PathIsNotEmptyDirectoryError     (PathIsNotEmptyDirectoryException, 403)
    ├── AlreadyBeingCreatedError         (AlreadyBeingCreatedException, 403)
    ├── LeaseExpiredError                (LeaseExpiredException, 403)
    ├── RecoveryInProgressError          (RecoveryInProgressException, 403)
    ├── SafeModeError                    (SafeModeException, 403)
    │   └── StartupSafeModeError         (SafeModeException, 503): safe mode that ends by itself
    ├── AuthenticationError              (SecurityException, 401)
    ├── AccessControlError               (AccessControlException, 403)
    ├── NotEnoughReplicasError           (NotReplicatedYetException, 403)
    ├── BlockNotFoundError               (ReplicaNotFoundException, 404)
    ├── ChecksumError                    (ChecksumException, 409)
    ├── ReplicaAlreadyExistsError        (ReplicaAlreadyExistsException, 409)
    ├── DiskOutOfSpaceError              (DiskOutOfSpaceException, 403)
    ├── UnsupportedOperationError        (UnsupportedOperationException, 400)
    └── UnavailableError                 (RetriableException, 503): a daemon could not be reached
        ├── UnreachableError             no connection was made: the request never arrived
        └── ConnectionLostError          the connection failed after the request may have
                                         arrived: whether it was carried out is unknown

A 503 answer means the daemon refused the request without acting on it, so any request may
be sent again after one (see `minihadoop.retry`). StartupSafeModeError is both a
SafeModeError and an UnavailableError: code that catches either sees it.

Daemons raise these; the HTTP layer turns any of them into WebHDFS's error shape
``{"RemoteException": {"exception", "javaClassName", "message"}}`` with the status above,
and the client turns that shape back into the same class (`from_remote`). So code on either
side of the wire catches the same exceptions.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar


class MiniHadoopError(Exception):
    """Base class: every error minihadoop raises on purpose."""

    status: ClassVar[int] = 403
    exception: ClassVar[str] = "IOException"
    java_class: ClassVar[str] = "java.io.IOException"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_remote(self) -> dict[str, Any]:
        return {
            "RemoteException": {
                "exception": self.exception,
                "javaClassName": self.java_class,
                "message": self.message,
            }
        }


class InvalidPathError(MiniHadoopError):
    status = 400
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class IllegalArgumentError(MiniHadoopError):
    status = 400
    exception = "IllegalArgumentException"
    java_class = "java.lang.IllegalArgumentException"


class FileNotFoundError_(MiniHadoopError, builtins.FileNotFoundError):
    """A path that does not exist. Also a builtin FileNotFoundError, so `except OSError` works."""

    status = 404
    exception = "FileNotFoundException"
    java_class = "java.io.FileNotFoundException"


class FileAlreadyExistsError(MiniHadoopError, builtins.FileExistsError):
    exception = "FileAlreadyExistsException"
    java_class = "org.apache.hadoop.fs.FileAlreadyExistsException"


class ParentNotDirectoryError(MiniHadoopError):
    exception = "ParentNotDirectoryException"
    java_class = "org.apache.hadoop.fs.ParentNotDirectoryException"


class PathIsNotEmptyDirectoryError(MiniHadoopError):
    exception = "PathIsNotEmptyDirectoryException"
    java_class = "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException"


class QuotaExceededError(MiniHadoopError):
    exception = "QuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.QuotaExceededException"


class NSQuotaExceededError(QuotaExceededError):
    """A folder's name quota (files and folders in its tree) would be exceeded."""

    exception = "NSQuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.NSQuotaExceededException"


class DSQuotaExceededError(QuotaExceededError):
    """A folder's space quota (bytes of replicas in its tree) would be exceeded."""

    exception = "DSQuotaExceededException"
    java_class = "org.apache.hadoop.hdfs.protocol.DSQuotaExceededException"


class AlreadyBeingCreatedError(MiniHadoopError):
    exception = "AlreadyBeingCreatedException"
    java_class = "org.apache.hadoop.hdfs.protocol.AlreadyBeingCreatedException"


class LeaseExpiredError(MiniHadoopError):
    exception = "LeaseExpiredException"
    java_class = "org.apache.hadoop.hdfs.server.namenode.LeaseExpiredException"


class RecoveryInProgressError(MiniHadoopError):
    """The file's lease is being recovered from a writer presumed dead: try again later."""

    exception = "RecoveryInProgressException"
    java_class = "org.apache.hadoop.hdfs.protocol.RecoveryInProgressException"


class SafeModeError(MiniHadoopError):
    exception = "SafeModeException"
    java_class = "org.apache.hadoop.hdfs.server.namenode.SafeModeException"


class AuthenticationError(MiniHadoopError, builtins.PermissionError):
    status = 401
    exception = "SecurityException"
    java_class = "java.lang.SecurityException"


class AccessControlError(MiniHadoopError, builtins.PermissionError):
    exception = "AccessControlException"
    java_class = "org.apache.hadoop.security.AccessControlException"


class NotEnoughReplicasError(MiniHadoopError):
    exception = "NotReplicatedYetException"
    java_class = "org.apache.hadoop.hdfs.server.namenode.NotReplicatedYetException"


class BlockNotFoundError(MiniHadoopError):
    status = 404
    exception = "ReplicaNotFoundException"
    java_class = "org.apache.hadoop.hdfs.server.datanode.ReplicaNotFoundException"


class ChecksumError(MiniHadoopError):
    status = 409
    exception = "ChecksumException"
    java_class = "org.apache.hadoop.fs.ChecksumException"


class ReplicaAlreadyExistsError(MiniHadoopError):
    """A datanode already holds a finalized replica of that block and generation."""

    status = 409
    exception = "ReplicaAlreadyExistsException"
    java_class = "org.apache.hadoop.hdfs.server.datanode.ReplicaAlreadyExistsException"


class DiskOutOfSpaceError(MiniHadoopError):
    """A datanode's disk (or its configured capacity) cannot take the block."""

    exception = "DiskOutOfSpaceException"
    java_class = "org.apache.hadoop.util.DiskChecker$DiskOutOfSpaceException"


class UnsupportedOperationError(MiniHadoopError):
    status = 400
    exception = "UnsupportedOperationException"
    java_class = "java.lang.UnsupportedOperationException"


class UnavailableError(MiniHadoopError):
    status = 503
    exception = "RetriableException"
    java_class = "org.apache.hadoop.ipc.RetriableException"


class UnreachableError(UnavailableError):
    """No connection could be made (refused, or the connect timed out): the daemon never saw
    the request, so sending it again is safe whatever it was."""


class ConnectionLostError(UnavailableError):
    """The connection broke or timed out once the request may have been sent: the daemon
    may or may not have carried it out, so only a request that is safe to repeat may be
    sent again."""


class StandbyError(UnavailableError):
    """This namenode is not the leader of its group: ask another (Hadoop's standby answers
    so, and its clients fail over to the next namenode they know). `leader` is the URL of
    the leader when this namenode knows it, else empty."""

    status = 403
    exception = "StandbyException"
    java_class = "org.apache.hadoop.ipc.StandbyException"

    def __init__(self, message: str, leader: str = "") -> None:
        super().__init__(message)
        self.leader = leader

    def to_remote(self) -> dict[str, Any]:
        body = super().to_remote()
        if self.leader:
            body["RemoteException"]["leader"] = self.leader  # beside Hadoop's fields
        return body


class StartupSafeModeError(SafeModeError, UnavailableError):
    """A namenode that has just started is in safe mode until its datanodes have reported;
    that ends by itself, so the caller may retry (Hadoop wraps the SafeModeException in a
    RetriableException for this). Safe mode entered by an administrator is a plain
    SafeModeError: waiting would not end it."""

    status = 503
    exception = "SafeModeException"
    java_class = "org.apache.hadoop.hdfs.server.namenode.SafeModeException"


_BY_NAME: dict[str, type[MiniHadoopError]] = {}
_BY_NAME_AND_STATUS: dict[tuple[str, int], type[MiniHadoopError]] = {}
for _cls in (
    InvalidPathError,  # first: IllegalArgumentException maps back to the plainer class below
    IllegalArgumentError,
    FileNotFoundError_,
    FileAlreadyExistsError,
    ParentNotDirectoryError,
    PathIsNotEmptyDirectoryError,
    AlreadyBeingCreatedError,
    LeaseExpiredError,
    RecoveryInProgressError,
    StandbyError,
    StartupSafeModeError,  # same name, 503: safe mode that ends by itself; SafeMode* wins 403
    SafeModeError,
    AuthenticationError,
    AccessControlError,
    NotEnoughReplicasError,
    BlockNotFoundError,
    ChecksumError,
    ReplicaAlreadyExistsError,
    DiskOutOfSpaceError,
    UnsupportedOperationError,
    UnavailableError,
    QuotaExceededError,
    NSQuotaExceededError,
    DSQuotaExceededError,
    MiniHadoopError,
):
    _BY_NAME[_cls.exception] = _cls
    _BY_NAME_AND_STATUS[_cls.exception, _cls.status] = _cls


def register_remote(*classes: type[MiniHadoopError]) -> None:
    """Let `from_remote` rebuild these too (errors defined outside this module). A name
    already known keeps its class; the (name, status) pair is the more specific."""
    for cls in classes:
        _BY_NAME.setdefault(cls.exception, cls)
        _BY_NAME_AND_STATUS.setdefault((cls.exception, cls.status), cls)


def from_remote(body: Any, status: int) -> MiniHadoopError:
    """Rebuild the exception a daemon raised from its WebHDFS error body."""
    try:
        remote = body["RemoteException"]
        name, message = str(remote["exception"]), str(remote["message"])
    except (KeyError, TypeError):
        return MiniHadoopError(f"HTTP {status}: {str(body)[:200]}")
    if status == 401:
        # The one answer a caller takes unsigned (`minihadoop.signing`): whoever sent it, it
        # can only say "not authenticated", never pose as another error a caller acts on.
        return AuthenticationError(message)
    cls = _BY_NAME_AND_STATUS.get((name, status)) or _BY_NAME.get(name, MiniHadoopError)
    if cls is StandbyError:
        return StandbyError(message, str(remote.get("leader") or ""))
    return cls(message)
