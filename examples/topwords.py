"""Two chained jobs: count words, then keep the top K — a job whose input is a job's output.

    python examples/topwords.py /books /tmp/topwords 20

Job 1 is examples/wordcount.py. Job 2 reads its `word<TAB>count` lines; every mapper emits
one key (None) with (count, word) pairs, its combiner keeps each map's local top K, and the
single reducer merges those into the global top K, written as `word<TAB>count`. The helper
module `textstats` beside this script is imported by the functions and travels to the
workers with them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

import textstats
import wordcount

from mapreduce import Job
from minihadoop import FileSystem

K = 20


def top_mapper(offset: int, line: str) -> Iterator[tuple[None, tuple[int, str]]]:
    word, count = line.split("\t")
    yield None, (int(count), word)


def top_combiner(
    _key: None, pairs: Iterable[tuple[int, str]]
) -> Iterator[tuple[None, tuple[int, str]]]:
    for pair in textstats.top(pairs, K):
        yield None, pair


def top_reducer(_key: None, pairs: Iterable[tuple[int, str]]) -> Iterator[tuple[str, int]]:
    for count, word in textstats.top(pairs, K):
        yield word, count


def main(inputs: str, workdir: str, k: int) -> None:
    global K
    K = k
    counts, top = f"{workdir}/counts", f"{workdir}/top"
    with FileSystem.from_cluster() as fs:
        for path in (counts, top):
            if fs.exists(path):
                fs.rm(path, recursive=True, skip_trash=True)
    first = Job(
        wordcount.mapper,
        wordcount.reducer,
        combiner=wordcount.reducer,
        inputs=[inputs],
        output=counts,
        num_reducers=2,
        name="wordcount",
    ).run()
    if not first.ok:
        sys.exit(f"word count failed: {first.error}")
    second = Job(
        top_mapper, top_reducer, combiner=top_combiner, inputs=[counts], output=top, name="topwords"
    ).run()
    if not second.ok:
        sys.exit(f"top-k failed: {second.error}")
    with FileSystem.from_cluster() as fs:
        lines = fs.read_bytes(f"{top}/part-r-00000").decode().splitlines()
    for rank, line in enumerate(lines, 1):
        word, count = line.split("\t")
        print(f"{rank:>3}. {word} {count}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20)
