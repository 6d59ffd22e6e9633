"""Split planning: one map task per block of each input file, small files packed together.

A split is a block's byte range, not its records: which lines a split owns is decided by
`mapreduce.records` (Hadoop's LineRecordReader rule), so lines crossing block boundaries
are neither lost nor doubled. The hosts are the datanodes holding a replica of the block,
in the order the namenode gave them; the scheduler prefers a worker beside one of them.

**Small files** are packed, as Hadoop's `CombineFileInputFormat` does, but by default: a
file of one block smaller than `SMALL_FILE` does not get a map of its own (a map per 10 KB
file would spend its time starting, not mapping). Such files are grouped by datanode, the
one holding the most of them first, and each group is cut, in the files' order, into
combined splits of at most `COMBINED_BYTES` bytes and `COMBINED_FILES` files, placed on that
datanode and on any other that holds every file of the split. A combined split is the
first file's split with the rest in `Split.more`; each file is still read whole, by the
same line rule, so no record is lost or doubled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from mapreduce.protocol import Split
from minihadoop.models import LocatedBlocks

SMALL_FILE = 4 << 20  # bytes: a one-block file under this is packed with others
COMBINED_BYTES = 64 << 20  # at most this many bytes in one combined split
COMBINED_FILES = 2000  # and at most this many files: bounds a map's opens

T = TypeVar("T")


def plan_splits(
    files: Sequence[LocatedBlocks],
    *,
    whole: bool = False,
    small_file: int = SMALL_FILE,
    combined_bytes: int = COMBINED_BYTES,
    combined_files: int = COMBINED_FILES,
) -> list[Split]:
    """The splits of `files`: per file in the given order, one per block in file order —
    or, `whole`, one per file (placed where its first block is); then the small files'
    combined splits (`small_file=0` packs none).

    Empty blocks are skipped, so an empty file yields no split. They must be: a split
    ``[0, 0)`` would own the line at offset 0, which the next split ``[0, n)`` owns too.
    """
    if whole:
        return [_whole(located) for located in files if located.status.length > 0]
    splits: list[Split] = []
    small: list[LocatedBlocks] = []
    for located in files:
        if 0 < located.status.length < small_file and len(located.blocks) == 1:
            small.append(located)
            continue
        splits += [
            Split(
                path=located.status.path,
                start=block.offset,
                length=block.block.length,
                file_length=located.status.length,
                hosts=[node.id for node in block.locations],
            )
            for block in sorted(located.blocks, key=lambda b: b.offset)
            if block.block.length > 0
        ]
    return splits + _combined(small, combined_bytes, combined_files)


def _whole(located: LocatedBlocks) -> Split:
    """A whole file as one split, placed where its first block is."""
    first = min(located.blocks, key=lambda b: b.offset)
    length = located.status.length
    return Split(
        path=located.status.path,
        start=0,
        length=length,
        file_length=length,
        hosts=[node.id for node in first.locations],
    )


def _combined(small: list[LocatedBlocks], max_bytes: int, max_files: int) -> list[Split]:
    """Small one-block files packed by datanode: the datanode holding the most of the files
    not yet packed takes all of them (ties: the one seen first), then the next, and so on;
    files without a live replica go last, together."""
    files = [_whole(located) for located in small]
    holding: dict[str, list[int]] = {}  # datanode -> indexes of the files it holds
    for i, split in enumerate(files):
        for host in split.hosts:
            holding.setdefault(host, []).append(i)
    unpacked = {host: len(held) for host, held in holding.items()}  # of the files left
    left = set(range(len(files)))
    out: list[Split] = []
    while left:
        host = max(unpacked, key=unpacked.__getitem__, default="")
        if unpacked.get(host):
            members = [i for i in holding[host] if i in left]
        else:
            host, members = "", sorted(left)
        left.difference_update(members)
        for i in members:
            for holder in files[i].hosts:
                unpacked[holder] -= 1
        for batch in batches(members, lambda i: files[i].length, max_bytes, max_files):
            out.append(_pack(host, [files[i] for i in batch]))
    return out


def batches(
    items: Sequence[T], size: Callable[[T], int], max_bytes: int, max_files: int
) -> list[list[T]]:
    """`items` cut, in order, into batches of at most `max_files` items whose sizes add up
    to at most `max_bytes` (an item larger than that alone)."""
    out: list[list[T]] = []
    batch: list[T] = []
    total = 0
    for item in items:
        if batch and (total + size(item) > max_bytes or len(batch) >= max_files):
            out.append(batch)
            batch, total = [], 0
        batch.append(item)
        total += size(item)
    if batch:
        out.append(batch)
    return out


def _pack(host: str, batch: list[Split]) -> Split:
    """One split of `batch`'s files: on `host`, then on any datanode holding all of them."""
    common = set(batch[0].hosts).intersection(*(s.hosts for s in batch[1:]))
    hosts = ([host] if host else []) + [h for h in batch[0].hosts if h in common and h != host]
    first = batch[0]
    return first.model_copy(update={"hosts": hosts, "more": batch[1:]})
