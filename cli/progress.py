"""Progress bars for `fs put` and `fs get`: on stderr, only on a terminal, only for
transfers worth watching.

Its own module so that rich, a few tens of milliseconds to import, is loaded by the
commands that move files and not by every `minihadoop fs` command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, ProgressColumn, Task
from rich.text import Text

from cli.format import human_size

PROGRESS_THRESHOLD = 8 << 20  # show a progress bar for transfers larger than this


class BinarySpeedColumn(ProgressColumn):
    """Transfer speed in the units `ls -h` uses (KiB/s, MiB/s)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{human_size(speed)}/s", style="progress.data.speed")


def transfer_bar(total: int) -> Progress:
    """The bar for transfers of `total` bytes; disabled (shows nothing) below the
    threshold or when stderr is not a terminal."""
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(binary_units=True),
        BinarySpeedColumn(),
        console=Console(stderr=True),
        disable=total < PROGRESS_THRESHOLD or not sys.stderr.isatty(),
        transient=True,
    )


def advance(bar: Progress, what: str, total: int) -> Callable[[int], None] | None:
    """The progress callback for one transfer, or None when no bar is shown (then the
    client sends each block whole rather than in pieces)."""
    if bar.disable:
        return None
    task = bar.add_task(what, total=total)
    return lambda n: bar.advance(task, n)
