"""HDFS's permission model: who may do what to a file or folder, by its owner, group and
mode. Pure: no HTTP, no clock, no settings read here.

A caller is a user, the groups it belongs to, and whether it is a superuser (the user the
namenode runs as, or a member of the superuser group). The namesystem resolves them when a
request arrives and writes them into the command's log entry (`AS`), so every namenode of a
group decides a change the same way, against the namespace as it is when the entry is
applied — the check and the change are one step, with no window between them. Commands the
namenode makes itself (lease recovery, the trash's emptier) carry no caller and are not
checked. Reads are checked against the namespace the leader serves them from.

The rules are HDFS's (`FSPermissionChecker`):

* every folder on the way to a path needs ``x`` (traverse);
* a new file or folder needs ``w`` on the nearest folder that exists above it (ancestor);
* a delete or rename needs ``w`` on the parent, and in a folder with the sticky bit (``/tmp``
  is 1777) only the owner of the entry or of the folder may remove or move an entry; a
  recursive delete needs ``rwx`` on every non-empty folder below too;
* overwriting, appending to, re-replicating or touching a file needs ``w`` on it, and so do
  a writer's next block and its close, and taking a file from its writer; reading it
  ``r``; listing a folder ``r-x``; a content summary ``r-x`` on every folder below;
* only the owner changes the mode; only a superuser changes the owner or a quota; the
  owner may change the group to one it belongs to.

For the mode bits the owner's are used for the owner, the group's for a member of the
file's group, the others' for everybody else. A superuser passes every check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from minihadoop import paths
from minihadoop.errors import AccessControlError, IllegalArgumentError
from namenode import commands as c

AS = "as"  # the key of a log entry's command that holds its caller
NOBODY = "dr.who"  # HDFS's name for a caller who gives none (and for the web pages' reader)

READ, WRITE, EXECUTE = 4, 2, 1
ACTIONS = {
    0: "NONE", 1: "EXECUTE", 2: "WRITE", 3: "WRITE_EXECUTE", 4: "READ", 5: "READ_EXECUTE",
    6: "READ_WRITE", 7: "ALL",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Caller:
    user: str
    groups: frozenset[str] = frozenset()
    superuser: bool = False

    def to_record(self) -> dict[str, Any]:
        return {"user": self.user, "groups": sorted(self.groups), "super": self.superuser}

    @classmethod
    def from_record(cls, record: Any) -> Caller:
        try:
            user, groups, superuser = record["user"], record["groups"], record["super"]
        except (KeyError, TypeError):
            raise IllegalArgumentError(f"not a caller: {str(record)[:100]}") from None
        if not isinstance(user, str) or not isinstance(superuser, bool):
            raise IllegalArgumentError(f"not a caller: {str(record)[:100]}")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise IllegalArgumentError(f"not a caller: {str(record)[:100]}")
        return cls(user, frozenset(groups), superuser)


def mode_string(is_dir: bool, permission: str) -> str:
    """``drwxr-xr-t`` for folder mode 1755: `ls`'s form, as HDFS's messages print it."""
    mode = int(permission, 8)
    bits = "".join(ch if mode & (1 << (8 - i)) else "-" for i, ch in enumerate("rwxrwxrwx"))
    if mode & 0o1000:
        bits = bits[:-1] + ("t" if mode & 1 else "T")
    return ("d" if is_dir else "-") + bits


class Checker:
    """The checks of one caller against one namespace (any object with `lookup` giving
    nodes with `owner`, `group`, `permission` and, for folders, `children`)."""

    def __init__(self, namespace: Any, caller: Caller) -> None:
        self.ns = namespace
        self.caller = caller

    # --- the primitives -----------------------------------------------------------------

    def _chain(self, path: str) -> list[tuple[str, Any]]:
        """(path, node) for `/` and every component of `path` that exists, in order, up to
        the first that does not (or the first file)."""
        node = self.ns.root
        found = [("/", node)]
        at = ""
        for part in paths.split(path):
            children = getattr(node, "children", None)
            if children is None or part not in children:
                break
            node = children[part]
            at = f"{at}/{part}"
            found.append((at, node))
        return found

    def allowed(self, node: Any, want: int) -> bool:
        if self.caller.superuser:
            return True
        mode = int(node.permission, 8)
        if self.caller.user == node.owner:
            bits = mode >> 6
        elif node.group in self.caller.groups:
            bits = mode >> 3
        else:
            bits = mode
        return bits & want == want

    def need(self, path: str, node: Any, want: int) -> None:
        if not self.allowed(node, want):
            raise AccessControlError(
                f"Permission denied: user={self.caller.user}, access={ACTIONS[want]}, "
                f'inode="{path}":{node.owner}:{node.group}:'
                f"{mode_string(hasattr(node, 'children'), node.permission)}"
            )

    def traverse(self, path: str) -> list[tuple[str, Any]]:
        """``x`` on every folder above `path`; the chain of what exists."""
        chain = self._chain(path)
        depth = len(paths.split(path))
        for at, node in chain[:depth]:  # the folders above the last component
            if hasattr(node, "children"):
                self.need(at, node, EXECUTE)
        return chain

    def _target(self, path: str, chain: list[tuple[str, Any]]) -> Any:
        """The node at `path` if it exists."""
        return chain[-1][1] if len(chain) == len(paths.split(path)) + 1 else None

    # --- by operation --------------------------------------------------------------------

    def ancestor(self, path: str, want: int = WRITE) -> None:
        """`want` on the nearest existing folder strictly above `path` (a new entry)."""
        chain = self.traverse(path)
        above = chain[: len(paths.split(path))]  # excludes `path` itself when it exists
        if not above:  # `/` has nothing above it
            return
        at, node = above[-1]
        if hasattr(node, "children"):
            self.need(at, node, want)

    def access(self, path: str, want: int) -> Any:
        """`want` on `path` itself, when it exists; the node."""
        chain = self.traverse(path)
        node = self._target(path, chain)
        if node is not None:
            self.need(path, node, want)
        return node

    def pending(self, pending: Any, want: int) -> None:
        """`want` on a file being written (`namespace.PendingFile`), found by its writer or
        its inode id, not by path: a new file is not in its folder until it is closed."""
        self.traverse(pending.path)
        self.need(pending.path, pending.file, want)

    def owner(self, path: str) -> Any:
        chain = self.traverse(path)
        node = self._target(path, chain)
        if node is not None and not self.caller.superuser and node.owner != self.caller.user:
            raise AccessControlError(
                f"Permission denied. user={self.caller.user} is not the owner of inode={path}"
            )
        return node

    def remove(self, path: str, *, subtree: bool) -> None:
        """What a delete or a move of `path` out of its folder needs: ``w`` on the parent
        (the sticky bit's rule too) and, for `subtree`, ``rwx`` on every non-empty folder
        below."""
        chain = self.traverse(path)
        node = self._target(path, chain)
        if node is None or path == "/":
            return
        parent_path, parent = chain[-2]
        self.need(parent_path, parent, WRITE)
        self.sticky(parent_path, node, path, parent)
        if subtree:
            self.subtree(path, node, EXECUTE | WRITE | READ, skip_empty=True)

    def sticky(self, parent_path: str, node: Any, path: str, parent: Any = None) -> None:
        """In a folder with the sticky bit only the owner of `node` or of the folder (or a
        superuser) may remove or replace it."""
        parent = parent if parent is not None else self.ns.lookup(parent_path)
        if parent is None or not int(parent.permission, 8) & 0o1000 or self.caller.superuser:
            return
        if self.caller.user in (parent.owner, node.owner):
            return
        raise AccessControlError(
            f"Permission denied by sticky bit: user={self.caller.user}, "
            f'path="{path}":{node.owner}:{node.group}:'
            f"{mode_string(hasattr(node, 'children'), node.permission)}, "
            f'parent="{parent_path}":{parent.owner}:{parent.group}:'
            f"{mode_string(True, parent.permission)}"
        )

    def subtree(self, path: str, node: Any, want: int, *, skip_empty: bool = False) -> None:
        """`want` on `node` and every folder below it (files are not checked)."""
        for at, folder in _folders(path, node):
            if skip_empty and not folder.children:
                continue
            self.need(at, folder, want)

    # --- reads ----------------------------------------------------------------------------

    def listing(self, path: str) -> None:
        node = self._target(path, self.traverse(path))
        if node is not None and hasattr(node, "children"):
            self.need(path, node, READ | EXECUTE)

    def summary(self, path: str) -> None:
        chain = self.traverse(path)
        node = self._target(path, chain)
        if node is not None and hasattr(node, "children"):
            self.subtree(path, node, READ | EXECUTE)

    # --- a namespace command ----------------------------------------------------------------

    def command(self, cmd: c.NamespaceCommand) -> None:
        """Raise AccessControlError if the caller may not apply `cmd`; change nothing. The
        namenode's own lease recovery needs nothing more."""
        rule = _RULES.get(type(cmd))
        if rule is not None and not self.caller.superuser:
            rule(self, cmd)

    def _mkdirs(self, cmd: c.Mkdirs) -> None:
        if self._target(cmd.path, self.traverse(cmd.path)) is None:
            self.ancestor(cmd.path)

    def _start_file(self, cmd: c.StartFile) -> None:
        self.ancestor(cmd.path)
        if cmd.overwrite:
            self.access(cmd.path, WRITE)
        # A file being written there, whoever's client name the command gives, is taken
        # from its writer: that needs `w` on it, and the sticky bit's say, as a delete.
        pending = getattr(self.ns, "under_construction", {}).get(cmd.path)
        if pending is not None:
            self.pending(pending, WRITE)
            self.sticky(paths.parent(cmd.path), pending.file, cmd.path)

    def _write(self, cmd: c.StartAppend | c.SetReplication | c.SetTimes | c.Truncate) -> None:
        self.access(cmd.path, WRITE)

    def _writing(self, cmd: c.AddBlock | c.CompleteFile | c.AbandonFile) -> None:
        """A writer's next block, close or abandon: ``w`` on the file it writes. Its client
        name alone proves nothing; whoever may write the file may end its write anyway."""
        self.pending(self.ns.pending_for(cmd.path, cmd.client, cmd.file_id), WRITE)

    def _delete(self, cmd: c.Delete) -> None:
        self.remove(cmd.path, subtree=cmd.recursive)

    def _trash(self, cmd: c.MoveToTrash) -> None:
        self.remove(cmd.path, subtree=False)
        self.ancestor(paths.join(cmd.trash_root, cmd.path.lstrip("/")))

    def _rename(self, cmd: c.Rename) -> None:
        self.remove(cmd.src, subtree=False)
        target = self.ns.lookup(cmd.dst)
        if target is not None and hasattr(target, "children"):
            self.access(cmd.dst, WRITE | EXECUTE)  # into this folder
        else:
            self.ancestor(cmd.dst)

    def _concat(self, cmd: c.Concat) -> None:
        self.access(cmd.target, WRITE)
        for source in cmd.sources.split("\n"):
            self.access(source, READ)
            self.remove(source, subtree=False)

    def _set_permission(self, cmd: c.SetPermission) -> None:
        self.owner(cmd.path)

    def _set_quota(self, cmd: c.SetQuota) -> None:
        raise AccessControlError(
            f"Access denied for user {self.caller.user}. Superuser privilege is required"
        )

    def _set_owner(self, cmd: c.SetOwner) -> None:
        if cmd.owner is not None and cmd.owner != self.caller.user:
            raise AccessControlError(
                f"User {self.caller.user} is not a super user (non-super user cannot change owner)."
            )
        if cmd.group is not None and cmd.group not in self.caller.groups:
            raise AccessControlError(f"User {self.caller.user} does not belong to {cmd.group}")
        self.owner(cmd.path)


_RULES: dict[type[Any], Callable[[Checker, Any], None]] = {
    c.Mkdirs: Checker._mkdirs,
    c.StartFile: Checker._start_file,
    c.StartAppend: Checker._write,
    c.AddBlock: Checker._writing,
    c.CompleteFile: Checker._writing,
    c.AbandonFile: Checker._writing,
    c.SetReplication: Checker._write,
    c.SetTimes: Checker._write,
    c.Truncate: Checker._write,
    c.SetXAttr: Checker._write,
    c.RemoveXAttr: Checker._write,
    c.Delete: Checker._delete,
    c.MoveToTrash: Checker._trash,
    c.Rename: Checker._rename,
    c.Concat: Checker._concat,
    c.SetPermission: Checker._set_permission,
    c.SetOwner: Checker._set_owner,
    c.SetQuota: Checker._set_quota,  # a superuser's, who passes every rule
}


def _folders(path: str, node: Any) -> Iterator[tuple[str, Any]]:
    stack = [(path, node)]
    while stack:
        at, folder = stack.pop()
        if not hasattr(folder, "children"):
            continue
        yield at, folder
        stack.extend((paths.join(at, name), child) for name, child in folder.children.items())
