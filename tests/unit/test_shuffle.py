"""Runs, the merge and the map-side sort buffer: files in a temp folder, no HTTP."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mapreduce.partition import default_partition
from mapreduce.shuffle import (
    FRAME_GROUPS,
    Group,
    MapOutputBuffer,
    MapOutputError,
    RunFormatError,
    merge_passes,
    merge_runs,
    read_run,
    write_run,
)
from mapreduce.task import shuffle_path

TEXT = (
    """the quick brown fox jumps over the lazy dog
a dog is not a fox but the fox is quick
over and over and over the hills the fox ran
"""
    * 7
)


def word_pairs(text: str) -> Iterator[tuple[str, int]]:
    for line in text.splitlines():
        for word in line.split():
            yield word, 1


def summing(key: Any, values: Iterable[int]) -> Iterator[tuple[Any, int]]:
    yield key, sum(values)


def grouped(pairs: Iterable[tuple[Any, Any]]) -> list[Group]:
    """The reference: sorted keys, each with its values in arrival order."""
    groups: dict[Any, list[Any]] = {}
    for key, value in pairs:
        groups.setdefault(key, []).append(value)
    return sorted(groups.items())


# --- runs ---------------------------------------------------------------------------------


def test_run_round_trip_by_path_and_by_file(tmp_path: Path) -> None:
    groups: list[Group] = [
        (("a", 1), [None, b"x"]),
        (("a", 2), [1.5]),
        (("b", 0), [{"nested": [1, 2]}, "text"]),
    ]
    path = tmp_path / "r.run"
    size = write_run(path, groups)
    assert size == path.stat().st_size > 0
    assert list(read_run(path)) == groups
    assert list(read_run(str(path))) == groups
    with open(path, "rb") as f:
        assert list(read_run(f)) == groups


def test_a_run_spans_many_frames(tmp_path: Path) -> None:
    groups = [(i, [i, -i]) for i in range(FRAME_GROUPS * 2 + 5)]
    path = tmp_path / "r.run"
    write_run(path, iter(groups))
    assert list(read_run(path)) == groups


def test_empty_run(tmp_path: Path) -> None:
    path = tmp_path / "empty.run"
    assert write_run(path, []) == 0
    assert path.read_bytes() == b""
    assert list(read_run(path)) == []


def test_truncated_run_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.run"
    write_run(path, [("k", [1, 2, 3])])
    data = path.read_bytes()
    for cut in (3, len(data) - 1):
        with pytest.raises(RunFormatError, match="truncated"):
            list(read_run(io.BytesIO(data[:cut])))


# --- merge --------------------------------------------------------------------------------


def test_merge_groups_equal_keys_across_runs_in_run_order() -> None:
    runs = [
        [("a", [1]), ("c", [2])],
        [("a", [3]), ("b", [4]), ("c", [5, 6])],
        [],
        [("d", [7])],
    ]
    merged = list(merge_runs([iter(r) for r in runs]))
    assert merged == [("a", [1, 3]), ("b", [4]), ("c", [2, 5, 6]), ("d", [7])]
    assert list(merge_runs([])) == []


@settings(max_examples=200, deadline=None)
@given(
    pairs=st.lists(st.tuples(st.integers(-20, 20), st.integers()), max_size=200),
    cuts=st.lists(st.integers(0, 200), max_size=8),
)
def test_merge_of_any_split_equals_sorted_grouping(
    pairs: list[tuple[int, int]], cuts: list[int]
) -> None:
    # Split the records into consecutive chunks, each sorted and grouped into a run: the
    # merge must give each key's values in the original order.
    bounds = sorted({0, len(pairs), *(c for c in cuts if c < len(pairs))})
    runs = [grouped(pairs[lo:hi]) for lo, hi in pairwise(bounds)]
    merged = list(merge_runs([iter(r) for r in runs]))
    assert merged == grouped(pairs)


def test_merge_of_run_files_and_merge_passes(tmp_path: Path) -> None:
    pairs = list(word_pairs(TEXT))
    paths = []
    for i in range(7):
        path = tmp_path / f"in-{i}.run"
        write_run(path, grouped(pairs[i::7]))
        paths.append(path)
    left = merge_passes(paths, factor=3)
    assert len(left) <= 3
    assert sorted(tmp_path.iterdir()) == sorted(left)
    merged = list(merge_runs([read_run(p) for p in left]))
    assert [(k, sum(v)) for k, v in merged] == sorted(Counter(w for w, _ in pairs).items())


# --- the map-side buffer ------------------------------------------------------------------


def final_output(paths: list[Path]) -> list[list[Group]]:
    return [list(read_run(p)) for p in paths]


def run_buffer(directory: Path, pairs: Iterable[tuple[Any, Any]], **kw: Any) -> MapOutputBuffer:
    directory.mkdir()
    buffer = MapOutputBuffer(directory, kw.pop("partitions", 3), **kw)
    buffer.add_all(pairs)
    return buffer


@pytest.mark.parametrize("combiner", [None, summing])
def test_spilling_gives_the_same_output_as_not_spilling(tmp_path: Path, combiner: Any) -> None:
    pairs = list(word_pairs(TEXT))
    whole = run_buffer(tmp_path / "whole", pairs, limit=10_000, combiner=combiner)
    spilled = run_buffer(tmp_path / "spilled", pairs, limit=7, combiner=combiner)
    expected = final_output(whole.finish())
    got = final_output(spilled.finish())
    assert whole.counters["SPILLS"] == 1
    if combiner is None:
        assert spilled.counters["SPILLS"] == -(-len(pairs) // 7)
    else:  # 16 distinct words: combining in memory never frees half of 7
        assert spilled.counters["SPILLS"] > 10
    totals = Counter(w for w, _ in pairs)
    for r, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert [k for k, _ in have] == [k for k, _ in want]
        assert all(default_partition(k, 3) == r for k, _ in have)
        assert {k: sum(v) for k, v in have} == {k: totals[k] for k, _ in want}
        if combiner is not None:  # combined again while merging: one value per key
            assert all(len(v) == 1 for _, v in have)
    assert sorted(p.name for p in (tmp_path / "spilled").iterdir()) == [
        "part-0.run",
        "part-1.run",
        "part-2.run",
    ]


def test_add_and_add_all_agree(tmp_path: Path) -> None:
    pairs = list(word_pairs(TEXT))
    one = MapOutputBuffer(tmp_path, 2, limit=11)
    for k, v in pairs:
        one.add(k, v)
    (tmp_path / "b").mkdir()
    many = MapOutputBuffer(tmp_path / "b", 2, limit=11)
    many.add_all(iter(pairs))
    assert one.output_records == many.output_records == len(pairs)
    assert final_output(one.finish()) == final_output(many.finish())
    assert one.counters == many.counters


def test_combiner_counters(tmp_path: Path) -> None:
    buffer = MapOutputBuffer(tmp_path, 1, limit=2, combiner=summing)
    buffer.add_all([("a", 1), ("a", 1), ("b", 1), ("a", 1)])
    # full at a,a: combined in memory to a[2], which frees half the buffer; full again at
    # a[2],b[1]: nothing to combine (single values), spill 0; finish: spill 1 is a[1];
    # merge: a[2,1] -> a[3], b[1] as it is.
    assert final_output(buffer.finish()) == [[("a", [3]), ("b", [1])]]
    assert buffer.counters == {
        "COMBINE_INPUT_RECORDS": 2 + 2,
        "COMBINE_OUTPUT_RECORDS": 1 + 1,
        "SPILLS": 2,
        "SPILLED_RECORDS": 2 + 1 + 2,
    }
    assert buffer.output_records == 4


def test_a_combiner_with_few_keys_combines_in_memory_instead_of_spilling(tmp_path: Path) -> None:
    pairs = list(word_pairs(TEXT))
    distinct = len({w for w, _ in pairs})
    buffer = MapOutputBuffer(tmp_path, 1, limit=distinct * 3, combiner=summing)
    buffer.add_all(pairs)
    [groups] = final_output(buffer.finish())
    assert groups == sorted((k, [n]) for k, n in Counter(w for w, _ in pairs).items())
    assert buffer.counters["SPILLS"] == 1
    assert buffer.counters["COMBINE_INPUT_RECORDS"] > len(pairs) > distinct * 3


def test_a_combiner_that_emits_nothing_drops_the_key(tmp_path: Path) -> None:
    def drop_rare(key: str, values: list[int]) -> Iterator[tuple[str, int]] | None:
        if sum(values) < 2:
            return None
        return iter([(key, sum(values))])

    buffer = MapOutputBuffer(tmp_path, 1, combiner=drop_rare)
    buffer.add_all([("a", 1), ("b", 0), ("a", 1), ("b", 1)])
    assert final_output(buffer.finish()) == [[("a", [2])]]


def test_a_combiner_that_changes_keys_is_regrouped_and_not_used_to_merge(tmp_path: Path) -> None:
    def total(key: str, values: list[int]) -> Iterator[tuple[str, int]]:
        yield "total", sum(values)

    buffer = MapOutputBuffer(tmp_path, 1, limit=3, combiner=total)
    buffer.add_all(word_pairs(TEXT))
    assert buffer.counters["SPILLS"] > 1
    [groups] = final_output(buffer.finish())  # merged without the combiner: still sorted
    assert [k for k, _ in groups] == sorted({k for k, _ in groups})
    assert "total" in dict(groups)
    assert sum(sum(v) for _, v in groups) == len(list(word_pairs(TEXT)))


def test_no_output_gives_an_empty_run_per_partition(tmp_path: Path) -> None:
    buffer = MapOutputBuffer(tmp_path, 4)
    paths = buffer.finish()
    assert [p.name for p in paths] == [f"part-{r}.run" for r in range(4)]
    assert all(p.read_bytes() == b"" for p in paths)
    assert buffer.counters["SPILLS"] == 0


def test_a_custom_partitioner(tmp_path: Path) -> None:
    buffer = MapOutputBuffer(tmp_path, 2, partitioner=lambda key, n: len(key) % n)
    buffer.add_all(word_pairs(TEXT))
    for r, groups in enumerate(final_output(buffer.finish())):
        assert groups and all(len(k) % 2 == r for k, _ in groups)


@pytest.mark.parametrize("bad", [2, -1, "0", None])
def test_a_partition_out_of_range_is_a_clear_error(tmp_path: Path, bad: Any) -> None:
    buffer = MapOutputBuffer(tmp_path, 2, partitioner=lambda key, n: bad)
    buffer.add("k", 1)
    with pytest.raises(MapOutputError, match=r"partitioner returned .* for key 'k'"):
        buffer.finish()


def test_unsortable_keys_are_a_clear_error(tmp_path: Path) -> None:
    buffer = MapOutputBuffer(tmp_path, 1)
    buffer.add_all([(1, "x"), ("a", "y")])
    with pytest.raises(MapOutputError, match="map output keys must be sortable"):
        buffer.finish()


# --- where a worker finds map output ------------------------------------------------------


def test_shuffle_path(tmp_path: Path) -> None:
    path = shuffle_path(tmp_path, "job_1", "attempt_1_m_000003_0", 2)
    assert path == tmp_path / "job_1" / "attempt_1_m_000003_0" / "part-2.run"


@pytest.mark.parametrize(
    ("job", "attempt"),
    [("../x", "a"), ("a/b", "a"), ("job", "../x"), ("job", "a/b"), ("..", "a"), ("job", "")],
)
def test_shuffle_path_rejects_ids_that_leave_the_work_dir(
    tmp_path: Path, job: str, attempt: str
) -> None:
    with pytest.raises(ValueError, match="bad"):
        shuffle_path(tmp_path, job, attempt, 0)


def test_shuffle_path_rejects_bad_partitions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bad partition"):
        shuffle_path(tmp_path, "job", "attempt", -1)


def test_merge_does_not_need_more_than_one_frame_per_run(tmp_path: Path) -> None:
    # The merge pulls lazily: after the first group, each run has been read one frame deep.
    pulled: list[int] = []

    def tracked(i: int, groups: list[Group]) -> Iterator[Group]:
        for g in groups:
            pulled.append(i)
            yield g

    runs = [tracked(i, [(k, [k]) for k in range(i, 10_000, 3)]) for i in range(3)]
    merged = merge_runs(runs)
    assert next(merged) == (0, [0])
    assert len(pulled) <= 4
    assert [k for k, _ in chain([(0, [0])], merged)] == list(range(10_000))
