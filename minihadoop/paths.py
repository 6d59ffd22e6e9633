"""Path rules for the DFS namespace, enforced here and nowhere else.

A DFS path is absolute and POSIX-style. `normalize` folds repeated and trailing slashes and
`.` components, and rejects what HDFS rejects: relative paths, `..`, NUL and other control
characters, `:` in a component, over-long components and over-deep paths, and text that is
not valid Unicode (a lone surrogate, which JSON can carry but UTF-8 cannot: such a name
could be stored but never listed).

`check_url` holds URLs to the same rules before routing: a percent-encoded path or query
must decode to UTF-8 (no silent U+FFFD for bad bytes), and a path has no control characters.
"""

from __future__ import annotations

import re
from urllib.parse import unquote_to_bytes

from minihadoop.errors import InvalidPathError

MAX_COMPONENT_LENGTH = 255  # dfs.namenode.fs-limits.max-component-length
MAX_DEPTH = 1000  # dfs.namenode.fs-limits.max-directory-items is another matter; depth is ours
MAX_PATH_LENGTH = 8000
ROOT = "/"


def normalize(path: str) -> str:
    """Return the canonical form of `path`, or raise InvalidPathError saying why not."""
    if not isinstance(path, str):
        raise InvalidPathError(f"path must be a string, not {type(path).__name__}")
    if (  # already canonical, as nearly every path a namenode is asked for: ~0.3 us, not ~1
        _CANONICAL.fullmatch(path)
        and path.isascii()
        and len(path) <= MAX_PATH_LENGTH
        and path.count("/") <= MAX_DEPTH
    ):
        return path
    return _normalize(path)


def _normalize(path: str) -> str:
    """`normalize`, the long way: every rule checked, every part looked at."""
    if not path.startswith("/"):
        raise InvalidPathError(f"path must be absolute: {path!r}")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"path is longer than {MAX_PATH_LENGTH} characters")
    if not path.isascii():
        _check_unicode(path)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for part in parts:
        _check_component(part, path)
    if len(parts) > MAX_DEPTH:
        raise InvalidPathError(f"path is deeper than {MAX_DEPTH} components")
    return "/" + "/".join(parts)


# `/`, or `/`-led components of 1-255 characters that are neither `.` nor `..` and hold no
# `:` and no control character: what `normalize` returns, unchanged, for an ASCII path.
_CANONICAL = re.compile(r"/|(?:/(?!\.\.?(?:/|$))[^/:\x00-\x1f\x7f-\x9f]{1,255})+")


def _check_component(part: str, path: str) -> None:
    if part == "..":
        raise InvalidPathError(f"'..' is not allowed in a path: {path!r}")
    if len(part) > MAX_COMPONENT_LENGTH:
        raise InvalidPathError(
            f"path component longer than {MAX_COMPONENT_LENGTH} characters: {part[:40]!r}…"
        )
    if ":" in part:
        raise InvalidPathError(f"':' is not allowed in a path component: {path!r}")
    if _has_control(part):
        raise InvalidPathError(f"control characters are not allowed in a path: {path!r}")


def _check_unicode(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # repr() escapes the surrogate, so this message can itself be sent as UTF-8.
        raise InvalidPathError(f"path is not valid Unicode (a lone surrogate): {text!r}") from None


def _has_control(text: str) -> bool:
    """C0 and C1 control characters and DEL: a name holding one could rewrite the terminal
    of whoever lists it (ESC, or its one-character form CSI, U+009B)."""
    return _CONTROL.search(text) is not None


# One C-level scan; a generator over the characters cost a stat ~5 us per path.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def check_url(raw_path: bytes, query: bytes) -> None:
    """Raise InvalidPathError unless the percent-decoded `raw_path` and every part of `query`
    are UTF-8, and the path holds no control characters (a newline in a URL path would
    otherwise match no route and look like a missing endpoint)."""
    decoded = unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path
    try:
        text = decoded.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidPathError("the URL path is not valid UTF-8 once percent-decoded") from None
    if _has_control(text):
        raise InvalidPathError(f"control characters are not allowed in a URL path: {text!r}")
    if b"%" not in query and query.isascii():
        return  # nothing escaped, all ASCII: UTF-8 whatever its parts (the common case)
    for part in query.replace(b"+", b" ").replace(b"=", b"&").split(b"&"):
        try:
            unquote_to_bytes(part).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidPathError("the query string is not valid UTF-8 once decoded") from None


def split(path: str) -> list[str]:
    """Components of a normalised path; the root has none."""
    return [] if path == ROOT else path[1:].split("/")


def parent(path: str) -> str:
    if path == ROOT:
        return ROOT
    head = path.rsplit("/", 1)[0]
    return head or ROOT


def name(path: str) -> str:
    return "" if path == ROOT else path.rsplit("/", 1)[1]


def join(base: str, *names: str) -> str:
    return normalize("/".join([base.rstrip("/"), *names]))


def resolve(path: str, user: str) -> str:
    """`path` as the namenode knows it, as HDFS's clients resolve it: ``hdfs://host:port/x``
    (and ``webhdfs://…``) and ``/x`` are ``/x``; a relative path is under the user's home
    folder, ``/user/<name>``. Not yet normalized."""
    for scheme in ("hdfs://", "webhdfs://", "swebhdfs://"):
        if path.startswith(scheme):
            rest = path[len(scheme) :]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            break
    if not path.startswith("/"):
        path = f"/user/{user}/{path}"
    return path


def is_ancestor(ancestor: str, path: str) -> bool:
    """True when `path` is `ancestor` or lies below it."""
    if ancestor == ROOT:
        return True
    return path == ancestor or path.startswith(ancestor + "/")
