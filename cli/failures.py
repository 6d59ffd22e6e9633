"""How a command fails: per-path failures said on stderr (the command goes on, exit status
1), and usage mistakes (exit status 2).

Apart from `cli.fs` so that `cli.main` can catch `UsageMistake` and pass ``--debug`` on
without importing the file system commands (and their client) for every command.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator
from typing import NoReturn

import typer

from minihadoop.errors import IllegalArgumentError, MiniHadoopError


class Failures:
    """Per-path failures of one command: each said on stderr, the command goes on, and its
    exit status is 1 if any happened."""

    traceback = False  # set by --debug

    def __init__(self) -> None:
        self.count = 0

    @contextlib.contextmanager
    def each(self) -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise  # the reader went away (| head): not this path's failure
        except (MiniHadoopError, OSError) as exc:
            self.count += 1
            if self.traceback:
                traceback.print_exc()
            message = exc.message if isinstance(exc, MiniHadoopError) else str(exc)
            print(f"minihadoop: {message}", file=sys.stderr)

    def exit(self) -> None:
        if self.count:
            raise typer.Exit(1)


class UsageMistake(IllegalArgumentError):
    """A command used wrongly (arguments that cannot go together): exit status 2."""


def fail(message: str) -> NoReturn:
    raise UsageMistake(message)
