"""The DFS namespace as a client sees it, for histories recorded against minihadoop.

Operations and their answers ("/" is always a folder; paths are absolute and normalised):

    mkdir(path)                   True, having made missing parents (mkdir -p); "exists" when
                                  a file is at `path`, "notdir" when one is at an ancestor.
    create(path, data, overwrite) True: create, write and close as one operation, the file
                                  appearing whole at close; missing parents are made.
                                  "exists" when a folder is at `path`, or a file and not
                                  `overwrite`; "notdir" when a file is at an ancestor.
    read(path)                    the file's bytes; None when no file is there.
    delete(path, recursive)       True when something was there (a folder goes with all below
                                  it), False when nothing was; "notempty" for a folder with
                                  something in it and not `recursive`; "illegal" for "/".
    rename(src, dst)              True or False, by HDFS's rules as minihadoop's namenode
                                  applies them: onto an existing folder, `src` moves into it
                                  under its own name; False when `src` is missing or "/", the
                                  final destination exists, lies at or under `src`, or has no
                                  folder for a parent.
    exists(path)                  bool.
    list(path)                    the sorted names in a folder; a file lists as its own name
                                  (as LISTSTATUS answers); None when nothing is there.

Data may be recorded as str (compared as UTF-8) and listings as lists.

An adapter over `minihadoop.filesystem.FileSystem` maps errors to these answers:
FileAlreadyExistsError -> "exists", ParentNotDirectoryError -> "notdir" (mkdir, create);
FileNotFoundError -> None (read, list) or False (delete, rename);
PathIsNotEmptyDirectoryError -> "notempty"; any refusal of `mv` -> False. Delete with
`skip_trash=True`: a move to the trash is a different operation.

What a workload must respect for the model to hold:
* A file being written is invisible until closed, yet its path is taken: a second create of
  it is refused (AlreadyBeingCreated) and so is a rename onto it. Modelling create as atomic
  is right only if no two clients create, or rename onto, the same path at overlapping times;
  give each writer its own file names (e.g. carrying the client id).
* `split_by_top_folder=True` checks each top-level folder's operations alone, which is sound
  (P-compositionality) only when no operation involves two top-level folders or the root
  (`rename("/a/x", "/b/x")`, `list("/")`); `partition` raises ValueError on one. Have each
  client work under its own folder plus a few shared ones, and rename only within a folder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, final

from tests.lincheck.history import Operation
from tests.lincheck.model import DeterministicModel

ROOT: Final = "/"

# Answers besides True/False/None.
EXISTS: Final = "exists"
NOT_DIR: Final = "notdir"
NOT_EMPTY: Final = "notempty"
ILLEGAL: Final = "illegal"

_PATH_ARGS: Final = {
    "mkdir": 1,
    "create": 1,
    "read": 1,
    "delete": 1,
    "exists": 1,
    "list": 1,
    "rename": 2,
}


@final
class Tree:
    """An immutable namespace: each path below the root mapped to a file's bytes, or to None
    for a folder. Hashed once, as the search hashes a state many times."""

    __slots__ = ("_entries", "_hash")

    def __init__(self, entries: Mapping[str, bytes | None]) -> None:
        self._entries: Mapping[str, bytes | None] = dict(entries)
        self._hash = hash(frozenset(self._entries.items()))

    @property
    def entries(self) -> Mapping[str, bytes | None]:
        return self._entries

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Tree)
            and self._hash == other._hash
            and self._entries == other._entries
        )

    def __repr__(self) -> str:
        shown = [
            p + "/" if v is None else f"{p}={_short(v)}" for p, v in sorted(self._entries.items())
        ]
        return "Tree(" + ", ".join(shown) + ")"

    def is_dir(self, path: str) -> bool:
        return path == ROOT or (path in self._entries and self._entries[path] is None)

    def is_file(self, path: str) -> bool:
        return self._entries.get(path) is not None

    def exists(self, path: str) -> bool:
        return path == ROOT or path in self._entries

    def children(self, path: str) -> list[str]:
        return sorted(_name(p) for p in self._entries if _parent(p) == path)

    def below(self, path: str) -> list[str]:
        """Paths strictly below `path`."""
        return [p for p in self._entries if p != path and _at_or_under(path, p)]


def _short(data: bytes, limit: int = 16) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or ROOT


def _name(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}"


def _ancestors(path: str) -> list[str]:
    """Proper ancestors below the root, outermost first: /a/b/c -> [/a, /a/b]."""
    parts = path.split("/")[1:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _at_or_under(folder: str, path: str) -> bool:
    return folder == ROOT or path == folder or path.startswith(folder + "/")


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)


class NamespaceModel(DeterministicModel[Tree]):
    def __init__(
        self,
        initial: Mapping[str, bytes | str | None] | None = None,
        *,
        split_by_top_folder: bool = False,
    ) -> None:
        """`initial` is what the namespace held before the history began (a folder as None;
        missing parents are implied)."""
        entries: dict[str, bytes | None] = {}
        for path, data in (initial or {}).items():
            for a in _ancestors(path):
                entries[a] = None
            entries[path] = None if data is None else _as_bytes(data)
        self._initial = Tree(entries)
        self.split_by_top_folder = split_by_top_folder

    def init(self) -> Tree:
        return self._initial

    def apply(self, state: Tree, op: str, args: tuple[Any, ...]) -> tuple[Any, Tree]:
        match op, args:
            case "mkdir", (path,):
                return _mkdir(state, path)
            case "create", (path, data, overwrite):
                return _create(state, path, _as_bytes(data), overwrite)
            case "read", (path,):
                return state.entries.get(path), state
            case "delete", (path, recursive):
                return _delete(state, path, recursive)
            case "rename", (src, dst):
                return _rename(state, src, dst)
            case "exists", (path,):
                return state.exists(path), state
            case "list", (path,):
                return _list(state, path), state
        raise ValueError(f"not a namespace operation: {op}{args!r}")

    def same_answer(self, op: str, observed: Any, expected: Any) -> bool:
        if op == "read" and isinstance(observed, str):
            observed = observed.encode()
        elif op == "list" and isinstance(observed, list):
            observed = tuple(observed)
        return bool(observed == expected)

    def is_read_only(self, op: str) -> bool:
        return op in ("read", "exists", "list")

    def commutes(self, op1: str, args1: tuple[Any, ...], op2: str, args2: tuple[Any, ...]) -> bool:
        reads1, writes1 = _footprint(op1, args1)
        reads2, writes2 = _footprint(op2, args2)
        return not (
            any(_overlap(w, x) for w in writes1 for x in reads2 + writes2)
            or any(_overlap(w, x) for w in writes2 for x in reads1)
        )

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        if not self.split_by_top_folder:
            return [list(history)]
        parts: dict[str, list[Operation]] = {}
        for o in history:
            tops = {_top(p) for p in o.args[: _PATH_ARGS[o.op]]}
            if len(tops) != 1 or ROOT in tops:
                raise ValueError(
                    f"{o.op}{o.args!r} involves {sorted(tops)}: a history with it cannot be "
                    "checked one top-level folder at a time"
                )
            parts.setdefault(tops.pop(), []).append(o)
        return list(parts.values())


# What an operation reads or writes: a path alone, or a path with everything below it.
_Area = tuple[str, bool]


def _footprint(op: str, args: tuple[Any, ...]) -> tuple[list[_Area], list[_Area]]:
    """What an operation's answer depends on and what it may change. Making parents writes
    each ancestor; a rename checks the destination's ancestors and moves whole subtrees."""
    path = args[0]
    match op:
        case "mkdir" | "create":
            return [], [(p, False) for p in [*_ancestors(path), path]]
        case "read" | "exists":
            return [(path, False)], []
        case "list":
            return [(path, True)], []
        case "delete":
            return [], [(path, True)]
        case "rename":
            return [(p, False) for p in _ancestors(args[1])], [(path, True), (args[1], True)]
    raise ValueError(f"not a namespace operation: {op}{args!r}")


def _overlap(a: _Area, b: _Area) -> bool:
    (p, p_below), (q, q_below) = a, b
    return p == q or (p_below and _at_or_under(p, q)) or (q_below and _at_or_under(q, p))


def _top(path: str) -> str:
    return ROOT if path == ROOT else "/" + path.split("/")[1]


def _with_parents(state: Tree, path: str) -> dict[str, bytes | None]:
    entries = dict(state.entries)
    for a in _ancestors(path):
        entries.setdefault(a, None)
    return entries


def _file_above(state: Tree, path: str) -> bool:
    return any(state.is_file(a) for a in _ancestors(path))


def _mkdir(state: Tree, path: str) -> tuple[Any, Tree]:
    if _file_above(state, path):
        return NOT_DIR, state
    if state.is_file(path):
        return EXISTS, state
    if state.is_dir(path):
        return True, state
    entries = _with_parents(state, path)
    entries[path] = None
    return True, Tree(entries)


def _create(state: Tree, path: str, data: bytes, overwrite: bool) -> tuple[Any, Tree]:
    if _file_above(state, path):
        return NOT_DIR, state
    if state.is_dir(path) or (state.is_file(path) and not overwrite):
        return EXISTS, state
    entries = _with_parents(state, path)
    entries[path] = data
    return True, Tree(entries)


def _delete(state: Tree, path: str, recursive: bool) -> tuple[Any, Tree]:
    if path == ROOT:
        return ILLEGAL, state
    if not state.exists(path):
        return False, state
    below = state.below(path)
    if below and not recursive:
        return NOT_EMPTY, state
    gone = {path, *below}
    return True, Tree({p: v for p, v in state.entries.items() if p not in gone})


def _rename(state: Tree, src: str, dst: str) -> tuple[bool, Tree]:
    if src == ROOT or not state.exists(src):
        return False, state
    if state.is_dir(dst):
        dst = _join(dst, _name(src))
    if state.exists(dst) or _at_or_under(src, dst) or not state.is_dir(_parent(dst)):
        return False, state
    moved = {
        (dst + p[len(src) :] if _at_or_under(src, p) else p): v for p, v in state.entries.items()
    }
    return True, Tree(moved)


def _list(state: Tree, path: str) -> tuple[str, ...] | None:
    if state.is_dir(path):
        return tuple(state.children(path))
    if state.is_file(path):
        return (_name(path),)
    return None
