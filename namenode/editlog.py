"""The edit log: every namespace command, framed, checksummed and fsynced.

Layout of a name folder::

    fsimage_<txid>.json     checkpoint: the namespace after transaction <txid>
    edits_<first>.log       records with txid >= <first>, until the next segment

A record is ``u32 length | u32 crc32c(payload) | payload`` where the payload is the JSON of
``{"txid": n, **command}``. A checkpoint ends the current segment and starts a new one, so
start-up is: newest good image, then every record after its txid.

Contracts:
* `append` assigns the next txid and buffers the record; it is cheap and must be called in
  the order commands were applied (the namesystem holds its lock across both).
* `sync(txid)` returns once that record is on disk. Concurrent callers share fsyncs
  (group commit): whoever finds no flush in progress writes everything buffered so far and
  fdatasyncs once; the others wait for it and usually find their record covered; one that
  is not covered flushes the next batch.
* A torn record at the very end of the newest segment is the tail of a write that never
  returned: it is dropped (and truncated away), as is zero padding after the last record.
  A bad record with good data after it is real corruption: loading fails and names the file
  and offset.
* A failed write or fsync fails the log for good (`EditLogFailedError` from then on): part
  of the batch may be on disk, so appending more after it could bury a torn record in the
  middle of the segment, and the records of that batch must not be reported durable.
"""

from __future__ import annotations

import json
import os
import re
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import crc32c

from minihadoop.durable import fsync_dir
from minihadoop.errors import IllegalArgumentError, MiniHadoopError

_HEADER = struct.Struct("<II")
_SEGMENT = re.compile(r"^edits_(\d+)\.log$")
MAX_RECORD = 16 << 20


class EditLogCorruptError(MiniHadoopError):
    """The edit log is damaged somewhere other than its torn tail."""


class EditLogFailedError(MiniHadoopError):
    """A write or fsync of the edit log failed; nothing more can be made durable."""


def segment_name(first_txid: int) -> str:
    return f"edits_{first_txid:020d}.log"


def segments(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for p in directory.iterdir():
        m = _SEGMENT.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def encode(txid: int, record: dict[str, Any]) -> bytes:
    payload = json.dumps({"txid": txid, **record}, separators=(",", ":")).encode()
    if len(payload) > MAX_RECORD:  # it could be written, but never read back
        raise IllegalArgumentError(f"edit log record of {len(payload)} bytes is too large")
    return _HEADER.pack(len(payload), crc32c.crc32c(payload)) + payload


def read_segment(path: Path, *, is_last: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """Records of one segment. Truncates a torn tail when `is_last`."""
    data = path.read_bytes()
    pos = 0
    while pos < len(data):
        problem = _frame_problem(data, pos)
        if problem is None:
            length, _ = _HEADER.unpack_from(data, pos)
            payload = data[pos + _HEADER.size : pos + _HEADER.size + length]
            try:
                record = json.loads(payload)
                txid = int(record.pop("txid"))
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                # The checksum matched, so this was written so: not a torn tail.
                raise EditLogCorruptError(
                    f"edit log {path.name} is corrupt at offset {pos}: unreadable record ({e})"
                ) from None
            yield txid, record
            pos += _HEADER.size + length
            continue
        if is_last and _is_tail(data, pos):
            with open(path, "r+b") as f:
                f.truncate(pos)
                os.fsync(f.fileno())
            return
        raise EditLogCorruptError(f"edit log {path.name} is corrupt at offset {pos}: {problem}")


def _frame_problem(data: bytes, pos: int) -> str | None:
    if pos + _HEADER.size > len(data):
        return "truncated header"
    length, crc = _HEADER.unpack_from(data, pos)
    if length == 0:  # never written (a record holds at least its txid): zero padding
        return "empty record"
    if length > MAX_RECORD:
        return f"record length {length} too large"
    end = pos + _HEADER.size + length
    if end > len(data):
        return "truncated record"
    if crc32c.crc32c(data[pos + _HEADER.size : end]) != crc:
        return "checksum mismatch"
    return None


def _is_tail(data: bytes, pos: int) -> bool:
    """A bad frame is a torn tail when no good record follows it.

    A torn write leaves a partial last batch: a record that runs past the end of the file, or
    garbage or zeros after the last good record. Rot in the middle of the log (even in a
    record's length field, which hides where the next record starts) leaves good records
    after the bad one; finding any proves the damage is not a tail.
    """
    if pos + _HEADER.size > len(data):
        return True
    return not any(
        _frame_problem(data, p) is None for p in range(pos + 1, len(data) - _HEADER.size)
    )


class _Waiter:
    """A `sync` caller waiting for a flush to cover `txid`. `wake` is held until a flusher
    releases it, with `done` set when the flush covered it, clear when it must look again
    (to flush the next batch itself, or to see that the log failed)."""

    __slots__ = ("done", "txid", "wake")

    def __init__(self, txid: int) -> None:
        self.txid = txid
        self.done = False
        self.wake = threading.Lock()
        self.wake.acquire()


class EditLog:
    """Appends records to the current segment with group-committed fsyncs.

    Group commit: a `sync` caller that finds no flush in progress becomes the flusher: it
    takes every record buffered so far, writes and fdatasyncs them without the lock, then
    wakes the waiters its flush covered and hands the flusher's role to one that it did not
    (whose record came in during the flush), who flushes everything buffered by then. Each
    waiter sleeps on a lock of its own, so a flush wakes only the threads it concerns and
    a woken thread does not queue for the log's lock again just to learn it is done.
    """

    def __init__(self, directory: Path, first_txid: int) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._buffer: list[bytes] = []
        self._waiters: list[_Waiter] = []
        self._last_txid = first_txid - 1
        self._synced_txid = first_txid - 1
        self._flushing = False
        self._failed: BaseException | None = None
        self._file = open(directory / segment_name(first_txid), "ab")  # noqa: SIM115
        fsync_dir(directory)
        self.syncs = 0

    @property
    def last_txid(self) -> int:
        return self._last_txid

    @property
    def synced_txid(self) -> int:
        """The newest txid known to be on disk."""
        return self._synced_txid

    def append(self, record: dict[str, Any]) -> int:
        with self._lock:
            self._check_failed()
            self._buffer.append(encode(self._last_txid + 1, record))
            self._last_txid += 1
            return self._last_txid

    def sync(self, txid: int) -> None:
        """Block until record `txid` is durable."""
        while True:
            waiter = None
            with self._lock:
                if self._synced_txid >= txid:
                    return
                self._check_failed()
                if self._flushing:
                    waiter = _Waiter(txid)
                    self._waiters.append(waiter)
                else:
                    self._flushing = True
                    batch, self._buffer = self._buffer, []
                    upto = self._last_txid
            if waiter is not None:
                waiter.wake.acquire()
                if waiter.done:
                    return
                continue
            try:
                self._write(batch)
            except BaseException as e:
                with self._lock:
                    self._failed = e
                    self._flushing = False
                    self._wake(None)
                raise
            with self._lock:
                self._synced_txid = upto
                self.syncs += 1
                self._flushing = False
                self._wake(upto)

    def _wake(self, synced: int | None) -> None:
        """After a flush (caller holds the lock): release the waiters up to `synced`, and
        one more to flush next; every waiter when the flush failed (`synced` None)."""
        waiters, self._waiters = self._waiters, []
        handed_on = False
        for w in waiters:
            if synced is not None and w.txid <= synced:
                w.done = True
                w.wake.release()
            elif synced is None or not handed_on:
                w.wake.release()
                handed_on = True
            else:
                self._waiters.append(w)

    def _write(self, batch: list[bytes]) -> None:
        self._file.write(b"".join(batch))
        self._file.flush()
        os.fdatasync(self._file.fileno())

    def _check_failed(self) -> None:
        if self._failed is not None:
            raise EditLogFailedError(
                f"the edit log failed earlier and accepts no more records: {self._failed!r}"
            )

    def roll(self) -> None:
        """Make everything durable, then start a new segment at the next txid (after a
        checkpoint). Atomic with `append`: no record can land in the wrong segment."""
        while True:
            with self._lock:
                if not self._flushing:
                    self._roll_locked()
                    break
                waiter = _Waiter(self._last_txid)  # woken when the flush in progress ends
                self._waiters.append(waiter)
            waiter.wake.acquire()
        fsync_dir(self.directory)

    def _roll_locked(self) -> None:
        self._check_failed()
        if self._buffer:
            batch, self._buffer = self._buffer, []
            try:
                self._write(batch)
            except BaseException as e:
                self._failed = e
                self._wake(None)
                raise
            self._synced_txid = self._last_txid
            self.syncs += 1
            self._wake(self._synced_txid)
        self._file.close()
        self._file = open(self.directory / segment_name(self._last_txid + 1), "ab")  # noqa: SIM115

    def close(self) -> None:
        try:
            self.sync(self._last_txid)
        finally:
            self._file.close()
