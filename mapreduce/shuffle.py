"""Map output on local disk: sorted runs, the map-side sort buffer, and the merge.

A *run* is a file of ``(key, values)`` groups in ascending key order, each key once. It
is a sequence of frames; a frame is an 8-byte little-endian length, then a pickle
(protocol 5) of a list of up to `FRAME_GROUPS` groups. An empty file is an empty run.
Runs are unpickled, so they must only ever come from this cluster's own workers (the
shuffle is fetched with the cluster token).

The map side (`MapOutputBuffer`) groups records by key in a dict; when `limit` records
are buffered it combines them in memory (if the job has a combiner) and, unless that made
enough room, *spills*: partitions the keys, sorts each partition and writes one run per
partition. `finish()` merges each partition's spill runs into one final run,
``part-<r>.run``, which the worker serves to reducer ``r``.

The combiner, as in Hadoop, runs any number of times on any of a key's values, none
included: on each key with two or more values when the buffer fills, before each spill and
while merging spills. So it must emit the key it was given, with values that it (and the
reducer) can take as input again. One that emits other keys is tolerated at spills (its
output is regrouped), and then left out of the merge, which must stay sorted.

The reduce side merges the runs it fetched from every map with `merge_runs`, holding one
frame per run and one key's values at a time.

What must hold: keys of one job are mutually orderable (sorting them raises
`MapOutputError` otherwise), and equal keys go to the same partition.
"""

from __future__ import annotations

import heapq
import os
import pickle
import struct
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import IO, Any, Protocol

from mapreduce import aggregates, collect
from mapreduce.aggregates import Aggregate
from mapreduce.partition import default_partition
from mapreduce.streaming import StreamCommand

Group = tuple[Any, list[Any]]
Combiner = Callable[[Any, list[Any]], Iterable[tuple[Any, Any]] | None]
Partitioner = Callable[[Any, int], int]

FRAME_GROUPS = 4096
MERGE_FACTOR = 64  # runs merged at once (Hadoop's io.sort.factor): bounds open files
_LENGTH = struct.Struct("<Q")
_KEY = itemgetter(0)
_MISSING = object()


class Folded(Protocol):
    """A built-in combiner's running result per key (`collect.SumTable` for a sum)."""

    def fold(self, pairs: Iterator[tuple[Any, Any]], limit: int) -> int: ...

    def items(self) -> list[tuple[Any, Any]]: ...

    def clear(self) -> None: ...

    def __len__(self) -> int: ...


class _Folded(collect.ResultTable):
    """`Folded` for any other built-in (min, max), or none: a key's first value is its
    result so far, then ``aggregate.fold(result, value)``."""

    __slots__ = ("aggregate",)

    def __init__(self, aggregate: Aggregate | None) -> None:
        super().__init__()
        self.aggregate = aggregate

    def fold(self, pairs: Iterator[tuple[Any, Any]], limit: int) -> int:
        assert self.aggregate is not None
        fold, results, missing = self.aggregate.fold, self._results, _MISSING
        get = results.get
        n = 0
        for n, (key, value) in enumerate(islice(pairs, limit), 1):  # noqa: B007
            acc = get(key, missing)
            results[key] = value if acc is missing else fold(acc, value)
        return n


class MapOutputError(Exception):
    """Map output that cannot be shuffled: unorderable keys, a partition out of range."""


class RunFormatError(Exception):
    """A run file that is truncated or not a run."""


# --- runs ---------------------------------------------------------------------------------


def write_run(path: str | os.PathLike[str], groups: Iterable[Group]) -> int:
    """Write `groups` (already in ascending key order) as a run; returns the bytes written."""
    with open(path, "wb") as f:
        return _write_frames(f, groups)


def _write_frames(f: IO[bytes], groups: Iterable[Group]) -> int:
    it = iter(groups)
    total = 0
    while frame := list(islice(it, FRAME_GROUPS)):
        data = pickle.dumps(frame, protocol=5)
        f.write(_LENGTH.pack(len(data)))
        f.write(data)
        total += _LENGTH.size + len(data)
    return total


def read_run(source: str | os.PathLike[str] | IO[bytes]) -> Iterator[Group]:
    """The groups of a run, one frame in memory at a time. A path is opened (and closed when
    the iterator ends or is dropped); a binary file object is read from where it is."""
    if isinstance(source, str | os.PathLike):
        return _read_path(Path(source))
    return _read_frames(source)


def _read_path(path: Path) -> Iterator[Group]:
    with open(path, "rb") as f:
        yield from _read_frames(f)


def _read_frames(f: IO[bytes]) -> Iterator[Group]:
    while header := f.read(_LENGTH.size):
        if len(header) < _LENGTH.size:
            raise RunFormatError(f"run truncated in a frame header ({len(header)} bytes)")
        (size,) = _LENGTH.unpack(header)
        data = f.read(size)
        if len(data) < size:
            raise RunFormatError(f"run truncated: frame of {size} bytes has {len(data)}")
        yield from pickle.loads(data)


def merge_runs(runs: list[Iterator[Group]]) -> Iterator[Group]:
    """Merge sorted runs into one sorted stream with each key once.

    Equal keys from several runs (or adjacent in one) become one group whose values are
    in run order. Values lists coming from the runs may be extended in place.
    """
    merged: Iterable[Group]
    if not runs:
        return
    merged = runs[0] if len(runs) == 1 else heapq.merge(*runs, key=_KEY)
    it = iter(merged)
    first = next(it, None)
    if first is None:
        return
    key, values = first
    for k, vs in it:
        if k == key:
            values.extend(vs)
        else:
            yield key, values
            key, values = k, vs
    yield key, values


def merge_passes(
    paths: list[Path],
    factor: int = MERGE_FACTOR,
    transform: Callable[[Iterator[Group]], Iterator[Group]] | None = None,
) -> list[Path]:
    """Merge the oldest `factor` runs into one until at most `factor` are left, so the final
    merge opens no more than `factor` files. Merged inputs are deleted; returns what is left.
    `transform` (e.g. a combiner) is applied to each intermediate merge's output."""
    if factor < 2:
        raise ValueError(f"merge factor must be at least 2, not {factor}")
    paths = list(paths)
    n = 0
    while len(paths) > factor:
        batch, paths = paths[:factor], paths[factor:]
        target = batch[0].with_name(f"{batch[0].stem}.m{n}.run")
        groups = merge_runs([read_run(p) for p in batch])
        write_run(target, transform(groups) if transform else groups)
        for p in batch:
            p.unlink()
        paths.append(target)
        n += 1
    return paths


def sort_keys(keys: list[Any]) -> None:
    """Sort map output keys in place; unorderable keys raise `MapOutputError`."""
    try:
        keys.sort()
    except TypeError as exc:
        kinds = sorted({type(k).__name__ for k in keys})
        raise MapOutputError(
            f"map output keys must be sortable: {exc} (key types seen: {', '.join(kinds)})"
        ) from None


# --- the map-side buffer ------------------------------------------------------------------


class MapOutputBuffer:
    """Collects one map attempt's output and leaves one sorted run per partition.

    `add_all(pairs)` is the hot path: one dict lookup and one list append per record.
    Files go into `directory` (which must exist): ``spill-<s>-<r>.run`` while collecting,
    ``part-<r>.run`` after `finish()`.
    """

    def __init__(
        self,
        directory: Path,
        num_partitions: int,
        *,
        limit: int = 200_000,
        combiner: Combiner | None = None,
        partitioner: Partitioner | None = None,
        counters: Counter[str] | None = None,
    ) -> None:
        if num_partitions < 1:
            raise ValueError(f"num_partitions must be at least 1, not {num_partitions}")
        self.directory = directory
        self.num_partitions = num_partitions
        self.limit = max(1, limit)
        # A streaming combiner (a command) runs once over each spill's sorted run, as
        # Hadoop Streaming's does, not per key: the in-memory combining is for functions.
        self.stream_combiner = combiner if isinstance(combiner, StreamCommand) else None
        self.combiner = None if self.stream_combiner else combiner
        # A built-in combiner (`mapreduce.sum`, ...) is folded in as records arrive: one
        # running result per key in `_folded` instead of a list of values in `_groups`.
        self.aggregate = combiner if isinstance(combiner, Aggregate) else None
        self._folded: Folded = (
            collect.SumTable() if self.aggregate is aggregates.sum else _Folded(self.aggregate)
        )
        self._folded_in = 0  # records folded into `_folded` since the last spill
        self.partitioner = partitioner or default_partition
        self.counters: Counter[str] = counters if counters is not None else Counter()
        self.records = 0  # buffered now
        self.output_records = 0  # added in all
        self._groups: dict[Any, list[Any]] = {}
        self._spills: list[list[Path]] = [[] for _ in range(num_partitions)]
        self._spill_count = 0
        self._combine_on_merge = True  # False once the combiner emitted a foreign key

    def add(self, key: Any, value: Any) -> None:
        self.add_all([(key, value)])

    def add_all(self, pairs: Iterable[tuple[Any, Any]]) -> None:
        """Add every `(key, value)` of `pairs`, spilling whenever the buffer is full."""
        pairs = iter(pairs)
        if self.aggregate is not None:
            self._fold_all(pairs)
            return
        while True:
            room = self.limit - self.records
            n = collect.collect(self._groups, pairs, room)
            self.records += n
            self.output_records += n
            if n < room:
                return
            self._full()

    def _fold_all(self, pairs: Iterator[tuple[Any, Any]]) -> None:
        """`add_all` with a built-in combiner: each value folded into its key's result at
        once, spilling when `limit` keys are held."""
        assert self.aggregate is not None
        # Each pair adds at most one key, so a batch of `limit - len` cannot overshoot;
        # the floor keeps batches long when the keys are many but the pairs repeat them.
        floor = max(1, self.limit // 8)
        while True:
            room = max(self.limit - len(self._folded), floor)
            n = self._folded.fold(pairs, room)
            self._folded_in += n
            self.output_records += n
            self.records = len(self._folded)
            if self.records >= self.limit:
                self._write_spill()
            if n < room:
                return

    def _full(self) -> None:
        """The buffer holds `limit` records. With a combiner, combine them in memory first
        and spill only if that did not free at least half of the buffer: a job with few
        distinct keys (word count) then writes one spill instead of one per `limit` records,
        and the merge has nothing to do."""
        if self.combiner is not None:
            self._combine_buffer()
            if self.records <= self.limit // 2:
                return
        self._write_spill()

    def spill(self) -> None:
        """Write what is buffered (combined first) as one sorted run per partition; none for
        partitions without records."""
        if self.combiner is not None and self.aggregate is None:
            self._combine_buffer()
        self._write_spill()

    def _write_spill(self) -> None:
        groups: dict[Any, list[Any]]
        if self._folded:  # a built-in combiner's results: one value per key
            groups = {key: [value] for key, value in self._folded.items()}
            self.counters["COMBINE_INPUT_RECORDS"] += self._folded_in
            self.counters["COMBINE_OUTPUT_RECORDS"] += len(groups)
            self._folded.clear()
            self._folded_in = 0
        elif self._groups:
            groups = self._groups
            self._groups = {}
        else:
            return
        records = self.records  # with a built-in combiner: the keys held (`_fold_all`)
        self.records = 0
        spill = self._spill_count
        for r, keys in enumerate(self._partition(groups)):
            if not keys:
                continue
            sort_keys(keys)
            path = self.directory / f"spill-{spill}-{r}.run"
            run = [(k, groups[k]) for k in keys]
            write_run(path, self._stream_combine(run) if self.stream_combiner else run)
            self._spills[r].append(path)
        self._spill_count += 1
        self.counters["SPILLS"] += 1
        self.counters["SPILLED_RECORDS"] += records

    def finish(self) -> list[Path]:
        """Spill the rest and merge each partition into ``part-<r>.run``; returns those paths,
        one per partition (an empty run where a partition got nothing)."""
        self.spill()
        finals = []
        combine = self._combine_sorted if self.combiner and self._combine_on_merge else None
        for r, runs in enumerate(self._spills):
            final = self.directory / f"part-{r}.run"
            if not runs:
                final.write_bytes(b"")
            elif len(runs) == 1:
                runs[0].replace(final)
            else:
                runs = merge_passes(runs, MERGE_FACTOR, combine)
                groups = merge_runs([read_run(p) for p in runs])
                write_run(final, self._count_spilled(combine(groups) if combine else groups))
                for p in runs:
                    p.unlink()
            finals.append(final)
        self._spills = [[] for _ in range(self.num_partitions)]
        return finals

    # --- spill steps --------------------------------------------------------------------

    def _partition(self, groups: dict[Any, list[Any]]) -> list[list[Any]]:
        """The keys of each partition. With one partition the partitioner is not called
        (as in Hadoop)."""
        n = self.num_partitions
        if n == 1:
            return [list(groups)]
        parts: list[list[Any]] = [[] for _ in range(n)]
        partitioner = self.partitioner
        for key in groups:
            p = partitioner(key, n)
            try:
                if p < 0:
                    raise IndexError
                parts[p].append(key)
            except (IndexError, TypeError):
                raise MapOutputError(
                    f"partitioner returned {p!r} for key {key!r}: it must be an int in 0..{n - 1}"
                ) from None
        return parts

    def _combine_buffer(self) -> None:
        """Combine the buffered keys that have two or more values, in place."""
        assert self.combiner is not None
        combiner = self.combiner
        groups = self._groups
        records_in = records_out = 0
        elsewhere: list[tuple[Any, Any]] = []  # output under another key than the input's
        emptied: list[Any] = []
        for key, values in groups.items():
            if len(values) < 2:
                continue
            records_in += len(values)
            result = combiner(key, values)
            combined = []
            if result is not None:
                for k, v in result:
                    if k == key:
                        combined.append(v)
                    else:
                        elsewhere.append((k, v))
            records_out += len(combined)
            groups[key] = combined  # an existing key: the dict does not change size
            if not combined:
                emptied.append(key)
        for key in emptied:
            del groups[key]
        if elsewhere:
            self._combine_on_merge = False
            for k, v in elsewhere:
                groups.setdefault(k, []).append(v)
            records_out += len(elsewhere)
        self.records += records_out - records_in
        self.counters["COMBINE_INPUT_RECORDS"] += records_in
        self.counters["COMBINE_OUTPUT_RECORDS"] += records_out

    def _stream_combine(self, run: list[Group]) -> list[Group]:
        """A spill's sorted run through the streaming combiner; its output, sorted."""
        assert self.stream_combiner is not None
        combined: defaultdict[Any, list[Any]] = defaultdict(list)
        for key, value in self.stream_combiner.reduce(run):
            combined[key].append(value)
        self.counters["COMBINE_INPUT_RECORDS"] += sum(len(v) for _, v in run)
        self.counters["COMBINE_OUTPUT_RECORDS"] += sum(len(v) for v in combined.values())
        keys = list(combined)
        sort_keys(keys)
        return [(k, combined[k]) for k in keys]

    def _combine_sorted(self, groups: Iterator[Group]) -> Iterator[Group]:
        """Combine a sorted stream of groups (those with two or more values), keeping it
        sorted."""
        assert self.combiner is not None
        combiner = self.combiner
        records_in = records_out = 0
        try:
            for key, values in groups:
                if len(values) < 2:
                    yield key, values
                    continue
                records_in += len(values)
                result = combiner(key, values)
                if result is None:
                    continue
                combined = []
                for k, v in result:
                    if k != key:
                        raise MapOutputError(
                            f"the combiner emitted key {k!r} for key {key!r}: a combiner "
                            "must emit only the key it is given"
                        )
                    combined.append(v)
                records_out += len(combined)
                if combined:
                    yield key, combined
        finally:
            self.counters["COMBINE_INPUT_RECORDS"] += records_in
            self.counters["COMBINE_OUTPUT_RECORDS"] += records_out

    def _count_spilled(self, groups: Iterator[Group]) -> Iterator[Group]:
        records = 0
        try:
            for group in groups:
                records += len(group[1])
                yield group
        finally:
            self.counters["SPILLED_RECORDS"] += records
