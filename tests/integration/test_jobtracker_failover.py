"""Job tracker failover on real processes: kill -9 the active job tracker in the middle of a
word count — maps done, reduces running — and the standby takes the lock, resumes the job
from the journal without running a finished map again, and commits the output once; the
same with a single job tracker that is restarted; and a job tracker frozen past its TTL
finds, when it wakes, that it can no longer change anything."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mapreduce import Job
from mapreduce.job import JobTrackerClient, RunningJob
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.integration.test_mapreduce import corpus, read_output, wc_mapper
from tests.support import cluster_auth, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
MakeCluster = Callable[..., LocalCluster]
TTL = 3.0  # the job trackers' lock session; a takeover comes within about this long
REDUCERS = 3
JOURNAL = "/system/mapred/jobs"


def slow_reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    import time

    time.sleep(0.02)  # reduces that run for seconds: a kill finds them running
    yield word, sum(counts)


def word_count_reducing(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem], name: str,
    jobtrackers: int,
) -> tuple[LocalCluster, FileSystem, RunningJob, str]:  # fmt: skip
    """A cluster with `jobtrackers` job trackers running a word count whose maps are all
    done and whose reduces run: where a takeover has the most to keep."""
    cluster = make_cluster(datanodes=3, replication=2, jobtrackers=jobtrackers,
                           jobtracker_session_ttl=TTL)  # fmt: skip
    fs = connect(cluster)
    running, text = start_word_count(cluster, fs, name)
    wait_for(lambda: reduces_running(running), timeout=60, what="maps done, reduces running")
    return cluster, fs, running, text


def start_word_count(cluster: LocalCluster, fs: FileSystem, name: str) -> tuple[RunningJob, str]:
    text = corpus(2500, seed=7)
    fs.write_bytes(f"/{name}/in", text.encode(), block_size=8192)
    running = Job(
        wc_mapper,
        slow_reducer,
        inputs=[f"/{name}/in"],
        output=f"/{name}/out",
        num_reducers=REDUCERS,
        cluster_dir=cluster.directory,
    ).submit()
    return running, text


def reduces_running(running: RunningJob) -> bool:
    status = running.status()
    return status["maps_done"] == status["maps"] and any(
        a["kind"] == "REDUCE" and a["state"] == "RUNNING" for a in status["attempts"]
    )


def health(url: str) -> dict[str, Any]:
    try:
        return httpx.get(f"{url}/health", timeout=2).json()  # type: ignore[no-any-return]
    except httpx.HTTPError:
        return {}


def check_resumed(fs: FileSystem, running: RunningJob, text: str, output: str) -> None:
    result = running.wait()
    assert result.ok, result.error
    assert read_output(fs, output) == dict(Counter(text.split()))
    names = [e.name for e in fs.ls(output)]
    assert names.count("_SUCCESS") == 1 and sorted(names) == sorted(
        ["_SUCCESS", *(f"part-r-{r:05d}" for r in range(REDUCERS))]
    )
    maps = [a for a in result.status["attempts"] if a["kind"] == "MAP"]
    # Attempts started after a takeover are numbered from 1000: no finished map ran again.
    rerun = [a["id"] for a in maps if int(a["id"].rsplit("_", 1)[1]) >= 1000]
    assert rerun == [], rerun
    succeeded = {a["index"] for a in maps if a["state"] == "SUCCEEDED"}
    assert succeeded == set(range(result.status["maps"]))


def test_the_standby_takes_over_a_word_count_when_the_active_job_tracker_is_killed(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster, fs, running, text = word_count_reducing(make_cluster, connect, "failover", 2)
    active, standby = cluster.jobtracker_urls()
    assert health(active)["role"] == "active" and health(standby)["role"] == "standby"
    cluster.kill("jobtracker", signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: health(standby).get("role") == "active", timeout=TTL + 15,
             what="the standby active")  # fmt: skip
    assert time.monotonic() - killed < TTL + 10
    check_resumed(fs, running, text, "/failover/out")
    # The job tracker that was killed comes back as the standby, and the job list is whole.
    cluster.restart("jobtracker")
    wait_for(lambda: health(active).get("role") == "standby", what="the old one a standby")
    with JobTrackerClient.from_cluster(cluster.directory) as client:
        listed = client.jobs()
    assert [j["id"] for j in listed] == [running.id] and listed[0]["state"] == "SUCCEEDED"


def test_a_restarted_job_tracker_resumes_the_job_it_was_running(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster, fs, running, text = word_count_reducing(make_cluster, connect, "restart", 1)
    # Journal folders no job tracker could have written: they are skipped, said in the log,
    # and keep neither the job tracker nor the running job from resuming.
    fs.write_bytes(f"{JOURNAL}/job_garbled_1/job.json", b"{not json")
    fs.write_bytes(f"{JOURNAL}/job_other_2/job.json",
                   fs.read_bytes(f"{JOURNAL}/{running.id}/job.json"))  # fmt: skip
    fs.mkdir(f"{JOURNAL}/job_unfinished_3")
    plan = json.loads(fs.read_bytes(f"{JOURNAL}/{running.id}/job.json"))
    relative = {**plan, "id": "job_relative_4", "output": "relative/out"}
    fs.write_bytes(f"{JOURNAL}/job_relative_4/job.json", json.dumps(relative).encode())
    cluster.kill("jobtracker", signal.SIGKILL)
    cluster.restart("jobtracker")
    check_resumed(fs, running, text, "/restart/out")
    log = Path(cluster.daemon("jobtracker").log).read_text()
    for bad in ("job_garbled_1", "job_other_2", "job_relative_4"):
        assert f"job {bad}: its journal cannot be read, so it is not resumed" in log


def test_a_job_tracker_frozen_past_its_ttl_is_deposed_and_changes_nothing(
    make_cluster: MakeCluster, connect: Callable[[LocalCluster], FileSystem]
) -> None:
    cluster, fs, running, text = word_count_reducing(make_cluster, connect, "frozen", 2)
    first, second = cluster.jobtracker_urls()
    cluster.kill("jobtracker", signal.SIGSTOP)
    try:
        wait_for(lambda: health(second).get("role") == "active", timeout=TTL + 15,
                 what="the standby active")  # fmt: skip
        token = health(second)["token"]
    finally:
        cluster.kill("jobtracker", signal.SIGCONT)
    # Awake, it believes its lease no longer (its own clock): it answers as a standby, and
    # a heartbeat with the newer token is refused by it whatever it believes.
    wait_for(lambda: health(first).get("role") == "standby", what="the frozen one standing by")
    beat = {"worker_id": "probe:1", "url": "http://127.0.0.1:1", "slots": 0, "token": token}
    answer = httpx.post(f"{first}/mr/v1/internal/heartbeat", json=beat,
                        auth=cluster_auth(cluster._require().token), timeout=10)  # fmt: skip
    assert answer.status_code == 403 and "standby" in answer.text.lower(), answer.text
    check_resumed(fs, running, text, "/frozen/out")
    # What it went on doing when it woke — ticks that found its workers silent, results it
    # still held — ended nothing: the job's end is the new active one's alone.
    woke = Path(cluster.daemon("jobtracker").log).read_text()
    assert f"job {running.id} FAILED" not in woke and f"job {running.id} KILLED" not in woke
