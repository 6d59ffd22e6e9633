"""Chunked CRC32C checksums (minihadoop.checksum)."""

from __future__ import annotations

import itertools
import random

import crc32c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minihadoop.checksum import (
    CHECKSUM_SIZE,
    ChunkChecksummer,
    checksum_length,
    chunk_checksums,
    unpack,
    verify,
)
from minihadoop.errors import ChecksumError


def data_of(n: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(n)


# --------------------------------------------------------------------------- whole buffers


def test_chunk_checksums_are_little_endian_crc32c_per_chunk() -> None:
    data = b"abcdefghij"
    sums = chunk_checksums(data, 4)
    assert len(sums) == 3 * CHECKSUM_SIZE
    assert unpack(sums) == [crc32c.crc32c(b"abcd"), crc32c.crc32c(b"efgh"), crc32c.crc32c(b"ij")]
    assert sums[:4] == crc32c.crc32c(b"abcd").to_bytes(4, "little")


def test_empty_data_has_no_checksums() -> None:
    assert chunk_checksums(b"", 512) == b""
    assert checksum_length(0, 512) == 0
    verify(b"", b"", 512)


@pytest.mark.parametrize(
    ("length", "bpc", "expected"),
    [(1, 512, 4), (511, 512, 4), (512, 512, 4), (513, 512, 8), (4096 * 3, 4096, 12)],
)
def test_checksum_length(length: int, bpc: int, expected: int) -> None:
    assert checksum_length(length, bpc) == expected
    assert len(chunk_checksums(bytes(length), bpc)) == expected


def test_chunk_checksums_accepts_any_buffer() -> None:
    data = data_of(1000)
    expected = chunk_checksums(data, 64)
    assert chunk_checksums(bytearray(data), 64) == expected
    assert chunk_checksums(memoryview(data), 64) == expected


# --------------------------------------------------------------------------- streaming


@settings(max_examples=150, derandomize=True, deadline=None)
@given(
    length=st.integers(min_value=0, max_value=3000),
    bpc=st.sampled_from([1, 7, 64, 512, 1024]),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=12),
    kind=st.sampled_from([bytes, bytearray, memoryview]),
)
def test_streamed_pieces_of_any_size_give_the_whole_buffers_checksums(
    length: int, bpc: int, cuts: list[int], kind: type
) -> None:
    data = data_of(length, seed=length)
    bounds = sorted({0, length, *(c for c in cuts if c <= length)})
    summer = ChunkChecksummer(bpc)
    for start, end in itertools.pairwise(bounds):
        summer.update(kind(data[start:end]))
    assert summer.length == length
    assert summer.finish() == chunk_checksums(data, bpc)


def test_empty_pieces_change_nothing() -> None:
    summer = ChunkChecksummer(4)
    for piece in (b"", b"ab", b"", b"cdef", b"", b"g", b""):
        summer.update(piece)
    assert summer.length == 7
    assert summer.finish() == chunk_checksums(b"abcdefg", 4)


def test_finish_twice_adds_nothing() -> None:
    summer = ChunkChecksummer(4)
    summer.update(b"abcdef")
    first = summer.finish()
    assert summer.finish() == first == chunk_checksums(b"abcdef", 4)


# --------------------------------------------------------------------------- verify


def test_verify_accepts_matching_data() -> None:
    data = data_of(5000)
    verify(data, chunk_checksums(data, 512), 512)


@settings(max_examples=100, derandomize=True, deadline=None)
@given(
    length=st.integers(min_value=1, max_value=4000),
    bpc=st.sampled_from([16, 512, 1024]),
    where=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_verify_names_the_chunk_holding_a_flipped_bit(
    length: int, bpc: int, where: int, bit: int
) -> None:
    data = bytearray(data_of(length, seed=length))
    sums = chunk_checksums(data, bpc)
    pos = where % length
    data[pos] ^= 1 << bit
    chunk = pos // bpc
    with pytest.raises(ChecksumError, match=rf"block 7: checksum mismatch in chunk {chunk} "):
        verify(data, sums, bpc, where="block 7")


def test_verify_counts_chunks_from_first_chunk_and_reports_the_byte_offset() -> None:
    data = bytearray(data_of(2048))
    sums = chunk_checksums(data, 512)
    data[1500] ^= 0xFF  # chunk 2 of this range
    with pytest.raises(ChecksumError, match=r"chunk 12 \(bytes 6144…\)"):
        verify(data, sums, 512, first_chunk=10)


def test_verify_rejects_a_wrong_number_of_checksums() -> None:
    data = data_of(1024)
    sums = chunk_checksums(data, 512)
    with pytest.raises(ChecksumError, match="1 checksums for 2 chunks"):
        verify(data, sums[:CHECKSUM_SIZE], 512)
    with pytest.raises(ChecksumError, match="3 checksums for 2 chunks"):
        verify(data, sums + sums[:CHECKSUM_SIZE], 512)


def test_checksum_error_is_a_409() -> None:
    with pytest.raises(ChecksumError) as info:
        verify(b"x", b"\0\0\0\0", 512)
    assert info.value.status == 409
