"""How the CLI shows and reads sizes and times."""

from __future__ import annotations

import re
import time

from minihadoop.errors import IllegalArgumentError

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """'4k', '1M', '64MiB', '1048576' -> bytes (binary units, as Hadoop's -D sizes)."""
    m = _SIZE.match(text)
    if not m:
        raise IllegalArgumentError(f"not a size: {text!r} (try 4k, 1M, 64M)")
    return int(m.group(1)) * _UNITS[m.group(2).lower()]


def human_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def short_size(n: int) -> str:
    """GNU ls -h's sizes: bytes as a number, then 1.5K, 64.0M, 2.0G (powers of 1024), with
    no space, so a listing keeps its columns for awk."""
    if n < 1024:
        return str(n)
    size = float(n)
    for unit in "KMGTP":
        size /= 1024
        if size < 1024 or unit == "P":
            break
    return f"{size:.1f}{unit}"


def timestamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))


def timestamp_seconds(ms: int) -> str:
    """`hdfs dfs -stat %y`'s form: local time to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


_BITS = "rwxrwxrwx"


def symbolic(permission: str, is_dir: bool) -> str:
    """'755' -> 'drwxr-xr-x' (with the type letter); a sticky bit shows as t or T."""
    mode = int(permission, 8)
    text = "".join(b if mode & (1 << (8 - i)) else "-" for i, b in enumerate(_BITS))
    if mode & 0o1000:
        text = text[:8] + ("t" if mode & 1 else "T")
    return ("d" if is_dir else "-") + text


_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}
_CLAUSE = re.compile(r"^([ugoa]*)([-+=])([rwxXt]*)$")


def apply_mode(spec: str, current: str, is_dir: bool) -> str:
    """The octal mode `spec` gives a file whose mode is `current`: octal (``644``,
    ``1777``) or chmod's symbolic clauses (``u+x,go-w``, ``a=r``, ``+t``), as
    `hdfs dfs -chmod` takes them."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        if int(spec, 8) > 0o1777:
            raise IllegalArgumentError(f"not a mode: {spec!r} (at most 1777: no setuid/setgid)")
        return f"{int(spec, 8):o}".rjust(3, "0")
    mode = int(current, 8)
    for clause in spec.split(","):
        m = _CLAUSE.match(clause)
        if not m:
            raise IllegalArgumentError(
                f"not a mode: {spec!r} (octal like 644, or symbolic like u+x,go-w)"
            )
        who, op, what = m.groups()
        mask = 0
        for w in who or "a":
            mask |= 0o7777 if w == "a" else _WHO[w]
        bits = 0
        for p in what:
            if p == "t":
                bits |= 0o1000
            elif p == "X":  # execute only for folders, or if someone may execute already
                bits |= 0o111 if is_dir or mode & 0o111 else 0
            else:
                bits |= {"r": 0o444, "w": 0o222, "x": 0o111}[p]
        bits &= mask | (0o1000 if "t" in what else 0)
        if op == "+":
            mode |= bits
        elif op == "-":
            mode &= ~bits
        else:
            mode = (mode & ~(mask & 0o777)) | bits
    return f"{mode & 0o1777:o}".rjust(3, "0")


def columns(
    head: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()
) -> list[str]:
    """Rows as lines of columns as wide as their widest value, two spaces apart: never cut
    and never wrapped, so `awk` and `cut` read what a person reads. `right`: the columns
    (by index) aligned right."""
    table = [head, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(head))]
    return [
        "  ".join(
            (c.rjust(w) if i in right else c.ljust(w))
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]
