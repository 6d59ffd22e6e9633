"""Checksummed frames, decoded from bytes with no I/O: the unit a log segment is made of.

A frame is ``u32 length | u32 crc32c(payload) | payload`` (little-endian), the namenode edit
log's framing. A payload is never empty, so a zero length is padding that was never written.

`read_frames` yields the good frames from the start of a buffer and stops at the first bad
one with a `FrameError` that says where, what is wrong, and whether the damage is *torn*:
no good frame starts anywhere after it. Only the owner of the buffer knows whether a torn
end is the tail of a write that never returned (the newest segment) or corruption (any
other file); the frames themselves cannot tell.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator

import crc32c

HEADER = struct.Struct("<II")
MAX_PAYLOAD = 64 << 20  # a larger one could be written, but never told apart from garbage
_NON_ZERO = re.compile(b"[^\\x00]")


class FrameError(Exception):
    """The frame at `offset` is bad. `torn` when no good frame follows it."""

    def __init__(self, offset: int, problem: str, *, torn: bool) -> None:
        super().__init__(f"{problem} at offset {offset}")
        self.offset = offset
        self.problem = problem
        self.torn = torn


def frame(payload: bytes) -> bytes:
    if not payload or len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a frame holds 1 to {MAX_PAYLOAD} bytes, not {len(payload)}")
    return HEADER.pack(len(payload), crc32c.crc32c(payload)) + payload


def read_frames(data: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(offset, payload) of each good frame from the start; `FrameError` at a bad one."""
    pos, end, size = 0, len(data), HEADER.size
    unpack, crc = HEADER.unpack_from, crc32c.crc32c
    while pos < end:
        # The common case inline (a million entries are a million frames); the checks in
        # the order `problem` makes them when anything is off.
        if pos + size <= end:
            length, checksum = unpack(data, pos)
            stop = pos + size + length
            if 0 < length <= MAX_PAYLOAD and stop <= end:
                payload = data[pos + size : stop]
                if crc(payload) == checksum:
                    yield pos, payload
                    pos = stop
                    continue
        raise FrameError(pos, problem(data, pos) or "bad frame", torn=is_torn(data, pos))


def problem(data: memoryview, pos: int) -> str | None:
    """What is wrong with the frame at `pos`; None when it is good."""
    if pos + HEADER.size > len(data):
        return "truncated header"
    length, checksum = HEADER.unpack_from(data, pos)
    if length == 0:
        return "empty frame (zero padding?)"
    if length > MAX_PAYLOAD:
        return f"frame length {length} too large"
    stop = pos + HEADER.size + length
    if stop > len(data):
        return "truncated frame"
    if crc32c.crc32c(data[pos + HEADER.size : stop]) != checksum:
        return "checksum mismatch"
    return None


def is_torn(data: memoryview, pos: int) -> bool:
    """A bad frame is a torn end when no good frame starts after it.

    A torn write leaves a partial last batch: a frame that runs past the end, or garbage or
    zeros after the last good frame. Rot in the middle (even in a length field, which hides
    where the next frame starts) leaves good frames after the bad one; finding any proves the
    damage is not a tail. Costs a pass over the rest of the buffer, only when damage is found.
    """
    unpack, size, end = HEADER.unpack_from, HEADER.size, len(data)
    p = pos + 1
    while p < end - size:
        length, _ = unpack(data, p)
        if length == 0:
            # Zero padding (a file extended but never written) is the usual torn tail: jump
            # to the first frame start whose length holds a non-zero byte.
            found = _NON_ZERO.search(data, p + 4)
            if found is None:
                return True
            p = max(p + 1, found.start() - 3)
            continue
        if length <= MAX_PAYLOAD and p + size + length <= end and problem(data, p) is None:
            return False
        p += 1
    return True
