"""The namespace: folders, files and the blocks each file is made of. Pure state.

No HTTP, no disk, no clock: commands from `namenode.commands` go in through `apply`, which
either raises a `MiniHadoopError` having changed nothing, or applies the whole command and
returns what the block manager must know (blocks that left the namespace, files whose
replication changed). Queries (`status`, `listing`, `located`, `walk`) read it.

Files are write-once. A file being written lives in `under_construction`, not in the tree:
readers never see it until `CompleteFile`, which also replaces an existing file atomically
when the writer asked to overwrite. Its path is taken all the same: no folder is made
there, and it goes with its folder when that is deleted (dropped) or renamed (moved), so
its parent folder always exists. By its own path it is nothing yet: `exists`, a listing,
delete and rename all see no file there (a rename that moved it while a listing could not
show it would not be linearizable). The writer's commands name it by its inode id (HDFS's
`fileId`), which no rename of a folder above it changes, so the write follows it.

Lease recovery is two commands: `ReassignLease` takes the file from a writer presumed dead
(its later calls fail) and stamps its last block with a recovery id; `CloseRecovered`
closes it with the last block's recovered length, as the writer's `CompleteFile` would
have. Between the two the file is held by the recovery holder, and stays so across restarts.
"""

from __future__ import annotations

import base64
import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from minihadoop import paths
from minihadoop.errors import (
    AccessControlError,
    AlreadyBeingCreatedError,
    DSQuotaExceededError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    LeaseExpiredError,
    MiniHadoopError,
    NSQuotaExceededError,
    ParentNotDirectoryError,
    PathIsNotEmptyDirectoryError,
)
from minihadoop.models import ContentSummary, FileStatus, FileType, webhdfs_file_status
from namenode import commands as c
from namenode.leases import RECOVERY_HOLDER
from namenode.permissions import Caller, Checker

# Memory: a namenode holds every inode, so these classes are kept small (bench/namenode_ops.py
# measures bytes per single-block file). __slots__ everywhere; a file's blocks in a tuple (a
# list costs twice as much), or for a one-block file its block alone; and, as HDFS packs
# them into one long each, (owner, group, permission) and (replication, block size) held as
# one shared tuple per distinct combination: a million files of one user, written with the
# defaults, share two small tuples instead of each holding five fields and its own copy of
# the owner's name from the request that made it.
Access = tuple[str, str, str]  # owner, group, permission
Layout = tuple[int, int]  # replication, block size
_ACCESS: dict[Access, Access] = {}
_LAYOUT: dict[Layout, Layout] = {}


def _access(owner: str, group: str, permission: str) -> Access:
    """The one (owner, group, permission) tuple every inode with these values holds."""
    key = (owner, group, permission)
    return _ACCESS.setdefault(key, key)


def _layout(replication: int, block_size: int) -> Layout:
    key = (replication, block_size)
    return _LAYOUT.setdefault(key, key)


class BlockRecord:
    """One block of a file. `length` is what the writer committed."""

    __slots__ = ("block_id", "gen", "length")

    def __init__(self, block_id: int, gen: int = 0, length: int = 0) -> None:
        self.block_id = block_id
        self.gen = gen
        self.length = length


class INode:
    __slots__ = ("_access", "atime", "id", "mtime")

    def __init__(self, inode_id: int, mtime: int, owner: str, group: str, permission: str):
        self.id = inode_id
        self.mtime = mtime
        self.atime = mtime
        self._access = _access(owner, group, permission)

    @property
    def owner(self) -> str:
        return self._access[0]

    @owner.setter
    def owner(self, value: str) -> None:
        self._access = _access(value, self._access[1], self._access[2])

    @property
    def group(self) -> str:
        return self._access[1]

    @group.setter
    def group(self, value: str) -> None:
        self._access = _access(self._access[0], value, self._access[2])

    @property
    def permission(self) -> str:
        return self._access[2]

    @permission.setter
    def permission(self, value: str) -> None:
        self._access = _access(self._access[0], self._access[1], value)


class Directory(INode):
    __slots__ = ("children",)

    def __init__(self, inode_id: int, mtime: int, owner: str, group: str, permission: str):
        super().__init__(inode_id, mtime, owner, group, permission)
        self.children: dict[str, Directory | File] = {}


class File(INode):
    __slots__ = ("_blocks", "_layout")

    def __init__(
        self,
        inode_id: int,
        mtime: int,
        owner: str,
        group: str,
        permission: str,
        replication: int,
        block_size: int,
    ):
        super().__init__(inode_id, mtime, owner, group, permission)
        self._layout = _layout(replication, block_size)
        self._blocks: BlockRecord | tuple[BlockRecord, ...] = ()

    @property
    def blocks(self) -> tuple[BlockRecord, ...]:
        held = self._blocks
        return (held,) if isinstance(held, BlockRecord) else held

    @blocks.setter
    def blocks(self, blocks: tuple[BlockRecord, ...]) -> None:
        # A one-block file, the usual kind, holds its block without a tuple around it.
        self._blocks = blocks[0] if len(blocks) == 1 else blocks

    @property
    def replication(self) -> int:
        return self._layout[0]

    @replication.setter
    def replication(self, value: int) -> None:
        self._layout = _layout(value, self._layout[1])

    @property
    def block_size(self) -> int:
        return self._layout[1]

    @property
    def length(self) -> int:
        return sum(b.length for b in self.blocks)


@dataclass(slots=True)
class PendingFile:
    """A file being written: owned by one client (its lease) until completed or abandoned."""

    path: str
    client: str
    file: File
    overwrite: bool
    started: int
    # An append: the file being extended, and whether its last block is being rewritten.
    append_to: File | None = None
    replace_last: bool = False

    @property
    def truncating_to(self) -> int | None:
        """For a truncate's recovery (it rewrites the file's own last block): the length
        that block is cut to; else None."""
        base = self.append_to
        if base is None or not self.replace_last or not base.blocks or not self.file.blocks:
            return None
        if self.file.blocks[-1].block_id != base.blocks[-1].block_id:
            return None
        return base.blocks[-1].length


@dataclass(slots=True)
class Quota:
    """HDFS's quotas on one folder: at most `names` files and folders in its tree (itself
    included) and `space` bytes of replicas (length times replication); -1: none. `used`:
    what its tree holds now — kept as commands change it, never walked for a check."""

    names: int = -1
    space: int = -1
    used_names: int = 0
    used_space: int = 0


Usage = tuple[int, int]  # (names, bytes of replicas) a path's tree is charged


@dataclass(slots=True)
class _Move:
    """How a command changes what the folders above some paths are charged: `before`'s
    charge leaves the folders above it, `after`'s (a path, or read from the command's
    effects) arrives at the folders above that; `predicted` is what `after` is expected
    to be charged, for the check made before the command is applied."""

    before: str | None
    after: str | Callable[[Effects], str] | None
    predicted: Usage
    expected_at: str | None = None  # where `after` will be, when it is read from effects


@dataclass(slots=True)
class Effects:
    """What a command did that the block manager must act on."""

    removed_blocks: list[int] = field(default_factory=list)
    replication_changed: list[int] = field(default_factory=list)
    result: Any = None
    file_id: int = 0  # the file being written that the command opened, extended or closed


def _shape(node: Directory | File) -> tuple[FileType, int, int, int, int]:
    """What a status says of an inode by its kind: (type, length, replication, block size,
    children); a folder's length, replication and block size are 0, a file has no children."""
    if isinstance(node, File):
        return FileType.FILE, node.length, node.replication, node.block_size, 0
    return FileType.DIRECTORY, 0, 0, 0, len(node.children)


class Namespace:
    def __init__(
        self, *, now: int = 0, supergroup: str = "supergroup", owner: str = "hadoop"
    ) -> None:
        """`owner`: of `/`, the superuser (the account the namenodes run as), as HDFS's
        format gives it."""
        self.root = Directory(1, now, owner, supergroup, "755")
        # Closed files and folders in the tree (`/` included), kept as they change: what
        # the metrics report without walking the tree (`recount` after loading an image).
        self.files = 0
        self.folders = 1
        # Folders with a quota, by inode id (few: an administrator sets them).
        self.quotas: dict[int, Quota] = {}
        self.under_construction: dict[str, PendingFile] = {}
        # The same files by inode id: what the writer's commands name them by.
        self._by_id: dict[int, PendingFile] = {}
        # The files of `under_construction` (their inodes), so "is this block's file being
        # written?" is a set lookup, not a scan of every open file.
        self._writing: set[File] = set()
        self.last_inode_id = 1
        self.last_block_id = 0
        self.last_gen = 1000
        # block id -> the file it belongs to, closed or being written.
        self.block_owner: dict[int, File] = {}
        # inode id -> its extended attributes (name -> value); few inodes have any, so
        # they live here rather than in a slot every inode would pay for.
        self.xattrs: dict[int, dict[str, bytes]] = {}

    # --- ids: allocated in apply, in log order ----------------------------------------------

    def _new_block_id(self) -> int:
        self.last_block_id += 1
        return self.last_block_id

    def _new_gen(self) -> int:
        self.last_gen += 1
        return self.last_gen

    def _new_inode_id(self) -> int:
        self.last_inode_id += 1
        return self.last_inode_id

    # --- lookups ----------------------------------------------------------------------------

    def lookup(self, path: str) -> Directory | File | None:
        node: Directory | File = self.root
        for part in paths.split(path):
            if not isinstance(node, Directory):
                return None
            child = node.children.get(part)
            if child is None:
                return None
            node = child
        return node

    def _get(self, path: str) -> Directory | File:
        node = self.lookup(path)
        if node is None:
            raise FileNotFoundError_(f"File does not exist: {path}")
        return node

    def _get_file(self, path: str) -> File:
        node = self._get(path)
        if not isinstance(node, File):
            raise FileNotFoundError_(f"Path is not a file: {path}")
        return node

    def _parent_dir(self, path: str) -> Directory:
        """The folder that holds `path`; every ancestor must already be a folder."""
        node: Directory | File = self.root
        prefix = ""
        for part in paths.split(paths.parent(path)):
            assert isinstance(node, Directory)
            prefix = f"{prefix}/{part}"
            child = node.children.get(part)
            if child is None:
                raise FileNotFoundError_(f"Parent folder does not exist: {paths.parent(path)}")
            if not isinstance(child, Directory):
                raise ParentNotDirectoryError(f"Parent path is not a folder: {prefix}")
            node = child
        assert isinstance(node, Directory)
        return node

    def _check_dirs_creatable(self, path: str) -> None:
        """Raise unless `mkdirs -p path` can succeed.

        A file being written is not in the tree yet, but its path is taken: a folder at or
        below that path would leave the writer nowhere to complete the file.
        """
        node: Directory | File = self.root
        prefix = ""
        for part in paths.split(path):
            if not isinstance(node, Directory):
                raise ParentNotDirectoryError(f"Parent path is not a folder: {prefix}")
            prefix = f"{prefix}/{part}"
            nxt = node.children.get(part)
            if nxt is None:
                if prefix in self.under_construction:
                    raise FileAlreadyExistsError(f"A file is being written at {prefix}")
                return
            node = nxt
        if not isinstance(node, Directory):
            raise FileAlreadyExistsError(f"Path is not a folder: {path}")

    def _appending(self, node: File) -> list[str]:
        """The path of the append in progress to `node`, if any (as a list, for symmetry)."""
        return [p.path for p in self.under_construction.values() if p.append_to is node]

    def _pending_below(self, path: str) -> list[str]:
        """Paths of the files being written strictly below folder `path`."""
        return [p for p in self.under_construction if p != path and paths.is_ancestor(path, p)]

    def status(self, path: str) -> FileStatus:
        return self._status(path, self._get(path))

    def webhdfs_status(self, path: str) -> dict[str, Any]:
        """``status(path).to_webhdfs("")``, built from the inode without the model between
        (a third of a stat's cost over HTTP was pydantic's)."""
        node = self._get(path)
        return webhdfs_file_status(
            *_shape(node), node.mtime, node.atime, node.owner, node.group, node.permission,
            node.id, "",
        )  # fmt: skip

    def _status(self, path: str, node: Directory | File) -> FileStatus:
        kind, length, replication, block_size, children = _shape(node)
        return FileStatus(
            path=path,
            type=kind,
            length=length,
            replication=replication,
            block_size=block_size,
            modification_time=node.mtime,
            access_time=node.atime,
            owner=node.owner,
            group=node.group,
            permission=node.permission,
            children_num=children,
            file_id=node.id,
        )

    def listing(self, path: str) -> list[FileStatus]:
        """A folder's entries sorted by name; a file lists as itself."""
        node = self._get(path)
        if isinstance(node, File):
            return [self._status(path, node)]
        base = "" if path == "/" else path
        return [self._status(f"{base}/{n}", node.children[n]) for n in sorted(node.children)]

    def listing_page(
        self, path: str, after: str | None, limit: int
    ) -> tuple[list[FileStatus], int]:
        """At most `limit` of a folder's entries named after `after` (from the first without
        it), and how many remain after them; a file lists as itself. Only the page's
        statuses are built: paging through a big folder is not quadratic."""
        node = self._get(path)
        if isinstance(node, File):
            return [self._status(path, node)], 0
        names = sorted(node.children)
        start = bisect.bisect_right(names, after) if after is not None else 0
        page = names[start : start + limit]
        base = "" if path == "/" else path
        statuses = [self._status(f"{base}/{n}", node.children[n]) for n in page]
        return statuses, len(names) - start - len(page)

    def file_blocks(self, path: str) -> tuple[FileStatus, list[BlockRecord]]:
        node = self._get_file(path)
        return self._status(path, node), list(node.blocks)

    def walk(self, path: str = "/") -> Iterator[tuple[str, Directory | File]]:
        """Every node at or below `path`, parents before children, children sorted."""
        stack: list[tuple[str, Directory | File]] = [(path, self._get(path))]
        while stack:
            p, node = stack.pop()
            yield p, node
            if isinstance(node, Directory):
                base = "" if p == "/" else p
                for n in sorted(node.children, reverse=True):
                    stack.append((f"{base}/{n}", node.children[n]))

    def content_summary(self, path: str) -> ContentSummary:
        length = files = dirs = space = 0
        for _, node in self.walk(path):
            if isinstance(node, File):
                files += 1
                n = node.length
                length += n
                space += n * node.replication
            else:
                dirs += 1
        quota = self.quotas.get(self._get(path).id) or Quota()
        return ContentSummary(
            length=length, file_count=files, directory_count=dirs, space_consumed=space,
            quota=quota.names, space_quota=quota.space,
        )  # fmt: skip

    def expected_replication(self, block_id: int) -> int | None:
        """The replication a block should have, or None when no file owns it."""
        owner = self.block_owner.get(block_id)
        return None if owner is None else owner.replication

    def block_record(self, block_id: int) -> BlockRecord | None:
        owner = self.block_owner.get(block_id)
        if owner is None:
            return None
        for b in owner.blocks:
            if b.block_id == block_id:
                return b
        return None

    def is_complete_block(self, block_id: int) -> bool:
        owner = self.block_owner.get(block_id)
        return owner is not None and owner not in self._writing

    def complete_block_ids(self) -> Iterator[int]:
        writing = self._writing
        for block_id, owner in self.block_owner.items():
            if owner not in writing:
                yield block_id

    def open_file(self, pending: PendingFile) -> None:
        """Record `pending` as being written (a command, or a checkpoint being loaded)."""
        self.under_construction[pending.path] = pending
        self._by_id[pending.file.id] = pending
        self._writing.add(pending.file)

    def _close_file(self, path: str) -> PendingFile:
        pending = self.under_construction.pop(path)
        del self._by_id[pending.file.id]
        self._writing.discard(pending.file)
        return pending

    def pending_by_id(self, file_id: int) -> PendingFile | None:
        """The file being written whose inode id is `file_id`, wherever it now is."""
        return self._by_id.get(file_id)

    # --- mutations --------------------------------------------------------------------------

    def apply(self, cmd: c.NamespaceCommand, caller: Caller | None = None) -> Effects:
        """Apply one command, or raise having changed nothing. A `caller` must be allowed
        to (`namenode.permissions`); a command without one is the namenode's own."""
        handler = _HANDLERS.get(type(cmd))
        if handler is None:
            raise IllegalArgumentError(f"unknown command {type(cmd).__name__}")
        if caller is not None:
            Checker(self, caller).command(cmd)
        if not self.quotas:
            return handler(self, cmd)
        scope = _QUOTA_SCOPES.get(type(cmd))
        if scope is None:
            return handler(self, cmd)
        moves = scope(self, cmd)
        leaving = [
            (m, self._quotas_above(m.before), self.charge(m.before))
            if m.before
            else (m, [], (0, 0))
            for m in moves
        ]
        self._check_quotas(leaving)
        effects = handler(self, cmd)
        for move, above, charged in leaving:
            for _path, quota in above:
                quota.used_names -= charged[0]
                quota.used_space -= charged[1]
            after = move.after(effects) if callable(move.after) else move.after
            if after is not None:
                names, space = self.charge(after)
                for _path, quota in self._quotas_above(after):
                    quota.used_names += names
                    quota.used_space += space
        return effects

    # --- quotas -----------------------------------------------------------------------------

    def _quotas_above(self, path: str) -> list[tuple[str, Quota]]:
        """The quotas of the folders strictly above `path` that exist, root first."""
        found: list[tuple[str, Quota]] = []
        node: Directory | File | None = self.root
        at = ""
        for part in paths.split(path):
            if not isinstance(node, Directory):
                break
            quota = self.quotas.get(node.id)
            if quota is not None:
                found.append((at or "/", quota))
            node = node.children.get(part)
            at = f"{at}/{part}"
        return found

    def charge(self, path: str) -> Usage:
        """What the tree at `path` is charged: its files and folders, and the replicas of
        its files (length times replication), with the files being written at or below
        it — each a name, its last block a whole block (as HDFS charges a block being
        written), an append's new blocks on top of its file's."""
        names = space = 0
        node = self.lookup(path)
        stack = [node] if node is not None else []
        while stack:
            n = stack.pop()
            names += 1
            if isinstance(n, File):
                space += n.length * n.replication
            else:
                stack.extend(n.children.values())
        if self.under_construction:
            for pending in self.under_construction.values():
                if paths.is_ancestor(path, pending.path):
                    names += pending.append_to is None
                    space += _writing_space(pending.file)
        return names, space

    def _check_quotas(self, leaving: list[tuple[_Move, list[tuple[str, Quota]], Usage]]) -> None:
        """Refuse, having changed nothing, a command that would take a folder past a quota
        (only growth is refused: a folder already over its quota may still shrink)."""
        growth: dict[int, list[Any]] = {}
        for move, above, charged in leaving:
            for path, quota in above:
                entry = growth.setdefault(id(quota), [path, quota, 0, 0])
                entry[2] -= charged[0]
                entry[3] -= charged[1]
            target = move.expected_at or (move.after if isinstance(move.after, str) else None)
            if target is None:
                continue
            for path, quota in self._quotas_above(target):
                entry = growth.setdefault(id(quota), [path, quota, 0, 0])
                entry[2] += move.predicted[0]
                entry[3] += move.predicted[1]
        for path, quota, names, space in growth.values():
            if names > 0 and 0 <= quota.names < quota.used_names + names:
                raise NSQuotaExceededError(
                    f"The NameSpace quota (directories and files) of directory {path} is "
                    f"exceeded: quota={quota.names} file count={quota.used_names + names}"
                )
            if space > 0 and 0 <= quota.space < quota.used_space + space:
                raise DSQuotaExceededError(
                    f"The DiskSpace quota of {path} is exceeded: quota = {quota.space} B = "
                    f"{_short(quota.space)} but diskspace consumed = "
                    f"{quota.used_space + space} B = {_short(quota.used_space + space)}"
                )

    def quota(self, path: str) -> Quota | None:
        node = self._get(path)
        return self.quotas.get(node.id)

    def _set_quota(self, cmd: c.SetQuota) -> Effects:
        node = self._get(cmd.path)
        if not isinstance(node, Directory):
            raise FileNotFoundError_(f"Directory does not exist: {cmd.path}")
        for value, what in ((cmd.names, "namespace"), (cmd.space, "storagespace")):
            if value is not None and value < -1:
                raise IllegalArgumentError(f"Invalid values for {what} quota: {value}")
        if cmd.names == 0:
            raise IllegalArgumentError("a name quota must be at least 1 (the folder itself)")
        held = self.quotas.get(node.id) or Quota()
        names = held.names if cmd.names is None else cmd.names
        space = held.space if cmd.space is None else cmd.space
        if names == -1 and space == -1:
            self.quotas.pop(node.id, None)
            return Effects(result=True)
        used_names, used_space = self.charge(cmd.path)
        self.quotas[node.id] = Quota(names, space, used_names, used_space)
        return Effects(result=True)

    def _mkdirs(self, cmd: c.Mkdirs) -> Effects:
        self._check_dirs_creatable(cmd.path)
        self._make_dirs(cmd.path, cmd.mtime, cmd.owner, cmd.group, cmd.permission)
        return Effects(result=True)

    def _make_dirs(self, path: str, mtime: int, owner: str, group: str, perm: str) -> Directory:
        node = self.root
        for part in paths.split(path):
            child = node.children.get(part)
            if child is None:  # no group given: the folder's, as HDFS (and BSD) do
                child = Directory(self._new_inode_id(), mtime, owner, group or node.group, perm)
                node.children[part] = child
                node.mtime = mtime
                self.folders += 1
            assert isinstance(child, Directory)
            node = child
        return node

    def _start_file(self, cmd: c.StartFile) -> Effects:
        if cmd.path == "/":
            raise FileAlreadyExistsError("/ is a folder")
        pending = self.under_construction.get(cmd.path)
        if pending is not None and pending.client != cmd.client:
            raise AlreadyBeingCreatedError(f"{cmd.path} is already being written by another client")
        folder = paths.parent(cmd.path)
        if cmd.create_parent and self.lookup(folder) is None:
            # Nothing can be at the path, or be writing it, below a folder not yet made.
            self._check_dirs_creatable(folder)
            self._make_dirs(folder, cmd.mtime, cmd.owner, cmd.group, "755")
        parent = self._parent_dir(cmd.path)
        existing = parent.children.get(paths.name(cmd.path))
        if isinstance(existing, Directory):
            raise FileAlreadyExistsError(f"{cmd.path} is a folder")
        if existing is not None and not cmd.overwrite:
            raise FileAlreadyExistsError(f"{cmd.path} already exists")
        removed = self._drop_pending(cmd.path) if pending is not None else []
        node = File(
            self._new_inode_id(),
            cmd.mtime,
            cmd.owner,
            cmd.group or parent.group,
            cmd.permission,
            cmd.replication,
            cmd.block_size,
        )
        self.open_file(PendingFile(cmd.path, cmd.client, node, cmd.overwrite, cmd.mtime))
        return Effects(removed_blocks=removed, result=node.id, file_id=node.id)

    def _start_append(self, cmd: c.StartAppend) -> Effects:
        # Another writer's file first, as HDFS answers: it is there, only not closed yet.
        pending = self.under_construction.get(cmd.path)
        if pending is not None and pending.client != cmd.client:
            raise AlreadyBeingCreatedError(f"{cmd.path} is already being written by another client")
        base = self._get_file(cmd.path)
        if cmd.replace_last and not base.blocks:
            raise IllegalArgumentError(f"{cmd.path} has no last block to rewrite")
        removed = self._drop_pending(cmd.path) if pending is not None else []
        node = File(
            base.id, cmd.mtime, base.owner, base.group, base.permission, base.replication,
            base.block_size,
        )  # fmt: skip
        self.open_file(
            PendingFile(cmd.path, cmd.client, node, False, cmd.mtime, base, cmd.replace_last)
        )
        return Effects(removed_blocks=removed, result=base.id, file_id=base.id)

    def pending_for(self, path: str, client: str, file_id: int = 0) -> PendingFile:
        """The file `client` is writing: by its inode id when given (it may have been
        renamed since), else by path."""
        pending = self._by_id.get(file_id) if file_id else self.under_construction.get(path)
        if pending is None or pending.client != client:
            raise LeaseExpiredError(f"No lease on {path}: not open for writing by {client}")
        return pending

    def _add_block(self, cmd: c.AddBlock) -> Effects:
        pending = self.pending_for(cmd.path, cmd.client, cmd.file_id)
        blocks = pending.file.blocks
        if blocks and cmd.previous_length is None:
            raise IllegalArgumentError("the previous block's length must be given")
        if cmd.previous_length is not None and not blocks:
            raise IllegalArgumentError("there is no previous block")
        _check_length(cmd.previous_length, pending.file.block_size)
        if blocks and cmd.previous_length is not None:
            blocks[-1].length = cmd.previous_length
        block_id, gen = self._new_block_id(), self._new_gen()
        pending.file.blocks = (*blocks, BlockRecord(block_id, gen, 0))
        self.block_owner[block_id] = pending.file
        return Effects(result=(block_id, gen), file_id=pending.file.id)

    def _complete_file(self, cmd: c.CompleteFile) -> Effects:
        pending = self.pending_for(cmd.path, cmd.client, cmd.file_id)
        return self._close_pending(pending, cmd.mtime, cmd.last_length)

    def _close_pending(self, pending: PendingFile, mtime: int, last_length: int | None) -> Effects:
        """Close a file being written, its last block `last_length` long: into the tree, or
        for an append, its new blocks swapped in. Raises having changed nothing."""
        if pending.append_to is not None:
            return self._complete_append(pending, pending.append_to, mtime, last_length)
        path = pending.path
        blocks = pending.file.blocks
        if blocks and last_length is None:
            raise IllegalArgumentError("the last block's length must be given")
        _check_length(last_length, pending.file.block_size)
        parent = self._parent_dir(path)
        name = paths.name(path)
        existing = parent.children.get(name)
        if isinstance(existing, Directory):
            raise FileAlreadyExistsError(f"{path} is a folder")
        if existing is not None and not pending.overwrite:
            raise FileAlreadyExistsError(f"{path} already exists")
        if blocks and last_length is not None:
            blocks[-1].length = last_length
        removed = self._forget_blocks(existing) if existing is not None else []
        # An empty last block (a writer that added one and wrote nothing) is dropped.
        pending.file.blocks = self._drop_empty_last(pending.file.blocks, removed)
        self._close_file(path)
        pending.file.mtime = pending.file.atime = mtime
        parent.children[name] = pending.file
        parent.mtime = mtime
        self.files += 1
        # Its blocks were reported while their length was unknown: they are checked now.
        closed = [b.block_id for b in pending.file.blocks]
        return Effects(removed, closed, result=True, file_id=pending.file.id)

    def _complete_append(
        self, pending: PendingFile, base: File, mtime: int, last_length: int | None
    ) -> Effects:
        blocks = pending.file.blocks
        if blocks and last_length is None:
            raise IllegalArgumentError("the last block's length must be given")
        _check_length(last_length, pending.file.block_size)
        if self.lookup(pending.path) is not base:
            raise LeaseExpiredError(f"{pending.path} was replaced while being appended to")
        if blocks and last_length is not None:
            blocks[-1].length = last_length
        removed: list[int] = []
        blocks = self._drop_empty_last(blocks, removed)
        kept = base.blocks
        if pending.replace_last and blocks:
            old = kept[-1]
            kept = kept[:-1]
            self.block_owner.pop(old.block_id, None)
            if old.block_id != blocks[0].block_id:  # a truncate rewrites the block itself
                removed.append(old.block_id)
        for b in blocks:
            self.block_owner[b.block_id] = base
        base.blocks = kept + blocks
        base.mtime = base.atime = mtime
        self._close_file(pending.path)
        closed = [b.block_id for b in base.blocks]
        return Effects(removed, closed, result=True, file_id=base.id)

    def _drop_empty_last(
        self, blocks: tuple[BlockRecord, ...], removed: list[int]
    ) -> tuple[BlockRecord, ...]:
        """`blocks` without its empty last blocks (a writer that added one and wrote
        nothing), whose ids go to `removed`."""
        while blocks and blocks[-1].length == 0:
            removed.append(blocks[-1].block_id)
            del self.block_owner[blocks[-1].block_id]
            blocks = blocks[:-1]
        return blocks

    def _drop_pending(self, path: str) -> list[int]:
        pending = self._close_file(path)
        base = pending.append_to
        if base is None:
            removed = self._forget_blocks(pending.file)
            self.files += 1  # it was never in the tree, nor in the count
            return removed
        # An append's blocks go; a block it shares with its file (a truncate's) stays.
        removed = []
        shared = {b.block_id for b in base.blocks}
        for b in pending.file.blocks:
            if b.block_id in shared:
                if b.block_id in self.block_owner:  # unless the file went with it
                    self.block_owner[b.block_id] = base
            else:
                self.block_owner.pop(b.block_id, None)
                removed.append(b.block_id)
        return removed

    def _abandon_file(self, cmd: c.AbandonFile) -> Effects:
        pending = self.pending_for(cmd.path, cmd.client, cmd.file_id)
        removed = self._drop_pending(pending.path)
        return Effects(removed_blocks=removed, result=True, file_id=pending.file.id)

    def _release(self, cmd: c.AbandonFile | c.ReassignLease | c.CloseRecovered) -> Effects:
        """A file leaves its writer's hands: dropped, taken for recovery, or recovered."""
        match cmd:
            case c.AbandonFile():
                return self._abandon_file(cmd)
            case c.ReassignLease():
                return self._reassign_lease(cmd)
        return self._close_recovered(cmd)

    def _reassign_lease(self, cmd: c.ReassignLease) -> Effects:
        pending = self._by_id.get(cmd.file_id)
        if pending is None:
            raise LeaseExpiredError(f"file {cmd.file_id} is not being written")
        blocks = pending.file.blocks
        if not blocks:
            raise IllegalArgumentError(f"{pending.path} has no last block to recover")
        pending.client = cmd.holder
        gen = blocks[-1].gen = self._new_gen()
        return Effects(result=(pending.path, gen), file_id=pending.file.id)

    def _close_recovered(self, cmd: c.CloseRecovered) -> Effects:
        pending = self._by_id.get(cmd.file_id)
        if pending is None:
            raise LeaseExpiredError(f"file {cmd.file_id} is not being written")
        blocks = pending.file.blocks
        if blocks and (cmd.gen is None or blocks[-1].gen != cmd.gen):
            raise LeaseExpiredError(
                f"{pending.path}: recovery {cmd.gen} is not the current one "
                f"({blocks[-1].gen}); it was superseded"
            )
        if not blocks and cmd.gen is not None:
            raise IllegalArgumentError(f"{pending.path} has no last block to recover")
        return self._close_pending(pending, cmd.mtime, cmd.last_length)

    def _forget_blocks(self, node: Directory | File) -> list[int]:
        """The blocks of `node` and everything below it, which is leaving the namespace;
        their owners and the inodes' extended attributes are forgotten with them."""
        removed: list[int] = []
        stack = [node]
        while stack:
            n = stack.pop()
            self.xattrs.pop(n.id, None)
            if isinstance(n, File):
                self.files -= 1
                for b in n.blocks:
                    self.block_owner.pop(b.block_id, None)
                    removed.append(b.block_id)
            else:
                self.folders -= 1
                self.quotas.pop(n.id, None)
                stack.extend(n.children.values())
        return removed

    def recount(self) -> None:
        """Count the tree's files and folders afresh, and what each quota's folder holds
        (an image was loaded)."""
        self.files = self.folders = 0
        quota_paths = []
        for path, node in self.walk("/"):
            if isinstance(node, File):
                self.files += 1
            else:
                self.folders += 1
                if node.id in self.quotas:
                    quota_paths.append((path, self.quotas[node.id]))
        for path, quota in quota_paths:
            quota.used_names, quota.used_space = self.charge(path)

    def _delete(self, cmd: c.Delete) -> Effects:
        if cmd.path == "/":
            raise IllegalArgumentError("cannot delete /")
        node = self.lookup(cmd.path)
        if node is None:
            return Effects(result=False)
        # Files being written below a folder go with it, as in HDFS: left behind, their
        # writer could complete them into a folder re-created at the same path. So does an
        # append to the file itself.
        writing = (
            self._pending_below(cmd.path) if isinstance(node, Directory) else self._appending(node)
        )
        if isinstance(node, Directory) and not cmd.recursive and (node.children or writing):
            raise PathIsNotEmptyDirectoryError(f"{cmd.path} is a non-empty folder")
        parent = self._parent_dir(cmd.path)
        del parent.children[paths.name(cmd.path)]
        parent.mtime = cmd.mtime
        removed = self._forget_blocks(node)
        for path in writing:
            removed.extend(self._drop_pending(path))
        return Effects(removed_blocks=removed, result=True)

    def _check_rename(self, src: str, dst: str) -> tuple[Directory, Directory | File, str]:
        """Where `src` goes: (new parent, node, final path). HDFS's rename rules. A new
        file being written is not in the tree yet, so it is not found."""
        if src == "/":
            raise IllegalArgumentError("cannot rename /")
        node = self._get(src)
        target = self.lookup(dst)
        if isinstance(target, Directory):  # mv a /b where /b is a folder -> /b/a
            dst = paths.join(dst, paths.name(src))
            if self.lookup(dst) is not None:
                raise FileAlreadyExistsError(f"{dst} already exists")
        elif target is not None:
            raise FileAlreadyExistsError(f"{dst} already exists")
        if paths.is_ancestor(src, dst):
            raise IllegalArgumentError(f"cannot move {src} inside itself ({dst})")
        if dst in self.under_construction:
            raise FileAlreadyExistsError(f"A file is being written at {dst}")
        return self._parent_dir(dst), node, dst

    def _rename(self, cmd: c.Rename) -> Effects:
        new_parent, node, dst = self._check_rename(cmd.src, cmd.dst)
        old_parent = self._parent_dir(cmd.src)
        old_parent.mtime = new_parent.mtime = cmd.mtime
        del old_parent.children[paths.name(cmd.src)]
        new_parent.children[paths.name(dst)] = node
        # Files being written move with their folder, as HDFS moves their leases: left
        # behind, they would have no parent folder to be completed into. An append moves
        # with its file.
        moving = (
            self._pending_below(cmd.src) if isinstance(node, Directory) else self._appending(node)
        )
        for old in moving:
            self._move_pending(old, dst + old[len(cmd.src) :])
        return Effects(result=True)

    def _move_pending(self, old: str, new: str) -> None:
        pending = self.under_construction.pop(old)
        pending.path = new
        self.under_construction[new] = pending

    def _move_to_trash(self, cmd: c.MoveToTrash) -> Effects:
        self._get(cmd.path)
        if cmd.path == "/":
            raise IllegalArgumentError("cannot delete /")
        if paths.is_ancestor(cmd.path, cmd.trash_root):
            raise IllegalArgumentError(f"cannot move {cmd.path} into its own trash")
        dst = paths.join(cmd.trash_root, cmd.path.lstrip("/"))
        self._check_dirs_creatable(paths.parent(dst))
        if self._taken(dst):  # Hadoop appends the time to a name already in trash
            dst = paths.normalize(f"{dst}{cmd.mtime}")
            if self._taken(dst):
                raise FileAlreadyExistsError(f"{dst} already exists in the trash")
        if paths.is_ancestor(cmd.path, dst):  # e.g. /T/user inside trash root /T
            raise IllegalArgumentError(f"cannot move {cmd.path} inside itself ({dst})")
        # Every check is done: from here on nothing may fail, or the folders made below
        # would outlive a command that was never logged.
        self._make_dirs(paths.parent(dst), cmd.mtime, cmd.owner, cmd.group, "700")
        self._rename(c.Rename(cmd.path, dst, cmd.mtime))
        return Effects(result=dst)  # where it went: the user is told

    def _taken(self, path: str) -> bool:
        """True when `path` names a file or folder, or a file being written."""
        return self.lookup(path) is not None or path in self.under_construction

    def _concat(self, cmd: c.Concat) -> Effects:
        """HDFS's rules: the target and every source are distinct closed files that nobody
        is writing, with the same block size. Blocks keep their lengths (a partial block
        may end up in the middle, as HDFS's variable-length blocks allow) and take the
        target's replication."""
        sources = cmd.sources.split("\n") if cmd.sources else []
        if not sources:
            raise IllegalArgumentError("concat needs at least one source")
        if len(set(sources)) != len(sources):
            raise IllegalArgumentError("concat: a source is named more than once")
        target = self._get_file(cmd.target)
        files = []
        for src in sources:
            if src == cmd.target:
                raise IllegalArgumentError(f"concat: the target {src} is among the sources")
            files.append(self._get_file(src))
        for path, node in [(cmd.target, target), *zip(sources, files, strict=True)]:
            if node in self._writing or self._appending(node):
                raise AlreadyBeingCreatedError(f"concat: {path} is being written")
            if node.block_size != target.block_size:
                raise IllegalArgumentError(
                    f"concat: {path} has block size {node.block_size}, the target "
                    f"{target.block_size}: they must be equal"
                )
        moved: list[int] = []
        for src, node in zip(sources, files, strict=True):
            for b in node.blocks:
                self.block_owner[b.block_id] = target
                moved.append(b.block_id)
            target.blocks = target.blocks + node.blocks
            node.blocks = ()
            self.xattrs.pop(node.id, None)
            parent = self._parent_dir(src)
            del parent.children[paths.name(src)]
            parent.mtime = cmd.mtime
            self.files -= 1
        target.mtime = cmd.mtime
        return Effects(replication_changed=moved, result=True)

    def _truncate(self, cmd: c.Truncate) -> Effects:
        """HDFS's truncate: result True when the file is cut now (the cut falls on a block
        boundary, or there is nothing to cut), False when the block the cut falls inside
        is left to a block recovery. Then the file is shown at its new length at once, and
        held by the recovery as an append that rewrites that block under a new stamp;
        `CloseRecovered` ends it."""
        if cmd.new_length < 0:
            raise IllegalArgumentError(
                f"Cannot truncate to a negative file size: {cmd.new_length}."
            )
        node = self._get_file(cmd.path)
        if node in self._writing or self._appending(node):
            raise AlreadyBeingCreatedError(f"truncate: {cmd.path} is being written")
        if cmd.new_length > node.length:
            raise IllegalArgumentError(
                f"Cannot truncate to a larger file size. Current size: {node.length}, "
                f"truncate size: {cmd.new_length}."
            )
        kept: list[BlockRecord] = []
        offset = 0
        for b in node.blocks:
            if offset >= cmd.new_length:
                break
            kept.append(b)
            offset += b.length
        removed = [b.block_id for b in node.blocks[len(kept) :]]
        for block_id in removed:
            del self.block_owner[block_id]
        node.mtime = cmd.mtime
        cut = offset - cmd.new_length  # bytes to cut off the last kept block
        if not cut:
            node.blocks = tuple(kept)
            return Effects(removed_blocks=removed, result=True, file_id=node.id)
        last = kept[-1]
        keep = last.length - cut
        node.blocks = (*kept[:-1], BlockRecord(last.block_id, last.gen, keep))
        rewrite = File(
            node.id, cmd.mtime, node.owner, node.group, node.permission, node.replication,
            node.block_size,
        )  # fmt: skip
        rewrite.blocks = (BlockRecord(last.block_id, last.gen, keep),)
        self.open_file(
            PendingFile(cmd.path, RECOVERY_HOLDER, rewrite, False, cmd.mtime, node, True)
        )
        self.block_owner[last.block_id] = rewrite
        return Effects(removed_blocks=removed, result=False, file_id=node.id)

    def _set_xattr(self, cmd: c.SetXAttr) -> Effects:
        """HDFS's rules: CREATE only for a new name, REPLACE only for an existing one."""
        node = self._get(cmd.path)
        check_xattr_name(cmd.name)
        try:
            value = base64.b64decode(cmd.value, validate=True)
        except ValueError:
            raise IllegalArgumentError("an XAttr value must be base64 in a command") from None
        held = self.xattrs.get(node.id, {})
        flags = set(cmd.flag.split(",")) if cmd.flag else set()
        if not flags <= {"CREATE", "REPLACE"}:
            raise IllegalArgumentError(f"invalid XAttr flag {cmd.flag!r} (CREATE, REPLACE)")
        if cmd.name in held and "REPLACE" not in flags:
            raise MiniHadoopError(
                f"XAttr: {cmd.name} already exists. The REPLACE flag must be specified."
            )
        if cmd.name not in held and "CREATE" not in flags:
            raise MiniHadoopError(
                f"XAttr: {cmd.name} does not exist. The CREATE flag must be specified."
            )
        if len(cmd.name.encode()) + len(value) > MAX_XATTR_SIZE:
            raise IllegalArgumentError(
                f"The XAttr is too big. The maximum combined size of the name and value is "
                f"{MAX_XATTR_SIZE}, but the total size is {len(cmd.name.encode()) + len(value)}"
            )
        if cmd.name not in held and len(held) >= MAX_XATTRS:
            raise IllegalArgumentError(
                f"Cannot add additional XAttr to inode, would exceed limit of {MAX_XATTRS}"
            )
        self.xattrs[node.id] = {**held, cmd.name: value}
        return Effects(result=True)

    def _remove_xattr(self, cmd: c.RemoveXAttr) -> Effects:
        node = self._get(cmd.path)
        check_xattr_name(cmd.name)
        held = self.xattrs.get(node.id, {})
        if cmd.name not in held:
            raise MiniHadoopError("No matching attributes found for remove operation")
        rest = {k: v for k, v in held.items() if k != cmd.name}
        if rest:
            self.xattrs[node.id] = rest
        else:
            del self.xattrs[node.id]
        return Effects(result=True)

    def get_xattrs(self, path: str) -> dict[str, bytes]:
        return dict(self.xattrs.get(self._get(path).id, {}))

    def _set_replication(self, cmd: c.SetReplication) -> Effects:
        node = self._get(cmd.path)
        changed: list[int] = []
        for _, n in self.walk(cmd.path) if isinstance(node, Directory) else [(cmd.path, node)]:
            if isinstance(n, File):
                n.replication = cmd.replication
                changed.extend(b.block_id for b in n.blocks)
        return Effects(replication_changed=changed, result=True)

    def _set_attributes(self, cmd: c.SetTimes | c.SetPermission | c.SetOwner) -> Effects:
        node = self._get(cmd.path)
        match cmd:
            case c.SetTimes():
                if cmd.mtime is not None and cmd.mtime >= 0:
                    node.mtime = cmd.mtime
                if cmd.atime is not None and cmd.atime >= 0:
                    node.atime = cmd.atime
            case c.SetPermission():
                node.permission = cmd.permission
            case c.SetOwner():
                node.owner = cmd.owner if cmd.owner is not None else node.owner
                node.group = cmd.group if cmd.group is not None else node.group
        return Effects(result=True)


# Each command's handler: one lookup per applied command.
_HANDLERS: dict[type[Any], Callable[[Namespace, Any], Effects]] = {
    c.Mkdirs: Namespace._mkdirs,
    c.StartFile: Namespace._start_file,
    c.StartAppend: Namespace._start_append,
    c.AddBlock: Namespace._add_block,
    c.CompleteFile: Namespace._complete_file,
    c.AbandonFile: Namespace._release,
    c.ReassignLease: Namespace._release,
    c.CloseRecovered: Namespace._release,
    c.Delete: Namespace._delete,
    c.Rename: Namespace._rename,
    c.Concat: Namespace._concat,
    c.Truncate: Namespace._truncate,
    c.MoveToTrash: Namespace._move_to_trash,
    c.SetReplication: Namespace._set_replication,
    c.SetXAttr: Namespace._set_xattr,
    c.RemoveXAttr: Namespace._remove_xattr,
    c.SetTimes: Namespace._set_attributes,
    c.SetPermission: Namespace._set_attributes,
    c.SetOwner: Namespace._set_attributes,
    c.SetQuota: Namespace._set_quota,
}


# --- what each command changes in the folders' quotas --------------------------------------


def _writing_space(f: File) -> int:
    """The replicas a file being written is charged: its blocks, the last one whole."""
    blocks = f.blocks
    if not blocks:
        return 0
    return (sum(b.length for b in blocks[:-1]) + f.block_size) * f.replication


def _short(n: int) -> str:
    """HDFS's byteDesc: 1 MB, 384 MB, 1.5 GB (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size < 1024 or unit == "PB":
            break
        size /= 1024
    text = f"{size:.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}"


def _plus(a: Usage, names: int = 0, space: int = 0) -> Usage:
    return a[0] + names, a[1] + space


def _first_missing(ns: Namespace, path: str) -> tuple[str, int]:
    """The first component of `path` that does not exist, and how many are missing from
    there on; `path` itself and 0 when it exists."""
    node: Directory | File | None = ns.root
    parts = paths.split(path)
    at = ""
    for i, part in enumerate(parts):
        node = node.children.get(part) if isinstance(node, Directory) else None
        at = f"{at}/{part}"
        if node is None:
            return at, len(parts) - i
    return path, 0


def _scope_mkdirs(ns: Namespace, cmd: c.Mkdirs) -> list[_Move]:
    top, missing = _first_missing(ns, cmd.path)
    return [_Move(top, top, (missing, 0))] if missing else []


def _scope_start_file(ns: Namespace, cmd: c.StartFile) -> list[_Move]:
    top, missing = _first_missing(ns, cmd.path)
    return [_Move(top, top, _plus(ns.charge(top), names=missing or 1))]


def _pending_of(ns: Namespace, path: str, file_id: int) -> PendingFile | None:
    return ns.pending_by_id(file_id) if file_id else ns.under_construction.get(path)


def _scope_add_block(ns: Namespace, cmd: c.AddBlock) -> list[_Move]:
    pending = _pending_of(ns, cmd.path, cmd.file_id)
    if pending is None:
        return []
    f = pending.file
    grows = (cmd.previous_length or 0) if f.blocks else f.block_size
    at = pending.path
    return [_Move(at, at, _plus(ns.charge(at), space=grows * f.replication))]


def _scope_pending(
    ns: Namespace, cmd: c.CompleteFile | c.AbandonFile | c.ReassignLease | c.CloseRecovered
) -> list[_Move]:
    path = getattr(cmd, "path", "")
    pending = _pending_of(ns, path, cmd.file_id)
    if pending is None:
        return []
    return [_Move(pending.path, pending.path, ns.charge(pending.path))]


def _scope_in_place(ns: Namespace, cmd: c.StartAppend | c.Truncate) -> list[_Move]:
    return [_Move(cmd.path, cmd.path, ns.charge(cmd.path))]


def _scope_set_replication(ns: Namespace, cmd: c.SetReplication) -> list[_Move]:
    node = ns.lookup(cmd.path)
    if node is None:
        return []
    names, space = ns.charge(cmd.path)
    for _, n in ns.walk(cmd.path) if isinstance(node, Directory) else [(cmd.path, node)]:
        if isinstance(n, File):
            space += n.length * (cmd.replication - n.replication)
    return [_Move(cmd.path, cmd.path, (names, space))]


# A path is measured before and after (not assumed empty after a delete or a move): a file
# being written there by its own path is not in the tree and stays where it is.


def _scope_delete(_ns: Namespace, cmd: c.Delete) -> list[_Move]:
    return [_Move(cmd.path, cmd.path, (0, 0))]


def _scope_rename(ns: Namespace, cmd: c.Rename) -> list[_Move]:
    into = isinstance(ns.lookup(cmd.dst), Directory)
    final = paths.join(cmd.dst, paths.name(cmd.src)) if into else cmd.dst
    arriving = _plus(ns.charge(final), *ns.charge(cmd.src))
    return [_Move(cmd.src, cmd.src, (0, 0)), _Move(final, final, arriving)]


def _scope_trash(ns: Namespace, cmd: c.MoveToTrash) -> list[_Move]:
    dst = paths.join(cmd.trash_root, cmd.path.lstrip("/"))
    top, missing = _first_missing(ns, paths.parent(dst))
    moved = ns.charge(cmd.path)
    leaving = _Move(cmd.path, cmd.path, (0, 0))
    if missing:  # the trash's folders are made: the entry arrives with them
        return [leaving, _Move(top, top, _plus(moved, names=missing))]
    # Where it lands, its name perhaps stamped with the time, is nothing yet (or refused).
    return [leaving, _Move(None, lambda effects: str(effects.result), moved, expected_at=dst)]


def _scope_concat(ns: Namespace, cmd: c.Concat) -> list[_Move]:
    target = ns.lookup(cmd.target)
    sources = cmd.sources.split("\n") if cmd.sources else []
    if not isinstance(target, File):
        return []
    gained = 0
    for src in sources:
        node = ns.lookup(src)
        if isinstance(node, File):
            gained += node.length * target.replication
    moves = [_Move(src, src, (0, 0)) for src in sources]
    return [*moves, _Move(cmd.target, cmd.target, _plus(ns.charge(cmd.target), space=gained))]


_QUOTA_SCOPES: dict[type[Any], Callable[[Namespace, Any], list[_Move]]] = {
    c.Mkdirs: _scope_mkdirs,
    c.StartFile: _scope_start_file,
    c.StartAppend: _scope_in_place,
    c.AddBlock: _scope_add_block,
    c.CompleteFile: _scope_pending,
    c.AbandonFile: _scope_pending,
    c.ReassignLease: _scope_pending,
    c.CloseRecovered: _scope_pending,
    c.Delete: _scope_delete,
    c.Rename: _scope_rename,
    c.Concat: _scope_concat,
    c.Truncate: _scope_in_place,
    c.MoveToTrash: _scope_trash,
    c.SetReplication: _scope_set_replication,
}


MAX_XATTRS = 32  # dfs.namenode.fs-limits.max-xattrs-per-inode
MAX_XATTR_SIZE = 16384  # dfs.namenode.fs-limits.max-xattr-size: name and value, in bytes
XATTR_NAMESPACES = ("user", "trusted", "system", "security", "raw")


def check_xattr_name(name: str) -> None:
    """An attribute's name: a namespace, a dot, then at least one character. Only the
    user namespace is open to clients (the others are HDFS's own, or the superuser's)."""
    space, dot, rest = name.partition(".")
    if not dot or not rest or space.lower() not in XATTR_NAMESPACES:
        raise IllegalArgumentError(
            f"An XAttr name must be prefixed with user/trusted/security/system/raw, followed "
            f"by a '.': {name[:100]!r}"
        )
    if space != "user":
        raise AccessControlError(f"User doesn't have permission for xattr: {name[:100]}")


def child_path(path: str, part: str) -> str:
    """The ancestor of `path` that ends in component `part`."""
    out = []
    for p in paths.split(path):
        out.append(p)
        if p == part:
            break
    return "/" + "/".join(out)


def _check_length(length: int | None, block_size: int) -> None:
    if length is not None and not 0 <= length <= block_size:
        raise IllegalArgumentError(f"block length {length} is outside 0..{block_size}")
