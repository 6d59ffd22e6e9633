"""What the durable store of a Raft node raises. The whole tree:

    MiniHadoopError
    └── RaftStorageError
        ├── RaftLogCorruptError      damage other than a torn tail; names the file and offset
        ├── RaftLogVersionError      written by a newer format version than this build reads
        ├── RaftLogFailedError       a write or fsync failed: the store accepts nothing more
        └── RaftStorageLockedError   another store has the folder open

None of them is retriable in the process that sees it. Corruption and a newer version need
an operator; a failed store means the process must stop (what a failed fsync left on disk is
unknown, so the node may have acknowledged nothing it cannot prove durable) and start again,
which reads the log back from disk.

A host that breaks the storage contract (a gap between entries, a snapshot older than the
stored one, a truncation of committed entries) gets a `ValueError` and nothing is written.
"""

from __future__ import annotations

from minihadoop.errors import MiniHadoopError


class RaftStorageError(MiniHadoopError):
    """Base class of the Raft store's errors."""


class RaftLogCorruptError(RaftStorageError):
    """A log segment or snapshot is damaged somewhere other than its torn tail."""


class RaftLogVersionError(RaftStorageError):
    """A record or snapshot was written by a newer format version than this build reads."""


class RaftLogFailedError(RaftStorageError):
    """A write or fsync failed earlier; nothing more can be made durable."""


class RaftStorageLockedError(RaftStorageError):
    """Another `RaftStorage` (in this process or another) has the folder open."""
