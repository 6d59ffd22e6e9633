"""The write-ahead log on disk: segments of framed records, appended to and fsynced.

``log_<seq>_<first-index>.wal`` (both zero-padded to 20 digits): `seq` counts segments from
0 with no gaps, and `first-index` is the index the segment's first entry would have had, the
log's last index plus one when the segment was started (the replay checks that the log
before it ends there). A segment is a sequence of `raft.framing` frames holding
`raft.records` payloads; a new segment opens with the current hard state so that deleting
older segments never loses it.

Contracts:
* Only the newest segment is ever written. A segment is fdatasynced before the next one is
  created, and the folder fsynced after, so every older segment is whole on disk. The store
  starts a new segment before a write when the newest has reached `segment_size`, so a
  segment overshoots by at most one write (one `Ready`).
* A torn record at the very end of the newest segment is the tail of a write that never
  returned: it is dropped and the file truncated to the last good record (when repairing).
  A bad record anywhere else, or with a good record after it, is `RaftLogCorruptError`
  naming the file and offset.
* Segments are deleted oldest first and only while wholly covered: segment i goes when the
  log ended at or before the purge point when segment i+1 was started. The newest segment
  is never deleted.

Errors from the file system (`OSError`) are raised as they are; the store turns them into
a failed log.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minihadoop.durable import fsync_dir
from raft.errors import RaftLogCorruptError, RaftLogVersionError
from raft.framing import FrameError, frame, read_frames
from raft.records import NewerVersionError, RecordError, decode
from raft.replay import LogReplay, ReplayError

DEFAULT_SEGMENT_SIZE = 64 << 20
_NAME = re.compile(r"^log_(\d{20})_(\d{20})\.wal$")


@dataclass(frozen=True, slots=True)
class Segment:
    seq: int
    first_index: int
    path: Path


def segment_name(seq: int, first_index: int) -> str:
    return f"log_{seq:020d}_{first_index:020d}.wal"


def list_segments(directory: Path) -> list[Segment]:
    """Every segment, oldest first; a gap in the sequence numbers is corruption."""
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append(Segment(int(m.group(1)), int(m.group(2)), p))
    found.sort(key=lambda s: s.seq)
    for before, after in itertools.pairwise(found):
        if after.seq != before.seq + 1:
            raise RaftLogCorruptError(
                f"raft log in {directory} is corrupt: segments {before.path.name} and "
                f"{after.path.name} are not consecutive"
            )
    return found


def replay(segments: list[Segment], *, repair: bool) -> tuple[LogReplay, int]:
    """Read every segment into a replay; also the size of the newest segment's good part.

    With `repair`, a torn tail of the newest segment is truncated away (and the truncation
    fsynced); without, it is only left unread.
    """
    log = LogReplay()
    size = 0
    for n, segment in enumerate(segments):
        size = _replay_segment(log, segment, is_newest=n == len(segments) - 1, repair=repair)
    return log, size


def _replay_segment(log: LogReplay, segment: Segment, *, is_newest: bool, repair: bool) -> int:
    path, offset = segment.path, 0
    data = path.read_bytes()
    try:
        log.start_segment(segment.first_index)
        for offset, payload in read_frames(memoryview(data)):  # noqa: B007 (read below)
            log.add(decode(payload))
    except FrameError as e:
        if not (is_newest and e.torn):
            raise RaftLogCorruptError(
                f"raft log {path} is corrupt at offset {e.offset}: {e.problem}"
            ) from None
        if repair:
            with open(path, "r+b") as f:
                f.truncate(e.offset)
                os.fsync(f.fileno())
        return e.offset
    except NewerVersionError as e:
        raise RaftLogVersionError(f"raft log {path} at offset {offset}: {e}") from None
    except (RecordError, ReplayError) as e:
        # The checksum matched, so this was written so: not a torn tail.
        raise RaftLogCorruptError(f"raft log {path} is corrupt at offset {offset}: {e}") from None
    return len(data)


class WriteAheadLog:
    """Appends to the newest segment; rolls to a new one past `segment_size` bytes."""

    def __init__(
        self, directory: Path, segments: list[Segment], newest_size: int, segment_size: int
    ) -> None:
        self.directory = directory
        self.segment_size = segment_size
        self._segments = segments
        self._size = newest_size
        self._fd = os.open(segments[-1].path, os.O_WRONLY | os.O_APPEND)
        # Told how long each `sync` took, in seconds (the edit log's sync latency metric).
        self.on_sync: Callable[[float], None] | None = None

    @classmethod
    def create(cls, directory: Path, segment_size: int) -> WriteAheadLog:
        """A log with one empty segment, in a folder that has none."""
        path = directory / segment_name(0, 1)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        fsync_dir(directory)
        return cls(directory, [Segment(0, 1, path)], 0, segment_size)

    @property
    def segments(self) -> tuple[Segment, ...]:
        return tuple(self._segments)

    @property
    def full(self) -> bool:
        return self._size >= self.segment_size

    def append(self, payloads: list[bytes]) -> None:
        """Frame and write the records in one write; not durable until `sync`."""
        self._write(b"".join(frame(p) for p in payloads))

    def sync(self) -> None:
        started = time.perf_counter()
        os.fdatasync(self._fd)
        if self.on_sync is not None:
            self.on_sync(time.perf_counter() - started)

    def roll(self, first_index: int, opening: list[bytes]) -> None:
        """Seal the newest segment (fdatasync) and start the next at `first_index`, opening
        with `opening` records; both made durable, with the folder, before returning."""
        os.fdatasync(self._fd)
        seq = self._segments[-1].seq + 1
        path = self.directory / segment_name(seq, first_index)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(self._fd)
        self._fd, self._size = fd, 0
        self._segments.append(Segment(seq, first_index, path))
        if opening:
            self.append(opening)
        os.fdatasync(fd)
        fsync_dir(self.directory)

    def purge(self, covered: int) -> None:
        """Delete the oldest segments whose entries all have index <= `covered`."""
        gone = 0
        while (
            gone + 1 < len(self._segments) and self._segments[gone + 1].first_index - 1 <= covered
        ):
            gone += 1
        if not gone:
            return
        for segment in self._segments[:gone]:
            segment.path.unlink()
        del self._segments[:gone]
        fsync_dir(self.directory)

    def close(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._size += written
