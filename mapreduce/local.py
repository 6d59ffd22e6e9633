"""Running a job without a cluster: the same functions over local files, in this process
(or in N processes), with the cluster's record reader, partitioner, sort, combiner,
reduce and output format — the way to unit-test a job or try one first (Hadoop's
LocalJobRunner, mrjob's inline runner).

Inputs are local files and folders (a folder's files, hidden ones and ``_``-files left
out, as the cluster does); each file is split every `split_size` bytes, records owned by
the split a line starts in, as on the cluster. The output folder gets ``part-r-NNNNN``
files (``part-m-NNNNN`` for a map-only job) and ``_SUCCESS``, byte for byte what the
cluster writes for the same input and settings. Counters have the cluster's names.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mapreduce import counters as user_counters
from mapreduce import formats
from mapreduce import taskcontext as task_context
from mapreduce.serialization import JobFunctions
from mapreduce.shuffle import MapOutputBuffer, merge_passes, merge_runs, read_run
from mapreduce.splits import COMBINED_BYTES, COMBINED_FILES, SMALL_FILE, batches
from mapreduce.task import (
    _Reduced,
    map_input,
    mapping,
)
from mapreduce.taskcontext import TaskContext
from minihadoop.errors import FileAlreadyExistsError, FileNotFoundError_, IllegalArgumentError

SPLIT_SIZE = 64 << 20  # as the cluster's default block size
READ_PIECE = 1 << 20


@dataclass(frozen=True)
class LocalSplit:
    path: str
    start: int
    length: int
    more: tuple[LocalSplit, ...] = ()  # small files packed after this one, as on the cluster

    def pieces(self) -> list[LocalSplit]:
        return [self, *self.more]


@dataclass
class LocalResult:
    output: str
    counters: dict[str, int]
    duration: float


def input_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The files the inputs name: files as they are, a folder's visible files in name order."""
    files: list[Path] = []
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            files += sorted(
                p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError_(f"no such local input: {raw}")
    return files


def local_splits(
    files: Sequence[Path], split_size: int = SPLIT_SIZE, *, pack: bool = True
) -> list[LocalSplit]:
    """A split per `split_size` bytes of each file; with `pack`, files under
    `splits.SMALL_FILE` that fit in one split are packed together, as the cluster packs them
    (one machine: one group)."""
    if split_size < 1:
        raise IllegalArgumentError("the split size must be positive")
    splits: list[LocalSplit] = []
    small: list[LocalSplit] = []
    for f in files:
        size = f.stat().st_size
        if pack and 0 < size < SMALL_FILE and size <= split_size:
            small.append(LocalSplit(str(f), 0, size))
            continue
        for start in range(0, size, split_size):  # an empty file has none, as on the cluster
            splits.append(LocalSplit(str(f), start, min(split_size, size - start)))
    for batch in batches(small, lambda split: split.length, COMBINED_BYTES, COMBINED_FILES):
        splits.append(replace(batch[0], more=tuple(batch[1:])))
    return splits


def run_local(
    functions: JobFunctions,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    num_reducers: int = 1,
    split_size: int = SPLIT_SIZE,
    processes: int = 1,
    sort_buffer_records: int = 200_000,
) -> LocalResult:
    """Run the job over local `inputs` into the local folder `output` (which must not
    exist). `processes` > 1 runs the maps, then the reduces, that many at a time, in
    forked processes."""
    if num_reducers < 0:
        raise IllegalArgumentError("num_reducers must be 0 or more")
    out = Path(output)
    if out.exists():
        raise FileAlreadyExistsError(f"the output folder {out} already exists")
    started = time.monotonic()
    files = input_files(inputs)
    whole = functions.input_format == "wholefile"
    if whole:  # a file is one split, never cut, never packed with others
        split_size = max([split_size, *(f.stat().st_size for f in files)])
    splits = local_splits(files, split_size, pack=not whole)
    out.mkdir(parents=True)
    counters: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="minihadoop-local-") as scratch:
        work = Path(scratch)
        maps = [(functions, s, i, num_reducers, work, out, sort_buffer_records)
                for i, s in enumerate(splits)]  # fmt: skip
        for c in _each(_map_task, maps, processes):
            counters.update(c)
        if num_reducers:
            reduces = [(functions, r, len(splits), work, out) for r in range(num_reducers)]
            for c in _each(_reduce_task, reduces, processes):
                counters.update(c)
    (out / "_SUCCESS").write_bytes(b"")
    counters["MAP_TASKS"] = len(splits)
    counters["REDUCE_TASKS"] = num_reducers
    return LocalResult(str(out), dict(counters), time.monotonic() - started)


def _each(task: Any, args: list[tuple[Any, ...]], processes: int) -> Iterator[Counter[str]]:
    if processes <= 1 or len(args) <= 1:
        return (task(*a) for a in args)
    # Forked: the job's functions are inherited, not pickled, as in this process.
    with multiprocessing.get_context("fork").Pool(min(processes, len(args))) as pool:
        return iter(pool.starmap(task, args))


def _map_task(
    functions: JobFunctions,
    split: LocalSplit,
    index: int,
    num_reducers: int,
    work: Path,
    out: Path,
    sort_buffer_records: int,
) -> Counter[str]:
    counters: Counter[str] = Counter()
    if num_reducers == 0:
        text = formats.output_for(functions.output_format)
        with open(out / f"part-m-{index:05d}", "wb") as dest:
            for piece in split.pieces():
                with _piece_pairs(functions, piece, index, counters) as pairs:
                    text.write_all(pairs, dest.write)
        counters["MAP_OUTPUT_RECORDS"] += text.records
        return counters
    directory = work / f"m-{index:05d}"
    directory.mkdir()
    buffer = MapOutputBuffer(
        directory,
        num_reducers,
        limit=sort_buffer_records,
        combiner=functions.combiner,
        partitioner=functions.partitioner,
        counters=counters,
    )
    for piece in split.pieces():
        with _piece_pairs(functions, piece, index, counters) as pairs:
            buffer.add_all(pairs)
    buffer.finish()
    counters["MAP_OUTPUT_RECORDS"] += buffer.output_records
    return counters


@contextlib.contextmanager
def _piece_pairs(
    functions: JobFunctions, split: LocalSplit, index: int, counters: Counter[str]
) -> Iterator[Iterable[tuple[Any, Any]]]:
    """One file's split mapped, with the task context naming that file."""
    ctx = TaskContext("local", f"local_m_{index:06d}", "map", index, split.path,
                      split.start, split.length)  # fmt: skip
    with open(split.path, "rb") as f, _task(ctx, counters):
        f.seek(split.start)
        pieces = iter(lambda: f.read(READ_PIECE), b"")
        mapper, pairs = map_input(functions, pieces, split.path, split.start, split.length)
        try:
            with mapping(split.path, split.start, split.length, mapper):
                yield pairs
        finally:
            counters["MAP_INPUT_RECORDS"] += mapper.calls


@contextlib.contextmanager
def _task(ctx: TaskContext, counters: Counter[str]) -> Iterator[None]:
    """As the cluster's task runtime does: `mapreduce.context()` answers `ctx`, and user
    counters are counted, then added to `counters` as ``user:<name>``."""
    user: Counter[str] = Counter()
    task_context.install(ctx)
    user_counters.install(user)
    try:
        yield
    finally:
        user_counters.install(None)
        task_context.install(None)
        counters.update(user)


def _reduce_task(
    functions: JobFunctions, partition: int, num_maps: int, work: Path, out: Path
) -> Counter[str]:
    counters: Counter[str] = Counter()
    ctx = TaskContext("local", f"local_r_{partition:06d}", "reduce", partition)
    runs = [work / f"m-{i:05d}" / f"part-{partition}.run" for i in range(num_maps)]
    runs = merge_passes([r for r in runs if r.exists()])
    reduced = _Reduced(merge_runs([read_run(p) for p in runs]), functions.reducer)
    text = formats.output_for(functions.output_format)
    with open(out / f"part-r-{partition:05d}", "wb") as dest, _task(ctx, counters):
        text.write_all(reduced, dest.write)
    counters["REDUCE_INPUT_GROUPS"] += reduced.groups
    counters["REDUCE_INPUT_RECORDS"] += reduced.records
    counters["REDUCE_OUTPUT_RECORDS"] += text.records
    return counters
