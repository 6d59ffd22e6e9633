"""Name and space quotas on a real cluster: set by the administrator with `admin
setquota`/`setspacequota` or WebHDFS SETQUOTA, shown by `fs count -q`, enforced with HDFS's
exceptions through the CLI, the Python API and WebHDFS, and kept across a namenode crash."""

from __future__ import annotations

import getpass
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import httpx
import pytest

from minihadoop.errors import AccessControlError, DSQuotaExceededError, NSQuotaExceededError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import ClusterAuth

pytestmark = pytest.mark.integration
ADMIN = getpass.getuser()


def cli(cluster: LocalCluster, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINIHADOOP_HOME": str(cluster.directory), "MINIHADOOP_USER": user}
    env.pop("MINIHADOOP_NAMENODE", None)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


def count_q(cluster: LocalCluster, path: str) -> list[str]:
    done = cli(cluster, ADMIN, "fs", "count", "-q", path)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_quotas_are_set_shown_enforced_and_kept(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(datanodes=1, replication=1, mapreduce=False)
    with FileSystem.from_cluster(cluster.directory) as admin:
        admin.mkdir("/user/alice")
        admin.chown("/user/alice", owner="alice")
        admin.mkdir("/proj")
    assert cli(cluster, ADMIN, "admin", "setquota", "3", "/user/alice").returncode == 0
    refused = cli(cluster, "alice", "admin", "setquota", "100", "/user/alice")
    assert refused.returncode == 1 and "Superuser privilege is required" in refused.stderr
    assert count_q(cluster, "/user/alice") == ["3", "2", "none", "inf", "1", "0", "0",
                                               "/user/alice"]  # fmt: skip

    # The folder and two files fill it; the third is refused, in one line, changing nothing.
    for name in ("a", "b"):
        done = cli(cluster, "alice", "fs", "put", "-", name)
        assert done.returncode == 0, done.stderr
    done = cli(cluster, "alice", "fs", "put", "-", "c")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "NameSpace quota (directories and files) of directory /user/alice is exceeded: " \
        "quota=3 file count=4" in done.stderr  # fmt: skip
    with FileSystem.from_cluster(cluster.directory, user="alice") as alice:
        with pytest.raises(NSQuotaExceededError):
            alice.mkdir("/user/alice/more")
        assert sorted(s.name for s in alice.ls("/user/alice")) == ["a", "b"]

    # A space quota: a block being written is charged whole, times its replication.
    with (
        FileSystem.from_cluster(cluster.directory, user="alice") as alice,
        pytest.raises(AccessControlError),
    ):
        alice.set_quota("/proj", names=9)
    assert cli(cluster, ADMIN, "admin", "setspacequota", "10k", "/proj").returncode == 0
    with FileSystem.from_cluster(cluster.directory) as admin:
        admin.write_bytes("/proj/small", b"x" * 5000, block_size=8192)  # one 8 KiB block
        with pytest.raises(DSQuotaExceededError, match="DiskSpace quota of /proj is exceeded"):
            admin.write_bytes("/proj/big", b"y" * 5000, block_size=8192)
        assert not admin.exists("/proj/big") and admin.read_bytes("/proj/small") == b"x" * 5000
        summary = admin.du("/proj")
        assert (summary.space_quota, summary.space_consumed) == (10240, 5000)

    # WebHDFS: Hadoop's SETQUOTA and the quota fields of its summaries.
    info = cluster._require()
    auth = ClusterAuth(info.token)
    r = httpx.put(
        f"{info.namenode}/webhdfs/v1/proj",
        params={"op": "SETQUOTA", "namespacequota": 10, "user.name": ADMIN},
        auth=auth,
    )
    assert r.status_code == 200, r.text
    usage = httpx.get(
        f"{info.namenode}/webhdfs/v1/proj", params={"op": "GETQUOTAUSAGE", "user.name": ADMIN}
    ).json()["QuotaUsage"]
    assert (usage["quota"], usage["spaceQuota"], usage["fileAndDirectoryCount"]) == (10, 10240, 2)
    r = httpx.put(
        f"{info.namenode}/webhdfs/v1/proj",
        params={"op": "SETQUOTA", "namespacequota": -1, "user.name": "alice"},
        auth=auth,
    )
    assert r.status_code == 403
    assert r.json()["RemoteException"]["exception"] == "AccessControlException"

    # A crash of the namenode keeps them: the log replays the quotas, the counts are rebuilt.
    cluster.kill("namenode", signal.SIGKILL)
    cluster.restart("namenode")
    cluster.wait_for_datanodes(1)
    assert count_q(cluster, "/user/alice")[:4] == ["3", "0", "none", "inf"]
    assert count_q(cluster, "/proj")[:4] == ["10", "8", "10240", "5240"]
    with (
        FileSystem.from_cluster(cluster.directory, user="alice") as alice,
        pytest.raises(NSQuotaExceededError),
    ):
        alice.write_bytes("/user/alice/c", b"c")
    # A full home cannot take the trash's folders: rm says so in Hadoop's words, changes
    # nothing, and -skipTrash still deletes.
    done = cli(cluster, "alice", "fs", "rm", "a")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "Failed to move to trash: /user/alice/a: The NameSpace quota" in done.stderr
    assert "Consider using -skipTrash option" in done.stderr
    with FileSystem.from_cluster(cluster.directory, user="alice") as alice:
        assert sorted(s.name for s in alice.ls("/user/alice")) == ["a", "b"]
        alice.rm("/user/alice/a", skip_trash=True)
        alice.write_bytes("/user/alice/c", b"c")  # room again
    assert cli(cluster, ADMIN, "admin", "clrquota", "/user/alice").returncode == 0
    assert cli(cluster, ADMIN, "admin", "clrspacequota", "/proj").returncode == 0
    assert count_q(cluster, "/user/alice")[:4] == ["none", "inf", "none", "inf"]
    assert count_q(cluster, "/proj")[:4] == ["10", "8", "none", "inf"]
