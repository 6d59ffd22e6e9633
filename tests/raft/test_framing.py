"""Frames (raft.framing) and records (raft.records) decoded from bytes, no files."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from raft import records
from raft.framing import FrameError, frame, read_frames
from raft.records import NewerVersionError, RecordError, Reset
from raft.types import Entry, HardState


def frames_of(data: bytes) -> list[bytes]:
    return [bytes(payload) for _, payload in read_frames(memoryview(data))]


def damage(data: bytes) -> FrameError:
    with pytest.raises(FrameError) as err:
        frames_of(data)
    return err.value


def test_frames_read_back_in_order_with_their_offsets() -> None:
    data = frame(b"one") + frame(b"two!")
    assert [(o, bytes(p)) for o, p in read_frames(memoryview(data))] == [
        (0, b"one"),
        (11, b"two!"),
    ]


def test_an_empty_or_oversized_payload_is_not_framed() -> None:
    with pytest.raises(ValueError):
        frame(b"")


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        (frame(b"abcdef")[:5], "truncated header"),
        (frame(b"abcdef")[:10], "truncated frame"),
        (bytes(64), "empty frame"),
        (b"\xff\xff\xff\xff" + bytes(8), "too large"),
        (frame(b"abcdef")[:-1] + b"X", "checksum mismatch"),
    ],
)
def test_damage_with_nothing_good_after_it_is_torn(tail: bytes, problem: str) -> None:
    good = frame(b"first")
    err = damage(good + tail)
    assert (err.offset, err.torn) == (len(good), True)
    assert problem in err.problem


@pytest.mark.parametrize("gap", [b"", bytes(3), bytes(5000), b"\x07" * 9])
def test_damage_with_a_good_frame_after_it_is_not_torn(gap: bytes) -> None:
    bad = bytearray(frame(b"middle record"))
    bad[9] ^= 1
    err = damage(frame(b"first") + bytes(bad) + gap + frame(b"after"))
    assert not err.torn
    assert err.problem == "checksum mismatch"


def test_a_long_garbage_or_zero_tail_is_judged_torn() -> None:
    assert damage(frame(b"x") + bytes(4 << 20)).torn
    assert damage(frame(b"x") + os.urandom(64 << 10)).torn


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.builds(Entry, st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1), st.binary()),
            st.builds(
                HardState,
                st.integers(0, 2**64 - 1),
                st.one_of(st.none(), st.text(max_size=20)),
                st.integers(0, 2**64 - 1),
            ),
            st.builds(Reset, st.integers(1, 2**64 - 1), st.integers(1, 2**64 - 1)),
        ),
        max_size=20,
    )
)
def test_records_round_trip_through_frames(written: list[Entry | HardState | Reset]) -> None:
    data = b"".join(frame(records.encode(r)) for r in written)
    assert [records.decode(p) for _, p in read_frames(memoryview(data))] == written


def test_a_record_from_a_newer_version_is_refused() -> None:
    with pytest.raises(NewerVersionError, match="format version 2; this build reads up to 1"):
        records.decode(memoryview(bytes([2, 1]) + bytes(16)))


@pytest.mark.parametrize(
    "payload",
    [
        b"\x01",  # no type
        b"\x00\x01" + bytes(16),  # version 0
        b"\x01\x01" + bytes(3),  # an entry too short for its term and index
        b"\x01\x02" + bytes(16) + b"\x02",  # a hard state with vote flag 2
        b"\x01\x03" + bytes(17),  # a reset one byte too long
        b"\x01\x09",  # no such type
    ],
)
def test_a_record_that_does_not_decode_is_a_record_error(payload: bytes) -> None:
    with pytest.raises(RecordError):
        records.decode(memoryview(payload))
