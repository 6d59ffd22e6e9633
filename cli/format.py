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


def timestamp(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ms / 1000))
