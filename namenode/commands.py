"""Namespace commands: every mutation of the namespace is one of these frozen records.

`Namespace.apply(cmd)` is deterministic: the same commands in the same order build the same
namespace on every replica. A command carries the decisions that need a clock (the time);
ids — inodes, blocks, generation stamps — are allocated by `apply` itself, in log order, so
two commands proposed at once can never be given the same one. A command is logged before
it is applied, and `apply` may refuse it: the refusal is its result, the same on every
replica and on every replay, and changes nothing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from minihadoop.errors import IllegalArgumentError


@dataclass(frozen=True, slots=True)
class Mkdirs:
    path: str
    mtime: int
    owner: str
    group: str
    permission: str = "755"


@dataclass(frozen=True, slots=True)
class StartFile:
    """Open `path` for writing by `client`. Not visible to readers until CompleteFile.
    With `create_parent`, missing folders above it are made first (as one command: a
    retry or a crash never leaves the folders without the file's refusal or the file)."""

    path: str
    client: str
    mtime: int
    owner: str
    group: str
    replication: int
    block_size: int
    overwrite: bool = False
    permission: str = "644"
    create_parent: bool = False


@dataclass(frozen=True, slots=True)
class StartAppend:
    """Open an existing file to append to it. Readers keep seeing the old content until
    CompleteFile swaps the new blocks in; with `replace_last` the writer rewrites the
    file's partial last block (old bytes + new ones) as a new block that replaces it."""

    path: str
    client: str
    mtime: int
    replace_last: bool = False


# The writer's calls name the file by its inode id (HDFS's `fileId`) as well as its path, so
# they follow the file when it, or a folder above it, is renamed while it is being written.
# `file_id` 0 means "by path": records logged before the id was carried.


@dataclass(frozen=True, slots=True)
class AddBlock:
    """Append a new block to a file being written; `previous_length` commits the last one.
    Its result is the new block's (id, generation stamp), allocated in apply."""

    path: str
    client: str
    previous_length: int | None = None
    file_id: int = 0


@dataclass(frozen=True, slots=True)
class CompleteFile:
    path: str
    client: str
    mtime: int
    last_length: int | None = None
    file_id: int = 0


@dataclass(frozen=True, slots=True)
class AbandonFile:
    """Drop a file being written (client gave up, or its lease expired)."""

    path: str
    client: str
    file_id: int = 0


@dataclass(frozen=True, slots=True)
class ReassignLease:
    """Lease recovery begins: the file being written passes from its writer, whose lease
    expired, to `holder` (the namenode's recovery holder), and its last block takes the
    next generation stamp (the recovery id), allocated in apply; its result is (the file's
    path, that stamp). The old writer's calls fail from here on, and a replica not brought
    to the new stamp by the recovery no longer counts."""

    file_id: int
    holder: str


@dataclass(frozen=True, slots=True)
class CloseRecovered:
    """Lease recovery ends: the file is closed as its writer would have closed it, with its
    last block `last_length` long — the length every recovered replica agreed on; 0 drops
    the block (no replica was found). `gen` must be the last block's recovery id, so the
    answer to an older, superseded recovery is refused. A file with no blocks is closed
    with `last_length` and `gen` None."""

    file_id: int
    mtime: int
    last_length: int | None = None
    gen: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    path: str
    recursive: bool
    mtime: int


@dataclass(frozen=True, slots=True)
class Rename:
    src: str
    dst: str
    mtime: int


@dataclass(frozen=True, slots=True)
class Truncate:
    """Cut a closed file to its first `new_length` bytes: HDFS's truncate. Whole blocks past
    the cut go at once; a block the cut falls inside is cut by a block recovery, during
    which the file is held by the recovery (as an append that rewrites its last block)."""

    path: str
    new_length: int
    mtime: int


@dataclass(frozen=True, slots=True)
class Concat:
    """Move every block of `sources`, in order, to the end of `target`, and delete the
    sources: HDFS's concat. `sources` are paths joined by newlines (a path holds no control
    character), so the record's fields stay plain strings."""

    target: str
    sources: str
    mtime: int


@dataclass(frozen=True, slots=True)
class MoveToTrash:
    """Move `path` under `trash_root`, keeping its full path there, as Hadoop's trash does."""

    path: str
    trash_root: str
    mtime: int
    owner: str
    group: str


@dataclass(frozen=True, slots=True)
class SetReplication:
    path: str
    replication: int


@dataclass(frozen=True, slots=True)
class SetTimes:
    path: str
    mtime: int | None = None
    atime: int | None = None


@dataclass(frozen=True, slots=True)
class SetPermission:
    path: str
    permission: str


@dataclass(frozen=True, slots=True)
class SetOwner:
    path: str
    owner: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class SetXAttr:
    """Set extended attribute `name` of `path` to `value` (base64, so the record stays
    text); `flag` is CREATE, REPLACE or both (comma-separated), as HDFS's setXAttr."""

    path: str
    name: str
    value: str
    flag: str = "CREATE,REPLACE"


@dataclass(frozen=True, slots=True)
class RemoveXAttr:
    path: str
    name: str


@dataclass(frozen=True, slots=True)
class SetQuota:
    """HDFS's setQuota on the folder `path`: at most `names` files and folders in its tree
    (itself included), at most `space` bytes of replicas (length times replication). None
    leaves that quota as it is; -1 clears it."""

    path: str
    names: int | None = None
    space: int | None = None


NamespaceCommand = (
    Mkdirs
    | StartFile
    | StartAppend
    | AddBlock
    | CompleteFile
    | AbandonFile
    | ReassignLease
    | CloseRecovered
    | Delete
    | Rename
    | Concat
    | Truncate
    | MoveToTrash
    | SetReplication
    | SetTimes
    | SetPermission
    | SetOwner
    | SetXAttr
    | RemoveXAttr
    | SetQuota
)

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Mkdirs,
        StartFile,
        StartAppend,
        AddBlock,
        CompleteFile,
        AbandonFile,
        ReassignLease,
        CloseRecovered,
        Delete,
        Rename,
        Concat,
        Truncate,
        MoveToTrash,
        SetReplication,
        SetTimes,
        SetPermission,
        SetOwner,
        SetXAttr,
        RemoveXAttr,
        SetQuota,
    )
}


# Each command's field names, in order. Fields are str, int, bool or None, so a record is
# made by reading them (dataclasses.asdict would deep-copy each value, on every mutation).
_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in _TYPES.values()
}


def to_record(cmd: NamespaceCommand) -> dict[str, Any]:
    """The JSON-able form the edit log stores: the command's type name and its fields."""
    record: dict[str, Any] = {"op": type(cmd).__name__}
    for name in _FIELDS[type(cmd)]:
        record[name] = getattr(cmd, name)
    return record


def from_record(record: dict[str, Any]) -> NamespaceCommand:
    """The command `to_record` made `record` from; IllegalArgumentError for anything else."""
    fields = dict(record)
    try:
        cls = _TYPES[fields.pop("op")]
        cmd: NamespaceCommand = cls(**fields)
    except (KeyError, TypeError):
        raise IllegalArgumentError(f"not a namespace command: {str(record)[:200]}") from None
    return cmd
