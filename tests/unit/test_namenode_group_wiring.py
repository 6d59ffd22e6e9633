"""A namenode group's URLs reach every client intact: the `fs` CLI's environment, the job
tracker's `--namenode` flag (as a local cluster starts it), the attempt spec the job tracker
sends a worker, and the task process the worker starts from it."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cli.fs import client
from mapreduce import task
from mapreduce.jobtracker import JobTracker
from mapreduce.jobtracker_app import dfs_client
from mapreduce.protocol import AttemptSpec, TaskKind
from mapreduce.scheduler import Launch
from minihadoop.config import ClusterInfo, Settings
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

A, B, C = "http://nn-a:9870", "http://nn-b:9870", "http://nn-c:9870"


def test_the_fs_command_takes_a_group_from_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MINIHADOOP_NAMENODE", f"{A};{B};{C}")
    monkeypatch.setenv("MINIHADOOP_TOKEN", "t")
    with client(None) as fs:
        assert fs.namenodes == (A, B, C)


def test_a_local_cluster_gives_its_job_tracker_every_namenode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = LocalCluster(tmp_path)
    cluster.info = ClusterInfo(namenode=A, namenodes=[A, B, C], token="t")
    started: list[list[str]] = []
    monkeypatch.setattr(
        cluster, "_start_daemon", lambda _name, argv, *_a, **_kw: started.append(argv)
    )
    cluster._start_jobtracker(port=0, timeout=1.0)
    flag = started[0][started[0].index("--namenode") + 1]
    with dfs_client(flag, Settings(token="t")) as fs:  # as `minihadoop jobtracker` makes it
        assert fs.namenodes == (A, B, C) and fs.user == "mapred"


def test_an_attempt_carries_the_group_and_its_task_starts_at_the_leader(tmp_path: Path) -> None:
    fs = FileSystem([A, B, C], "t", leader=B)  # the job tracker's, B leading
    tracker = JobTracker(tmp_path / "jt", fs, Settings(token="t"))
    try:
        job = SimpleNamespace(id="job_1", num_reducers=1, maps=[SimpleNamespace(split=None)])
        tracker.scheduler = SimpleNamespace(jobs={"job_1": job})  # type: ignore[assignment]
        tracker.records["job_1"] = SimpleNamespace(output="/out", user="alice")  # type: ignore[assignment]
        spec = tracker._spec(Launch("w1", "attempt_1_m_0", "job_1", TaskKind.MAP, 0))
    finally:
        tracker.close()
        fs.close()
    assert (spec.namenode, spec.namenodes) == (B, [A, B, C])
    # The worker hands it to the task process as JSON.
    again = AttemptSpec.model_validate_json(spec.model_dump_json())
    with task._dfs(again, "t", "") as dfs:
        assert (dfs.namenodes, dfs.namenode, dfs.user) == ((A, B, C), B, "alice")


def test_a_spec_without_a_group_names_its_one_namenode() -> None:
    fields: dict[str, Any] = {"job_id": "job_1", "attempt_id": "a", "kind": TaskKind.MAP}
    spec = AttemptSpec(**fields, index=0, num_reducers=1, namenode=f"{A}/", output="/out")
    with task._dfs(spec, "t", "") as dfs:
        assert (dfs.namenodes, dfs.namenode) == ((A,), A)
