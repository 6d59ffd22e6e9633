"""Task attempts against a real DFS: maps read their splits, reduces fetch map output over a
real HTTP server (a stand-in for the worker's shuffle endpoint) and write to the DFS."""

from __future__ import annotations

import collections
import http.server
import random
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mapreduce import task
from mapreduce.counters import counter
from mapreduce.protocol import (
    AttemptResult,
    AttemptSpec,
    MapOutput,
    Split,
    TaskKind,
    TaskState,
)
from mapreduce.serialization import JobFunctions, dumps, seal_payload
from mapreduce.shuffle import read_run
from mapreduce.task import shuffle_context, shuffle_path
from minihadoop.filesystem import FileSystem
from minihadoop.signing import (
    CONTENT,
    SIGNATURE,
    UNSIGNED,
    Keys,
    NonceCache,
    SignatureError,
    digest,
    sign_response,
    stream_mac,
    verify_request,
)
from tests.support import http_server

pytestmark = pytest.mark.integration

WORDS = ["fox", "dog", "the", "über", "naïve", "日本語", "a", "over", "lazy", "quick"]


def execute(spec: AttemptSpec, payload: bytes, work_dir: Path, token: str) -> AttemptResult:
    """Run an attempt as the job tracker launches it: the payload sealed as a job client
    seals it, and an attempt that writes output to the DFS gets its `_temporary/<attempt>`
    folder made first (tasks never create it)."""
    if spec.kind is TaskKind.REDUCE or spec.num_reducers == 0:
        with FileSystem(spec.namenode, token) as fs:
            fs.mkdir(f"{spec.output}/_temporary/{spec.attempt_id}")
    return task.execute(spec, seal_payload(payload, Keys.derive(token).seal), work_dir, token)


def corpus(size: int, seed: int = 7) -> str:
    """Lines of words, some long enough to cross several 4 KiB blocks."""
    rng = random.Random(seed)
    lines = []
    total = 0
    while total < size:
        n = rng.choice([0, 1, 3, 8, 12, 40, 2000])
        line = " ".join(rng.choice(WORDS) for _ in range(n))
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def wc_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for w in line.split():
        yield (w, 1)


def wc_reducer(key: str, values: Iterable[int]) -> Iterator[tuple[str, int]]:
    yield (key, sum(values))


# --- a shuffle server: what the worker's endpoint does, on http.server ----------------------


@dataclass
class ShuffleServer:
    url: str
    work_dir: Path


@pytest.fixture
def shuffle_server(tmp_path: Path, fs: FileSystem) -> Iterator[ShuffleServer]:
    work_dir = tmp_path / "work"
    work_dir.mkdir()
    assert fs.token is not None
    keys = Keys.derive(fs.token)
    nonces = NonceCache()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # A worker's shuffle route as the worker serves it: the request's signature
            # checked, every answer signed, the map output sealed.
            host = self.headers.get("host", "")
            try:
                signed = verify_request(
                    keys, "GET", host, self.path, "", self.headers, time.time(), nonces
                )
            except SignatureError:
                return self.send_error(401)
            parts = self.path.split("/")
            if parts[:4] != ["", "mr", "v1", "shuffle"] or len(parts) != 7:
                return self.reply(signed.nonce, 404, b"no such route")
            try:
                path = shuffle_path(work_dir, parts[4], parts[5], int(parts[6]))
            except ValueError:
                return self.reply(signed.nonce, 400, b"bad id")
            if not path.is_file():
                return self.reply(signed.nonce, 404, b"no such map output")
            mac = stream_mac(keys.seal, shuffle_context(parts[4], parts[5], int(parts[6])))
            data = path.read_bytes()
            mac.update(data)
            self.reply(signed.nonce, 200, data + mac.digest(), streamed=True)

        def reply(self, nonce: str, status: int, body: bytes, *, streamed: bool = False) -> None:
            content = UNSIGNED if streamed else digest(body)
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.send_header(CONTENT, content)
            self.send_header(SIGNATURE, sign_response(keys, nonce, status, "", content))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Handler) as url:
        yield ShuffleServer(url, work_dir)


# --- running a job by hand -----------------------------------------------------------------


def plan_maps(fs: FileSystem, path: str, job_id: str, **kw: Any) -> list[AttemptSpec]:
    """One map per block, each preferring the first datanode that holds its block."""
    located = fs.blocks(path)
    specs = []
    for i, lb in enumerate(located.blocks):
        split = Split(
            path=path,
            start=lb.offset,
            length=lb.block.length,
            file_length=located.status.length,
            hosts=[loc.id for loc in lb.locations],
        )
        specs.append(
            AttemptSpec(
                job_id=job_id,
                attempt_id=f"attempt_{job_id}_m_{i:06d}_0",
                kind=TaskKind.MAP,
                index=i,
                namenode=fs.namenode,
                user=fs.user,  # whose files the attempt reads and writes
                split=split,
                datanode_url=lb.locations[0].url,
                **kw,
            )
        )
    return specs


def reduce_spec(
    fs: FileSystem, job_id: str, r: int, maps: list[AttemptSpec], url: str, **kw: Any
) -> AttemptSpec:
    return AttemptSpec(
        job_id=job_id,
        attempt_id=f"attempt_{job_id}_r_{r:06d}_0",
        kind=TaskKind.REDUCE,
        index=r,
        namenode=fs.namenode,
        user=fs.user,
        map_outputs=[
            MapOutput(map_index=m.index, attempt_id=m.attempt_id, worker_url=url) for m in maps
        ],
        **kw,
    )


def succeeded(result: AttemptResult) -> AttemptResult:
    assert result.state is TaskState.SUCCEEDED, result.error
    return result


def parse_counts(text: str) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in text.splitlines():
        word, n = line.split("\t")
        assert word not in counts, f"{word} twice in the output"
        counts[word] = int(n)
    return counts


def upload(fs: FileSystem, text: str) -> tuple[str, str]:
    base = f"/tests/task/{uuid.uuid4().hex[:8]}"
    fs.write_bytes(f"{base}/input.txt", text.encode(), block_size=4096)
    return f"{base}/input.txt", f"{base}/out"


# --- the tests -----------------------------------------------------------------------------


@pytest.mark.parametrize("combiner", [None, wc_reducer])
def test_word_count_end_to_end(
    fs: FileSystem, shuffle_server: ShuffleServer, combiner: Any
) -> None:
    text = corpus(60_000)
    path, output = upload(fs, text)
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    payload = dumps(JobFunctions(mapper=wc_mapper, reducer=wc_reducer, combiner=combiner))
    work = shuffle_server.work_dir
    maps = plan_maps(fs, path, job_id, num_reducers=2, output=output, sort_buffer_records=15)
    assert len(maps) > 10

    map_results = [succeeded(execute(spec, payload, work, fs.token or "")) for spec in maps]
    total: collections.Counter[str] = collections.Counter()
    for spec, result in zip(maps, map_results, strict=True):
        total.update(result.counters)
        sizes = [shuffle_path(work, job_id, spec.attempt_id, r).stat().st_size for r in (0, 1)]
        assert result.partition_bytes == sizes
    assert total["MAP_INPUT_RECORDS"] == text.count("\n")
    assert total["MAP_OUTPUT_RECORDS"] == len(text.split())
    assert total["HDFS_BYTES_READ"] >= len(text.encode())
    assert total["BYTES_READ_LOCAL"] == total["HDFS_BYTES_READ"]  # each read beside its block
    # 10 distinct words: even combined, 15 records fill the buffer, so maps spill often
    assert total["SPILLS"] > 3 * len(maps)
    if combiner is not None:
        assert total["COMBINE_INPUT_RECORDS"] > total["COMBINE_OUTPUT_RECORDS"] > 0

    output_counts: collections.Counter[str] = collections.Counter()
    for r in (0, 1):
        spec = reduce_spec(fs, job_id, r, maps, shuffle_server.url, num_reducers=2, output=output)
        result = succeeded(execute(spec, payload, work, fs.token or ""))
        part = fs.read_bytes(f"{output}/_temporary/{spec.attempt_id}/part-r-{r:05d}").decode()
        counts = parse_counts(part)
        assert list(counts) == sorted(counts)  # reducers see keys in order
        assert result.counters["REDUCE_OUTPUT_RECORDS"] == len(counts)
        assert result.counters["REDUCE_INPUT_GROUPS"] == len(counts)
        assert result.counters["HDFS_BYTES_WRITTEN"] == len(part.encode())
        assert result.counters["REDUCE_SHUFFLE_BYTES"] == sum(
            m.partition_bytes[r] for m in map_results
        )
        assert not list((work / job_id / spec.attempt_id).glob("*.run"))  # inputs cleaned up
        output_counts.update(counts)
    assert output_counts == collections.Counter(text.split())


def test_identity_reduce_and_none_values(fs: FileSystem, shuffle_server: ShuffleServer) -> None:
    text = "b a\nc a\n"
    path, output = upload(fs, text)
    job_id = f"job_{uuid.uuid4().hex[:8]}"

    def mapper(offset: int, line: str) -> Iterator[tuple[str, Any]]:
        for w in line.split():
            yield (w, offset if w == "a" else None)

    payload = dumps(JobFunctions(mapper=mapper))
    maps = plan_maps(fs, path, job_id, num_reducers=1, output=output)
    for spec in maps:
        succeeded(execute(spec, payload, shuffle_server.work_dir, fs.token or ""))
    spec = reduce_spec(fs, job_id, 0, maps, shuffle_server.url, num_reducers=1, output=output)
    succeeded(execute(spec, payload, shuffle_server.work_dir, fs.token or ""))
    part = fs.read_bytes(f"{output}/_temporary/{spec.attempt_id}/part-r-00000").decode()
    assert part == "a\t0\na\t4\nb\nc\n"


def test_map_only_job_writes_text_to_the_dfs(fs: FileSystem, tmp_path: Path) -> None:
    text = corpus(20_000)
    path, output = upload(fs, text)
    job_id = f"job_{uuid.uuid4().hex[:8]}"

    def grep(offset: int, line: str) -> Iterator[tuple[str, None]] | None:
        if "fox" not in line:
            return None  # a mapper may return None for "nothing"
        return iter([(line, None)])

    payload = dumps(JobFunctions(mapper=grep))  # type: ignore[arg-type]  # None: tolerated
    parts = []
    for spec in plan_maps(fs, path, job_id, num_reducers=0, output=output):
        result = succeeded(execute(spec, payload, tmp_path, fs.token or ""))
        assert result.partition_bytes == []
        part = f"{output}/_temporary/{spec.attempt_id}/part-m-{spec.index:05d}"
        data = fs.read_bytes(part)
        assert result.counters["HDFS_BYTES_WRITTEN"] == len(data)
        parts.append(data.decode())
    assert "".join(parts).splitlines() == [ln for ln in text.splitlines() if "fox" in ln]
    assert not list(tmp_path.iterdir())  # map-only: nothing on local disk


def exploding_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    if offset > 1000:
        raise RuntimeError(f"cannot parse the line at {offset}")
    yield from wc_mapper(offset, line)


def test_an_exception_in_the_mapper_fails_with_the_users_traceback(
    fs: FileSystem, tmp_path: Path
) -> None:
    path, output = upload(fs, "a b c\n" * 2000)
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    spec = plan_maps(fs, path, job_id, num_reducers=2, output=output, sort_buffer_records=10)[0]
    result = execute(spec, dumps(JobFunctions(mapper=exploding_mapper)), tmp_path, fs.token or "")
    assert result.state is TaskState.FAILED
    assert result.error is not None
    assert "Traceback" in result.error
    assert "exploding_mapper" in result.error
    assert "RuntimeError: cannot parse the line at" in result.error
    assert not list((tmp_path / job_id).rglob("*.run"))  # spills of the failed attempt removed


def test_unsortable_map_output_keys_fail_clearly(fs: FileSystem, tmp_path: Path) -> None:
    path, output = upload(fs, "a\nb\n")
    spec = plan_maps(fs, path, "job_unsortable", num_reducers=1, output=output)[0]

    def mixed(offset: int, line: str) -> Iterator[tuple[Any, int]]:
        yield (line if offset else 0, 1)

    result = execute(spec, dumps(JobFunctions(mapper=mixed)), tmp_path, fs.token or "")
    assert result.state is TaskState.FAILED
    assert result.error is not None
    assert "map output keys must be sortable" in result.error


def test_a_bad_payload_fails_the_attempt(fs: FileSystem, tmp_path: Path) -> None:
    path, output = upload(fs, "a\n")
    spec = plan_maps(fs, path, "job_bad_payload", num_reducers=1, output=output)[0]
    result = execute(spec, b"not a pickle", tmp_path, fs.token or "")
    assert result.state is TaskState.FAILED
    assert result.error is not None


def test_an_attempt_that_cannot_reach_the_namenode_is_killed_not_failed(
    fs: FileSystem, tmp_path: Path
) -> None:
    """Not the task's fault: KILLED, so the job tracker re-queues it without counting it."""
    path, output = upload(fs, "a b\n")
    spec = plan_maps(fs, path, "job_nn_gone", num_reducers=1, output=output)[0]
    with socket.socket() as s:  # a port nothing listens on: connections are refused
        s.bind(("127.0.0.1", 0))
        gone = f"http://127.0.0.1:{s.getsockname()[1]}"
    spec = spec.model_copy(update={"namenode": gone, "retry_window": 0.3})
    payload = seal_payload(dumps(JobFunctions(mapper=wc_mapper)), Keys.derive(fs.token or "").seal)
    result = task.execute(spec, payload, tmp_path, fs.token or "")
    assert result.state is TaskState.KILLED, result.error
    assert result.error is not None
    assert "the DFS was unavailable" in result.error and "cannot reach" in result.error


@pytest.mark.parametrize("dead_maps", [[1], [0, 2]])
def test_a_dead_map_output_url_is_a_fetch_failure(
    fs: FileSystem, shuffle_server: ShuffleServer, dead_maps: list[int]
) -> None:
    path, output = upload(fs, corpus(10_000))
    job_id = f"job_{uuid.uuid4().hex[:8]}"
    payload = dumps(JobFunctions(mapper=wc_mapper, reducer=wc_reducer))
    maps = plan_maps(fs, path, job_id, num_reducers=1, output=output)[:3]
    for spec in maps:
        succeeded(execute(spec, payload, shuffle_server.work_dir, fs.token or ""))
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    spec = reduce_spec(fs, job_id, 0, maps, shuffle_server.url, num_reducers=1, output=output)
    for i in dead_maps:
        spec.map_outputs[i].worker_url = dead
    started = time.monotonic()
    result = execute(spec, payload, shuffle_server.work_dir, fs.token or "")
    # retried with backoff once per dead worker, not once per map on it
    assert time.monotonic() - started < 5
    assert result.state is TaskState.FAILED
    assert result.fetch_failures == dead_maps
    assert result.error is not None
    assert all(f"map {i}:" in result.error for i in dead_maps)
    assert not fs.exists(f"{output}/_temporary/{spec.attempt_id}/part-r-00000")


def test_a_missing_map_output_is_a_fetch_failure(
    fs: FileSystem, shuffle_server: ShuffleServer
) -> None:
    path, output = upload(fs, "a b\n")
    maps = plan_maps(fs, path, "job_missing", num_reducers=1, output=output)
    spec = reduce_spec(
        fs, "job_missing", 0, maps, shuffle_server.url, num_reducers=1, output=output
    )
    payload = dumps(JobFunctions(mapper=wc_mapper))
    result = execute(spec, payload, shuffle_server.work_dir, fs.token or "")
    assert result.state is TaskState.FAILED
    assert result.fetch_failures == [0]
    assert result.error is not None
    assert "404" in result.error


def test_user_counters(fs: FileSystem, shuffle_server: ShuffleServer) -> None:
    text = "x y\n\nz\n"
    path, output = upload(fs, text)
    job_id = f"job_{uuid.uuid4().hex[:8]}"

    def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        counter("lines")
        if not line:
            counter("empty", 10)
        return wc_mapper(offset, line)

    def reducer(key: str, values: Iterable[int]) -> Iterator[tuple[str, int]]:
        counter("keys")
        return wc_reducer(key, values)

    payload = dumps(JobFunctions(mapper=mapper, reducer=reducer))
    maps = plan_maps(fs, path, job_id, num_reducers=1, output=output)
    [map_result] = [execute(m, payload, shuffle_server.work_dir, fs.token or "") for m in maps]
    assert map_result.counters["user:lines"] == 3
    assert map_result.counters["user:empty"] == 10
    spec = reduce_spec(fs, job_id, 0, maps, shuffle_server.url, num_reducers=1, output=output)
    result = succeeded(execute(spec, payload, shuffle_server.work_dir, fs.token or ""))
    assert result.counters["user:keys"] == 3


def test_map_throughput_against_a_plain_counter(fs: FileSystem, tmp_path: Path) -> None:
    """Prints MB/s of a word-count map (with a summing combiner) run by `execute`, beside a
    single-process `collections.Counter` over the same lines. Timing is not asserted."""
    rng = random.Random(1)
    vocab = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 10)))
        for _ in range(50_000)
    ]
    weights = [1 / (i + 1) for i in range(len(vocab))]
    words = rng.choices(vocab, weights, k=20_000_000 // 6)
    lines = [" ".join(words[i : i + 10]) for i in range(0, len(words), 10)]
    data = ("\n".join(lines) + "\n").encode()
    mb = len(data) / 1e6
    base = f"/tests/task/{uuid.uuid4().hex[:8]}"
    fs.write_bytes(f"{base}/big.txt", data, block_size=64 << 20)
    [spec] = plan_maps(fs, f"{base}/big.txt", "job_bench", num_reducers=1, output=f"{base}/out")
    payload = dumps(JobFunctions(mapper=wc_mapper, reducer=wc_reducer, combiner=wc_reducer))

    started = time.perf_counter()
    result = succeeded(execute(spec, payload, tmp_path, fs.token or ""))
    mapped = time.perf_counter() - started

    started = time.perf_counter()
    plain: collections.Counter[str] = collections.Counter()
    for line in data.decode().splitlines():
        plain.update(line.split())
    counted = time.perf_counter() - started

    output = read_run(shuffle_path(tmp_path, "job_bench", spec.attempt_id, 0))
    assert {k: sum(v) for k, v in output} == plain
    print(
        f"\nword-count map via execute: {mb / mapped:.1f} MB/s "
        f"({result.counters['SPILLS']} spills); "
        f"plain Counter loop: {mb / counted:.1f} MB/s; {mb:.1f} MB"
    )
