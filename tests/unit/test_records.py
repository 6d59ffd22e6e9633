"""Records of a split (mapreduce.records): Hadoop's LineRecordReader rule.

Checked against a brute-force oracle that enumerates a file's lines and gives each to the
split ``[s, e)`` with ``s < offset <= e`` (or ``offset == 0 == s``): exhaustively over
small files, and with hypothesis over larger ones cut into random pieces.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.records import LINE_SLACK, needed_range, split_records
from tests.unit.test_pure_core import forbidden_imports

Record = tuple[int, str]


def all_lines(data: bytes) -> list[Record]:
    """The oracle: every line of the file, with its offset, enumerated naively."""
    records, pos = [], 0
    while pos < len(data):
        newline = data.find(b"\n", pos)
        stop = len(data) if newline < 0 else newline
        line = data[pos:stop]
        if line.endswith(b"\r"):
            line = line[:-1]
        records.append((pos, line.decode("utf-8", errors="replace")))
        pos = stop + 1
    return records


def owned_lines(data: bytes, start: int, end: int) -> list[Record]:
    return [(p, text) for p, text in all_lines(data) if start < p <= end or p == start == 0]


def needed_pieces(data: bytes, start: int, end: int, piece_size: int) -> int:
    """How many pieces a lazy reader must pull: through the first newline at or past end."""
    newline = data.find(b"\n", end)
    if newline < 0:  # the last owned line ends with the file
        return len(cut(data[start:], piece_size))
    return (newline - start) // piece_size + 1


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def random_cut(data: bytes, rng: random.Random, most: int) -> list[bytes]:
    pieces, i = [], 0
    while i < len(data):
        size = rng.randint(1, most)
        pieces.append(data[i : i + size])
        i += size
    return pieces


class Counted:
    """An iterable of pieces that counts how many were pulled."""

    def __init__(self, pieces: Iterable[bytes]) -> None:
        self.pieces = iter(pieces)
        self.pulled = 0

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        piece = next(self.pieces)
        self.pulled += 1
        return piece


def read_split(
    data: bytes, start: int, end: int, pieces: list[bytes] | None = None
) -> list[Record]:
    return list(split_records(cut(data[start:], 7) if pieces is None else pieces, start, end))


# --- exhaustive over small files ------------------------------------------------------------


@pytest.mark.parametrize("length", range(7))
def test_every_small_file_every_split_every_piece_size(length: int) -> None:
    # "\xc3" alone is invalid UTF-8: offsets must stay byte offsets around replacements.
    for chars in itertools.product([b"a", b"\n", b"\r", b"\xc3"], repeat=length):
        data = b"".join(chars)
        for start in range(length + 1):
            for end in range(start, length + 1):
                expected = owned_lines(data, start, end)
                for size in (1, 2, 5):
                    pieces = Counted(cut(data[start:], size))
                    assert list(split_records(pieces, start, end)) == expected, (data, start, end)
                    assert pieces.pulled == needed_pieces(data, start, end, size), (data, start)


# --- random files, random splits, random pieces ---------------------------------------------

line_text = st.text(
    alphabet=st.sampled_from(["a", "b", " ", "\t", "\r", "é", "€", "𝄞", "中", "x"]), max_size=30
)
files = st.builds(
    lambda lines, endings, final: b"".join(
        line.encode() + ending for line, ending in zip(lines, endings, strict=False)
    )[: None if final else -1],
    st.lists(line_text, max_size=40),
    st.lists(st.sampled_from([b"\n", b"\r\n"]), min_size=40, max_size=40),
    st.booleans(),
)
block_sizes = st.integers(1, 50) | st.sampled_from([64, 100, 333, 1000, 4096])


@settings(max_examples=300, deadline=None)
@given(data=files, block_size=block_sizes, rng=st.randoms(use_true_random=False))
def test_splits_together_yield_every_line_once(
    data: bytes, block_size: int, rng: random.Random
) -> None:
    records: list[Record] = []
    for start in range(0, len(data), block_size):
        end = min(start + block_size, len(data))
        pieces = random_cut(data[start:], rng, rng.choice([1, 3, 16, 200]))
        got = list(split_records(pieces, start, end))
        assert got == owned_lines(data, start, end)
        records += got
    assert records == all_lines(data)


@settings(max_examples=200, deadline=None)
@given(data=files, rng=st.randoms(use_true_random=False))
def test_pulls_only_the_pieces_it_needs(data: bytes, rng: random.Random) -> None:
    start = rng.randint(0, len(data))
    end = rng.randint(start, len(data))
    size = rng.randint(1, 20)
    pieces = Counted(cut(data[start:], size))
    assert list(split_records(pieces, start, end)) == owned_lines(data, start, end)
    assert pieces.pulled == needed_pieces(data, start, end, size)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), block_size=st.integers(1, 40))
def test_arbitrary_bytes_keep_byte_offsets(data: bytes, block_size: int) -> None:
    records = [
        record
        for start in range(0, len(data), block_size)
        for record in read_split(data, start, min(start + block_size, len(data)))
    ]
    assert records == all_lines(data)


# --- the cases by name ----------------------------------------------------------------------


def test_a_line_starting_exactly_at_the_boundary_belongs_to_the_split_before() -> None:
    data = b"abcd\nefgh\nij\n"  # lines at 0, 5, 10
    assert read_split(data, 0, 5) == [(0, "abcd"), (5, "efgh")]
    assert read_split(data, 5, 10) == [(10, "ij")]
    assert read_split(data, 10, 13) == []


def test_a_split_inside_one_long_line_yields_nothing() -> None:
    data = b"short\n" + b"x" * 1000 + b"\nafter\n"
    assert read_split(data, 100, 200) == []
    # ...and stops pulling at the end of that line, not at the end of the file.
    pieces = Counted(cut(data[100:], 10))
    assert list(split_records(pieces, 100, 200)) == []
    assert pieces.pulled == (1006 - 100) // 10 + 1


def test_the_split_holding_a_long_line_reads_it_all() -> None:
    long_line = "y" * 5000
    data = f"a\n{long_line}\nb\n".encode()
    assert read_split(data, 0, 3, cut(data, 1)) == [(0, "a"), (2, long_line)]


def test_empty_file_yields_nothing() -> None:
    assert list(split_records([], 0, 0)) == []
    assert list(split_records([b""], 0, 0)) == []


def test_final_line_without_newline_is_a_record() -> None:
    assert read_split(b"one\ntwo", 0, 7) == [(0, "one"), (4, "two")]
    assert read_split(b"one\ntwo\r", 0, 8) == [(0, "one"), (4, "two")]


def test_blank_lines_are_records_but_a_trailing_newline_adds_none() -> None:
    assert read_split(b"\n\nx\n", 0, 4) == [(0, ""), (1, ""), (2, "x")]


def test_crlf_loses_one_carriage_return_and_keeps_byte_offsets() -> None:
    assert read_split(b"a\r\nb\r\r\nc", 0, 8) == [(0, "a"), (3, "b\r"), (7, "c")]


def test_non_ascii_offsets_are_byte_offsets() -> None:
    data = "héllo\n€uro\nz\n".encode()
    assert read_split(data, 0, len(data)) == [(0, "héllo"), (7, "€uro"), (14, "z")]


def test_empty_pieces_are_tolerated() -> None:
    data = b"ab\ncd\nef"
    pieces = [b"", b"ab", b"", b"\n", b"cd\n", b"", b"ef", b""]
    assert list(split_records(pieces, 0, 8)) == all_lines(data)
    assert list(split_records([b"", b"b\nc", b"", b"d\nef"], 1, 4)) == [(3, "cd")]


def test_bad_bounds_are_refused_at_once() -> None:
    with pytest.raises(ValueError):
        split_records([], 5, 4)
    with pytest.raises(ValueError):
        split_records([], -1, 4)


def test_needed_range_reads_from_start_with_a_capped_hint() -> None:
    assert needed_range(0, 100, 1 << 30) == (0, 100 + LINE_SLACK)
    assert needed_range(900, 100, 1000) == (900, 1000)
    assert needed_range(0, 0, 0) == (0, 0)
    with pytest.raises(ValueError):
        needed_range(900, 200, 1000)
    with pytest.raises(ValueError):
        needed_range(-1, 10, 1000)


def test_records_is_pure() -> None:
    assert forbidden_imports("mapreduce.records") == {}
