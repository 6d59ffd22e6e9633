"""Streaming jobs: shell commands as mapper and reducer, with Hadoop Streaming's contract.

A map task starts its mapper command once and writes each input line to its stdin (the
line only: a text record's offset is not sent; a ``keyvalue`` record is its whole line).
What the command prints on stdout, one record a line, is split at the first tab into key
and value (a line without a tab is a key with no value). The records are partitioned and
sorted by key as any job's, and a reduce task starts its reducer command once and writes
them to its stdin in key order, ``key<TAB>value`` a line, every line of a key together;
its stdout lines are the output. The commands run with ``sh -c`` in a folder of their own
holding the files shipped with the job (``--file``), with the task's facts in their
environment (``mapreduce_map_input_file``, ``mapreduce_task_attempt_id``, …); what they
write to stderr goes to the attempt's stderr log. A command that exits non-zero fails the
attempt, as Hadoop's ``subprocess failed with code N`` does.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

from minihadoop.errors import IllegalArgumentError, MiniHadoopError

MAX_FILES_BYTES = 32 << 20  # what --file may ship with a job, in all


class StreamingError(MiniHadoopError):
    exception = "StreamingException"


class StreamCommand:
    """A mapper or reducer that is a shell command over a whole task's records."""

    def __init__(self, command: str, role: str, files: Mapping[str, bytes] | None = None) -> None:
        if not command.strip():
            raise IllegalArgumentError(f"the streaming {role} command is empty")
        files = dict(files or {})
        for name in files:
            if not name or "/" in name or name in (".", ".."):
                raise IllegalArgumentError(f"a shipped file needs a plain name, not {name!r}")
        if sum(len(b) for b in files.values()) > MAX_FILES_BYTES:
            raise IllegalArgumentError(f"shipped files may hold {MAX_FILES_BYTES >> 20} MiB in all")
        self.command = command
        self.role = role
        self.files = files
        self.__name__ = f"streaming {role}"  # what a job is named after, and tracebacks say

    def __call__(self, *_args: Any) -> Any:
        raise TypeError(f"the streaming {self.role} runs over a whole task, not per record")

    def pipe(self, lines: Iterable[str]) -> Iterator[tuple[str, str | None]]:
        """Run the command with `lines` on its stdin; its stdout as (key, value) records."""
        with tempfile.TemporaryDirectory(prefix="minihadoop-streaming-") as here:
            for name, data in self.files.items():
                path = Path(here) / name
                path.write_bytes(data)
                path.chmod(0o755)  # ./mapper.sh runs
            proc = subprocess.Popen(
                self.command, shell=True, cwd=here, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ),
            )  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
            failed: list[BaseException] = []
            feeder = threading.Thread(target=_feed, args=(lines, proc.stdin, failed), daemon=True)
            copier = threading.Thread(target=_copy_stderr, args=(proc.stderr,), daemon=True)
            feeder.start()
            copier.start()
            try:
                for raw in proc.stdout:
                    line = raw.decode("utf-8", "surrogateescape").rstrip("\n").rstrip("\r")
                    key, tab, value = line.partition("\t")
                    yield key, (value if tab else None)
            finally:
                if proc.poll() is None and (failed or sys.exc_info()[0] is not None):
                    proc.kill()
                code = proc.wait()
                feeder.join()
                copier.join()
            if failed:
                raise failed[0]
            if code != 0:
                raise StreamingError(
                    f"the streaming {self.role} `{self.command}` failed with exit code {code}"
                )

    def reduce(self, groups: Iterable[tuple[Any, list[Any]]]) -> Iterator[tuple[str, str | None]]:
        """Run the command over sorted groups, ``key<TAB>value`` a line."""

        def lines() -> Iterator[str]:
            for key, values in groups:
                for value in values:
                    yield str(key) if value is None else f"{key}\t{value}"

        return self.pipe(lines())


def _feed(lines: Iterable[str], stdin: BinaryIO, failed: list[BaseException]) -> None:
    try:
        for line in lines:
            stdin.write(line.encode("utf-8", "surrogateescape") + b"\n")
    except BrokenPipeError:
        pass  # the command stopped reading: its exit code says whether that was fine
    except BaseException as exc:  # reading the input failed: the attempt fails with it
        failed.append(exc)
    finally:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()


def _copy_stderr(stderr: BinaryIO) -> None:
    for raw in stderr:
        sys.stderr.write(raw.decode("utf-8", "replace"))
    sys.stderr.flush()
