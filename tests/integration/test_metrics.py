"""`/metrics` on every daemon of a real cluster, scraped as Prometheus does (unsigned), and
read with Prometheus' own parser: the figures follow what the cluster did, and the page
names no file."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mapreduce import Job, JobState
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from tests.support import wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def scrape(url: str) -> tuple[dict[tuple[str, tuple[tuple[str, str], ...]], float], str]:
    """{(sample name, labels): value} of a daemon's page, and the page."""
    r = httpx.get(f"{url}/metrics", timeout=10)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples, r.text


def mapper(_offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def test_every_daemon_serves_figures_that_follow_the_cluster(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=2, replication=2)
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/secret-project/in/words.txt", b"a b a c\n" * 2000, block_size=4096)
        blocks = len(fs.blocks("/secret-project/in/words.txt").blocks)
    done = Job(
        mapper, reducer, inputs=["/secret-project/in"], output="/secret-project/out",
        num_reducers=2, cluster_dir=cluster.directory,
    ).run()  # fmt: skip
    assert done.state is JobState.SUCCEEDED, done.error

    # A walk of the tree, the job tracker's journal included, against the page. The job
    # tracker may still be tidying its journal after the job ended: both are read again
    # until they describe the same moment.
    def agreeing() -> tuple[Any, Any, str] | None:
        with FileSystem.from_cluster(cluster.directory) as fs:
            tree = fs.du("/")
        nn, page = scrape(cluster.daemon("namenode").url)
        same = nn[("minihadoop_namenode_files", ())] == tree.file_count
        return (tree, nn, page) if same else None

    tree, nn, page = wait_for(agreeing, what="the page's file count and a walk's to agree")
    assert "secret-project" not in page and "words.txt" not in page
    parts = 2 + 1  # two part files and _SUCCESS
    assert nn[("minihadoop_namenode_files", ())] == tree.file_count >= 1 + parts
    assert nn[("minihadoop_namenode_folders", ())] == tree.directory_count
    assert nn[("minihadoop_namenode_blocks", ())] >= blocks
    assert nn[("minihadoop_namenode_datanodes", (("state", "live"),))] == 2
    assert nn[("minihadoop_namenode_datanodes", (("state", "dead"),))] == 0
    assert nn[("minihadoop_namenode_missing_blocks", ())] == 0
    assert nn[("minihadoop_namenode_safemode", ())] == 0
    assert nn[("minihadoop_namenode_active", ())] == 1
    assert nn[("minihadoop_namenode_capacity_bytes", ())] > 0
    assert nn[("minihadoop_namenode_edit_log_sync_seconds_count", ())] > 0
    creates = nn[("minihadoop_namenode_http_requests_total",
                  (("op", "/nn/v1/create"), ("status", "200")))]  # fmt: skip
    assert creates >= 1 + parts
    assert nn[("minihadoop_namenode_http_requests_total",
               (("op", "/internal/v1/heartbeat"), ("status", "200")))] > 0  # fmt: skip
    latency = ("minihadoop_namenode_http_request_duration_seconds_count",
               (("op", "/nn/v1/create"),))  # fmt: skip
    assert nn[latency] == sum(
        v for (name, labels), v in nn.items()
        if name == "minihadoop_namenode_http_requests_total" and ("op", "/nn/v1/create") in labels
    )  # fmt: skip

    # A WebHDFS op is counted by its name; one a caller makes up is "other", not a label.
    namenode = cluster.daemon("namenode").url
    stats = ("minihadoop_namenode_http_requests_total",
             (("op", "webhdfs GETFILESTATUS"), ("status", "200")))  # fmt: skip
    before = nn.get(stats, 0)
    httpx.get(f"{namenode}/webhdfs/v1/?op=GETFILESTATUS")
    httpx.get(f"{namenode}/webhdfs/v1/?op=MADEUP{'x' * 50}")
    nn, page = scrape(namenode)
    assert nn[stats] == before + 1
    assert "MADEUP" not in page
    assert ("minihadoop_namenode_http_requests_total",
            (("op", "webhdfs other"), ("status", "400"))) in nn  # fmt: skip

    # The garbage collector's pauses, timed as they happen (the young generation's, at
    # least, have run by now).
    pauses = [v for (n, _), v in nn.items() if n == "minihadoop_namenode_gc_pause_seconds_count"]
    assert pauses and sum(pauses) >= 1
    # Every daemon settled its heap out of the collector's way once it was serving
    # (`minihadoop.heap.settle`): its start-up objects are frozen.
    for daemon in ("namenode", "datanode-0", "jobtracker", "worker-0"):
        figures, _ = scrape(cluster.daemon(daemon).url)
        kind = daemon.split("-")[0]
        assert figures[(f"minihadoop_{kind}_gc_frozen_objects", ())] > 10_000, daemon

    dn, page = scrape(cluster.daemon("datanode-0").url)
    assert dn[("minihadoop_datanode_blocks", ())] >= blocks  # replication 2 of 2 nodes
    assert dn[("minihadoop_datanode_registered", ())] == 1
    assert dn[("minihadoop_datanode_used_bytes", ())] > 0

    jt, page = scrape(cluster.daemon("jobtracker").url)
    assert "secret-project" not in page
    assert jt[("minihadoop_jobtracker_active", ())] == 1
    assert jt[("minihadoop_jobtracker_jobs", (("state", "succeeded"),))] == 1
    assert jt[("minihadoop_jobtracker_jobs", (("state", "failed"),))] == 0
    assert jt[("minihadoop_jobtracker_attempts", (("state", "succeeded"),))] >= blocks + 2
    assert jt[("minihadoop_jobtracker_workers", (("state", "live"),))] == 2
    shuffled = jt[("minihadoop_jobtracker_shuffle_bytes_total", ())]
    assert shuffled == done.counters["REDUCE_SHUFFLE_BYTES"] > 0

    workers = [scrape(cluster.daemon(f"worker-{i}").url)[0] for i in range(2)]
    served = sum(w[("minihadoop_worker_shuffle_bytes_served_total", ())] for w in workers)
    assert served >= shuffled  # what the reduces fetched (plus each output's seal)

    # Every series the Grafana dashboard in deploy/ draws is one the daemons serve.
    names = {name for page in (nn, dn, jt, *workers) for name, _ in page}
    dashboard = (REPO / "deploy" / "grafana" / "minihadoop.json").read_text()
    exprs = [t["expr"] for p in json.loads(dashboard)["panels"] for t in p["targets"]]
    drawn = {m for e in exprs for m in re.findall(r"\bminihadoop_\w+", e)}
    assert len(drawn) >= 20 and drawn <= names, sorted(drawn - names)


def test_json_logs_carry_the_daemon_the_request_and_the_job(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1, log_format="json", log_level="INFO")
    namenode = cluster.daemon("namenode").url
    r = httpx.get(f"{namenode}/health", headers={"x-request-id": "trace-42"})
    assert r.headers["x-request-id"] == "trace-42"  # the caller's, sent back
    made = httpx.get(f"{namenode}/health").headers["x-request-id"]
    assert len(made) == 16  # one of its own
    assert (
        httpx.get(f"{namenode}/health", headers={"x-request-id": "no\tway"}).headers["x-request-id"]
        != "no\tway"
    )
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/in/words", b"a b a\n")
    done = Job(mapper, reducer, inputs=["/in"], output="/out", cluster_dir=cluster.directory).run()
    assert done.state is JobState.SUCCEEDED, done.error

    records = []
    for log in sorted(cluster.logs.glob("*.log")):
        for line in log.read_text().splitlines():
            if line.strip():
                records.append(json.loads(line))  # every line is one JSON record
    assert {r["daemon"] for r in records} >= {"namenode", "jobtracker"}
    assert all({"time", "level", "daemon", "logger", "message"} <= r.keys() for r in records)
    submitted = [r for r in records if r["daemon"] == "jobtracker" and "submitted" in r["message"]]
    assert submitted and submitted[0]["job_id"] == done.id
    assert submitted[0].get("request_id")  # logged while serving the submission
