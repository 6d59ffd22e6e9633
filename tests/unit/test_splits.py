"""Split planning (mapreduce.splits): one split per block, over hand-built block lists."""

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
    splits = plan_splits(files)
    for f in files:
        mine = [s for s in splits if s.path == f.status.path]
        assert mine[0].start == 0
        assert all(a.start + a.length == b.start for a, b in pairwise(mine))
        assert mine[-1].start + mine[-1].length == f.status.length


def test_splits_is_pure() -> None:
    assert forbidden_imports("mapreduce.splits") == {}
