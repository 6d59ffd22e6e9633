"""Split planning (mapreduce.splits): one split per block, small files packed, over
hand-built block lists."""

from __future__ import annotations

from itertools import pairwise

from mapreduce.protocol import Split
from mapreduce.splits import plan_splits
from minihadoop.models import (
    Block,
    DatanodeRef,
    FileStatus,
    FileType,
    LocatedBlock,
    LocatedBlocks,
)
from tests.unit.test_pure_core import forbidden_imports

block_ids = iter(range(1, 1_000_000))


def located(
    path: str, block_lengths: list[int], hosts: list[list[str]] | None = None
) -> LocatedBlocks:
    hosts = hosts or [[] for _ in block_lengths]
    blocks, offset = [], 0
    for length, holders in zip(block_lengths, hosts, strict=True):
        blocks.append(
            LocatedBlock(
                block=Block(block_id=next(block_ids), length=length),
                offset=offset,
                locations=[DatanodeRef(id=h, url=f"http://{h}:9864") for h in holders],
            )
        )
        offset += length
    status = FileStatus(path=path, type=FileType.FILE, length=offset)
    return LocatedBlocks(status=status, blocks=blocks)


def test_one_split_per_block_with_its_hosts() -> None:
    f = located("/in/a.txt", [100, 100, 30], [["dn1", "dn2"], ["dn2", "dn3"], ["dn3"]])
    assert plan_splits([f]) == [
        Split(path="/in/a.txt", start=0, length=100, file_length=230, hosts=["dn1", "dn2"]),
        Split(path="/in/a.txt", start=100, length=100, file_length=230, hosts=["dn2", "dn3"]),
        Split(path="/in/a.txt", start=200, length=30, file_length=230, hosts=["dn3"]),
    ]


def test_files_in_the_given_order_blocks_in_file_order() -> None:
    a = located("/in/b", [10, 5])
    b = located("/in/a", [7])
    splits = plan_splits([a, b])
    assert [(s.path, s.start, s.length) for s in splits] == [
        ("/in/b", 0, 10),
        ("/in/b", 10, 5),
        ("/in/a", 0, 7),
    ]
    # Blocks listed out of order are still planned in file order.
    shuffled = LocatedBlocks(status=a.status, blocks=list(reversed(a.blocks)))
    assert plan_splits([shuffled]) == plan_splits([a])


def test_empty_files_and_empty_blocks_yield_no_split() -> None:
    assert plan_splits([located("/in/empty", [])]) == []
    assert plan_splits([]) == []
    # A split [0, 0) would own the line at offset 0 as well as the split [0, 10) after it.
    with_empty = located("/in/x", [0, 10, 0])
    assert [(s.start, s.length) for s in plan_splits([with_empty])] == [(0, 10)]


def test_a_block_without_live_replicas_still_gets_a_split() -> None:
    (split,) = plan_splits([located("/in/lost", [42], [[]])])
    assert split.hosts == [] and split.length == split.file_length == 42


def test_splits_cover_each_file_exactly() -> None:
    files = [located(f"/in/{n}", lengths) for n, lengths in enumerate([[64, 64, 1], [3], [64]])]
    splits = [piece for split in plan_splits(files) for piece in split.pieces()]
    for f in files:
        mine = [s for s in splits if s.path == f.status.path]
        assert mine[0].start == 0
        assert all(a.start + a.length == b.start for a, b in pairwise(mine))
        assert mine[-1].start + mine[-1].length == f.status.length


# --- small files --------------------------------------------------------------------------


def test_small_files_are_packed_by_the_datanode_holding_most_of_them() -> None:
    files = [
        located("/in/big", [100, 100], [["dn1"], ["dn2"]]),
        located("/in/s1", [10], [["dn1", "dn2"]]),
        located("/in/s2", [10], [["dn2", "dn1"]]),
        located("/in/s3", [10], [["dn3", "dn1"]]),
        located("/in/s4", [10], [["dn2"]]),
        located("/in/s5", [10], [["dn3"]]),
    ]
    splits = plan_splits(files, small_file=50)
    assert [(s.path, s.start, s.length) for s in splits[:2]] == [
        ("/in/big", 0, 100),
        ("/in/big", 100, 100),
    ]
    # dn1 holds three of the five, dn2 then holds one left (s4), dn3 the last (s5).
    assert [(s.hosts[0], [p.path for p in s.pieces()]) for s in splits[2:]] == [
        ("dn1", ["/in/s1", "/in/s2", "/in/s3"]),
        ("dn2", ["/in/s4"]),
        ("dn3", ["/in/s5"]),
    ]
    assert splits[2].hosts == ["dn1"]  # no other datanode holds all three
    assert all((p.start, p.length, p.file_length) == (0, 10, 10) for p in splits[2].pieces())
    assert all(not p.more for s in splits for p in s.more)  # never nested


def test_files_on_every_datanode_make_one_split() -> None:
    orders = [["dn1", "dn2", "dn3"], ["dn2", "dn3", "dn1"], ["dn3", "dn1", "dn2"]]
    files = [located(f"/in/{i}", [5], [hosts]) for i, hosts in enumerate(orders)]
    (split,) = plan_splits(files, small_file=50)
    assert len(split.pieces()) == 3 and split.hosts == ["dn1", "dn2", "dn3"]


def test_a_split_that_all_its_files_share_is_placed_on_every_holder() -> None:
    files = [located(f"/in/{i}", [5], [["dn2", "dn1", "dn3"]]) for i in range(3)]
    files.append(located("/in/x", [5], [["dn2", "dn3"]]))
    (split,) = plan_splits(files, small_file=50)
    assert split.hosts == ["dn2", "dn3"]


def test_combined_splits_are_cut_by_bytes_and_by_files() -> None:
    files = [located(f"/in/{i:02d}", [10], [["dn1"]]) for i in range(25)]
    by_bytes = plan_splits(files, small_file=50, combined_bytes=100)
    assert [len(s.pieces()) for s in by_bytes] == [10, 10, 5]
    by_files = plan_splits(files, small_file=50, combined_files=7)
    assert [len(s.pieces()) for s in by_files] == [7, 7, 7, 4]
    # Every file once, in the given order.
    assert [p.path for s in by_files for p in s.pieces()] == [f.status.path for f in files]


def test_what_is_not_packed() -> None:
    files = [
        located("/in/large", [60], [["dn1"]]),  # not small
        located("/in/two", [5, 5], [["dn1"], ["dn1"]]),  # small but two blocks: as before
        located("/in/empty", [], []),  # no split at all
    ]
    assert [(s.path, s.start, bool(s.more)) for s in plan_splits(files, small_file=50)] == [
        ("/in/large", 0, False),
        ("/in/two", 0, False),
        ("/in/two", 5, False),
    ]
    smalls = [located(f"/in/{i}", [5], [["dn1"]]) for i in range(3)]
    assert len(plan_splits(smalls, small_file=0)) == 3  # packing off
    assert len(plan_splits(smalls, whole=True)) == 3  # whole files: one record each


def test_a_small_file_without_live_replicas_is_packed_too() -> None:
    files = [located(f"/in/{i}", [5], [[]]) for i in range(3)]
    (split,) = plan_splits(files, small_file=50)
    assert split.hosts == [] and len(split.pieces()) == 3


def test_splits_is_pure() -> None:
    assert forbidden_imports("mapreduce.splits") == {}
