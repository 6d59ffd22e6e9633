"""Shared fixtures: real clusters of real processes on free ports.

`cluster` is one session-wide cluster (3 datanodes, tiny blocks, fast timeouts) for tests
that only read and write. Tests that kill, corrupt or restart daemons take `make_cluster`
and get their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster

# Timeouts short enough that failure handling happens within a test's patience.
FAST = {
    "heartbeat_interval": 0.2,
    "dead_node_timeout": 2.0,
    "replication_interval": 0.2,
    "replication_pending_timeout": 5.0,
    "block_size": 1 << 20,
    "mr_heartbeat_interval": 0.1,
    "worker_timeout": 3.0,
    # A job tracker killed and restarted waits out its old lock session first.
    "jobtracker_session_ttl": 3.0,
    # Clients give up on a namenode that is down after 2 s, not a minute: tests that kill it
    # and expect failures stay quick; tests of riding out a restart ask for longer.
    "retry_window": 2.0,
}


def start_cluster(
    directory: Path,
    datanodes: int = 3,
    *,
    namenodes: int = 1,
    mapreduce: bool = True,
    jobtrackers: int = 1,
    **settings: Any,
) -> LocalCluster:
    cluster = LocalCluster(directory)
    cluster.start(
        datanodes=datanodes,
        namenodes=namenodes,
        mapreduce=mapreduce,
        jobtrackers=jobtrackers,
        settings={**FAST, **settings},
        timeout=60.0 if namenodes > 1 else 30.0,
    )
    return cluster


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.stop()


@pytest.fixture
def fs(cluster: LocalCluster) -> Iterator[FileSystem]:
    with FileSystem.from_cluster(cluster.directory) as client:
        yield client


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()
LOG_TAIL_LINES = 60


def print_log_tails(c: LocalCluster) -> None:
    """The end of every daemon's log, printed so a failed test's report carries it."""
    for log in sorted(c.logs.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        print(f"----- {log.name} (last {len(lines)} lines) -----")
        print("\n".join(lines))


@pytest.fixture
def make_cluster(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., LocalCluster]]:
    made: list[LocalCluster] = []

    def make(datanodes: int = 3, **settings: Any) -> LocalCluster:
        c = start_cluster(tmp_path / f"cluster{len(made)}", datanodes, **settings)
        made.append(c)
        return c

    yield make
    failed = request.node.stash.get(_CALL_FAILED, False)
    for c in made:
        if failed:
            print_log_tails(c)
        c.stop()


@pytest.fixture
def connect() -> Iterator[Callable[[LocalCluster], FileSystem]]:
    """Clients for clusters a test made; all closed when the test ends, pass or fail."""
    clients: list[FileSystem] = []

    def make(c: LocalCluster) -> FileSystem:
        client = FileSystem.from_cluster(c.directory)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
