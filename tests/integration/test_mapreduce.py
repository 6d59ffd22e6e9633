"""MapReduce on a real cluster: job tracker, workers, child processes, shuffle over HTTP."""

from __future__ import annotations

import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

import mapreduce
from mapreduce import Job, JobState
from mapreduce import task as task_module
from mapreduce.counters import counter
from mapreduce.protocol import Split
from mapreduce.task import _with_local_bytes
from minihadoop.errors import FileAlreadyExistsError, FileNotFoundError_, IllegalArgumentError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.models import LocatedBlocks
from minihadoop.retry import Replay
from tests.support import wait_for

pytestmark = pytest.mark.integration
WORD = re.compile(r"[a-z']+")


def corpus(lines: int, seed: int) -> str:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)] + ["the", "a", "hadoop", "naïve", "café"]
    weights = [1 / (i + 1) for i in range(len(vocab))]  # Zipf-ish, like real text
    return "".join(
        " ".join(rng.choices(vocab, weights, k=rng.randint(0, 14))) + ("\r\n" if i % 7 else "\n")
        for i in range(lines)
    )


def wc_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def wc_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def read_output(fs: FileSystem, folder: str) -> dict[str, int]:
    names = sorted(e.name for e in fs.ls(folder))
    assert "_SUCCESS" in names and "_temporary" not in names
    result: dict[str, int] = {}
    for name in names:
        if name.startswith("part-"):
            for line in fs.read_bytes(f"{folder}/{name}").decode().splitlines():
                word, count = line.split("\t")
                assert word not in result, f"{word} in two partitions"
                result[word] = int(count)
    return result


def job(cluster: LocalCluster, *args: object, **kw: object) -> Job:
    return Job(*args, cluster_dir=cluster.directory, **kw)  # type: ignore[arg-type]


def test_wordcount_with_4k_blocks_equals_counter(cluster: LocalCluster, fs: FileSystem) -> None:
    text = corpus(3000, seed=1)
    fs.write_bytes("/wc/in/corpus.txt", text.encode(), block_size=4096)
    fs.write_bytes("/wc/in/small.txt", b"the hadoop the\nend", block_size=4096)
    result = job(
        cluster,
        wc_mapper,
        wc_reducer,
        combiner=wc_reducer,
        inputs=["/wc/in"],
        output="/wc/out",
        num_reducers=3,
    ).run()
    assert result.state is JobState.SUCCEEDED, result.error
    expected = Counter((text + "\nthe hadoop the\nend").split())
    assert read_output(fs, "/wc/out") == dict(expected)
    maps = len(fs.blocks("/wc/in/corpus.txt").blocks) + 1
    c = result.counters
    assert result.status["maps"] == maps
    assert c["MAP_INPUT_RECORDS"] == 3000 + 2
    assert c["REDUCE_OUTPUT_RECORDS"] == len(expected)
    assert c["DATA_LOCAL_MAPS"] > 0
    assert c["DATA_LOCAL_MAPS"] + c["OTHER_LOCAL_MAPS"] == maps
    assert c["COMBINE_OUTPUT_RECORDS"] < c["COMBINE_INPUT_RECORDS"]


def test_map_only_job_and_user_counters(cluster: LocalCluster, fs: FileSystem) -> None:
    fs.write_bytes("/maponly/in", b"keep 1\ndrop 2\nkeep 3\n")

    def keep(offset: int, line: str) -> Iterator[tuple[str, None]]:
        if line.startswith("keep"):
            counter("kept")
            yield line.upper(), None

    result = job(cluster, keep, inputs=["/maponly/in"], output="/maponly/out", num_reducers=0).run()
    assert result.ok, result.error
    assert result.counters["user:kept"] == 2
    parts = [e.path for e in fs.ls("/maponly/out") if e.name.startswith("part-m-")]
    assert b"".join(fs.read_bytes(p) for p in parts) == b"KEEP 1\nKEEP 3\n"


def test_many_small_files_are_packed_into_few_maps(cluster: LocalCluster, fs: FileSystem) -> None:
    texts = {f"/small/in/{i:03d}.txt": corpus(3, seed=100 + i) for i in range(150)}
    for path, text in texts.items():
        fs.write_bytes(path, text.encode(), replication=1)  # one holder: the packing's key
    fs.write_bytes("/small/in/big.txt", corpus(2000, seed=3).encode(), block_size=8192)
    big_blocks = len(fs.blocks("/small/in/big.txt").blocks)
    result = job(
        cluster,
        wc_mapper,
        mapreduce.sum,
        combiner=mapreduce.sum,
        inputs=["/small/in"],
        output="/small/out",
        num_reducers=2,
    ).run()
    assert result.ok, result.error
    everything = "\n".join([*texts.values(), corpus(2000, seed=3)])
    assert read_output(fs, "/small/out") == dict(Counter(everything.split()))
    # The big file's blocks each have a map; the 150 small files share one per datanode
    # holding them (3 here).
    small_maps = result.status["maps"] - big_blocks
    assert 1 <= small_maps <= 3
    # Every line of every file mapped once (each corpus line ends with a newline).
    lines = sum(t.count("\n") for t in [*texts.values(), corpus(2000, seed=3)])
    assert result.counters["MAP_INPUT_RECORDS"] == lines


def test_a_map_only_job_over_packed_files_names_each_file(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    for i in range(12):
        fs.write_bytes(f"/packed/in/f{i:02d}", f"line of {i}\n".encode())

    def where(offset: int, line: str) -> Iterator[tuple[str, str]]:
        yield mapreduce.context().input_file, line

    result = job(cluster, where, inputs=["/packed/in"], output="/packed/out", num_reducers=0).run()
    assert result.ok, result.error
    assert result.status["maps"] < 12
    lines = []
    for e in fs.ls("/packed/out"):
        if e.name.startswith("part-m-"):
            lines += fs.read_bytes(e.path).decode().splitlines()
    assert sorted(lines) == [f"/packed/in/f{i:02d}\tline of {i}" for i in range(12)]


def test_locating_many_files_at_once(cluster: LocalCluster, fs: FileSystem) -> None:
    for i in range(3):
        fs.write_bytes(f"/many/f{i}", b"x" * (i + 1))
    names = [f"/many/f{i}" for i in (2, 0, 1)]

    def facts(located: LocatedBlocks) -> object:  # tokens and replica order vary by call
        return located.status, [(b.block, {n.id for n in b.locations}) for b in located.blocks]

    many = fs.blocks_many(names)
    assert [facts(f) for f in many] == [facts(fs.blocks(n)) for n in names]  # as asked
    assert all(b.token for f in many for b in f.blocks)  # readable: each block has its token
    with pytest.raises(FileNotFoundError_):
        fs.blocks_many(["/many/f0", "/many/nothing"])
    info = cluster.info
    assert info is not None
    stranger = httpx.post(f"{info.namenode}/nn/v1/blocks", json={"paths": names}, timeout=10)
    assert stranger.status_code == 401  # as the one-file call: the cluster's callers only
    for bad in ({"paths": ["/many/f0"] * 1001}, {}, {"paths": []}, {"paths": "f0"}, {"paths": [7]}):
        with pytest.raises(IllegalArgumentError):
            fs._nn("POST", "/nn/v1/blocks", Replay.SAFE, json=bad)


def test_many_small_blocks_come_from_one_datanode_in_one_call(
    cluster: LocalCluster, fs: FileSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = {f"/batch/f{i:02d}": f"file {i}\n".encode() * (i + 1) for i in range(24)}
    for path, text in texts.items():
        fs.write_bytes(path, text, replication=1)
    located = fs.blocks_many(list(texts))
    holder = located[0].blocks[0].locations[0]
    here = [lb.blocks[0].locations[0].url == holder.url for lb in located]
    assert 0 < sum(here) < len(texts)  # some on this datanode, some elsewhere

    got = fs.whole_blocks(holder.url, [lb.blocks[0] for lb in located])
    assert got == [text if mine else None for text, mine in zip(texts.values(), here, strict=True)]

    # A rotten replica (same length, one byte flipped) is None, and the others still come.
    rotten = next(i for i, mine in enumerate(here) if mine)
    block_id = located[rotten].blocks[0].block.block_id
    disk = Path(cluster.daemon_at(holder.url).data_dir)
    replica = disk / "current" / f"subdir{block_id % 64}" / f"blk_{block_id}"
    data = bytearray(replica.read_bytes())
    data[0] ^= 0xFF
    replica.write_bytes(bytes(data))
    again = fs.whole_blocks(holder.url, [lb.blocks[0] for lb in located])
    assert again[rotten] is None
    assert [g for i, g in enumerate(again) if i != rotten] == [
        g for i, g in enumerate(got) if i != rotten
    ]

    # The task's batching: local whole files in one call, the rest (and the rotten one)
    # left to the usual read, in the input's order.
    inputs = [
        (Split(path=p, start=0, length=len(t), file_length=len(t)), lb)
        for (p, t), lb in zip(texts.items(), located, strict=True)
    ]
    spec = SimpleNamespace(datanode_url=holder.url)
    expected = [
        (p, None if i == rotten else g) for i, (p, g) in enumerate(zip(texts, got, strict=True))
    ]
    out = list(_with_local_bytes(fs, spec, inputs))  # type: ignore[arg-type]
    assert [(piece.path, data) for piece, _, data in out] == expected
    # Batches cut at their limit give the same, in calls of at most that many blocks.
    calls: list[int] = []
    whole_blocks = fs.whole_blocks

    def counted(url: str, blocks: list[Any]) -> list[bytes | None]:
        calls.append(len(blocks))
        return whole_blocks(url, blocks)

    monkeypatch.setattr(fs, "whole_blocks", counted)
    monkeypatch.setattr(task_module, "LOCAL_BATCH_FILES", 2)
    out = list(_with_local_bytes(fs, spec, inputs))  # type: ignore[arg-type]
    assert [(piece.path, data) for piece, _, data in out] == expected
    assert calls and max(calls) <= 2 and sum(calls) == sum(here)

    # Cluster members only, and a bounded, well-formed list of block ids.
    url = f"{holder.url}/dn/v1/blocks/read"
    stranger = httpx.post(url, json={"blocks": [block_id]}, timeout=10)
    assert stranger.status_code == 401
    bads: list[dict[str, object]] = [{"blocks": list(range(1, 1002))}, {}, {"blocks": []}]
    bads += [{"blocks": [0]}, {"blocks": "1"}, {"blocks": [block_id, block_id]}]  # each once
    bads += [{"blocks": [True]}, {"blocks": [1.0]}, {"blocks": ["1"]}]  # ids are integers
    for bad in bads:
        assert fs._http.post(url, json=bad).status_code == 400, bad
    # A body past 1 MiB is refused (413) before it is read: block data may be large, a list
    # of ids may not. (A chunked one is refused once past it, as on the other daemons.)
    huge = b'{"blocks": [' + b" " * (2 << 20) + b"1]}"
    assert fs._http.post(url, content=huge).status_code == 413


def test_cpu_milliseconds_counts_cpu_not_waiting(cluster: LocalCluster, fs: FileSystem) -> None:
    fs.write_bytes("/cpu/in", b"one line\n")

    def busy_then_idle(offset: int, line: str) -> Iterator[tuple[str, int]]:
        start = time.process_time()
        while time.process_time() - start < 0.3:  # 0.3 s of CPU
            pass
        time.sleep(2.0)  # and 2 s of none
        yield line, 1

    result = job(
        cluster, busy_then_idle, inputs=["/cpu/in"], output="/cpu/out", num_reducers=0
    ).run()
    assert result.ok, result.error
    assert 300 <= result.counters["CPU_MILLISECONDS"] < 1500, result.counters


def test_failing_mapper_fails_the_job_with_the_users_traceback(
    cluster: LocalCluster, fs: FileSystem
) -> None:
    fs.write_bytes("/fail/in", b"one line\n")

    def broken_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        raise ValueError(f"cannot parse {line!r}")
        yield  # pragma: no cover

    result = job(cluster, broken_mapper, wc_reducer, inputs=["/fail/in"], output="/fail/out").run()
    assert result.state is JobState.FAILED
    assert result.error is not None
    assert "ValueError: cannot parse 'one line'" in result.error
    assert "broken_mapper" in result.error  # the user's own frame
    assert "failed 4 times" in result.error
    assert not fs.exists("/fail/out/_SUCCESS") and not fs.exists("/fail/out/_temporary")


def test_mapper_failing_only_on_its_first_attempt_succeeds(
    cluster: LocalCluster, fs: FileSystem, tmp_path: Path
) -> None:
    fs.write_bytes("/flaky/in", b"a b\nb c\n")
    marker = tmp_path / "failed-once"

    def flaky_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        if not marker.exists():
            marker.write_text("x")
            raise RuntimeError("first attempt fails")
        yield from wc_mapper(offset, line)

    result = job(cluster, flaky_mapper, wc_reducer, inputs=["/flaky/in"], output="/flaky/out").run()
    assert result.ok, result.error
    assert read_output(fs, "/flaky/out") == {"a": 1, "b": 2, "c": 1}
    failed = [a for a in result.status["attempts"] if a["state"] == "FAILED"]
    assert len(failed) == 1 and "first attempt fails" in failed[0]["error"]


def test_crash_and_bad_jobs_are_refused_or_contained(cluster: LocalCluster, fs: FileSystem) -> None:
    fs.write_bytes("/bad/in", b"x\n")
    fs.mkdir("/bad/exists")
    with pytest.raises(FileAlreadyExistsError):
        job(cluster, wc_mapper, inputs=["/bad/in"], output="/bad/exists").submit()
    lock = threading.Lock()  # a lock cannot travel to another process

    def uses_lock(offset: int, line: str) -> Iterator[tuple[str, int]]:
        with lock:
            yield line, 1

    with pytest.raises(IllegalArgumentError, match="cannot be shipped"):
        job(cluster, uses_lock, inputs=["/bad/in"], output="/bad/never").submit()
    assert not fs.exists("/bad/never")

    def crashing_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        import os

        os._exit(3)  # the child process dies; the worker must not
        yield "x", 1  # pragma: no cover

    result = job(
        cluster, crashing_mapper, inputs=["/bad/in"], output="/bad/crash", max_attempts=2
    ).run()
    assert result.state is JobState.FAILED
    assert "exit code 3" in (result.error or "")
    after = job(cluster, wc_mapper, wc_reducer, inputs=["/bad/in"], output="/bad/ok").run()
    assert after.ok  # the workers survived


def slow_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(0.01)  # a workload that takes a while, so a worker can die mid-job
    yield from wc_mapper(offset, line)


def test_worker_killed_mid_job_job_still_correct(
    make_cluster: Callable[..., LocalCluster], tmp_path: Path
) -> None:
    cluster = make_cluster(datanodes=3, worker_timeout=1.5)
    with FileSystem.from_cluster(cluster.directory) as fs:
        text = corpus(1500, seed=3)
        fs.write_bytes("/kill/in", text.encode(), block_size=4096)
        running = job(
            cluster,
            slow_mapper,
            wc_reducer,
            inputs=["/kill/in"],
            output="/kill/out",
            num_reducers=2,
        ).submit()
        wait_for(lambda: running.status()["maps_done"] >= 3, what="some maps done")
        cluster.kill("worker-1", signal.SIGKILL)
        result = running.wait()
        assert result.ok, result.error
        assert read_output(fs, "/kill/out") == dict(Counter(text.split()))


def test_job_history_survives_a_job_tracker_restart(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/hist/in", b"a a b\n")
        done = job(cluster, wc_mapper, wc_reducer, inputs=["/hist/in"], output="/hist/out").run()
        assert done.ok
        cluster.kill("jobtracker", signal.SIGKILL)
        cluster.restart("jobtracker")
        cluster.wait_for_workers(1)
        again = job(cluster, wc_mapper, inputs=["/hist/in"], output="/hist/x").submit()
        status = again.client.status(done.id)
        assert status["state"] == "SUCCEEDED"
        assert status["counters"]["MAP_INPUT_RECORDS"] == 1
        assert {a["kind"] for a in status["attempts"]} == {"MAP", "REDUCE"}
        assert again.wait().ok


def slow_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(0.05)  # a workload that takes a while, so a worker can die mid-shuffle
    yield word, sum(counts)


def test_worker_killed_during_shuffle_and_reduce_job_still_correct(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=3, worker_timeout=1.5)
    with FileSystem.from_cluster(cluster.directory) as fs:
        text = corpus(1500, seed=5)
        fs.write_bytes("/shuffle/in", text.encode(), block_size=8192)
        running = job(
            cluster, wc_mapper, slow_reducer, inputs=["/shuffle/in"], output="/shuffle/out",
            num_reducers=3,
        ).submit()  # fmt: skip

        def reducing() -> str | None:
            attempts = running.status()["attempts"]
            return next(
                (
                    a["worker"]
                    for a in attempts
                    if a["kind"] == "REDUCE" and a["state"] == "RUNNING"
                ),
                None,
            )

        worker = wait_for(reducing, what="a reduce running")  # maps done: outputs on workers
        port = worker.rsplit(":", 1)[1]
        victim = next(d.name for d in cluster._require().daemons if d.url.endswith(f":{port}"))
        cluster.kill(victim, signal.SIGKILL)  # its map outputs and its reduce are gone
        result = running.wait()
        assert result.ok, result.error
        assert read_output(fs, "/shuffle/out") == dict(Counter(text.split()))


def test_a_new_job_starts_without_waiting_for_the_next_heartbeat(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    # Workers heartbeat only once a minute here: the job still runs at once, because the
    # job tracker tells every worker to heartbeat when a job arrives, and a worker reports
    # an attempt the moment it ends.
    cluster = make_cluster(datanodes=2, mr_heartbeat_interval=60.0, worker_timeout=600.0)
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/wake/in", b"one line\n")
        submitted = job(cluster, wc_mapper, wc_reducer, inputs=["/wake/in"], output="/wake/out")
        with submitted.submit() as running:
            wait_for(
                lambda: running.status()["state"] == "SUCCEEDED",
                timeout=20,
                what="the job done long before the next heartbeat",
            )
        assert read_output(fs, "/wake/out") == {"one": 1, "line": 1}
