"""Files a job leaves on local disks: workers' map outputs and the job tracker's payload.

They go when the job ends, however it ends — succeeded, failed or killed, by the job tracker
that started it or one that resumed it after a restart — and a worker that was down at the
time deletes them when it comes back.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mapreduce import Job, JobState
from mapreduce.job import RunningJob
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import cluster_auth, wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]


def wc_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def slow_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(0.1)  # a job that runs long enough to be interrupted
    yield from wc_mapper(offset, line)


def failing_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    raise ValueError("no")


def wc_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def payload(cluster: LocalCluster, job_id: str) -> Path:
    return Path(cluster.daemon("jobtracker").data_dir) / "payloads" / f"{job_id}.pkl"


def workers_holding(cluster: LocalCluster, job_id: str) -> list[str]:
    """The workers with a folder of `job_id` on their disk."""
    return [
        d.name
        for d in cluster._require().daemons
        if d.name.startswith("worker-") and (Path(d.data_dir) / job_id).exists()
    ]


def start_slow_job(cluster: LocalCluster, fs: FileSystem, name: str) -> RunningJob:
    line = b"a b c " * 100 + b"\n"  # 7 lines a block: 12 maps of ~0.7 s each
    fs.write_bytes(f"/{name}/in", line * 84, block_size=4096)
    running = Job(
        slow_mapper,
        wc_reducer,
        inputs=[f"/{name}/in"],
        output=f"/{name}/out",
        cluster_dir=cluster.directory,
    ).submit()
    wait_for(lambda: running.status()["maps_done"] >= 2, what="some maps done")
    return running


def test_a_job_that_ends_leaves_no_files(cluster: LocalCluster, fs: FileSystem) -> None:
    fs.write_bytes("/ends/in", b"a b a\n" * 100, block_size=4096)

    def job(mapper: Callable[[int, str], Iterator[tuple[str, int]]], out: str) -> Job:
        return Job(
            mapper, wc_reducer, inputs=["/ends/in"], output=out, cluster_dir=cluster.directory
        )

    ok = job(wc_mapper, "/ends/ok").run()
    failed = job(failing_mapper, "/ends/failed").run()
    with job(slow_mapper, "/ends/killed").submit() as killed:
        wait_for(lambda: workers_holding(cluster, killed.id), what="a map running")
        killed.kill()
    assert ok.state is JobState.SUCCEEDED and failed.state is JobState.FAILED
    for job_id in (ok.id, failed.id, killed.id):
        wait_for(lambda j=job_id: not workers_holding(cluster, j), what=f"{job_id} gone")
        assert not payload(cluster, job_id).exists()


def test_a_job_resumed_after_a_job_tracker_restart_leaves_no_files(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster = make_cluster(datanodes=2, replication=2)
    fs = connect(cluster)
    running = start_slow_job(cluster, fs, "resumed")
    job_id = running.id
    assert payload(cluster, job_id).exists() and workers_holding(cluster, job_id)
    cluster.kill("jobtracker", signal.SIGKILL)
    cluster.restart("jobtracker")
    result = running.wait()  # followed across the restart
    assert result.ok, result.error
    assert fs.read_bytes("/resumed/out/part-r-00000").decode().split() == ["a", "8400",
        "b", "8400", "c", "8400"]  # fmt: skip
    wait_for(lambda: not workers_holding(cluster, job_id), what="the workers' files gone")
    assert not payload(cluster, job_id).exists()
    journaled = f"/system/mapred/jobs/{job_id}"  # its end, written behind the job's last step
    wait_for(lambda: not fs.exists(f"{journaled}/payload.pkl"), what="the journal's payload gone")
    assert fs.exists(f"{journaled}/end.json")


def test_a_worker_down_when_its_job_ended_deletes_its_files_at_start(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster = make_cluster(datanodes=2, replication=2, worker_timeout=1.5)
    running = start_slow_job(cluster, connect(cluster), "down")
    job_id = running.id
    wait_for(lambda: "worker-0" in workers_holding(cluster, job_id), what="files on worker-0")
    cluster.kill("worker-0", signal.SIGKILL)
    # The job ends without it (worker-1 runs what worker-0 had), then the job tracker
    # restarts: nobody that remembers the job is left to tell worker-0 about it.
    assert running.wait().ok
    wait_for(lambda: workers_holding(cluster, job_id) == ["worker-0"], what="worker-1 clean")
    cluster.kill("jobtracker", signal.SIGKILL)
    cluster.restart("jobtracker")
    cluster.restart("worker-0")
    wait_for(lambda: not workers_holding(cluster, job_id), what="worker-0's files gone")


def test_a_heartbeat_naming_bad_jobs_is_refused_or_answered_harmlessly(
    cluster: LocalCluster,
) -> None:
    info = cluster._require()
    url = f"{info.jobtracker}/mr/v1/internal/heartbeat"
    beat = {"worker_id": "probe:1", "url": "http://127.0.0.1:1", "slots": 0}
    with httpx.Client(auth=cluster_auth(info.token), timeout=10) as http:
        long_id = http.post(url, json={**beat, "jobs": ["j" * 201]})
        assert long_id.status_code == 400
        assert long_id.json()["RemoteException"]["exception"] == "IllegalArgumentException"
        # Ids the job tracker does not run are named back, and only the worker that holds
        # a folder of that name deletes it: "../x" is nothing a worker ever holds.
        answer = http.post(url, json={**beat, "jobs": ["../x", "job_unknown"]})
        assert answer.status_code == 200
        assert answer.json()["finished_jobs"] == ["../x", "job_unknown"]
