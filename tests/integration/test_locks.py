"""The lock service on a real namenode group of three: `minihadoop lock acquire` runs a
command under a lock with its fencing token, a holder frozen with SIGSTOP past its TTL loses
the lock to the next and its late writes are refused by a resource that checks tokens, and
sessions and locks ride out a kill -9 of the leader without a lock being granted twice."""

from __future__ import annotations

import fcntl
import functools
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from coord.errors import LockHeldError, LockNotHeldError, StaleFenceError
from minihadoop.errors import UnavailableError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.locks import LockSession
from minihadoop.signing import ClusterAuth
from tests.lincheck import HistoryRecorder, Verdict, check
from tests.lincheck.locks import LockModel
from tests.support import history_across_leader_kills, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
MakeCluster = Callable[..., LocalCluster]
HA = {"raft_tick": 0.05, "raft_election_ticks": 10, "retry_window": 30.0}

# A resource that checks fencing tokens, as the thing a lock guards must: a write with a
# token lower than the highest it has accepted is refused. The writer appends "token i"
# lines while its lock lasts, and notes each refusal.
WRITER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    store = sys.argv[1]
    token = int(os.environ["MINIHADOOP_FENCING_TOKEN"])
    i = 0
    while True:
        with open(store + ".lock", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            highest = int(open(store + ".max").read() or 0) if os.path.exists(store + ".max") else 0
            if token < highest:
                with open(store + ".refused", "a") as f:
                    f.write(f"{token} {i}\\n")
                sys.exit(9)
            with open(store + ".max", "w") as f:
                f.write(str(token))
            with open(store, "a") as f:
                f.write(f"{token} {i}\\n")
        i += 1
        time.sleep(0.02)
    """
)


def lock_cli(cluster: LocalCluster, name: str, *command: str, ttl: float = 10) -> list[str]:
    return ["lock", "acquire", name, "--ttl", str(ttl), "--dir", str(cluster.directory), "--",
            *command]  # fmt: skip


def run(cluster: LocalCluster, argv: list[str], **kw: object) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIHADOOP_")}
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "cli", *argv], env=env, text=True, **kw
    )


@pytest.fixture
def group(make_cluster: MakeCluster) -> LocalCluster:
    return make_cluster(datanodes=0, namenodes=3, mapreduce=False, **HA)


def test_a_command_runs_under_the_lock_with_its_token_and_its_exit_status(
    group: LocalCluster,
) -> None:
    script = "import os, sys; print(os.environ['MINIHADOOP_FENCING_TOKEN']); sys.exit(3)"
    done = run(group, lock_cli(group, "nightly", sys.executable, "-c", script),
               stdout=subprocess.PIPE)  # fmt: skip
    out, _ = done.communicate(timeout=60)
    assert done.returncode == 3
    token = int(out.strip())
    assert token > 0
    status = run(group, ["lock", "status", "--json", "--dir", str(group.directory)],
                 stdout=subprocess.PIPE)  # fmt: skip
    listed, _ = status.communicate(timeout=60)
    assert status.returncode == 0 and json.loads(listed) == []  # released when it ended
    again = run(group, lock_cli(group, "nightly", sys.executable, "-c", script),
                stdout=subprocess.PIPE)  # fmt: skip
    out, _ = again.communicate(timeout=60)
    assert int(out.strip()) > token  # a lock's tokens only grow
    missing = run(group, lock_cli(group, "nightly", "/no/such/command"), stderr=subprocess.PIPE)
    _, err = missing.communicate(timeout=60)
    assert missing.returncode == 127  # as a shell says it
    assert err.strip() == "minihadoop: /no/such/command: command not found"


def test_stopping_lock_acquire_stops_its_command_first_and_keeps_the_lock_till_then(
    group: LocalCluster,
) -> None:
    """SIGTERM to `lock acquire` (as systemd or `timeout` send it) goes on to the command,
    and the lock is held until the command has ended: never a command left running
    without its lock."""
    script = "trap 'sleep 0.5; exit 5' TERM; echo up; while :; do sleep 0.05; done"
    held = run(group, lock_cli(group, "svc", "sh", "-c", script), stdout=subprocess.PIPE)
    assert held.stdout is not None and held.stdout.readline().strip() == "up"
    held.send_signal(signal.SIGTERM)  # to lock acquire alone, not to its command
    with held, FileSystem.from_cluster(group.directory) as fs:
        assert fs.locks("svc")[0]["holders"], "released before the command ended"
        assert held.wait(timeout=60) == 5  # the command's own answer to the signal
        assert fs.locks("svc")[0]["holders"] == []


def test_a_holder_stopped_past_its_ttl_loses_the_lock_and_its_late_writes_are_refused(
    group: LocalCluster, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    writer = tmp_path / "writer.py"
    writer.write_text(WRITER)
    first = run(group, lock_cli(group, "res", sys.executable, str(writer), str(store), ttl=2),
                start_new_session=True)  # fmt: skip
    try:
        wait_for(lambda: store.exists() and len(store.read_text().splitlines()) > 5,
                 timeout=60, what="the first holder writing")  # fmt: skip
        # Stopped between writes, never inside the writers' own lock (a writer stopped
        # holding it would block the second one for good): the test holds it meanwhile.
        with open(str(store) + ".lock", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            os.killpg(first.pid, signal.SIGSTOP)  # the CLI and its command: no keepalive
        second = run(group, lock_cli(group, "res", sys.executable, str(writer), str(store), ttl=2),
                     start_new_session=True)  # fmt: skip
        try:
            first_token = int(store.read_text().split()[0])
            wait_for(lambda: int(store.read_text().splitlines()[-1].split()[0]) > first_token,
                     timeout=60, what="the second holder writing, with a higher token")  # fmt: skip
            os.killpg(first.pid, signal.SIGCONT)
            code = first.wait(timeout=60)
            # Its command woke with the old token and was refused (9), or its CLI saw the
            # session had lapsed and stopped it first (75): never a write accepted.
            assert code in (9, 75), code
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    with open(str(store) + ".lock", "a") as guard:  # the writers' own lock, for a calm read
        fcntl.flock(guard, fcntl.LOCK_EX)
        refused = Path(str(store) + ".refused")
        if code == 9:
            assert refused.read_text().split()[0] == str(first_token)


def test_the_namenodes_refuse_a_change_fenced_by_a_token_no_longer_current(
    group: LocalCluster,
) -> None:
    fs = FileSystem.from_cluster(group.directory)
    with LockSession(fs, ttl=5) as first:
        old = first.acquire("committer")
        deposed = fs.fenced("committer", old.token)
        deposed.mkdir("/fenced/first")
    with fs, deposed:
        _fenced_changes_after_a_new_grant(fs, deposed, old.token)


def _fenced_changes_after_a_new_grant(fs: FileSystem, deposed: FileSystem, old: int) -> None:
    # The first session ended: the second holder's grant is in the log after that.
    with LockSession(fs, ttl=5) as second:
        new = second.acquire("committer")
        assert new.token > old
        for change in (
            lambda: deposed.mkdir("/fenced/late"),
            lambda: deposed.mv("/fenced/first", "/fenced/moved"),
            lambda: deposed.rm("/fenced/first", recursive=True, skip_trash=True),
        ):
            with pytest.raises(StaleFenceError, match=f"token {old} of lock committer"):
                change()
        with fs.fenced("committer", new.token) as current:
            current.mv("/fenced/first", "/fenced/moved")
        # A fence names a lock and a token together, or it is refused, and nothing changes.
        for params in ({"fence.lock": "committer"}, {"fence.lock": "committer",
                       "fence.token": "-3"}, {"fence.token": "7"}):  # fmt: skip
            answer = httpx.put(
                f"{fs.namenode}/webhdfs/v1/fenced/bad",
                params={"op": "MKDIRS", "user.name": fs.user, **params},
                auth=ClusterAuth(fs.token or ""),
            )
            assert answer.status_code == 400, answer.text
            assert "fence" in answer.json()["RemoteException"]["message"]
        # However the names are spelled: percent-encoded, they are still a fence.
        answer = httpx.put(
            f"{fs.namenode}/webhdfs/v1/fenced/encoded?op=MKDIRS&user.name={fs.user}"
            f"&fence%2Elock=committer&fence%2Etoken={old}",
            auth=ClusterAuth(fs.token or ""),
        )
        assert answer.status_code == 409, answer.text
    assert sorted(e.name for e in fs.ls("/fenced")) == ["moved"]


def test_sessions_and_locks_survive_a_leader_kill_and_are_never_granted_twice(
    group: LocalCluster,
) -> None:
    with (
        FileSystem.from_cluster(group.directory) as fs,
        FileSystem.from_cluster(group.directory) as other,
        fs.lock_session(ttl=4) as session,
        other.lock_session(ttl=4) as rival,
    ):
        lock = session.acquire("jobtracker", timeout=0)
        leader = group.leader(timeout=30)
        name = group.daemon_at(leader).name
        group.kill(name)
        killed_ms = int(time.monotonic() * 1000)
        wait_for(lambda: group.leader(timeout=30) != leader, timeout=60, what="a new leader")
        # A keepalive sent more than a TTL after the kill is acknowledged: the new leader
        # gave the session a full TTL from its takeover, and the keepalives found it.
        ttl_ms = 4000
        wait_for(
            lambda: session.lease.until - ttl_ms > killed_ms + ttl_ms,
            timeout=30,
            what="the session kept alive past a TTL after the leader died",
        )
        [status] = other.locks("jobtracker")
        assert [h["token"] for h in status["holders"]] == [lock.token]
        assert status["holders"][0]["session"] == session.id
        with pytest.raises(LockHeldError):
            rival.acquire("jobtracker", timeout=0)
        assert session.valid()
        session.release("jobtracker")
        taken = rival.acquire("jobtracker", timeout=10)
        assert taken.token > lock.token


def test_lock_operations_across_leader_kills_are_linearizable(group: LocalCluster) -> None:
    """Four clients, each with a session, take and release two locks without waiting and
    ask who holds them, while the leader is killed twice; every call and return recorded,
    the history checked per lock against the lock model (tokens only grow, one holder)."""
    recorder = HistoryRecorder()

    def one(n: int, stop: threading.Event) -> None:
        with FileSystem.from_cluster(group.directory) as fs, fs.lock_session(ttl=15) as s:
            lock_client(fs, s, recorder, n, stop)

    history = history_across_leader_kills(group, recorder, 4, one, ops=40)
    result = check(LockModel(), history, timeout=120)
    print(f"{len(history)} lock operations checked: {result.verdict.name}")
    assert result.verdict is Verdict.LINEARIZABLE, result.explain()


def lock_client(
    fs: FileSystem, s: LockSession, recorder: HistoryRecorder, n: int, stop: threading.Event
) -> None:
    """One client's random lock operations, each recorded with its call and return."""
    rng = random.Random(n)
    unknown = (UnavailableError, httpx.HTTPError)

    def acquire(name: str) -> int | None:
        try:
            return s.acquire(name, timeout=0).token
        except LockHeldError:
            return None

    def release(name: str) -> bool:
        try:
            s.release(name)
        except LockNotHeldError:
            return False
        return True

    def holder(name: str) -> str | None:
        holders = fs.locks(name)[0]["holders"]
        return holders[0]["session"] if holders else None

    while not stop.is_set():
        name = rng.choice(["a", "b"])
        op = rng.choice(["acquire", "acquire", "release", "status"])
        if op == "status":
            recorder.invoke(n, op, (name,), functools.partial(holder, name), unknown=unknown)
        else:
            fn = functools.partial(acquire if op == "acquire" else release, name)
            recorder.invoke(n, op, (name, s.id), fn, unknown=unknown)
