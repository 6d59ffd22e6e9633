"""The namenode restarts under running jobs and clients: they wait for it and carry on.

A namenode down for seconds (killed, then started again on its old port) must not fail a
client's put or get, nor a running job, and a job killed while it is down still has its
`_temporary` removed once it is back (also after a job tracker restart in between).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mapreduce import Job, JobState
from mapreduce.job import JobTrackerClient
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_mapreduce import corpus, read_output, wc_mapper, wc_reducer
from tests.support import wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]
Connect = Callable[[LocalCluster], FileSystem]

OUTAGE = 8.0  # seconds the namenode stays down: the restart being ridden out
RIDE_OUT = {"retry_window": 30.0}  # clients, tasks and the job tracker wait this long


def start_namenode_later(cluster: LocalCluster) -> threading.Thread:
    """Start the (killed) namenode again on its old port after OUTAGE, in the background."""

    def restart() -> None:
        time.sleep(OUTAGE)  # the length of the outage, not a wait for an event
        cluster.restart("namenode")

    thread = threading.Thread(target=restart, name="namenode-restart")
    thread.start()
    return thread


def test_a_put_and_a_get_span_a_namenode_restart(
    make_cluster: MakeCluster, connect: Connect, tmp_path: Path
) -> None:
    cluster = make_cluster(datanodes=3, **RIDE_OUT)
    fs = connect(cluster)
    data = os.urandom((5 << 20) + 12_345)  # six 1 MiB blocks
    local = tmp_path / "big"
    local.write_bytes(data)
    restarts: list[threading.Thread] = []

    def after_each_block(_sent: int) -> None:
        if not restarts:  # after the first block: the next add_block finds no namenode
            cluster.kill("namenode")
            restarts.append(start_namenode_later(cluster))

    status = fs.put(local, "/ride/big", progress=after_each_block)
    restarts[0].join()
    assert status.length == len(data)

    cluster.kill("namenode")  # and a read that starts while it is down
    restart = start_namenode_later(cluster)
    try:
        assert fs.get("/ride/big", tmp_path / "back") == len(data)
    finally:
        restart.join()
    assert (tmp_path / "back").read_bytes() == data
    assert fs.fsck("/ride")["status"] == "HEALTHY"


def gated_mapper(started: Path, gate: Path) -> Callable[[int, str], Iterator[tuple[str, int]]]:
    """Word count that, at its first line, says it started and waits for `gate` to exist:
    the test decides when maps may finish."""
    waited = {"done": False}

    def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
        if not waited["done"]:
            (started / f"{os.getpid()}-{offset}").touch()
            deadline = time.monotonic() + 120
            while not gate.exists() and time.monotonic() < deadline:
                time.sleep(0.02)
            waited["done"] = True
        yield from wc_mapper(offset, line)

    return mapper


def submit(
    cluster: LocalCluster, tmp_path: Path, output: str, inputs: str = "/ride/in"
) -> tuple[str, Path, Path]:
    started, gate = tmp_path / "started", tmp_path / "gate"
    started.mkdir()
    running = Job(
        gated_mapper(started, gate),
        wc_reducer,
        combiner=wc_reducer,
        inputs=[inputs],
        output=output,
        num_reducers=2,
        speculative=False,
        cluster_dir=cluster.directory,
    ).submit()
    running.close()
    wait_for(lambda: any(started.iterdir()), what="a map attempt running")
    return running.id, started, gate


def test_a_word_count_rides_out_a_namenode_restart(
    make_cluster: MakeCluster, connect: Connect, tmp_path: Path
) -> None:
    cluster = make_cluster(datanodes=3, **RIDE_OUT)
    fs = connect(cluster)
    text = corpus(4000, seed=5)
    fs.write_bytes("/ride/in/corpus.txt", text.encode(), block_size=16 << 10)
    assert len(fs.blocks("/ride/in/corpus.txt").blocks) > 6  # more maps than slots
    job_id, _started, gate = submit(cluster, tmp_path, "/ride/out")

    # Maps are reading; the namenode goes. The maps finish while it is down, the rest of the
    # maps start (and look up their input), reduces are launched and want to write output.
    cluster.kill("namenode")
    gate.touch()
    start_namenode_later(cluster).join()

    tracker = JobTrackerClient.from_cluster(cluster.directory)
    try:
        status = wait_for(
            lambda: (s := tracker.status(job_id))["state"] != "RUNNING" and s,
            timeout=120,
            what="the job to end",
        )
    finally:
        tracker.close()
    assert status["state"] == JobState.SUCCEEDED.value, status["error"]
    assert read_output(fs, "/ride/out") == dict(Counter(text.split()))  # and no _temporary
    failed = [a for a in status["attempts"] if a["state"] == "FAILED"]
    assert failed == []  # waiting for the namenode is not a failure


@pytest.mark.parametrize("jobtracker_restarts", [False, True], ids=["", "jobtracker-restarts"])
def test_a_job_killed_while_the_namenode_is_down_is_cleaned_up_when_it_is_back(
    make_cluster: MakeCluster, connect: Connect, tmp_path: Path, jobtracker_restarts: bool
) -> None:
    cluster = make_cluster(datanodes=2, **RIDE_OUT)
    fs = connect(cluster)
    fs.write_bytes("/ride/in/words", b"a b c\n" * 100)
    job_id, _started, _gate = submit(cluster, tmp_path, "/ride/killed")
    assert fs.exists("/ride/killed/_temporary")

    cluster.kill("namenode")
    tracker = JobTrackerClient.from_cluster(cluster.directory)
    try:
        assert tracker.kill(job_id) == "KILLED"  # answered at once: nothing waits on the DFS
    finally:
        tracker.close()
    if jobtracker_restarts:
        cluster.kill("jobtracker")
        cluster.restart("jobtracker")
    cluster.restart("namenode")

    wait_for(lambda: not fs.exists("/ride/killed/_temporary"), what="_temporary removed")
    assert not fs.exists("/ride/killed/_SUCCESS")
    tracker = JobTrackerClient.from_cluster(cluster.directory)
    try:
        assert tracker.status(job_id)["state"] == "KILLED"
    finally:
        tracker.close()


def test_a_job_whose_commit_fails_is_cleaned_up_too(
    cluster: LocalCluster, fs: FileSystem, tmp_path: Path
) -> None:
    fs.write_bytes("/commitfail/in/words", b"a b c\n" * 10)
    job_id, _started, gate = submit(cluster, tmp_path, "/commitfail/out", "/commitfail/in")
    fs.write_bytes("/commitfail/out/part-r-00000", b"in the way")  # the job commit's rename fails
    gate.touch()
    tracker = JobTrackerClient.from_cluster(cluster.directory)
    try:
        status = wait_for(
            lambda: (s := tracker.status(job_id))["state"] != "RUNNING" and s, what="job end"
        )
    finally:
        tracker.close()
    assert status["state"] == "FAILED" and "job commit failed" in status["error"]
    assert not fs.exists("/commitfail/out/_temporary")
    assert not fs.exists("/commitfail/out/_SUCCESS")
