"""Path globs with Hadoop's rules (`FileSystem.globStatus`), expanded against the DFS.

A pattern is matched one path component at a time; no wildcard matches ``/``:

* ``?`` one character, ``*`` any run of characters (none included);
* ``[abc]``, ``[a-z]`` one of a set, ``[^abc]`` (or ``[!abc]``) one not in it;
* ``{ab,cd}`` either alternative; alternatives may nest and may hold ``/``;
* ``\\c`` the character ``c`` itself.

Names starting with a dot are matched like any other, as Hadoop does. Matches come back
sorted, without repeats. A pattern without wildcards names one path, which matches if it
exists.

`expand` is pure apart from the two functions it is given: one that lists a folder's names
and one that says whether a path exists; so it is tested without a cluster.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from minihadoop import paths
from minihadoop.errors import IllegalArgumentError

_SPECIAL = set("*?[{\\")


def has_magic(pattern: str) -> bool:
    """Whether `pattern` holds any wildcard (an escape counts: it must be unescaped)."""
    return any(c in _SPECIAL for c in pattern)


def expand_braces(pattern: str) -> list[str]:
    """Every pattern `pattern`'s ``{…,…}`` alternatives spell, in order."""
    start = _find(pattern, "{", 0)
    if start < 0:
        if _find(pattern, "}", 0) >= 0:
            raise IllegalArgumentError(f"unbalanced '}}' in the glob {pattern!r}")
        return [pattern]
    depth, i, cuts = 0, start, []
    while True:
        i = _next_unescaped(pattern, i)
        if i >= len(pattern):
            raise IllegalArgumentError(f"unbalanced '{{' in the glob {pattern!r}")
        c = pattern[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                break
        elif c == "," and depth == 1:
            cuts.append(i)
        i += 1
    end = i
    bounds = [start, *cuts, end]
    head, tail = pattern[:start], pattern[end + 1 :]
    out: list[str] = []
    for a, b in itertools.pairwise(bounds):
        for alt in expand_braces(head + pattern[a + 1 : b] + tail):
            if alt not in out:
                out.append(alt)
    return out


def _next_unescaped(pattern: str, i: int) -> int:
    """`i`, or past the escaped character when `pattern[i]` is a backslash."""
    while i < len(pattern) and pattern[i] == "\\":
        i += 2
    return i


def _find(pattern: str, char: str, i: int) -> int:
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == char:
            return i
        i += 1
    return -1


def component_regex(component: str) -> re.Pattern[str]:
    """The regular expression one brace-free path component's glob stands for."""
    out, i, n = [], 0, len(component)
    while i < n:
        c = component[i]
        if c == "\\":
            if i + 1 >= n:
                raise IllegalArgumentError(f"the glob {component!r} ends in an escape")
            out.append(re.escape(component[i + 1]))
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[":
            j = i + 1
            negate = j < n and component[j] in "^!"
            if negate:
                j += 1
            chars: list[str] = []
            while j < n and (component[j] != "]" or not chars):
                if component[j] == "\\" and j + 1 < n:
                    j += 1
                chars.append(component[j])
                j += 1
            if j >= n:
                raise IllegalArgumentError(f"unclosed '[' in the glob {component!r}")
            out.append(_char_class(chars, negate, component))
            i = j + 1
        else:
            out.append(re.escape(c))
            i += 1
    return re.compile("".join(out), re.DOTALL)


def _char_class(chars: list[str], negate: bool, component: str) -> str:
    parts, k = [], 0
    while k < len(chars):
        if k + 2 < len(chars) and chars[k + 1] == "-":
            lo, hi = chars[k], chars[k + 2]
            if lo > hi:
                raise IllegalArgumentError(f"bad range {lo}-{hi} in the glob {component!r}")
            parts.append(f"{re.escape(lo)}-{re.escape(hi)}")
            k += 3
        else:
            parts.append(re.escape(chars[k]))
            k += 1
    return f"[{'^/' if negate else ''}{''.join(parts)}]"


def _unescape(component: str) -> str:
    return re.sub(r"\\(.)", r"\1", component)


def expand(
    pattern: str,
    list_names: Callable[[str], Iterable[str]],
    exists: Callable[[str], bool],
) -> list[str]:
    """The existing paths `pattern` (absolute) matches, sorted. `list_names(folder)` gives
    the names in a folder (nothing for a file or a missing path); `exists(path)` says
    whether a path is there."""
    found: set[str] = set()
    for alternative in expand_braces(pattern):
        found.update(_expand_one(alternative, list_names, exists))
    return sorted(found)


def _expand_one(
    pattern: str, list_names: Callable[[str], Iterable[str]], exists: Callable[[str], bool]
) -> list[str]:
    if not pattern.startswith("/"):
        raise IllegalArgumentError(f"a glob must be absolute: {pattern!r}")
    components = [c for c in pattern.split("/") if c]
    candidates = ["/"]
    literal_tail = True  # whether the last component was taken as written, unchecked
    for component in components:
        regex = component_regex(component)  # checks it is well formed
        if _wild(component):
            nxt: list[str] = []
            for folder in candidates:
                for name in sorted(list_names(folder)):
                    if name and regex.fullmatch(name):
                        nxt.append(paths.join(folder, name))
            candidates = nxt
            literal_tail = False
        else:
            name = _unescape(component)
            candidates = [paths.join(folder, name) for folder in candidates]
            literal_tail = True
        if not candidates:
            return []
    if literal_tail:
        return [p for p in candidates if exists(p)]
    return candidates


def _wild(component: str) -> bool:
    """Whether a component holds an unescaped wildcard."""
    i = 0
    while i < len(component):
        if component[i] == "\\":
            i += 2
            continue
        if component[i] in "*?[":
            return True
        i += 1
    return False
