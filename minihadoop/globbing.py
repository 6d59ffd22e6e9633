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

import collections
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterable

from minihadoop import paths
from minihadoop.errors import IllegalArgumentError

_SPECIAL = set("*?[{\\")


def has_magic(pattern: str) -> bool:
    """Whether `pattern` holds any wildcard (an escape counts: it must be unescaped)."""
    return any(c in _SPECIAL for c in pattern)


MAX_ALTERNATIVES = 1024  # what one glob's braces may spell: {a,b}{a,b}… is refused past it


def expand_braces(pattern: str) -> list[str]:
    """Every pattern `pattern`'s ``{…,…}`` alternatives spell, in order, without repeats.
    Iterative, and at most MAX_ALTERNATIVES of them: a glob is typed by anyone."""
    out: dict[str, None] = {}
    work = collections.deque([pattern])
    while work:
        p = work.popleft()
        start = _find(p, "{", 0)
        if start < 0:
            if _find(p, "}", 0) >= 0:
                raise IllegalArgumentError(f"unbalanced '}}' in the glob {pattern[:200]!r}")
            out[p] = None
            if len(out) > MAX_ALTERNATIVES:
                raise IllegalArgumentError(
                    f"the glob's braces spell more than {MAX_ALTERNATIVES} patterns"
                )
            continue
        depth, i, cuts = 0, start, []
        while True:
            i = _next_unescaped(p, i)
            if i >= len(p):
                raise IllegalArgumentError(f"unbalanced '{{' in the glob {pattern[:200]!r}")
            c = p[i]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
                if depth == 0:
                    break
            elif c == "," and depth == 1:
                cuts.append(i)
            i += 1
        bounds = [start, *cuts, i]
        head, tail = p[:start], p[i + 1 :]
        spelled = [head + p[a + 1 : b] + tail for a, b in itertools.pairwise(bounds)]
        work.extendleft(reversed(spelled))  # depth first, alternatives in order
        if len(work) > MAX_ALTERNATIVES:
            raise IllegalArgumentError(
                f"the glob's braces spell more than {MAX_ALTERNATIVES} patterns"
            )
    return list(out)


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


STAR, ANY = "*", "?"
Token = str | tuple[bool, frozenset[str], tuple[tuple[str, str], ...]]  # a char, STAR, ANY, a set


@dataclasses.dataclass(frozen=True)
class Matcher:
    """One path component's glob, matched in time linear in the name times the pattern
    (no regular expression: one with many stars backtracks exponentially on a long name
    anyone can create)."""

    tokens: tuple[tuple[str, Token], ...]

    def fullmatch(self, name: str) -> bool:
        tokens, t, i, star, mark = self.tokens, 0, 0, -1, 0
        while i < len(name):
            if t < len(tokens) and tokens[t][0] != STAR and _one(tokens[t], name[i]):
                t, i = t + 1, i + 1
            elif t < len(tokens) and tokens[t][0] == STAR:
                star, mark, t = t, i, t + 1
            elif star >= 0:
                mark += 1
                t, i = star + 1, mark
            else:
                return False
        while t < len(tokens) and tokens[t][0] == STAR:
            t += 1
        return t == len(tokens)


def _one(token: tuple[str, Token], ch: str) -> bool:
    kind, value = token
    if kind == "c":
        return ch == value
    if kind == ANY:
        return ch != "/"
    assert isinstance(value, tuple)
    negate, chars, ranges = value
    inside = ch in chars or any(lo <= ch <= hi for lo, hi in ranges)
    return ch != "/" and inside != negate


def component_regex(component: str) -> Matcher:
    """The matcher one brace-free path component's glob stands for."""
    tokens: list[tuple[str, Token]] = []
    i, n = 0, len(component)
    while i < n:
        c = component[i]
        if c == "\\":
            if i + 1 >= n:
                raise IllegalArgumentError(f"the glob {component[:200]!r} ends in an escape")
            tokens.append(("c", component[i + 1]))
            i += 2
        elif c == "*":
            if not tokens or tokens[-1][0] != STAR:  # runs of stars are one star
                tokens.append((STAR, STAR))
            i += 1
        elif c == "?":
            tokens.append((ANY, ANY))
            i += 1
        elif c == "[":
            token, i = _char_class(component, i + 1)
            tokens.append(("[", token))
        else:
            tokens.append(("c", c))
            i += 1
    return Matcher(tuple(tokens))


def _char_class(component: str, j: int) -> tuple[Token, int]:
    """The set that starts at `component[j]` (just past its '['), and where it ends."""
    n = len(component)
    negate = j < n and component[j] in "^!"
    if negate:
        j += 1
    chars: set[str] = set()
    ranges: list[tuple[str, str]] = []
    first = True
    while j < n and (component[j] != "]" or first):
        first = False
        ch, j = _class_char(component, j)
        if j + 1 < n and component[j] == "-" and component[j + 1] != "]":
            hi, j = _class_char(component, j + 1)
            if ch > hi:
                raise IllegalArgumentError(f"bad range {ch}-{hi} in the glob {component[:200]!r}")
            ranges.append((ch, hi))
        else:
            chars.add(ch)
    if j >= n:
        raise IllegalArgumentError(f"unclosed '[' in the glob {component[:200]!r}")
    return (negate, frozenset(chars), tuple(ranges)), j + 1


def _class_char(component: str, j: int) -> tuple[str, int]:
    """One character of a set (an escaped one taken as itself), and what follows it."""
    if component[j] == "\\" and j + 1 < len(component):
        return component[j + 1], j + 2
    return component[j], j + 1


def _unescape(component: str) -> str:
    return re.sub(r"\\(.)", r"\1", component)


def expand(
    pattern: str,
    list_names: Callable[[str], Iterable[str]],
    exists: Callable[[str], bool],
) -> list[str]:
    """The existing paths `pattern` (absolute) matches, sorted. `list_names(folder)` gives
    the names in a folder (nothing for a file or a missing path); `exists(path)` says
    whether a path is there. Each folder is listed and each path looked up once, however
    many of the braces' alternatives pass by it."""
    listed: dict[str, list[str]] = {}
    looked: dict[str, bool] = {}

    def names(folder: str) -> list[str]:
        if folder not in listed:
            listed[folder] = sorted(list_names(folder))
        return listed[folder]

    def there(path: str) -> bool:
        if path not in looked:
            looked[path] = exists(path)
        return looked[path]

    found: set[str] = set()
    for alternative in expand_braces(pattern):
        found.update(_expand_one(alternative, names, there))
    return sorted(found)


def _expand_one(
    pattern: str, list_names: Callable[[str], Iterable[str]], exists: Callable[[str], bool]
) -> list[str]:
    if not pattern.startswith("/"):
        raise IllegalArgumentError(f"a glob must be absolute: {pattern[:200]!r}")
    components = [c for c in pattern.split("/") if c]
    candidates = ["/"]
    literal_tail = True  # whether the last component was taken as written, unchecked
    for component in components:
        regex = component_regex(component)  # checks it is well formed
        if _wild(component):
            nxt: list[str] = []
            for folder in candidates:
                for name in list_names(folder):
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
