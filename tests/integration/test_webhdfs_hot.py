"""WebHDFS GETFILESTATUS answered in front of FastAPI (namenode.hotreads), on a real
namenode over real HTTP: every answer and every refusal is the regular route's.

The regular route is reached for the very same request by declaring a body (an empty
chunked one), which the hot path always hands over; everything else about the two
requests is the same bytes."""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import SIGNATURE, ClusterAuth

pytestmark = pytest.mark.integration
ADMIN = getpass.getuser()  # the namenode's user: the superuser


def _no_body() -> Iterator[bytes]:
    yield b""


def hot_and_regular(url: str, **kw: Any) -> tuple[httpx.Response, httpx.Response]:
    hot = httpx.get(url, **kw)
    regular = httpx.request("GET", url, content=_no_body(), **kw)
    return hot, regular


def lane_answers(namenode: str) -> float:
    """How many stats the namenode's fast lane has answered (its metric)."""
    for line in httpx.get(f"{namenode}/metrics").text.splitlines():
        if line.startswith("minihadoop_namenode_fast_lane_answers_total "):
            return float(line.split()[1])
    raise AssertionError("no fast lane metric")


def assert_same(hot: httpx.Response, regular: httpx.Response) -> None:
    assert hot.status_code == regular.status_code, (hot.text, regular.text)
    assert hot.json() == regular.json()
    assert hot.content == regular.content  # the same bytes, not only the same JSON
    for header in ("content-type", "content-length"):
        assert hot.headers[header] == regular.headers[header]
    assert hot.headers["x-request-id"]


@pytest.fixture
def closed(make_cluster: Callable[..., LocalCluster]) -> LocalCluster:
    """Reads need a credential (read_policy token); alice's home, with a private folder."""
    cluster = make_cluster(datanodes=0, mapreduce=False, read_policy="token")
    with FileSystem.from_cluster(cluster.directory, user=ADMIN) as admin:
        admin.mkdir("/user/alice")
        admin.chown("/user/alice", owner="alice")
    with FileSystem.from_cluster(cluster.directory, user="alice") as alice:
        alice.write_bytes("/user/alice/open.txt", b"")
        alice.mkdir("/user/alice/private", permission="700")
        alice.write_bytes("/user/alice/private/f", b"")
    return cluster


def delegation_for(cluster: LocalCluster, user: str) -> str:
    with FileSystem.from_cluster(cluster.directory, user=user) as fs:
        return fs.get_delegation_token()


def test_answers_and_refusals_are_the_regular_routes(closed: LocalCluster) -> None:
    nn = closed._require().namenode
    alice, bob = delegation_for(closed, "alice"), delegation_for(closed, "bob")
    cases = {
        # (path and query) -> the status both routes answer
        f"/user/alice/open.txt?op=GETFILESTATUS&delegation={alice}": 200,
        f"/user/alice?op=GETFILESTATUS&delegation={alice}": 200,
        f"/user/alice/?op=getfilestatus&delegation={alice}": 200,
        f"//user//alice/./open.txt?op=GETFILESTATUS&delegation={alice}": 200,
        f"/?op=GETFILESTATUS&delegation={alice}": 200,
        f"/user/alice/missing?op=GETFILESTATUS&delegation={alice}": 404,
        # bob may not traverse alice's private folder
        f"/user/alice/private/f?op=GETFILESTATUS&delegation={bob}": 403,
        f"/user/alice/private?op=GETFILESTATUS&delegation={bob}": 200,
        # no credential, user.name alone, a forged token
        "/user/alice/open.txt?op=GETFILESTATUS": 401,
        "/user/alice/open.txt?op=GETFILESTATUS&user.name=alice": 401,
        "/user/alice/open.txt?op=GETFILESTATUS&delegation=garbage": 401,
        # bad input
        f"/user/a:b?op=GETFILESTATUS&delegation={alice}": 400,
        f"/user/%FF?op=GETFILESTATUS&delegation={alice}": 400,
        f"/user/alice/open.txt?op=GETFILESTATUS&delegation={alice}&user.name=%FF": 400,
        f"/user/alice/open.txt?op=GETFILESTATUS&delegation={alice}&x=%1B": 200,
    }
    for url, status in cases.items():
        before = lane_answers(nn)
        hot, regular = hot_and_regular(f"{nn}/webhdfs/v1{url}")
        assert hot.status_code == status, (url, hot.text)
        assert_same(hot, regular)
        # The lane answered the successes (and only the first request: the second declared
        # a body); every refusal was the app's.
        assert lane_answers(nn) == before + (status == 200), url
        if status != 200:
            remote = hot.json()["RemoteException"]
            assert remote["message"] and remote["javaClassName"].endswith(remote["exception"])
    refused = httpx.get(f"{nn}/webhdfs/v1/user/alice/private/f?op=GETFILESTATUS&delegation={bob}")
    assert refused.json()["RemoteException"]["exception"] == "AccessControlException"
    file = httpx.get(f"{nn}/webhdfs/v1/user/alice/open.txt?op=GETFILESTATUS&delegation={alice}")
    assert file.json()["FileStatus"]["owner"] == "alice"
    assert file.json()["FileStatus"]["type"] == "FILE"


def test_signed_callers_get_signed_answers(closed: LocalCluster) -> None:
    info = closed._require()
    alice = delegation_for(closed, "alice")
    url = f"{info.namenode}/webhdfs/v1/user/alice/open.txt?op=GETFILESTATUS"
    signed = httpx.get(f"{url}&user.name=alice", auth=ClusterAuth(info.token))
    assert signed.status_code == 200 and signed.headers[SIGNATURE]
    regular = httpx.request("GET", f"{url}&delegation={alice}", content=_no_body())
    assert signed.content == regular.content
    # The client checks the answer's signature: a stat through it works, and refusals too.
    with FileSystem.from_cluster(closed.directory, user="bob") as bob:
        assert bob.stat("/user/alice/private").owner == "alice"
        with pytest.raises(PermissionError):
            bob.stat("/user/alice/private/f")
        with pytest.raises(FileNotFoundError):
            bob.stat("/user/alice/missing")


def test_open_read_policy_answers_user_name(make_cluster: Callable[..., LocalCluster]) -> None:
    cluster = make_cluster(datanodes=0, mapreduce=False)  # read_policy open
    nn = cluster._require().namenode
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/hot/f", b"")
        fs.mkdir("/hot/d")
    for url in (
        "/hot/f?op=GETFILESTATUS",
        "/hot/d?op=GETFILESTATUS&user.name=carol",
        "/hot/none?op=GETFILESTATUS",
        "/hot/f?op=GETFILESTATUS&user.name=bad%20name",
        "/hot/f?op=GETFILESTATUS&delegation=garbage",
    ):
        hot, regular = hot_and_regular(f"{nn}/webhdfs/v1{url}")
        assert_same(hot, regular)
    assert httpx.get(f"{nn}/webhdfs/v1/hot/d?op=GETFILESTATUS").json()["FileStatus"]["type"] == (
        "DIRECTORY"
    )


def test_a_cancelled_token_is_refused_at_once(closed: LocalCluster) -> None:
    """The namenode remembers which token texts were genuine, not which are live: a token
    used a moment ago, then cancelled, opens nothing on the next request."""
    nn = closed._require().namenode
    url = f"{nn}/webhdfs/v1/user/alice/open.txt?op=GETFILESTATUS&delegation="
    token = delegation_for(closed, "alice")
    assert httpx.get(url + token).status_code == 200
    with FileSystem.from_cluster(closed.directory, user="alice") as alice:
        alice.cancel_delegation_token(token)
    hot, regular = hot_and_regular(url + token)
    assert hot.status_code == 401
    assert_same(hot, regular)
    assert "cancelled" in hot.json()["RemoteException"]["message"]
