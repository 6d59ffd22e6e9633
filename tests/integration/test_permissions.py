"""Permissions that hold, on a real cluster: HDFS's rules through the Python API, the CLI
and WebHDFS; a refusal is a 403 AccessControlException that changes nothing; a namenode
restart replays the log to the same decisions; MapReduce reads and writes as the job's
user; and the switch turns it all off."""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator

import httpx
import pytest

from mapreduce import Job, JobState
from minihadoop.errors import AccessControlError, MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import ClusterAuth

pytestmark = pytest.mark.integration
MakeCluster = Callable[..., LocalCluster]
ADMIN = getpass.getuser()  # the namenodes' user: the superuser


def as_user(cluster: LocalCluster, user: str) -> FileSystem:
    return FileSystem.from_cluster(cluster.directory, user=user)


def home(cluster: LocalCluster, *users: str) -> None:
    """Make each user's home, as HDFS's administrator does."""
    with as_user(cluster, ADMIN) as admin:
        for user in users:
            admin.mkdir(f"/user/{user}")
            admin.chown(f"/user/{user}", owner=user)


def cli(cluster: LocalCluster, user: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MINIHADOOP_HOME": str(cluster.directory), "MINIHADOOP_USER": user}
    env.pop("MINIHADOOP_NAMENODE", None)
    return subprocess.run(
        [sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture
def shared(make_cluster: MakeCluster) -> LocalCluster:
    cluster = make_cluster(datanodes=1, replication=1, mapreduce=False, user_groups="bob=eng")
    home(cluster, "alice", "bob")
    return cluster


def test_a_user_cannot_touch_another_users_files_by_any_face(shared: LocalCluster) -> None:
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        alice.write_bytes("/user/alice/notes.txt", b"mine")
        alice.mkdir("/user/alice/private", permission="700")
        alice.write_bytes("/user/alice/private/secret", b"s3cret")
        before = alice.stat("/user/alice/notes.txt")
        assert alice.stat("/").owner == ADMIN  # `/` is the superuser's, as HDFS formats it

        # The Python API: bob reads what others may, and nothing else.
        assert bob.read_bytes("/user/alice/notes.txt") == b"mine"
        for attempt in (
            lambda: bob.rm("/user/alice/notes.txt", skip_trash=True),
            lambda: bob.write_bytes("/user/alice/notes.txt", b"his", overwrite=True),
            lambda: bob.mv("/user/alice/notes.txt", "/user/bob/taken.txt"),
            lambda: bob.ls("/user/alice/private"),
            lambda: bob.read_bytes("/user/alice/private/secret"),
            lambda: bob.chmod("/user/alice/notes.txt", "777"),
            lambda: bob.write_bytes("/user/alice/new", b"x"),
        ):
            with pytest.raises(AccessControlError):
                attempt()
        assert alice.stat("/user/alice/notes.txt") == before
        assert alice.read_bytes("/user/alice/notes.txt") == b"mine"
        assert not alice.exists("/user/alice/new") and not bob.exists("/user/bob/taken.txt")

    # The CLI: one line, exit 1, nothing changed.
    done = cli(shared, "bob", "fs", "rm", "-r", "/user/alice")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert 'Permission denied: user=bob, access=WRITE, inode="/user"' in done.stderr
    done = cli(shared, "bob", "fs", "cat", "/user/alice/private/secret")
    assert done.returncode == 1 and "access=EXECUTE" in done.stderr and not done.stdout
    # A walk says what it may not read and goes on with the rest, as Hadoop's ls -R.
    for walk in (("ls", "-R", "-C"), ("find",)):
        done = cli(shared, "bob", "fs", *walk, "/user/alice")
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
        assert 'access=READ_EXECUTE, inode="/user/alice/private"' in done.stderr
        assert "/user/alice/notes.txt" in done.stdout.split()
        assert "/user/alice/private" in done.stdout.split() and "secret" not in done.stdout

    # WebHDFS, raw: Hadoop's 403 shape.
    info = shared._require()
    r = httpx.delete(
        f"{info.namenode}/webhdfs/v1/user/alice/notes.txt",
        params={"op": "DELETE", "user.name": "bob"},
        auth=ClusterAuth(info.token),
    )
    assert r.status_code == 403
    assert r.json()["RemoteException"]["exception"] == "AccessControlException"
    r = httpx.get(
        f"{info.namenode}/webhdfs/v1/user/alice/private?op=LISTSTATUS",
        auth=ClusterAuth(info.token),
    )  # no user.name: dr.who
    assert r.status_code == 403 and "user=dr.who" in r.text

    # fsck lists every file below: r-x on each folder, as a content summary. The
    # dashboard's datanode page holds the replica but does not name the private file.
    with as_user(shared, "bob") as bob, pytest.raises(AccessControlError, match="READ_EXECUTE"):
        bob.fsck("/user/alice/private")
    with as_user(shared, "alice") as alice:
        assert alice.fsck("/user/alice/private")["files"] == 1
    nodes = httpx.get(f"{info.namenode}/datanodes").text
    node_id = nodes.split('data-node="', 1)[1].split('"', 1)[0]
    page = httpx.get(f"{info.namenode}/datanodes/{node_id}").text
    assert "/user/alice/notes.txt" in page and "secret" not in page
    assert "a file in a private folder" in page
    with as_user(shared, "alice") as alice:
        assert alice.read_bytes("/user/alice/notes.txt") == b"mine"
        assert [s.name for s in alice.ls("/user/alice/private")] == ["secret"]


def test_tmp_is_sticky_groups_share_and_the_superuser_may_all(shared: LocalCluster) -> None:
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        alice.write_bytes("/tmp/alices", b"a", permission="666")
        with bob.append("/tmp/alices") as out:  # 666: he may write it
            out.write(b" and bob")
        for attempt in (
            lambda: bob.rm("/tmp/alices", skip_trash=True),  # but not remove it from /tmp
            lambda: bob.mv("/tmp/alices", "/tmp/bobs"),
        ):
            with pytest.raises(AccessControlError, match="sticky bit"):
                attempt()
        assert alice.read_bytes("/tmp/alices") == b"a and bob"
        # A folder of alice's group eng, which bob is in (MINIHADOOP_USER_GROUPS).
        with as_user(shared, ADMIN) as admin:
            admin.mkdir("/projects/eng", permission="775")
            admin.chown("/projects/eng", owner="alice", group="eng")
        bob.write_bytes("/projects/eng/plan", b"plan")
        assert bob.stat("/projects/eng/plan").group == "eng"  # the folder's group
        with pytest.raises(AccessControlError, match="does not belong to admins"):
            bob.chown("/projects/eng/plan", group="admins")
        with as_user(shared, ADMIN) as admin:
            admin.rm("/tmp/alices", skip_trash=True)
            admin.chown("/projects/eng/plan", owner="carol")
            assert admin.stat("/projects/eng/plan").owner == "carol"


def test_the_trash_takes_only_what_its_user_may_remove(shared: LocalCluster) -> None:
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        alice.write_bytes("/user/alice/old", b"x")
        with pytest.raises(AccessControlError, match=r"^Failed to move to trash: /user/alice/old"):
            bob.rm("/user/alice/old")  # to bob's trash: still alice's folder's say
        with as_user(shared, "carol") as carol:  # no home, so no trash: Hadoop's words
            carol.write_bytes("/tmp/carols", b"c")
            with pytest.raises(AccessControlError, match=r'trash: /tmp/carols: .*inode="/user"'):
                carol.rm("/tmp/carols")
            carol.rm("/tmp/carols", skip_trash=True)
        moved = alice.rm("/user/alice/old")
        assert moved is not None and moved.startswith("/user/alice/.Trash/Current")


def test_another_user_cannot_take_a_file_from_its_writer(shared: LocalCluster) -> None:
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        out = alice.create("/user/alice/being-written")
        out.write(b"first part ")
        with pytest.raises(AccessControlError):
            bob.recover_lease("/user/alice/being-written")  # would end alice's write
        out.write(b"and the rest")
        out.close()
        assert alice.read_bytes("/user/alice/being-written") == b"first part and the rest"
        assert alice.recover_lease("/user/alice/being-written") is True  # closed: hers to ask


def test_a_writers_client_name_is_no_key_to_its_file(shared: LocalCluster) -> None:
    """In /tmp anyone may create, so only the file's own mode guards a write in progress:
    bob, knowing alice's client name and the file's id, can neither take the file (by
    overwrite, append or recoverLease), nor add to, close, abandon or keep it."""
    info = shared._require()
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        out = alice.create("/tmp/hers")
        out.write(b"alice's")
        out.flush()
        name, fid = alice.client_name, out.file_id
        for attempt in (
            lambda: bob.create("/tmp/hers", overwrite=True),
            lambda: bob.append("/tmp/hers"),
            lambda: bob.recover_lease("/tmp/hers"),
        ):
            with pytest.raises(
                AccessControlError, match='user=bob, access=WRITE, inode="/tmp/hers"'
            ):
                attempt()
        for route, body in (
            ("add_block", {"path": "/tmp/hers", "client": name, "file_id": fid}),
            ("complete", {"path": "/tmp/hers", "client": name, "file_id": fid}),
        ):
            r = httpx.post(
                f"{info.namenode}/nn/v1/{route}",
                params={"user.name": "bob"},
                json=body,
                auth=ClusterAuth(info.token),
            )
            assert r.status_code == 403, (route, r.text)
        r = httpx.post(
            f"{info.namenode}/nn/v1/abandon",
            params={"user.name": "bob", "path": "/tmp/hers", "client": name, "file_id": fid},
            auth=ClusterAuth(info.token),
        )
        assert r.status_code == 403, r.text
        r = httpx.post(
            f"{info.namenode}/nn/v1/renew_lease",
            params={"user.name": "bob", "client": name},
            auth=ClusterAuth(info.token),
        )
        assert r.json() == {"files": 0}
        out.write(b" file")
        out.close()
        assert alice.read_bytes("/tmp/hers") == b"alice's file"


def test_another_user_can_neither_learn_nor_spoil_by_redirects_or_sessions(
    shared: LocalCluster,
) -> None:
    info = shared._require()
    auth = ClusterAuth(info.token)
    nn = f"{info.namenode}/webhdfs/v1"
    with as_user(shared, "alice") as alice:
        alice.mkdir("/user/alice/private", permission="700")
        alice.write_bytes("/user/alice/private/there", b"x")
        alice.write_bytes("/user/alice/shared.txt", b"mine")
        # A redirect says nothing of what lies where the caller may not look: the same
        # 403 for a file that is there and one that is not, and no datanode URL or token.
        for name in ("there", "not-there"):
            for op, method in (("OPEN", "GET"), ("GETFILECHECKSUM", "GET"), ("APPEND", "POST")):
                r = httpx.request(
                    method, f"{nn}/user/alice/private/{name}",
                    params={"op": op, "user.name": "bob", "noredirect": "true"}, auth=auth,
                )  # fmt: skip
                assert r.status_code == 403, (op, name, r.text)
                assert "Location" not in r.text and "delegation" not in r.text
        for op, method, extra in (("APPEND", "POST", {}), ("CREATE", "PUT", {"overwrite": "true"})):
            r = httpx.request(
                method, f"{nn}/user/alice/shared.txt",
                params={"op": op, "user.name": "bob", "noredirect": "true", **extra}, auth=auth,
            )  # fmt: skip
            assert r.status_code == 403 and "Location" not in r.text, (op, r.text)

    # A client id is no key: bob's refused calls under a new client's id and the request
    # numbers it will use neither use them up nor tell him which it has used.
    with as_user(shared, "alice") as fresh:
        for seq in range(1, 11):
            r = httpx.put(
                f"{nn}/user/alice/bobs",
                params={"op": "MKDIRS", "user.name": "bob", "clientid": fresh.client_name,
                        "seq": seq},
                auth=auth,
            )  # fmt: skip
            assert r.status_code == 403 and "already used" not in r.text, r.text
        fresh.mkdir("/user/alice/d")  # her numbers 1, 2, …: unspoilt
        fresh.write_bytes("/user/alice/after", b"still mine")
        assert fresh.read_bytes("/user/alice/after") == b"still mine"


def _flip_last(token: str) -> str:
    """The token with its last hex digit changed (never to itself)."""
    return token[:-1] + ("1" if token[-1] == "0" else "0")


def test_datanodes_serve_a_block_only_to_who_may_read_its_file(shared: LocalCluster) -> None:
    """Under the open read policy a reader needs no cluster token, but a datanode serves
    it a block only with the namenode's block access token for that block, given with the
    block's locations to a caller allowed to read the file: a guessed block id is nothing."""
    info = shared._require()
    with as_user(shared, "alice") as alice:
        alice.mkdir("/user/alice/private", permission="700")
        alice.write_bytes("/user/alice/private/secret", b"s3cret")
        alice.write_bytes("/user/alice/open.txt", b"for all")
        secret = alice.blocks("/user/alice/private/secret").blocks[0]
        public = alice.blocks("/user/alice/open.txt").blocks[0]
    where = secret.locations[0].url
    for params in ({}, {"token": public.token}, {"token": _flip_last(secret.token)},
                   {"token": f"{secret.block.block_id}.99999999999.{'0' * 64}"}):  # fmt: skip
        for suffix in ("", "/data", "/checksums"):
            r = httpx.get(f"{where}/dn/v1/blocks/{secret.block.block_id}{suffix}", params=params)
            assert r.status_code == 401, (params, suffix, r.text)
    # bob, unsigned, is refused the private file's blocks, so he has no token for them;
    # the public file's he gets, and with them its bytes.
    blocks = f"{info.namenode}/nn/v1/blocks"
    r = httpx.get(blocks, params={"path": "/user/alice/private/secret", "user.name": "bob"})
    assert r.status_code == 403
    r = httpx.get(blocks, params={"path": "/user/alice/open.txt", "user.name": "bob"})
    token = r.json()["blocks"][0]["token"]
    data = httpx.get(f"{where}/dn/v1/blocks/{public.block.block_id}/data", params={"token": token})
    assert data.status_code == 200 and data.content == b"for all"
    with FileSystem(info.namenode, token=None, user="bob") as unsigned:
        assert unsigned.read_bytes("/user/alice/open.txt") == b"for all"
        with pytest.raises(AccessControlError):
            unsigned.read_bytes("/user/alice/private/secret")

    # The cluster's events (the dashboard's overview, open to all) do not name it either.
    with as_user(shared, "alice") as alice:
        out = alice.create("/user/alice/private/being-written")
        out.write(b"x")
        out.flush()
        alice.recover_lease("/user/alice/private/being-written")
        with contextlib.suppress(MiniHadoopError):
            out.close()  # its lease was taken: its writer's close may be refused
    events = httpx.get(f"{info.namenode}/nn/v1/cluster").json()["events"]
    lease = [e["message"] for e in events if e["kind"] == "lease"]
    assert lease and all("private/being-written" not in m for m in lease), lease
    assert any("a file in a private folder" in m for m in lease), lease


def test_decisions_survive_a_namenode_restart(shared: LocalCluster) -> None:
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        alice.write_bytes("/user/alice/kept", b"k")
        with pytest.raises(AccessControlError):
            bob.rm("/user/alice/kept", skip_trash=True)  # logged, refused
        alice.chmod("/user/alice", "700")
    shared.kill("namenode", signal.SIGKILL)
    shared.restart("namenode")
    shared.wait_for_datanodes(1)
    with as_user(shared, "alice") as alice, as_user(shared, "bob") as bob:
        assert alice.read_bytes("/user/alice/kept") == b"k"  # the refusal replayed as one
        assert alice.stat("/user/alice").permission == "700"
        with pytest.raises(AccessControlError):
            bob.ls("/user/alice")


def test_switched_off_nobody_is_refused(make_cluster: MakeCluster) -> None:
    cluster = make_cluster(datanodes=1, replication=1, mapreduce=False, permissions=False)
    with as_user(cluster, ADMIN) as admin:
        admin.mkdir("/locked", permission="700")
        admin.write_bytes("/locked/f", b"x")
    with as_user(cluster, "mallory") as mallory:
        assert mallory.read_bytes("/locked/f") == b"x"
        mallory.rm("/locked", recursive=True, skip_trash=True)
        assert not mallory.exists("/locked")


def mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    for word in line.split():
        yield word, 1


def reducer(word: str, counts: Iterator[int]) -> Iterator[tuple[str, int]]:
    yield word, sum(counts)


def test_a_job_reads_and_writes_as_its_user(
    make_cluster: MakeCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = make_cluster(datanodes=2, replication=1)
    home(cluster, "alice", "bob")
    with as_user(cluster, "alice") as alice:
        alice.mkdir("/user/alice/in", permission="700")
        alice.write_bytes("/user/alice/in/words", b"a b a\n" * 50)

    def job(output: str, inputs: str = "/user/alice/in") -> Job:
        return Job(
            mapper, reducer, inputs=[inputs], output=output, cluster_dir=cluster.directory,
        )  # fmt: skip

    monkeypatch.setenv("MINIHADOOP_USER", "alice")
    done = job("out", inputs="in").run()  # relative: under her home, as HDFS resolves them
    assert done.state is JobState.SUCCEEDED
    with as_user(cluster, "alice") as alice:
        parts = [s for s in alice.ls("/user/alice/out") if s.name.startswith("part-")]
        assert parts and all(s.owner == "alice" for s in parts)
        assert alice.stat("/user/alice/out").owner == "alice"

    # bob may neither read alice's private input nor write into her home.
    monkeypatch.setenv("MINIHADOOP_USER", "bob")
    with pytest.raises(AccessControlError):
        job("/user/bob/out").submit()
    with as_user(cluster, "bob") as bob:
        assert not bob.exists("/user/bob/out")

    # A job is killed by its user or an administrator; alice's delegation token is
    # cancelled by her (or its renewer), not by bob.
    monkeypatch.setenv("MINIHADOOP_USER", "alice")
    info = cluster._require()
    with job("/user/alice/out2").submit() as running:
        r = httpx.post(
            f"{info.jobtracker}/mr/v1/jobs/{running.id}/kill",
            params={"user.name": "bob"},
            auth=ClusterAuth(info.token),
        )
        assert r.status_code == 403 and "cannot perform operation KILL_JOB" in r.text
        assert running.kill() in ("KILLED", "SUCCEEDED")  # hers to kill (it may be done)
    with as_user(cluster, "alice") as alice, as_user(cluster, "bob") as bob:
        token = alice.get_delegation_token()
        with pytest.raises(AccessControlError, match="bob tried to cancel"):
            bob.cancel_delegation_token(token)
        alice.cancel_delegation_token(token)
