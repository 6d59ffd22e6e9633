"""The typed records of the Raft write-ahead log, encoded to and decoded from frame payloads.

A payload is ``u8 version | u8 type | body`` (integers little-endian):

    ENTRY       u64 term | u64 index | data
    HARD_STATE  u64 term | u64 commit | u8 has_vote | vote (UTF-8)
    RESET       u64 index | u64 term

RESET says "the log now ends at `index` (of `term`), covered by a snapshot": every entry
read before it is gone and the next entry is `index + 1`. It is written when a snapshot
replaces a log that does not contain the snapshot's last entry (Raft §7).

Versions: this build writes `FORMAT_VERSION` and reads every version up to it. A record of a
newer version is refused with `NewerVersionError`, not guessed at: the checksum proved it
was written so, by a build that knows more. A later version adds a branch to `decode` for
what it changed and keeps reading the old layouts.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from raft.types import Entry, HardState

FORMAT_VERSION = 1


class RecordType(enum.IntEnum):
    ENTRY = 1
    HARD_STATE = 2
    RESET = 3


@dataclass(frozen=True, slots=True)
class Reset:
    """The log was replaced by a snapshot whose last entry is (`index`, `term`)."""

    index: int
    term: int


Record = Entry | HardState | Reset


class RecordError(ValueError):
    """A payload whose checksum matched but that does not decode: written wrong."""


class NewerVersionError(RecordError):
    def __init__(self, version: int) -> None:
        super().__init__(
            f"written by format version {version}; this build reads up to {FORMAT_VERSION}"
        )
        self.version = version


_PREFIX = struct.Struct("<BB")
_ENTRY = struct.Struct("<BBQQ")
_HARD_STATE = struct.Struct("<BBQQB")
_RESET = struct.Struct("<BBQQ")
_ENTRY_HEAD = _ENTRY.pack(FORMAT_VERSION, RecordType.ENTRY, 0, 0)[:2]


def encode(record: Record) -> bytes:
    if isinstance(record, Entry):
        return _ENTRY.pack(FORMAT_VERSION, RecordType.ENTRY, record.term, record.index) + (
            record.data
        )
    if isinstance(record, HardState):
        vote = b"" if record.vote is None else record.vote.encode()
        has_vote = record.vote is not None
        head = _HARD_STATE.pack(
            FORMAT_VERSION, RecordType.HARD_STATE, record.term, record.commit, has_vote
        )
        return head + vote
    return _RESET.pack(FORMAT_VERSION, RecordType.RESET, record.index, record.term)


def decode(payload: memoryview) -> Record:
    if len(payload) < _PREFIX.size:
        raise RecordError(f"record of {len(payload)} bytes has no type")
    if payload[:2] == _ENTRY_HEAD and len(payload) >= _ENTRY.size:  # the common case first
        _, _, term, index = _ENTRY.unpack_from(payload)
        return Entry(term, index, bytes(payload[_ENTRY.size :]))
    version, kind = _PREFIX.unpack_from(payload)
    if version > FORMAT_VERSION:
        raise NewerVersionError(version)
    if version < 1:
        raise RecordError(f"format version {version} does not exist")
    try:
        if kind == RecordType.HARD_STATE:
            _, _, term, commit, has_vote = _HARD_STATE.unpack_from(payload)
            if has_vote > 1:
                raise RecordError(f"hard state vote flag {has_vote}")
            vote = bytes(payload[_HARD_STATE.size :]).decode() if has_vote else None
            return HardState(term, vote, commit)
        if kind == RecordType.RESET:
            _, _, index, term = _RESET.unpack_from(payload)
            if len(payload) != _RESET.size:
                raise RecordError(f"reset record of {len(payload)} bytes")
            return Reset(index, term)
        if kind == RecordType.ENTRY:
            raise RecordError(f"entry record of {len(payload)} bytes")
    except (struct.error, UnicodeDecodeError) as e:
        raise RecordError(f"unreadable record of type {kind}: {e}") from None
    raise RecordError(f"unknown record type {kind}")
