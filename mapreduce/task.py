"""One task attempt, run inside the child process a worker starts for it.

`execute` never raises: whatever goes wrong becomes a FAILED `AttemptResult` whose error is
the formatted traceback (so a job shows the user's own traceback) or, for failures of the
framework with a clear cause, a one-line reason. An attempt that could not reach the DFS
(the namenode stayed down past `retry_window`, or went away in the middle of a call that
may not be sent twice) is KILLED instead: it failed through no fault of the task's, so the
job tracker runs it again without counting it against the task's attempts.

* **map** — reads its split from the DFS (preferring the worker's own datanode), calls the
  mapper once per line and feeds the pairs to a `MapOutputBuffer`, which leaves one sorted
  run per reducer in ``<work_dir>/<job>/<attempt>/part-<r>.run`` (`shuffle_path`). A
  map-only job (no reducers) writes the mapper's output as text straight to the DFS instead.
* **reduce** — fetches its partition of every map's output from the workers over HTTP,
  merges the runs and calls the reducer once per key in key order, writing text to the DFS.

Output goes to ``<output>/_temporary/<attempt>/part-[mr]-<index>``; committing (renaming it
into place) is the job tracker's business. The attempt folder itself belongs to the worker
(it puts ``result.json`` there): a failed attempt removes only its own files.
"""

from __future__ import annotations

import contextlib
import gc
import inspect
import os
import re
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from itertools import chain, repeat, starmap
from pathlib import Path
from typing import Any, Protocol, cast

import cloudpickle
import httpx

from mapreduce import collect, formats
from mapreduce import counters as user_counters
from mapreduce import taskcontext as task_context
from mapreduce.protocol import (
    AttemptResult,
    AttemptSpec,
    MapOutput,
    Split,
    TaskKind,
    TaskState,
)
from mapreduce.records import split_records
from mapreduce.serialization import JobFunctions, Mapper, Reducer, UnloadableJobError, loads
from mapreduce.shuffle import MapOutputBuffer, MapOutputError, merge_passes, merge_runs, read_run
from mapreduce.streaming import StreamCommand, StreamingError
from mapreduce.taskcontext import TaskContext
from minihadoop.errors import MiniHadoopError, UnavailableError
from minihadoop.filesystem import DFSInputStream, FileSystem
from minihadoop.models import LocatedBlocks
from minihadoop.rest import tls_verify
from minihadoop.signing import ClusterAuth, Keys, SignatureError, TrailingSeal

FETCH_ATTEMPTS = 3
FETCH_BACKOFF = 0.2  # seconds before the 2nd fetch attempt, doubled after that
_ID = re.compile(r"[A-Za-z0-9_.-]{1,200}")  # a name the disk takes whole (NAME_MAX 255)


class FetchFailedError(Exception):
    """Some maps' output could not be fetched; the job tracker should re-run those maps."""

    def __init__(self, failures: dict[int, str]) -> None:
        self.map_indexes = sorted(failures)
        detail = "; ".join(f"map {i}: {failures[i]}" for i in self.map_indexes)
        super().__init__(f"could not fetch the output of maps {self.map_indexes}: {detail}")


# --- where map output lives ---------------------------------------------------------------


def attempt_dir(work_dir: Path, job_id: str, attempt_id: str) -> Path:
    """An attempt's local folder. Ids are checked, so a request cannot leave `work_dir`."""
    for what, value in (("job id", job_id), ("attempt id", attempt_id)):
        if not _ID.fullmatch(value) or value in (".", ".."):
            raise ValueError(
                f"bad {what} {value[:100]!r}: 1 to 200 letters, digits and _ . - allowed"
            )
    return work_dir / job_id / attempt_id


def shuffle_path(work_dir: Path, job_id: str, attempt_id: str, partition: int) -> Path:
    """The file of a finished map attempt's output for reducer `partition`."""
    if isinstance(partition, bool) or not isinstance(partition, int) or partition < 0:
        raise ValueError(f"bad partition {partition!r}")
    return attempt_dir(work_dir, job_id, attempt_id) / f"part-{partition}.run"


def output_path(spec: AttemptSpec) -> str:
    """The DFS file an attempt writes its text output to, before the job commits it."""
    kind = "m" if spec.kind is TaskKind.MAP else "r"
    return f"{spec.output.rstrip('/')}/_temporary/{spec.attempt_id}/part-{kind}-{spec.index:05d}"


# --- the attempt --------------------------------------------------------------------------


def _dfs(spec: AttemptSpec, token: str, tls_ca: str) -> FileSystem:
    return FileSystem(
        spec.namenodes or spec.namenode,
        token,
        user=spec.user,
        retry_window=spec.retry_window,
        tls_ca=tls_ca,
        leader=spec.namenode,  # a new process: the job tracker's leader saves it a search
    )


# The whole traceback of the last attempt `execute` saw fail (its error has the user's
# frames only): the child process writes it to the attempt's stderr log.
last_traceback: str | None = None
_FRAMEWORK = tuple(
    str(Path(m.__file__).parent) + os.sep
    for m in (sys.modules["mapreduce"], sys.modules["minihadoop"], cloudpickle)
    if m.__file__
)


def user_traceback(exc: BaseException) -> str:
    """`exc`'s traceback with the framework's frames left out, so it starts where the
    user's code does; whole when none of it is the user's (a fault of ours)."""
    te = traceback.TracebackException.from_exception(exc)
    mine = [f for f in te.stack if not f.filename.startswith(_FRAMEWORK)]
    dropped = len(te.stack) - len(mine)
    if not mine or not dropped:
        return "".join(te.format())
    te.stack = traceback.StackSummary.from_list(mine)
    lines = list(te.format())
    head = "Traceback (most recent call last):\n"
    at = max((i for i, line in enumerate(lines) if line == head), default=-1)
    if at >= 0:  # the last one is the exception's own (causes come first): say so there
        lines[at] = (
            f"Traceback (most recent call last; {dropped} frames of minihadoop's left out):\n"
        )
    return "".join(lines)


def execute(
    spec: AttemptSpec, payload: bytes, work_dir: Path, token: str, *, tls_ca: str = ""
) -> AttemptResult:
    """Run one attempt to its end; never raises. `tls_ca` is the worker's
    `Settings.tls_ca`: what the attempt verifies datanodes and other workers against."""
    counters: Counter[str] = Counter()
    user: Counter[str] = Counter()
    user_counters.install(user)
    result = AttemptResult(attempt_id=spec.attempt_id, state=TaskState.FAILED)
    try:
        with _collector_tuned():
            result.partition_bytes = _run(spec, payload, work_dir, token, tls_ca, counters)
        result.state = TaskState.SUCCEEDED
    except FetchFailedError as exc:
        result.error = str(exc)
        result.fetch_failures = exc.map_indexes
    except MapOutputError as exc:
        result.error = f"MapOutputError: {exc}"
    except UnavailableError as exc:
        result.state = TaskState.KILLED
        result.error = f"the DFS was unavailable: {exc}"
    except StreamingError as exc:  # the command's own stderr says why, beside it
        result.error = f"StreamingError: {exc.message}"
    except UnloadableJobError as exc:  # not the user's code failing: no traceback of ours
        result.error = f"UnloadableJobError: {exc.message}"
    except BaseException as exc:  # user code may raise anything, SystemExit included
        global last_traceback
        last_traceback = traceback.format_exc()  # the whole of it: for the task's log
        result.error = user_traceback(exc)
    finally:
        user_counters.install(None)
    counters.update(user)
    result.counters = dict(counters)
    return result


def _run(
    spec: AttemptSpec,
    payload: bytes,
    work_dir: Path,
    token: str,
    tls_ca: str,
    counters: Counter[str],
) -> list[int]:
    """The attempt's work; a map returns the size of its output for each reducer."""
    functions = loads(payload, Keys.derive(token).seal)
    if spec.kind is TaskKind.MAP:
        return _run_map(spec, functions, work_dir, token, tls_ca, counters)
    _run_reduce(spec, functions, work_dir, token, tls_ca, counters)
    return []


@contextlib.contextmanager
def _collector_tuned() -> Iterator[None]:
    """Collect garbage cycles less often while the attempt runs.

    A map holds hundreds of thousands of lists and tuples that live until a spill and form
    no cycles; with the default thresholds the collector traverses them again and again
    (a fifth of a map's time without a combiner). Objects that exist when the attempt
    starts (imported modules, the job's functions) are frozen out of collections.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(10_000, 10, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def _run_map(
    spec: AttemptSpec,
    functions: JobFunctions,
    work_dir: Path,
    token: str,
    tls_ca: str,
    counters: Counter[str],
) -> list[int]:
    if spec.split is None:
        raise ValueError(f"map attempt {spec.attempt_id} has no input split")
    pieces = spec.split.pieces()  # one, or a combined split's small files
    with _dfs(spec, token, tls_ca) as fs:
        # Every file located in one call, however many a combined split holds.
        inputs = list(zip(pieces, fs.blocks_many([p.path for p in pieces]), strict=True))
        if spec.num_reducers == 0:
            out = formats.output_for(functions.output_format)
            with fs.create(output_path(spec), overwrite=True, create_parent=False) as stream:
                for piece, located, data in _with_local_bytes(fs, spec, inputs):
                    with _piece_pairs(spec, functions, fs, piece, located, counters, data) as pairs:
                        out.write_all(pairs, stream.write)
            counters["MAP_OUTPUT_RECORDS"] += out.records
            counters["HDFS_BYTES_WRITTEN"] += out.bytes
            return []
        return _collect(spec, functions, inputs, fs, work_dir, counters)


# A combined split's small files are read from the worker's own datanode this many, or
# this many bytes, to a call (`FileSystem.whole_blocks`), instead of a call each.
LOCAL_BATCH_FILES = 500
LOCAL_BATCH_BYTES = 16 << 20


def _with_local_bytes(
    fs: FileSystem, spec: AttemptSpec, inputs: list[tuple[Split, LocatedBlocks]]
) -> Iterator[tuple[Split, LocatedBlocks, bytes | None]]:
    """Each input, in order, with its bytes when a batch call to the worker's own datanode
    got them (a whole one-block file it holds: a combined split's small files), else None:
    that one is read the usual way (a single file's split, a file elsewhere, a batch call
    that failed, a block that node could not give)."""
    local = (spec.datanode_url or "").rstrip("/")
    batch: list[tuple[Split, LocatedBlocks]] = []
    size = 0  # the batch's bytes

    def here(piece: Split, located: LocatedBlocks) -> bool:
        """A whole one-block file with a replica on the worker's datanode."""
        whole = piece.start == 0 and piece.length == located.status.length
        return (
            whole
            and len(located.blocks) == 1
            and any(loc.url.rstrip("/") == local for loc in located.blocks[0].locations)
        )

    def flushed() -> Iterator[tuple[Split, LocatedBlocks, bytes | None]]:
        """The batch so far, read in one call (all None if the call failed), and emptied."""
        nonlocal size
        taken = batch[:]
        batch.clear()
        size = 0
        got: list[bytes | None] = [None] * len(taken)
        if taken:
            with contextlib.suppress(httpx.HTTPError, MiniHadoopError):
                got = fs.whole_blocks(local, [located.blocks[0] for _, located in taken])
        for (piece, located), data in zip(taken, got, strict=True):
            yield piece, located, data

    for piece, located in inputs:
        if local and len(inputs) > 1 and here(piece, located):
            batch.append((piece, located))
            size += piece.length
            if len(batch) >= LOCAL_BATCH_FILES or size >= LOCAL_BATCH_BYTES:
                yield from flushed()
            continue
        yield from flushed()
        yield piece, located, None
    yield from flushed()


@contextlib.contextmanager
def _piece_pairs(
    spec: AttemptSpec,
    functions: JobFunctions,
    fs: FileSystem,
    split: Split,
    located: LocatedBlocks,
    counters: Counter[str],
    data: bytes | None = None,
) -> Iterator[Iterable[tuple[Any, Any]]]:
    """The map output of one file's split: its bytes `data` when already read (from the
    worker's own datanode), else read from the DFS (that datanode first); the mapper called
    per record, the task's context saying which file it is."""
    if data is not None:
        try:
            with _mapped(spec, functions, split, iter((data,)), counters) as pairs:
                yield pairs
        finally:
            counters["BYTES_READ_LOCAL"] += len(data)
            counters["HDFS_BYTES_READ"] += len(data)
        return
    with DFSInputStream(fs, located, prefer=spec.datanode_url) as f:
        f.seek(split.start)
        # a generator: closing it ends the read from the datanode
        pieces = cast(Generator[bytes, None, None], f.iter_chunks())
        try:
            with _mapped(spec, functions, split, pieces, counters) as pairs:
                yield pairs
        finally:
            pieces.close()  # stop reading past the split: closes the datanode response
            counters["BYTES_READ_LOCAL"] += f.bytes_local
            counters["BYTES_READ_REMOTE"] += f.bytes_remote
            counters["HDFS_BYTES_READ"] += f.bytes_local + f.bytes_remote


@contextlib.contextmanager
def _mapped(
    spec: AttemptSpec,
    functions: JobFunctions,
    split: Split,
    pieces: Iterable[bytes],
    counters: Counter[str],
) -> Iterator[Iterable[tuple[Any, Any]]]:
    """The map output of `split`'s bytes `pieces`, with the task's context for it."""
    mapper, pairs = map_input(functions, pieces, split.path, split.start, split.length)
    ctx = TaskContext(
        spec.job_id, spec.attempt_id, "map", spec.index, split.path, split.start, split.length
    )
    task_context.install(ctx)
    try:
        with mapping(split.path, split.start, split.length, mapper):
            yield pairs
    finally:
        counters["MAP_INPUT_RECORDS"] += mapper.calls


def _collect(
    spec: AttemptSpec,
    functions: JobFunctions,
    inputs: list[tuple[Split, LocatedBlocks]],
    fs: FileSystem,
    work_dir: Path,
    counters: Counter[str],
) -> list[int]:
    """Sort the map output of every piece into one run per reducer; their sizes in bytes."""
    directory = attempt_dir(work_dir, spec.job_id, spec.attempt_id)
    directory.mkdir(parents=True, exist_ok=True)
    buffer = MapOutputBuffer(
        directory,
        spec.num_reducers,
        limit=spec.sort_buffer_records,
        combiner=functions.combiner,
        partitioner=functions.partitioner,
        counters=counters,
    )
    try:
        for piece, located, data in _with_local_bytes(fs, spec, inputs):
            with _piece_pairs(spec, functions, fs, piece, located, counters, data) as pairs:
                buffer.add_all(pairs)
        finals = buffer.finish()
    except BaseException:
        for p in directory.glob("*.run"):  # spills, merges, final runs: none may be served
            p.unlink(missing_ok=True)
        raise
    finally:
        counters["MAP_OUTPUT_RECORDS"] += buffer.output_records
    return [p.stat().st_size for p in finals]


def _records(
    functions: JobFunctions, pieces: Iterable[bytes], start: int, end: int
) -> Iterable[tuple[int, Any]]:
    """A split's records as the job's input format reads them."""
    if functions.input_format == "wholefile":
        return formats.whole(pieces)
    return split_records(pieces, start, end)


def map_input(
    functions: JobFunctions, pieces: Iterable[bytes], path: str, start: int, length: int
) -> tuple[MapCount, Iterable[tuple[Any, Any]]]:
    """A split's map output, read from `pieces` as the job's input format says, and what
    counts its records (the cluster's task and the local runner alike)."""
    records = _records(functions, pieces, start, start + length)
    mapper = formats.adapt(functions.mapper, functions.input_format, path)
    if not isinstance(mapper, StreamCommand) and inspect.isgeneratorfunction(mapper):
        # A generator function never returns None: called straight from C, per record.
        tally = collect.Tally(records)
        return _Tallied(tally), chain.from_iterable(starmap(mapper, tally))
    counting = _CountingMapper(mapper)
    return counting, _map_pairs(functions, records, counting)


def _map_pairs(
    functions: JobFunctions, records: Iterable[tuple[int, Any]], mapper: _CountingMapper
) -> Iterable[tuple[Any, Any]]:
    """The map's output pairs: the mapper called per record, or a streaming mapper's
    command run once over every record's line."""
    if not isinstance(functions.mapper, StreamCommand):
        return chain.from_iterable(starmap(mapper, records))

    def lines() -> Iterator[str]:
        for offset, line in records:
            mapper.calls += 1
            mapper.offset = offset
            yield line

    return functions.mapper.pipe(lines())


class MapCount(Protocol):
    """How many records a map has called its mapper with, and the offset of the last."""

    @property
    def calls(self) -> int: ...

    @property
    def offset(self) -> int | None: ...


class _Tallied:
    """`MapCount` of records passed through a `collect.Tally`."""

    def __init__(self, tally: collect.TallyPy) -> None:
        self.tally = tally

    @property
    def calls(self) -> int:
        return self.tally.count

    @property
    def offset(self) -> int | None:
        last = self.tally.last
        return None if last is None else int(last[0])


class _CountingMapper:
    """The mapper as `starmap` calls it: counts input records, and a mapper that returns
    None (instead of an iterable) emits nothing. One call per line, not per pair. Keeps the
    offset of the line being mapped: its output is consumed before the next line's call,
    so when a map fails, that is the record it failed on."""

    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        self.calls = 0
        self.offset: int | None = None

    def __call__(self, offset: int, line: str) -> Iterable[tuple[Any, Any]]:
        self.calls += 1
        self.offset = offset
        out = self.mapper(offset, line)
        return () if out is None else out


@contextlib.contextmanager
def mapping(path: str, start: int, length: int, mapper: MapCount) -> Iterator[None]:
    """A map failure carries where it happened: the file, the split, the record's byte."""
    try:
        yield
    except Exception as exc:
        where = (
            f"the record at byte {mapper.offset}" if mapper.offset is not None else "no record yet"
        )
        exc.add_note(f"while mapping {path} (split at byte {start}, {length} bytes): {where}")
        raise


# --- reduce -------------------------------------------------------------------------------


def _run_reduce(
    spec: AttemptSpec,
    functions: JobFunctions,
    work_dir: Path,
    token: str,
    tls_ca: str,
    counters: Counter[str],
) -> None:
    directory = attempt_dir(work_dir, spec.job_id, spec.attempt_id)
    directory.mkdir(parents=True, exist_ok=True)
    task_context.install(TaskContext(spec.job_id, spec.attempt_id, "reduce", spec.index))
    try:
        fetched = _fetch_all(spec, directory, token, tls_ca, counters)
        fetched = merge_passes(fetched)
        groups = merge_runs([read_run(p) for p in fetched])
        reduced = _Reduced(groups, functions.reducer)
        out = formats.output_for(functions.output_format)
        with _dfs(spec, token, tls_ca) as fs:
            # The job tracker made this attempt's folder; if the job has ended since (and
            # its _temporary was removed), creating the file fails rather than bringing
            # _temporary back under a finished job's output.
            with fs.create(output_path(spec), overwrite=True, create_parent=False) as stream:
                try:
                    out.write_all(reduced, stream.write)
                finally:
                    counters["REDUCE_INPUT_GROUPS"] += reduced.groups
                    counters["REDUCE_INPUT_RECORDS"] += reduced.records
                    counters["REDUCE_OUTPUT_RECORDS"] += out.records
            counters["HDFS_BYTES_WRITTEN"] += out.bytes
    finally:
        for p in directory.glob("in-*.run"):
            p.unlink(missing_ok=True)


class _Reduced:
    """The reducer's output over all groups, counting its input as it goes."""

    def __init__(self, groups: Iterator[tuple[Any, list[Any]]], reducer: Reducer | None) -> None:
        self._groups = groups
        self._reducer = reducer
        self.groups = 0
        self.records = 0

    def __iter__(self) -> Iterator[tuple[Any, Any]]:
        reducer = self._reducer
        if isinstance(reducer, StreamCommand):
            yield from reducer.reduce(self._counted())
            return
        for key, values in self._groups:
            self.groups += 1
            self.records += len(values)
            if reducer is None:  # identity
                yield from zip(repeat(key), values)
            else:
                out = reducer(key, values)
                if out is not None:
                    yield from out

    def _counted(self) -> Iterator[tuple[Any, list[Any]]]:
        for key, values in self._groups:
            self.groups += 1
            self.records += len(values)
            yield key, values


def _fetch_all(
    spec: AttemptSpec, directory: Path, token: str, tls_ca: str, counters: Counter[str]
) -> list[Path]:
    """Download this reducer's partition of every map's output; raises `FetchFailedError`
    naming every map that could not be fetched."""
    fetched: list[Path] = []
    failures: dict[int, str] = {}
    unreachable: dict[str, str] = {}  # worker URL -> why: its other maps are not tried
    timeout = httpx.Timeout(120.0, connect=10.0)
    key = Keys.derive(token).seal
    verify = tls_verify(tls_ca)
    with httpx.Client(auth=ClusterAuth(token), timeout=timeout, verify=verify) as client:
        for m in spec.map_outputs:
            if m.worker_url in unreachable:
                failures[m.map_index] = unreachable[m.worker_url]
                continue
            target = directory / f"in-{m.map_index}.run"
            try:
                url, context = _shuffle_url(spec, m)
                counters["REDUCE_SHUFFLE_BYTES"] += _fetch(client, url, target, key, context)
                fetched.append(target)
            except _FetchError as exc:
                failures[m.map_index] = str(exc)
                if exc.unreachable:
                    unreachable[m.worker_url] = str(exc)
    if failures:
        raise FetchFailedError(failures)
    return fetched


def _shuffle_url(spec: AttemptSpec, m: MapOutput) -> tuple[str, bytes]:
    """Where one map's output for this reducer is, and what its seal is made for."""
    base = m.worker_url.rstrip("/")
    return (
        f"{base}/mr/v1/shuffle/{spec.job_id}/{m.attempt_id}/{spec.index}",
        shuffle_context(spec.job_id, m.attempt_id, spec.index),
    )


def shuffle_context(job_id: str, attempt_id: str, partition: int) -> bytes:
    """What a served map output's seal covers besides its bytes: which output it is, so one
    recorded for another reducer or attempt is never taken for this one."""
    return f"shuffle/{job_id}/{attempt_id}/{partition}".encode()


class _FetchError(Exception):
    def __init__(self, message: str, *, unreachable: bool) -> None:
        super().__init__(message)
        self.unreachable = unreachable  # no connection could be made at all


def _fetch(
    client: httpx.Client,
    url: str,
    target: Path,
    key: bytes,
    context: bytes,
    attempts: int = FETCH_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Stream `url` into `target`; its size. Transport errors and 5xx are retried with
    backoff; any other HTTP error is final (the output is not there). The output is
    unpickled later, so it must end in the seal its worker made (`worker_app`): one that
    does not is final too, and nothing of it is kept."""
    problem = "not tried"
    connected = False
    for attempt in range(attempts):
        if attempt:
            sleep(FETCH_BACKOFF * 2 ** (attempt - 1))
        try:
            with client.stream("GET", url) as response:
                connected = True
                if response.status_code != 200:
                    response.read()
                    problem = f"HTTP {response.status_code}: {response.text[:200]}"
                    if response.status_code < 500:
                        break
                    continue
                size = _receive_sealed(response, target, key, context)
                if size is not None:
                    return size
                problem = "the map output is not sealed with this cluster's key"
                target.unlink(missing_ok=True)
                break
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        except httpx.TransportError as exc:
            connected = True
            problem = f"{type(exc).__name__}: {exc}"
    raise _FetchError(f"{url}: {problem}", unreachable=not connected)


def _receive_sealed(
    response: httpx.Response, target: Path, key: bytes, context: bytes
) -> int | None:
    """Write the body less its trailing seal to `target`; its size, or None if the seal
    does not hold."""
    seal = TrailingSeal(key, context)
    size = 0
    with open(target, "wb") as f:
        for piece in response.iter_bytes(1 << 20):
            for part in seal.feed(piece):
                size += f.write(part)
    try:
        seal.check()
    except SignatureError:
        return None
    return size


# --- text output --------------------------------------------------------------------------
