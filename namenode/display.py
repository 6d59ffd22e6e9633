"""How numbers, times and paths look on the dashboard: the Jinja2 filters. Pure.

Times arrive as seconds since the epoch (cluster status, jobs) or milliseconds (file
status, as WebHDFS has them) and are shown in the server's local time zone; the pages say
"ago" for ages so a reader never has to subtract.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from minihadoop import paths

NONE = "\u2013"  # an en dash: "no value"
UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: float | None) -> str:
    if n is None:
        return NONE
    value = float(n)
    unit = UNITS[0]
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            break
        value /= 1024
    return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"


def number(n: float | None) -> str:
    if n is None:
        return NONE
    return f"{n:,}" if isinstance(n, int) else f"{n:,.2f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    s = max(0.0, float(seconds))
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    minutes, sec = divmod(round(s), 60)
    if minutes < 120:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def age(seconds: float | None) -> str:
    return "never" if seconds is None else f"{duration(seconds)} ago"


def percent(part: float, whole: float) -> float:
    """`part` of `whole` as 0 to 100, for bar widths; 0 when `whole` is 0."""
    if not whole:
        return 0.0
    return round(max(0.0, min(100.0, 100.0 * part / whole)), 1)


def clock(epoch_seconds: float | None) -> str:
    if epoch_seconds is None:
        return NONE
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch_seconds))


def time_of_day(epoch_seconds: float | None) -> str:
    if epoch_seconds is None:
        return NONE
    return time.strftime("%H:%M:%S", time.localtime(epoch_seconds))


def clock_ms(epoch_ms: int | None) -> str:
    return (
        NONE if not epoch_ms else time.strftime("%Y-%m-%d %H:%M", time.localtime(epoch_ms / 1000))
    )


def url_path(path: str) -> str:
    """A DFS path made safe to put after a route prefix: each component percent-encoded,
    so names with spaces, `#`, `?` or `%` survive the trip through a link."""
    return quote(path.lstrip("/"), safe="/")


def last_line(text: str | None) -> str:
    """The last non-blank line of a traceback: the exception and its message."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def breadcrumbs(path: str) -> list[tuple[str, str]]:
    """(name, path) for the root and every folder down to `path`."""
    crumbs = [("/", "/")]
    so_far = ""
    for part in paths.split(path):
        so_far += "/" + part
        crumbs.append((part, so_far))
    return crumbs
