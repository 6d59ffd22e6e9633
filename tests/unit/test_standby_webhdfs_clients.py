"""What existing WebHDFS clients make of a standby namenode's answer, in process (their HTTP
sessions served by a fake group): HdfsCLI, given ``;``-separated URLs, moves on to the next
namenode on a "StandbyException" and starts its next call at the one that answered; fsspec
knows one namenode and raises the standby's message as a RuntimeError."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from minihadoop import errors
from minihadoop.errors import StandbyError

hdfs = pytest.importorskip("hdfs")
webhdfs = pytest.importorskip("fsspec.implementations.webhdfs")

A, B, C = "http://nn-a:9870", "http://nn-b:9870", "http://nn-c:9870"
STATUS = {
    "FileStatus": {
        "accessTime": 0,
        "blockSize": 4096,
        "group": "supergroup",
        "length": 5,
        "modificationTime": 0,
        "owner": "alice",
        "pathSuffix": "",
        "permission": "644",
        "replication": 3,
        "type": "FILE",
    }
}


class Group(BaseAdapter):
    """Namenodes behind a requests session: `leader` answers, the others are standbys."""

    def __init__(self, leader: str) -> None:
        super().__init__()
        self.leader = leader
        self.asked: list[str] = []

    def send(self, request: requests.PreparedRequest, *_a: Any, **_kw: Any) -> requests.Response:
        origin = "/".join(str(request.url).split("/")[:3])
        self.asked.append(origin)
        if origin == self.leader:
            status, body = 200, STATUS
        else:
            standby = StandbyError("Operation category READ is not supported in state standby")
            status, body = standby.status, standby.to_remote()
        response = requests.Response()
        response.status_code = status
        response._content = json.dumps(body).encode()
        response.headers["content-type"] = "application/json"
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


def test_a_standby_answers_as_hadoops_does() -> None:
    body = StandbyError("standby", "http://nn-c:9870").to_remote()["RemoteException"]
    assert StandbyError.status == 403
    assert body["exception"] == "StandbyException"
    assert body["javaClassName"] == "org.apache.hadoop.ipc.StandbyException"
    again = errors.from_remote({"RemoteException": body}, 403)
    assert isinstance(again, StandbyError) and again.leader == "http://nn-c:9870"


def test_hdfscli_moves_past_standbys_and_stays_with_the_namenode_that_answered() -> None:
    group = Group(leader=C)
    client = hdfs.InsecureClient(f"{A};{B};{C}", user="alice")
    client._session.mount("http://", group)
    assert client.status("/f")["length"] == 5
    assert group.asked == [A, B, C]
    client.status("/f")
    assert group.asked[3:] == [C]


def test_hdfscli_raises_the_standbys_error_once_every_namenode_has_said_it() -> None:
    group = Group(leader="http://elsewhere:9870")
    client = hdfs.InsecureClient(f"{A};{B}", user="alice")
    client._session.mount("http://", group)
    with pytest.raises(hdfs.HdfsError, match="not supported in state standby"):
        client.status("/f")
    assert group.asked == [A, B]  # one pass, no waiting


def test_fsspec_raises_a_standbys_message_as_a_runtime_error() -> None:
    group = Group(leader=B)
    fs = webhdfs.WebHDFS(host="nn-a", port=9870, user="alice", skip_instance_cache=True)
    fs.session.mount("http://", group)
    with pytest.raises(RuntimeError, match="not supported in state standby"):
        fs.info("/f")
    assert group.asked == [A]  # no other namenode to try, no retry
