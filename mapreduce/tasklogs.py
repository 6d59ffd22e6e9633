"""Task logs: what an attempt's user code prints and logs, kept on its worker (`yarn logs`).

Each attempt's child process writes three files in ``<worker dir>/logs/<job id>/<attempt
id>/``: ``stdout`` (what `print` writes), ``stderr`` (``sys.stderr``, warnings, the
traceback of a failure) and ``syslog`` (records of the `logging` module, INFO and up, one
a line with time, level and logger). Each is bounded: its first half of `limit` bytes
is written as it comes; past that only the last half is kept, in memory, and written at
the end after a line saying how much was left out — so a runaway loop cannot fill the
disk, and both the start and the end of a long log survive. Output written below Python
(a C extension writing to its file descriptors) is not captured: it goes to the worker's
own log, as before.

The worker serves the files (`read`) and deletes those of attempts older than the
retention period (`expire`).
"""

from __future__ import annotations

import io
import logging
import re
import shutil
import sys
import time
from pathlib import Path
from typing import IO

from minihadoop.errors import FileNotFoundError_, IllegalArgumentError

KINDS = ("stdout", "stderr", "syslog")
ATTEMPT_ID = re.compile(r"attempt_(job_[A-Za-z0-9_]{1,80})_[mr]_\d{6}_\d{1,6}")
QUIET = ("httpx", "httpcore", "minihadoop", "mapreduce")
SYSLOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class CappedWriter(io.TextIOBase):
    """A text stream into `path` that keeps the first and the last `limit` // 2 bytes."""

    def __init__(self, path: Path, limit: int) -> None:
        self._file: IO[bytes] = open(path, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self._head = limit // 2
        self._tail_cap = limit - self._head
        self._written = 0
        self._tail = bytearray()
        self._cut = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        data = text.encode("utf-8", "backslashreplace")
        room = self._head - self._written
        if room > 0:
            self._file.write(data[:room])
            self._written += min(room, len(data))
            data = data[room:]
        if data:
            self._tail += data
            over = len(self._tail) - self._tail_cap
            if over > 0:
                del self._tail[:over]
                self._cut += over
        return len(text)

    def flush(self) -> None:
        pass  # unbuffered: the head is on disk as it is written

    def close(self) -> None:
        if self.closed:
            return
        if self._cut:
            self._file.write(f"\n[... {self._cut} bytes left out ...]\n".encode())
        self._file.write(bytes(self._tail))
        self._file.close()
        super().close()


class Capture:
    """Redirect this process's ``sys.stdout``, ``sys.stderr`` and root logger to capped
    files in `folder`, until `close`."""

    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.streams = {kind: CappedWriter(folder / kind, limit) for kind in KINDS}
        self._saved = (sys.stdout, sys.stderr)
        sys.stdout, sys.stderr = self.streams["stdout"], self.streams["stderr"]
        self._handler = logging.StreamHandler(self.streams["syslog"])
        self._handler.setFormatter(logging.Formatter(SYSLOG_FORMAT))
        root = logging.getLogger()
        self._level = root.level
        root.handlers = [self._handler]  # the worker's handlers were inherited by the fork
        root.setLevel(logging.INFO)
        for quiet in QUIET:  # the framework's own requests are not the user's story
            logging.getLogger(quiet).setLevel(logging.WARNING)

    def stderr_tail(self, lines: int = 10) -> str:
        """The last `lines` lines written to stderr so far (its tail, else its head)."""
        stream = self.streams["stderr"]
        data = bytes(stream._tail) if stream._tail else (self.folder / "stderr").read_bytes()
        return "\n".join(data.decode("utf-8", "replace").rstrip("\n").splitlines()[-lines:])

    def close(self) -> None:
        sys.stdout, sys.stderr = self._saved
        logging.getLogger().removeHandler(self._handler)
        logging.getLogger().setLevel(self._level)
        for stream in self.streams.values():
            stream.close()


def attempt_folder(root: Path, attempt_id: str) -> Path:
    """The log folder of `attempt_id` under `root`; IllegalArgumentError for a name that is
    not an attempt id (so no request names a path outside `root`)."""
    found = ATTEMPT_ID.fullmatch(attempt_id)
    if found is None:
        raise IllegalArgumentError(f"not an attempt id: {attempt_id[:100]!r}")
    return root / found.group(1) / attempt_id


def read(root: Path, attempt_id: str, kind: str, offset: int = 0) -> tuple[bytes, int]:
    """Bytes of log `kind` of `attempt_id` from `offset` (at most 4 MiB), and its size."""
    if kind not in KINDS:
        raise IllegalArgumentError(f"no log {kind[:40]!r}: there are {', '.join(KINDS)}")
    if offset < 0:
        raise IllegalArgumentError(f"offset must be 0 or more, not {offset}")
    path = attempt_folder(root, attempt_id) / kind
    try:
        with open(path, "rb") as f:
            size = f.seek(0, io.SEEK_END)
            f.seek(min(offset, size))
            return f.read(4 << 20), size
    except FileNotFoundError:
        raise FileNotFoundError_(f"no {kind} log of {attempt_id} on this worker") from None


def expire(root: Path, retention: float, now: float | None = None) -> list[str]:
    """Delete the log folders of jobs whose logs were last written more than `retention`
    seconds ago; the job ids deleted."""
    now = time.time() if now is None else now
    gone: list[str] = []
    if not root.is_dir():
        return gone
    for job in root.iterdir():
        try:
            newest = max((p.stat().st_mtime for p in job.rglob("*")), default=job.stat().st_mtime)
        except OSError:
            continue
        if now - newest > retention:
            shutil.rmtree(job, ignore_errors=True)
            gone.append(job.name)
    return gone
