"""Split planning: one map task per block of each input file.

A split is a block's byte range, not its records: which lines a split owns is decided by
`mapreduce.records` (Hadoop's LineRecordReader rule), so lines crossing block boundaries
are neither lost nor doubled. The hosts are the datanodes holding a replica of the block,
in the order the namenode gave them; the scheduler prefers a worker beside one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from mapreduce.protocol import Split
from minihadoop.models import LocatedBlocks


def plan_splits(files: Sequence[LocatedBlocks], *, whole: bool = False) -> list[Split]:
    """The splits of `files`: per file in the given order, one per block in file order —
    or, `whole`, one per file (placed where its first block is).

    Empty blocks are skipped, so an empty file yields no split. They must be: a split
    ``[0, 0)`` would own the line at offset 0, which the next split ``[0, n)`` owns too.
    """
    if whole:
        return [
            Split(
                path=located.status.path,
                start=0,
                length=located.status.length,
                file_length=located.status.length,
                hosts=[node.id for node in min(located.blocks, key=lambda b: b.offset).locations],
            )
            for located in files
            if located.status.length > 0
        ]
    return [
        Split(
            path=located.status.path,
            start=block.offset,
            length=block.block.length,
            file_length=located.status.length,
            hosts=[node.id for node in block.locations],
        )
        for located in files
        for block in sorted(located.blocks, key=lambda b: b.offset)
        if block.block.length > 0
    ]
