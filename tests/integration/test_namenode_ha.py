"""A namenode group of three, as real processes: it elects one leader, rides out the leader's
kill -9 and SIGSTOP without a client seeing an error, never serves a stale read, and the
history of concurrent clients' operations across leader kills is linearizable.

Each test starts its own cluster (three namenodes, three datanodes, no MapReduce) with a
fast Raft clock: a tick of 50 ms, so a dead leader is replaced within about a second.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from minihadoop.errors import (
    FileAlreadyExistsError,
    FileNotFoundError_,
    SafeModeError,
    StandbyError,
    UnavailableError,
)
from minihadoop.filesystem import FileSystem
from minihadoop.ha import group_state
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import ClusterAuth
from tests.lincheck import HistoryRecorder, NamespaceModel, Verdict, check
from tests.support import history_across_leader_kills, wait_for

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]

HA = {
    "raft_tick": 0.05,
    "raft_election_ticks": 10,
    "retry_window": 30.0,  # clients ride out the election
    "replication": 3,
}


@pytest.fixture
def group(make_cluster: MakeCluster) -> LocalCluster:
    return make_cluster(datanodes=3, namenodes=3, mapreduce=False, **HA)


@pytest.fixture
def client(group: LocalCluster) -> Iterator[FileSystem]:
    with FileSystem.from_cluster(group.directory) as fs:
        yield fs


def states(cluster: LocalCluster) -> dict[str, Any]:
    auth = ClusterAuth(cluster._require().token)
    found = group_state({u: u for u in cluster.namenode_urls()}, auth=auth, timeout=1.0)
    return {s.url: s for s in found}


def test_the_group_elects_one_leader_and_followers_name_it(group: LocalCluster) -> None:
    leader = group.leader()
    found = states(group)
    roles = sorted(s.role for s in found.values())
    assert roles == ["follower", "follower", "leader"]
    assert len({s.term for s in found.values()}) == 1
    for url in found:
        if url == leader:
            continue
        with (
            FileSystem(url, group._require().token, retry_window=0) as follower,
            pytest.raises(StandbyError) as raised,
        ):
            follower.ls("/")
        assert raised.value.leader == leader


def test_writes_and_reads_ride_out_a_leader_killed(
    group: LocalCluster, client: FileSystem, tmp_path: Path
) -> None:
    written: dict[str, bytes] = {}
    for i in range(5):
        written[f"/k/before-{i}"] = os.urandom(1000 + i)
        client.write_bytes(f"/k/before-{i}", written[f"/k/before-{i}"])
    old = group.leader()
    group.kill(group.daemon_at(old).name)
    for i in range(5):  # the first of these waits out the election, invisibly
        written[f"/k/after-{i}"] = os.urandom(2000 + i)
        client.write_bytes(f"/k/after-{i}", written[f"/k/after-{i}"])
    new = group.leader()
    assert new != old
    for path, data in written.items():
        assert client.read_bytes(path) == data
    # The killed namenode comes back as a follower and catches up.
    group.restart(group.daemon_at(old).name)
    leader_state = states(group)[new]
    wait_for(
        lambda: (s := states(group)[old]).role == "follower" and s.applied >= leader_state.commit,
        what="the restarted namenode to catch up",
    )


def test_a_stopped_leader_steps_down_and_never_serves_a_stale_read(
    group: LocalCluster, client: FileSystem
) -> None:
    client.mkdir("/s")
    old = group.leader()
    token = group._require().token
    pid = group.daemon_at(old).pid
    os.kill(pid, signal.SIGSTOP)
    try:
        client.write_bytes("/s/after-stop", b"new")  # through the new leader
        new = group.leader()
        assert new != old
    finally:
        os.kill(pid, signal.SIGCONT)
    # The old leader, resumed, still believes it leads until it hears otherwise: asked
    # directly, it must refuse (StandbyError) or confirm with a quorum first — never answer
    # from its stale namespace, where /s/after-stop does not exist.
    answers: list[str] = []
    deadline = time.monotonic() + 3.0
    with FileSystem(old, token, retry_window=0) as direct:
        while time.monotonic() < deadline:
            try:
                answers.append("found" if direct.exists("/s/after-stop") else "STALE")
            except StandbyError:
                answers.append("standby")
            except Exception as e:  # a read that cannot be confirmed may time out: not stale
                answers.append(type(e).__name__)
    assert "STALE" not in answers, answers
    wait_for(lambda: states(group)[old].role == "follower", what="the old leader to step down")


def test_concurrent_writers_lose_no_acknowledged_file_across_kills(
    group: LocalCluster, client: FileSystem
) -> None:
    acknowledged: list[str] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with FileSystem.from_cluster(group.directory) as fs:
            i = 0
            while not stop.is_set():
                path = f"/w/{n}/{i}"
                try:
                    fs.write_bytes(path, path.encode())
                except BaseException as e:  # any error a user would see
                    errors.append(e)
                    return
                acknowledged.append(path)
                i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            wait_for(lambda: len(acknowledged) > 10, what="writes to flow")
            leader = group.leader()
            group.kill(group.daemon_at(leader).name)
            before = len(acknowledged)
            wait_for(lambda b=before: len(acknowledged) > b + 10, what="writes after the kill")
            group.restart(group.daemon_at(leader).name)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    assert not errors, errors
    for path in acknowledged:
        assert client.read_bytes(path) == path.encode()


# --------------------------------------------------------------------------- linearizability

FOLDERS = [f"/h{i}" for i in range(6)]
CLIENTS = 4


def _ignore_missing(call: Callable[[], Any], missing: Any) -> Any:
    try:
        return call()
    except FileNotFoundError_:
        return missing


def _names(fs: FileSystem, folder: str) -> list[str]:
    return sorted(s.path.rsplit("/", 1)[-1] for s in fs.ls(folder))


def run_client(fs: FileSystem, recorder: HistoryRecorder, n: int, stop: threading.Event) -> None:
    """One client's random operations over the shared folders, each recorded with its call
    and return; an error a retry could not hide is recorded as 'maybe applied'."""
    rng = random.Random(n)
    unknown = (UnavailableError, httpx.HTTPError)
    k = 0
    while not stop.is_set():
        folder = rng.choice(FOLDERS)
        # Each client creates only its own names (the model's atomic create needs that);
        # everybody reads, renames and deletes everybody's.
        mine = f"{folder}/c{n}-{rng.randrange(3)}"
        anyone = f"{folder}/c{rng.randrange(CLIENTS)}-{rng.randrange(3)}"
        k += 1
        match rng.choice(
            ["create", "create", "read", "read", "delete", "rename", "exists", "list"]
        ):
            case "create":
                data = f"{n}:{k}".encode()
                recorder.invoke(
                    n, "create", (mine, data, True),
                    lambda p=mine, d=data: fs.write_bytes(p, d, overwrite=True) or True,
                    unknown=unknown,
                )  # fmt: skip
            case "read":
                recorder.invoke(
                    n, "read", (anyone,),
                    lambda p=anyone: _ignore_missing(lambda: fs.read_bytes(p), None),
                    unknown=unknown,
                )  # fmt: skip
            case "delete":
                recorder.invoke(
                    n, "delete", (anyone, False),
                    lambda p=anyone: _ignore_missing(
                        lambda: fs.rm(p, skip_trash=True) is None, False
                    ),
                    unknown=unknown,
                )  # fmt: skip
            case "rename":
                dst = f"{folder}/r{n}-{k}"

                def rename(src: str = anyone, dst: str = dst) -> bool:
                    try:
                        fs.mv(src, dst)
                    except (FileNotFoundError_, FileAlreadyExistsError):
                        return False
                    return True

                recorder.invoke(n, "rename", (anyone, dst), rename, unknown=unknown)
            case "exists":
                recorder.invoke(
                    n, "exists", (anyone,), lambda p=anyone: fs.exists(p), unknown=unknown
                )
            case _:
                recorder.invoke(
                    n, "list", (folder,),
                    lambda f=folder: _ignore_missing(lambda: _names(fs, f), None),
                    unknown=unknown,
                )  # fmt: skip


def test_a_history_across_leader_kills_is_linearizable(
    group: LocalCluster, client: FileSystem
) -> None:
    for folder in FOLDERS:
        client.mkdir(folder)
    recorder = HistoryRecorder()

    def one(n: int, stop: threading.Event) -> None:
        with FileSystem.from_cluster(group.directory) as fs:
            run_client(fs, recorder, n, stop)

    history = history_across_leader_kills(group, recorder, CLIENTS, one, ops=60)
    initial = {folder: None for folder in FOLDERS}
    result = check(NamespaceModel(initial, split_by_top_folder=True), history, timeout=120)
    print(f"{len(history)} operations checked: {result.verdict.name}")
    assert result.verdict is Verdict.LINEARIZABLE, result.explain()


def test_admin_calls_and_delegation_tokens_are_the_leaders(
    group: LocalCluster, client: FileSystem
) -> None:
    """Safe mode, decommissioning and delegation tokens are the leader's: a follower answers
    StandbyError, so a client that asked it first is sent on — never a follower's own safe
    mode, nor a token only a follower knows."""
    leader = group.leader()
    token = group._require().token
    followers = [u for u in group.namenode_urls() if u != leader]
    with FileSystem([*followers, leader], token) as fs:  # followers asked first
        assert fs.safemode("enter")["safemode"] is True
        health = {u: httpx.get(f"{u}/health").json()["safemode"] for u in group.namenode_urls()}
        assert health == {u: u == leader for u in group.namenode_urls()}
        with pytest.raises(SafeModeError):
            fs.mkdir("/refused")
        fs.safemode("leave")
        fs.mkdir("/allowed")
        delegation = fs.get_delegation_token()
        assert fs.renew_delegation_token(delegation) > time.time()  # the leader knows it
    for url in followers:  # a follower sends a delegated caller on, not away
        answer = httpx.get(
            f"{url}/webhdfs/v1/allowed", params={"op": "GETFILESTATUS", "delegation": delegation}
        )
        assert answer.status_code == 403, answer.text
        assert answer.json()["RemoteException"]["exception"] == "StandbyException"
