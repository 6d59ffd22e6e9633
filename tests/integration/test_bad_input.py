"""Bad input on every HTTP endpoint, against real daemons.

Whatever a caller sends — malformed or mistyped JSON, oversized bodies, `..` and NUL in
paths and ids, truncated or corrupted block uploads, a missing or wrong token, garbage job
payloads — it gets a clear 4xx in WebHDFS's error shape
``{"RemoteException": {"exception", "javaClassName", "message"}}``, nothing changes (the
`unchanged` fixture compares the namespace, the datanodes, the jobs and the workers before
and after, and reads the daemons' logs for tracebacks), and every daemon still answers
``/health`` with the pid it started with. Hostile pickles are only ever unpickled when they
came with the token. Last, a bounded fuzz generated from the daemons' OpenAPI schemas
(schemathesis) on a cluster of its own: no request, with the token or without, gets a 5xx.
"""

from __future__ import annotations

import base64
import getpass
import http.client
import json
import os
import pathlib
import pickle
import random
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import requests

from mapreduce.serialization import seal_payload
from minihadoop.checksum import chunk_checksums
from minihadoop.config import ClusterInfo
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import CONTENT, ClusterAuth, Keys, digest, sign_request
from tests.support import cluster_auth, signed_headers, wait_for

pytestmark = pytest.mark.integration

NN_JSON_LIMIT = 64 << 20  # namenode.app.MAX_JSON_BODY
JT_JSON_LIMIT = 96 << 20  # mapreduce.jobtracker_app.MAX_BODY
BPC = 512


@dataclass
class World:
    """The session cluster, seen from outside, with a file to poke at."""

    info: ClusterInfo
    nn: str
    jt: str
    dn: str  # datanode-0
    worker: str  # worker-0
    token: str
    block_id: int  # a real block of `data`, with a replica on every datanode
    job_id: str  # a real (failed) job, so id-taking endpoints have something to find
    http: httpx.Client
    data: str = "/badinput/data.txt"
    text: str = "/badinput/in.txt"

    @property
    def auth(self) -> ClusterAuth:
        return ClusterAuth(self.token)

    def url(self, name: str) -> str:
        return next(d.url for d in self.info.daemons if d.name == name)

    def data_dir(self, name: str) -> Path:
        return Path(next(d.data_dir for d in self.info.daemons if d.name == name))

    @property
    def datanodes(self) -> list[str]:
        return sorted(d.name for d in self.info.daemons if d.name.startswith("datanode-"))


@pytest.fixture(scope="module")
def world(cluster: LocalCluster) -> Iterator[World]:
    info = cluster._require()
    assert info.jobtracker
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/badinput/data.txt", os.urandom(300_000), overwrite=True)
        fs.write_bytes("/badinput/in.txt", b"hello bad input\n" * 100, overwrite=True)
        located = fs.blocks("/badinput/data.txt").blocks[0]
    assert len(located.locations) == 3
    w = World(
        info=info,
        nn=info.namenode,
        jt=info.jobtracker,
        dn=cluster.daemon("datanode-0").url,
        worker=cluster.daemon("worker-0").url,
        token=info.token,
        block_id=located.block.block_id,
        job_id="",
        http=httpx.Client(timeout=30),
    )
    with w.http:
        w.job_id = run_job(w, random.Random(1).randbytes(256))["id"]  # fails: not a pickle
        yield w


# --- what "no state change" and "healthy" mean ---------------------------------------------------


FILE_FIELDS = ("type", "length", "permission", "owner", "group", "replication", "modificationTime")


def snapshot(w: World) -> dict[str, Any]:
    """Everything bad input could change, as seen through the daemons' own APIs."""
    files: dict[str, tuple[Any, ...]] = {}
    todo = ["/"]
    while todo:
        folder = todo.pop()
        listing = w.http.get(  # as the superuser, who sees every folder
            f"{w.nn}/webhdfs/v1{quote(folder)}?op=LISTSTATUS&user.name={getpass.getuser()}",
            auth=w.auth,
        )
        for e in listing.json()["FileStatuses"]["FileStatus"]:
            path = f"{folder.rstrip('/')}/{e['pathSuffix']}"
            files[path] = tuple(e[k] for k in FILE_FIELDS)
            if e["type"] == "DIRECTORY":
                todo.append(path)
    status = w.http.get(f"{w.nn}/nn/v1/cluster", auth=w.auth).json()
    jobs = w.http.get(f"{w.jt}/mr/v1/jobs?limit=10000", auth=w.auth).json()
    workers = w.http.get(f"{w.jt}/mr/v1/workers", auth=w.auth).json()
    return {
        "files": files,
        "datanodes": sorted((d["id"], d["url"], d["state"]) for d in status["datanodes"]),
        "cluster": {
            k: status[k]
            for k in ("safemode", "blocks", "corrupt", "missing", "files_being_written")
        },
        "events": [e["message"] for e in status["events"]],
        "jobs": sorted((j["id"], j["state"]) for j in jobs),
        "workers": sorted((x["id"], x["url"], x["state"]) for x in workers),
    }


def log_sizes(w: World) -> dict[str, int]:
    return {d.name: Path(d.log).stat().st_size for d in w.info.daemons}


def new_log_lines(w: World, since: dict[str, int]) -> dict[str, list[str]]:
    out = {}
    for d in w.info.daemons:
        with open(d.log, "rb") as f:
            f.seek(since[d.name])
            lines = f.read().decode(errors="replace").splitlines()
        bad = [line for line in lines if "Traceback" in line or line.startswith("ERROR")]
        if bad:
            out[d.name] = bad
    return out


def assert_healthy(w: World) -> None:
    """Every daemon still answers /health, and is the process it was (none restarted)."""
    for d in w.info.daemons:
        os.kill(d.pid, 0)  # raises when the process is gone
        r = w.http.get(f"{d.url}/health", timeout=10)
        assert r.status_code == 200, (d.name, r.text)


@pytest.fixture
def unchanged(world: World) -> Iterator[None]:
    """The test's bad input changes nothing, logs no traceback, and kills no daemon."""
    before, logs = snapshot(world), log_sizes(world)
    yield
    assert snapshot(world) == before
    assert new_log_lines(world, logs) == {}
    assert_healthy(world)


def remote(r: httpx.Response | tuple[int, bytes], *statuses: int, exception: str = "") -> str:
    """Assert a 4xx in WebHDFS's error shape (one of `statuses`); the message."""
    status, body = (r.status_code, r.content) if isinstance(r, httpx.Response) else r
    assert status in statuses, (status, body[:300])
    parsed = json.loads(body)
    assert set(parsed) == {"RemoteException"}, body[:300]
    err = parsed["RemoteException"]
    assert set(err) == {"exception", "javaClassName", "message"}, err
    assert err["message"] and err["javaClassName"].endswith(err["exception"]), err
    if exception:
        assert err["exception"] == exception, err
    return str(err["message"])


def raw(
    method: str,
    base: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    *,
    token: str | None = None,
) -> tuple[int, bytes]:
    """Send `target` byte for byte: httpx would resolve `..` before it left the client.
    With `token`, signed as a holder of it would."""
    parts = urlsplit(base)
    headers = dict(headers or {})
    if token is not None:
        headers.update(signed_headers(token, method, base, target, body or b""))
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, target, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# --- malformed JSON and wrong types --------------------------------------------------------------

# A valid body for every JSON endpoint, only ever sent broken (one field at a time) or without
# the token: were it accepted, the snapshot in `unchanged` would show it.
JSON_ENDPOINTS: dict[str, tuple[str, dict[str, Any]]] = {
    "/nn/v1/create": (
        "nn",
        {
            "path": "/badinput/new",
            "client": "c",
            "overwrite": False,
            "create_parent": True,
            "replication": 1,
            "block_size": 1 << 20,
            "permission": "644",
        },
    ),
    "/nn/v1/append": ("nn", {"path": "/badinput/data.txt", "client": "c"}),
    "/nn/v1/add_block": (
        "nn",
        {
            "path": "/badinput/new",
            "client": "c",
            "previous": {"block_id": 1, "gen": 0, "length": 0},
            "exclude": [],
        },
    ),
    "/nn/v1/complete": (
        "nn",
        {"path": "/badinput/new", "client": "c", "last": {"block_id": 1, "gen": 0, "length": 0}},
    ),
    "/internal/v1/register": (
        "nn",
        {
            "datanode_id": "intruder",
            "url": "http://127.0.0.1:9",
            "rack": "/r",
            "capacity": 1 << 30,
            "used": 0,
            "remaining": 1 << 30,
        },
    ),
    "/internal/v1/heartbeat": (
        "nn",
        {
            "datanode_id": "intruder",
            "capacity": 0,
            "used": 0,
            "remaining": 0,
            "active_transfers": 0,
            "blocks": 0,
        },
    ),
    "/internal/v1/block_report": (
        "nn",
        {"datanode_id": "intruder", "replicas": [{"block_id": 1, "gen": 0, "length": 0}]},
    ),
    "/internal/v1/incremental_report": (
        "nn",
        {"datanode_id": "intruder", "received": [], "deleted": [1]},
    ),
    "/internal/v1/bad_block": ("nn", {"block_id": 1, "datanode_id": "intruder", "reason": "r"}),
    "/mr/v1/jobs": (
        "jt",
        {
            "name": "n",
            "user": "u",
            "inputs": ["/badinput/in.txt"],
            "output": "/badinput/out",
            "num_reducers": 1,
            "payload": "eA==",
            "max_attempts": 1,
            "speculative": False,
        },
    ),
    "/mr/v1/internal/heartbeat": (
        "jt",
        {
            "worker_id": "intruder",
            "url": "http://127.0.0.1:9",
            "datanode_id": None,
            "datanode_url": None,
            "slots": 1,
            "running": [],
            "finished": [],
        },
    ),
}

MALFORMED = [
    b"",
    b"{not json",
    b'{"path": "/x",',
    b"\xff\xfe\x00\x01",
    b"null",
    b"[1, 2, 3]",
    b'"a string"',
    b"{}",
    b"[" * 50_000,
    b'{"a": 1e999}',
    b'{"path": "\\ud800"}',
]


def wrong_values(value: Any) -> list[Any]:
    """Values of the wrong type (or out of range) for a field whose valid value is `value`."""
    if isinstance(value, list):
        return ["not a list", {"a": 1}, [["nested"]]]
    if isinstance(value, bool):
        return [["nope"], {"a": 1}, "maybe"]
    if isinstance(value, int):
        return ["ten", -1, 1 << 64, 1.5, [1]]
    if isinstance(value, dict):
        return ["not an object", [1], {"block_id": "x"}]
    return [["nope"], {"a": 1}, 12345, True]  # strings and nulls


@pytest.mark.parametrize("endpoint", list(JSON_ENDPOINTS))
def test_malformed_json_and_wrong_types_are_400(
    world: World, unchanged: None, endpoint: str
) -> None:
    daemon, valid = JSON_ENDPOINTS[endpoint]
    url = (world.nn if daemon == "nn" else world.jt) + endpoint
    json_type = {"content-type": "application/json"}
    for body in MALFORMED:
        remote(world.http.post(url, content=body, headers=json_type, auth=world.auth), 400)
    for key, value in valid.items():
        for wrong in wrong_values(value):
            r = world.http.post(url, json={**valid, key: wrong}, auth=world.auth)
            message = remote(r, 400, exception="IllegalArgumentException")
            assert key in message, message  # names the field at fault
    r = world.http.post(url, json={**valid, "unexpected": 1}, auth=world.auth)
    assert "unexpected" in remote(r, 400)


# Well-formed requests whose content is wrong: bad paths, URLs, ids, states.
SEMANTIC: list[tuple[str, str, str, dict[str, Any] | None, int]] = [
    ("nn", "POST", "/nn/v1/create", {"path": "relative", "client": "c"}, 400),
    ("nn", "POST", "/nn/v1/create", {"path": "/a/../b", "client": "c"}, 400),
    ("nn", "POST", "/nn/v1/create", {"path": "/a/\x00b", "client": "c"}, 400),
    ("nn", "POST", "/nn/v1/create", {"path": "/a:b", "client": "c"}, 400),
    ("nn", "POST", "/nn/v1/create", {"path": "/" + "x" * 300, "client": "c"}, 400),
    (
        "nn",
        "POST",
        "/nn/v1/create",
        {"path": "/badinput/s", "client": "c", "permission": "4777"},
        400,
    ),
    ("nn", "POST", "/nn/v1/create", {"path": "/badinput/data.txt", "client": "c"}, 403),
    ("nn", "POST", "/nn/v1/append", {"path": "/badinput/../etc", "client": "c"}, 400),
    ("nn", "POST", "/nn/v1/append", {"path": "/badinput/nothing", "client": "c"}, 404),
    ("nn", "POST", "/nn/v1/add_block", {"path": "/badinput/data.txt", "client": "c"}, 403),
    ("nn", "POST", "/nn/v1/complete", {"path": "/badinput/data.txt", "client": "c"}, 403),
    ("nn", "POST", "/nn/v1/abandon?path=/badinput/data.txt&client=c", None, 403),
    ("nn", "POST", "/nn/v1/abandon?path=..&client=c", None, 400),
    ("nn", "POST", "/nn/v1/abandon?path=/x", None, 400),
    ("nn", "POST", "/nn/v1/safemode?action=explode", None, 400),
    ("nn", "POST", "/nn/v1/safemode", None, 400),
    (
        "nn",
        "POST",
        f"/nn/v1/decommission?datanode=../../etc&user.name={getpass.getuser()}",
        None,
        404,
    ),
    ("nn", "POST", "/nn/v1/decommission?datanode=../../etc", None, 403),  # dr.who
    ("nn", "POST", "/nn/v1/safemode?action=leave", None, 403),
    ("nn", "GET", "/nn/v1/blocks?path=/a/%2E%2E/b", None, 400),
    ("nn", "GET", "/nn/v1/blocks?path=/a%00b", None, 400),
    ("nn", "GET", "/nn/v1/fsck?path=relative", None, 400),
    ("nn", "POST", "/internal/v1/register", {"datanode_id": "intruder", "url": "file:///"}, 400),
    ("nn", "POST", "/internal/v1/register", {"datanode_id": "intruder", "url": "x"}, 400),
    ("nn", "POST", "/coord/v1/session/open?ttl=0", None, 400),
    ("nn", "POST", "/coord/v1/session/open?ttl=601", None, 400),
    ("nn", "POST", "/coord/v1/session/open", None, 400),
    ("nn", "POST", "/coord/v1/session/keepalive?session=s-999999", None, 404),
    ("nn", "POST", "/coord/v1/lock/acquire?lock=x&session=s-999999", None, 404),
    ("nn", "POST", "/coord/v1/lock/acquire?lock=x&session=s-999999&wait=61", None, 400),
    ("nn", "POST", "/coord/v1/lock/acquire?lock=x&session=s-1&wait=-1", None, 400),
    ("nn", "POST", "/coord/v1/key/put?key=", {"value": "v"}, 400),
    ("nn", "POST", "/coord/v1/key/put?key=%07bell", {"value": "v"}, 400),
    ("nn", "POST", "/coord/v1/key/put?key=k", {"value": "x" * 20_000}, 400),
    ("nn", "POST", "/coord/v1/key/put?key=k", {"value": 7}, 400),
    ("nn", "POST", "/coord/v1/key/delete?key=never-written", None, 404),
    ("nn", "GET", "/coord/v1/key?key=k&after=-2", None, 400),
    ("nn", "POST", "/internal/v1/bad_block", {"block_id": 0, "datanode_id": "x"}, 400),
    ("nn", "POST", "/internal/v1/block_report", {"datanode_id": "x", "replicas": [{}]}, 400),
    # Raft messages: another version's batch, a stranger to the group, a message to another
    # node, one from this node to itself (with or without asking for an answer).
    ("nn", "POST", "/internal/v1/raft", {"v": 2, "messages": []}, 400),
    ("nn", "POST", "/internal/v1/raft?answer=1", {"v": 1, "messages": [{"type": "x"}]}, 400),
    *(
        ("nn", "POST", target, {"v": 1, "messages": [message]}, 400)
        for target in ("/internal/v1/raft", "/internal/v1/raft?answer=1")
        for message in (
            {"type": "append", "to": "nn1", "frm": "intruder", "term": 99},
            {"type": "vote", "to": "nn2", "frm": "nn1", "term": 99},
            {"type": "heartbeat", "to": "nn1", "frm": "nn1", "term": 99},
        )
    ),
    ("jt", "POST", "/mr/v1/internal/heartbeat", {"worker_id": "w", "url": "x", "slots": 1}, 400),
    (
        "jt",
        "POST",
        "/mr/v1/internal/heartbeat",
        {"worker_id": "w", "url": "http://h:1", "datanode_url": "ftp://h", "slots": 1},
        400,
    ),
    ("jt", "GET", "/mr/v1/jobs?limit=0", None, 400),
    ("jt", "GET", "/mr/v1/jobs?limit=many", None, 400),
    ("jt", "GET", "/mr/v1/jobs/job_19700101000000_000000", None, 404),
    ("jt", "POST", "/mr/v1/jobs/job_19700101000000_000000/kill", None, 404),
]


@pytest.mark.parametrize(("daemon", "method", "target", "body", "status"), SEMANTIC)
def test_well_formed_but_wrong_requests_are_refused(
    world: World,
    unchanged: None,
    daemon: str,
    method: str,
    target: str,
    body: dict[str, Any] | None,
    status: int,
) -> None:
    base = world.nn if daemon == "nn" else world.jt
    remote(world.http.request(method, base + target, json=body, auth=world.auth), status)


def test_bad_block_reports_name_a_registered_datanode(world: World, unchanged: None) -> None:
    """A report for a real block from a datanode nobody knows would mark the block corrupt
    on a node that can never be cleaned up; it is refused instead."""
    report = {"block_id": world.block_id, "datanode_id": "intruder", "reason": "lies"}
    r = world.http.post(f"{world.nn}/internal/v1/bad_block", json=report, auth=world.auth)
    assert "intruder" in remote(r, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"output": "/badinput/../x"},
        {"output": "relative"},
        {"output": "/badinput/\x00"},
        {"output": "/badinput/data.txt"},  # exists
        {"inputs": ["/badinput/../etc/passwd"]},
        {"inputs": ["/badinput/nothing"]},
        {"inputs": ["relative"]},
        {"payload": "not base64!"},
        {"payload": "===="},
        {"payload": ""},
        {"payload": "eA=", "name": "padding"},
    ],
)
def test_bad_job_submissions_are_refused_and_start_nothing(
    world: World, unchanged: None, body: dict[str, Any]
) -> None:
    sealed = base64.b64encode(seal_payload(b"x", Keys.derive(world.token).seal)).decode()
    job = {"inputs": [world.text], "output": "/badinput/out", "payload": sealed, **body}
    remote(world.http.post(f"{world.jt}/mr/v1/jobs", json=job, auth=world.auth), 400, 403, 404)


def test_a_refused_submission_leaves_no_payload_file(world: World, unchanged: None) -> None:
    payloads = world.data_dir("jobtracker") / "payloads"
    before = set(payloads.iterdir())
    sealed = base64.b64encode(seal_payload(b"x", Keys.derive(world.token).seal)).decode()
    job = {"inputs": [world.text], "output": f"{world.data}/out", "payload": sealed}
    remote(world.http.post(f"{world.jt}/mr/v1/jobs", json=job, auth=world.auth), 403)
    assert set(payloads.iterdir()) == before


# --- oversized bodies ----------------------------------------------------------------------------


def declare_only(base: str, target: str, length: int, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send headers declaring a `length`-byte body, and none of it: the answer must not wait."""
    parts = urlsplit(base)
    with socket.create_connection((parts.hostname or "", parts.port or 80), timeout=10) as s:
        head = f"POST {target} HTTP/1.1\r\nContent-Type: application/json\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in {"host": parts.netloc, **headers}.items())
        s.sendall(f"{head}Content-Length: {length}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += s.recv(65536) or pytest.fail(f"connection closed: {answer!r}")
        head_bytes, _, body = answer.partition(b"\r\n\r\n")
        fields = dict(
            line.split(b":", 1) for line in head_bytes.lower().split(b"\r\n")[1:] if b":" in line
        )
        while len(body) < int(fields[b"content-length"]):
            body += s.recv(65536) or pytest.fail(f"connection closed: {answer!r}")
    return int(head_bytes.split()[1]), body


def chunked_json(size: int) -> Iterator[bytes]:
    yield b'{"path": "/badinput/big", "client": "'
    piece = b"x" * (1 << 20)
    for _ in range(size // len(piece) + 1):
        yield piece
    yield b'"}'


@pytest.mark.parametrize(
    ("daemon", "target", "limit"),
    [
        ("nn", "/nn/v1/create", NN_JSON_LIMIT),
        ("nn", "/internal/v1/block_report", NN_JSON_LIMIT),
        ("jt", "/mr/v1/jobs", JT_JSON_LIMIT),
        ("jt", "/mr/v1/internal/heartbeat", JT_JSON_LIMIT),
    ],
)
def test_oversized_json_is_413_declared_or_chunked(
    world: World, unchanged: None, daemon: str, target: str, limit: int
) -> None:
    base = world.nn if daemon == "nn" else world.jt
    # Signed: the body limit holds, declared or streamed. Without a signature a body is not
    # read at all: refused as soon as its headers are in, before its first byte.
    for token, status in ((world.token, 413), (None, 401)):
        # Signed for a body that is never sent: the digest is never reached.
        headers = signed_headers(token, "POST", base, target, b"{}") if token else {}
        code, body = declare_only(base, target, limit + 1, headers)
        message = remote((code, body), status)
        assert str(limit) in message if token else "must be signed" in message
        started = time.monotonic()
        r = world.http.post(
            base + target,
            content=chunked_json(limit),
            # A streamed body has no digest to sign unless one is given: any will do here.
            headers={"content-type": "application/json", CONTENT: "0" * 64},
            auth=world.auth if token else None,
            timeout=60,
        )
        assert r.request.headers["transfer-encoding"] == "chunked"
        message = remote(r, status)
        assert str(limit) in message if token else "must be signed" in message
        assert time.monotonic() - started < 30


# --- path traversal ------------------------------------------------------------------------------

TRAVERSALS = [
    "/webhdfs/v1/../../etc/passwd",
    "/webhdfs/v1/badinput/../../etc/passwd",
    "/webhdfs/v1/badinput/%2E%2E/%2E%2E/etc/passwd",
    "/webhdfs/v1/badinput/%2e%2e",
    "/webhdfs/v1/badinput%2F..%2F..%2Fetc",
    "/webhdfs/v1/..%2f..%2fetc%2fpasswd",
    "/webhdfs/v1/badinput/data.txt%00.jpg",
    "/webhdfs/v1/badinput/%00",
    "/webhdfs/v1/badinput/a:b",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_path_traversal_on_webhdfs_is_refused(world: World, unchanged: None, path: str) -> None:
    dn_user = "&user.name=bad"
    for method, base, op in [
        ("GET", world.nn, "GETFILESTATUS"),
        ("GET", world.nn, "LISTSTATUS"),
        ("GET", world.nn, "OPEN"),
        ("GET", world.nn, "GETCONTENTSUMMARY"),
        ("PUT", world.nn, "MKDIRS"),
        ("PUT", world.nn, "CREATE"),
        ("PUT", world.nn, "RENAME&destination=/badinput/moved"),
        ("PUT", world.nn, "SETPERMISSION&permission=777"),
        ("POST", world.nn, "APPEND"),
        ("DELETE", world.nn, "DELETE&recursive=true"),
        ("GET", world.dn, "OPEN"),
        ("GET", world.dn, "GETFILECHECKSUM"),
        ("PUT", world.dn, "CREATE&overwrite=true" + dn_user),
        ("POST", world.dn, "APPEND" + dn_user),
    ]:
        status, body = raw(method, base, f"{path}?op={op}", body=b"x", token=world.token)
        message = remote((status, body), 400, exception="IllegalArgumentException")
        if ".." in path.replace("%2E", ".").replace("%2e", "."):
            assert "'..' is not allowed" in message, (method, op, message)


@pytest.mark.parametrize(
    "query",
    [
        "op=RENAME&destination=/badinput/../x",
        "op=RENAME&destination=relative",
        "op=RENAME&destination=/badinput/%00",
        "op=SETOWNER&owner=%00",
        "op=SETOWNER&group=a%0Ab",
        "op=SETOWNER&owner=" + "x" * 5000,
        "op=SETTIMES&modificationtime=99999999999999999999999",
        "op=SETTIMES&accesstime=1e9",
        "op=SETREPLICATION&replication=0",
        "op=SETREPLICATION&replication=-3",
        "op=SETREPLICATION&replication=lots",
        "op=SETPERMISSION&permission=999",
        "op=SETPERMISSION&permission=-755",
        "op=MKDIRS&permission=0999",
        "op=CREATE&overwrite=true&offset=-1",
        "op=NOSUCHOP",
        "op=",
        "user.name=%00&op=MKDIRS",
        "user.name=../../root&op=MKDIRS",
    ],
)
def test_bad_webhdfs_parameters_are_refused(world: World, unchanged: None, query: str) -> None:
    r = world.http.put(f"{world.nn}/webhdfs/v1/badinput/data.txt?{query}", auth=world.auth)
    remote(r, 400)


@pytest.mark.parametrize(
    "query",
    [
        "op=CREATE&replication=0",
        "op=CREATE&replication=-1",
        "op=CREATE&blocksize=1",
        "op=CREATE&blocksize=big",
        "op=CREATE&permission=abc",
        "op=CREATE&overwrite=maybe",
        "op=CREATE&user.name=%00",
        "op=MKDIRS",
    ],
)
def test_bad_parameters_on_a_datanodes_webhdfs_create(
    world: World, unchanged: None, query: str
) -> None:
    r = world.http.put(
        f"{world.dn}/webhdfs/v1/badinput/fresh?{query}", auth=world.auth, content=b"data"
    )
    remote(r, 400)


@pytest.mark.parametrize(
    ("base", "target", "status"),
    [
        ("dn", "/dn/v1/blocks/..%2F..%2Fetc", (404,)),
        ("dn", "/dn/v1/blocks/../../etc/passwd", (404,)),
        ("dn", "/dn/v1/blocks/%2E%2E", (400,)),
        ("dn", "/dn/v1/blocks/-1", (400,)),
        ("dn", "/dn/v1/blocks/0", (400,)),
        ("dn", f"/dn/v1/blocks/{1 << 63}", (400,)),
        ("dn", f"/dn/v1/blocks/{10**30}", (400,)),
        ("dn", "/dn/v1/blocks/1e3", (400,)),
        ("dn", "/dn/v1/blocks/%00", (400,)),
        ("dn", f"/dn/v1/blocks/{(1 << 63) - 1}", (404,)),  # well-formed: simply not there
        ("worker", "/mr/v1/shuffle/../../x/0", (404,)),
        ("worker", "/mr/v1/shuffle/..%2F..%2Fx/a/0", (404,)),
        ("worker", "/mr/v1/shuffle/%2E%2E/a/0", (400,)),
        ("worker", "/mr/v1/shuffle/j/%2E%2E/0", (400,)),
        ("worker", "/mr/v1/shuffle/j/..%2F..%2Fworker-1/0", (404,)),
        ("worker", "/mr/v1/shuffle/j%00/a/0", (400,)),
        ("worker", "/mr/v1/shuffle/j/a/-1", (400,)),
        ("worker", "/mr/v1/shuffle/j/a/x", (400,)),
        ("worker", f"/mr/v1/shuffle/j/a/{10**30}", (400, 404)),
        ("jt", "/mr/v1/jobs/%2E%2E/payload", (400,)),
        ("jt", "/mr/v1/jobs/..%2F..%2Fhistory.db/payload", (404,)),
        ("jt", "/mr/v1/jobs/..%2Fpayloads/payload", (404,)),
        ("jt", "/mr/v1/jobs/a%00/payload", (400,)),
        ("jt", "/mr/v1/jobs/../../etc", (404,)),
    ],
)
def test_traversal_in_block_job_attempt_and_partition_ids(
    world: World, unchanged: None, base: str, target: str, status: tuple[int, ...]
) -> None:
    url = {"dn": world.dn, "worker": world.worker, "jt": world.jt}[base]
    suffixes = ["", "/data", "/checksums"] if base == "dn" else [""]
    for suffix in suffixes:
        remote(raw("GET", url, target + suffix, token=world.token), *status)
    if base == "dn" and (status != (404,) or "%2F" in target):  # writing there stores nothing
        put = raw("PUT", url, f"{target}?length=0&bpc={BPC}", body=b"", token=world.token)
        remote(put, *status)
        for name in world.datanodes:
            for p in world.data_dir(name).rglob("blk_*"):
                block_id = int(p.name[4:].split(".")[0])
                assert 1 <= block_id < 1 << 63, p


def test_bad_ranges_of_a_real_block(world: World, unchanged: None) -> None:
    block = f"{world.dn}/dn/v1/blocks/{world.block_id}"
    for suffix in ("", "/data"):
        for query in ("offset=-1", "length=-1", f"offset={10**30}", "offset=x", "length=1.5"):
            remote(world.http.get(f"{block}{suffix}?{query}", auth=world.auth), 400)
    for query in ("offset=-1", f"offset={10**30}", "length=-1", "offset=1e3"):
        r = world.http.get(f"{world.dn}/webhdfs/v1{world.data}?op=OPEN&{query}", auth=world.auth)
        remote(r, 400)
        r = world.http.get(f"{world.nn}/webhdfs/v1{world.data}?op=OPEN&{query}", auth=world.auth)
        remote(r, 400)


# --- block uploads that must not become replicas -------------------------------------------------

BLOCK_IDS = iter(range(7_700_000_001, 7_800_000_000))


def block_body(data: bytes) -> bytes:
    return data + chunk_checksums(data, BPC)


def replica_files(w: World, block_id: int) -> dict[str, list[str]]:
    """Files of `block_id` in any datanode's current/ or tmp/ (not blk_10's for blk_1)."""
    out = {}
    mine = re.compile(rf"blk_{block_id}(?:[._].*)?")
    for name in w.datanodes:
        root = w.data_dir(name)
        found = [
            str(p.relative_to(root))
            for p in (*root.glob(f"current/*/blk_{block_id}*"), *root.glob(f"tmp/blk_{block_id}*"))
            if mine.fullmatch(p.name)
        ]
        if found:
            out[name] = found
    return out


def put_block(
    w: World, block_id: int, body: Any, length: int, *, bpc: int = BPC, targets: str = ""
) -> httpx.Response:
    return w.http.put(
        f"{w.dn}/dn/v1/blocks/{block_id}",
        params={"gen": 1, "length": length, "bpc": bpc},
        content=body,
        headers={"x-targets": targets} if targets else {},
        auth=w.auth,
        timeout=30,
    )


def flip(body: bytes, index: int) -> bytes:
    out = bytearray(body)
    out[index] ^= 0xFF
    return bytes(out)


DATA = random.Random(7).randbytes(3000)
GOOD = block_body(DATA)

UPLOADS: dict[str, tuple[bytes, int, int, int]] = {  # body, declared length, bpc, status
    "truncated checksums": (GOOD[:-10], 3000, BPC, 400),
    "truncated data": (GOOD[:1000], 3000, BPC, 400),
    "empty body": (b"", 3000, BPC, 400),
    "body longer than declared": (GOOD + b"xx", 3000, BPC, 400),
    "declared longer than body": (GOOD, 4000, BPC, 400),
    "declared shorter than body": (GOOD, 2000, BPC, 400),
    "flipped checksum byte": (flip(GOOD, len(GOOD) - 1), 3000, BPC, 409),
    "flipped first checksum byte": (flip(GOOD, 3000), 3000, BPC, 409),
    "flipped data byte": (flip(GOOD, 5), 3000, BPC, 409),
    "checksums for another chunk size": (DATA + chunk_checksums(DATA, 1024), 3000, BPC, 400),
    "wrong chunk size, right length": (GOOD, 3000, 1024, 400),
    "no checksums at all": (DATA, 3000, BPC, 400),
}


@pytest.mark.parametrize("case", list(UPLOADS))
@pytest.mark.parametrize("pipeline", [False, True])
def test_bad_block_uploads_store_no_replica(
    world: World, unchanged: None, case: str, pipeline: bool
) -> None:
    body, length, bpc, status = UPLOADS[case]
    block_id = next(BLOCK_IDS)
    targets = ",".join(world.url(n) for n in world.datanodes[1:]) if pipeline else ""
    remote(put_block(world, block_id, body, length, bpc=bpc, targets=targets), status)
    # Downstream nodes abort when the first one does; give them a moment to notice.
    wait_for(lambda: replica_files(world, block_id) == {}, timeout=10, what="no replica files")


def test_chunked_and_disconnected_uploads_store_no_replica(world: World, unchanged: None) -> None:
    block_id = next(BLOCK_IDS)

    def pieces(body: bytes) -> Iterator[bytes]:
        for i in range(0, len(body), 700):
            yield body[i : i + 700]

    remote(put_block(world, block_id, pieces(flip(GOOD, 10)), 3000), 409)
    remote(put_block(world, block_id, pieces(GOOD + b"x" * 100), 3000), 400)
    remote(put_block(world, block_id, pieces(GOOD[:-1]), 3000), 400)
    parts = urlsplit(world.dn)
    for framing in ("content-length", "chunked"):  # the client dies half-way through
        with socket.create_connection((parts.hostname or "", parts.port or 80)) as s:
            target = f"/dn/v1/blocks/{block_id}?length=3000&bpc={BPC}"
            signed = signed_headers(world.token, "PUT", world.dn, target, None)
            head = f"PUT {target} HTTP/1.1\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in signed.items())
            if framing == "chunked":
                s.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n3e8\r\n".encode())
                s.sendall(GOOD[:1000] + b"\r\n")
            else:
                s.sendall(f"{head}Content-Length: {len(GOOD)}\r\n\r\n".encode() + GOOD[:1000])
            wait_for(lambda: replica_files(world, block_id), timeout=10, what="upload under way")
        wait_for(lambda: replica_files(world, block_id) == {}, timeout=10, what="tmp/ cleaned")


def test_bad_pipeline_targets_are_refused(world: World, unchanged: None) -> None:
    block_id = next(BLOCK_IDS)
    for targets in (
        "file:///etc/passwd",
        "gopher://127.0.0.1:70",
        ",".join(["http://127.0.0.1:9"] * 17),
    ):
        remote(put_block(world, block_id, GOOD, 3000, targets=targets), 400)
    assert replica_files(world, block_id) == {}


def test_a_good_upload_is_stored_then_collected(world: World) -> None:
    """The checks above look in the right place: a good upload does leave a replica there
    (and the namenode has it deleted, since no file owns it)."""
    block_id = next(BLOCK_IDS)
    r = put_block(world, block_id, GOOD, 3000)
    assert r.status_code == 200, r.text
    # Stored (the answer comes once it is on disk); the namenode may have it deleted before
    # a look at the disk would find it, so the answer is what says it was there.
    assert r.json()["stored"], r.text
    wait_for(lambda: replica_files(world, block_id) == {}, timeout=30, what="orphan deleted")


# --- the token -----------------------------------------------------------------------------------

MUTATING: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("nn", "POST", "/nn/v1/create", JSON_ENDPOINTS["/nn/v1/create"][1]),
    ("nn", "POST", "/nn/v1/append", JSON_ENDPOINTS["/nn/v1/append"][1]),
    ("nn", "POST", "/nn/v1/add_block", JSON_ENDPOINTS["/nn/v1/add_block"][1]),
    ("nn", "POST", "/nn/v1/complete", JSON_ENDPOINTS["/nn/v1/complete"][1]),
    ("nn", "POST", "/nn/v1/abandon?path=/badinput/data.txt&client=c", None),
    ("nn", "POST", "/nn/v1/safemode?action=enter", None),
    ("nn", "POST", "/nn/v1/decommission?datanode={datanode}", None),
    ("nn", "POST", "/internal/v1/register", JSON_ENDPOINTS["/internal/v1/register"][1]),
    ("nn", "POST", "/internal/v1/heartbeat", {"datanode_id": "{datanode}"}),
    ("nn", "POST", "/internal/v1/block_report", {"datanode_id": "{datanode}", "replicas": []}),
    (
        "nn",
        "POST",
        "/internal/v1/incremental_report",
        {"datanode_id": "{datanode}", "deleted": ["{block}"]},
    ),
    ("nn", "POST", "/coord/v1/session/open?ttl=5", None),
    (
        "nn",
        "POST",
        "/internal/v1/bad_block",
        {"block_id": "{block}", "datanode_id": "{datanode}"},
    ),
    ("nn", "PUT", "/webhdfs/v1/badinput/x?op=MKDIRS", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/x?op=CREATE", None),
    ("nn", "POST", "/webhdfs/v1/badinput/data.txt?op=APPEND", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/data.txt?op=RENAME&destination=/badinput/y", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/data.txt?op=SETREPLICATION&replication=1", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/data.txt?op=SETPERMISSION&permission=777", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/data.txt?op=SETOWNER&owner=eve", None),
    ("nn", "PUT", "/webhdfs/v1/badinput/data.txt?op=SETTIMES&modificationtime=1", None),
    ("nn", "DELETE", "/webhdfs/v1/badinput?op=DELETE&recursive=true", None),
    ("dn", "PUT", "/dn/v1/blocks/7799999999?length=3000&bpc=512", None),
    ("dn", "PUT", "/webhdfs/v1/badinput/x?op=CREATE&overwrite=true", None),
    ("dn", "POST", "/webhdfs/v1/badinput/data.txt?op=APPEND", None),
    ("jt", "POST", "/mr/v1/jobs", JSON_ENDPOINTS["/mr/v1/jobs"][1]),
    ("jt", "POST", "/mr/v1/jobs/{job}/kill", None),
    ("jt", "GET", "/mr/v1/jobs/{job}/payload", None),
    ("jt", "POST", "/mr/v1/internal/heartbeat", JSON_ENDPOINTS["/mr/v1/internal/heartbeat"][1]),
    ("worker", "GET", "/mr/v1/shuffle/{job}/attempt_x/0", None),
]

NOT_THE_TOKEN: list[Callable[[str], tuple[dict[str, str], str]]] = [
    lambda t: ({}, ""),
    # The raw cluster token never authenticates anything, in a header or as a delegation.
    lambda t: ({"authorization": f"Bearer {t}"}, ""),
    lambda t: ({}, f"delegation={t}"),
    lambda t: ({"authorization": "Bearer wrong"}, ""),
    lambda t: ({"authorization": "Bearer"}, ""),
    lambda t: ({"authorization": f"Bearer {t}x"}, ""),
    lambda t: ({"authorization": f"Bearer {t[:-1]}"}, ""),
    lambda t: ({"authorization": f"Basic {t}"}, ""),
    lambda t: ({"authorization": t}, ""),
    lambda t: ({}, "delegation=wrong"),
    lambda t: ({}, "delegation="),
    lambda t: ({"authorization": "Bearer wrong"}, f"delegation={t}x"),
]


def fill(value: Any, w: World, datanode: str) -> Any:
    if isinstance(value, str):
        text = value.format(datanode=datanode, block=w.block_id, job=w.job_id)
        return int(text) if value == "{block}" else text
    if isinstance(value, list):
        return [fill(v, w, datanode) for v in value]
    if isinstance(value, dict):
        return {k: fill(v, w, datanode) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("daemon", "method", "target", "body"), MUTATING)
def test_mutating_and_internal_endpoints_need_the_token(
    world: World,
    unchanged: None,
    daemon: str,
    method: str,
    target: str,
    body: dict[str, Any] | None,
) -> None:
    """Well-formed requests to real things, refused only for want of the token."""
    datanode = world.http.get(f"{world.dn}/dn/v1/info", auth=world.auth).json()["id"]
    base = {"nn": world.nn, "dn": world.dn, "jt": world.jt, "worker": world.worker}[daemon]
    url = base + fill(target, world, datanode)
    content = GOOD if target.startswith("/dn/") else b"x" if "webhdfs" in target else None
    for make in NOT_THE_TOKEN:
        headers, query = make(world.token)
        full = f"{url}{'&' if '?' in url else '?'}{query}" if query else url
        r = world.http.request(
            method, full, json=fill(body, world, datanode), content=content, headers=headers
        )
        remote(r, 401, exception="SecurityException")


def test_unauthenticated_garbage_is_refused_without_effect(world: World, unchanged: None) -> None:
    """Malformed bodies without the token: refused (400 or 401), whatever the parse order."""
    for endpoint, (daemon, _) in JSON_ENDPOINTS.items():
        base = world.nn if daemon == "nn" else world.jt
        for body in (b"{bad", b"[]", b'{"payload": 1}'):
            r = world.http.post(
                base + endpoint, content=body, headers={"content-type": "application/json"}
            )
            remote(r, 400, 401)


# --- job payloads --------------------------------------------------------------------------------


class Touch:
    """Unpickling this creates a file: proof that (and where) a payload was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


class Exit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os._exit, (7,))


def submit(
    w: World, payload: bytes, auth: httpx.Auth | None, *, sealed: bool = True
) -> httpx.Response:
    """Submit `payload` as a job, sealed as a job client seals it unless told not to."""
    payload = seal_payload(payload, Keys.derive(w.token).seal) if sealed else payload
    body = {
        "name": "bad-payload",
        "user": getpass.getuser(),  # who wrote the input
        "inputs": [w.text],
        "output": f"/badinput/out-{time.time_ns()}",
        "payload": base64.b64encode(payload).decode(),
        "max_attempts": 1,
        "speculative": False,
    }
    return w.http.post(f"{w.jt}/mr/v1/jobs", json=body, auth=auth)


def run_job(w: World, payload: bytes) -> dict[str, Any]:
    r = submit(w, payload, w.auth)
    assert r.status_code == 200, r.text
    job_id = r.json()["id"]

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = w.http.get(f"{w.jt}/mr/v1/jobs/{job_id}", auth=w.auth).json()
        return status if status["state"] in ("SUCCEEDED", "FAILED", "KILLED") else None

    result: dict[str, Any] = wait_for(finished, timeout=60, what=f"job {job_id} to end")
    return result


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (random.Random(0).randbytes(512), "UnpicklingError"),
        (b"this is not a pickle at all", "UnpicklingError"),
        (pickle.dumps({"mapper": "print"}), "not a minihadoop job"),
        (pickle.dumps(Exit()), "exit code 7"),
    ],
    ids=["random-bytes", "text", "wrong-object", "exits-the-process"],
)
def test_garbage_payloads_fail_the_job_not_the_worker(
    world: World, payload: bytes, error: str
) -> None:
    workers = sorted(
        (x["id"], x["url"]) for x in world.http.get(f"{world.jt}/mr/v1/workers").json()
    )
    status = run_job(world, payload)
    assert status["state"] == "FAILED"
    assert error in status["error"], status["error"]
    assert all(a["state"] == "FAILED" and error in a["error"] for a in status["attempts"])
    assert_healthy(world)
    live = world.http.get(f"{world.jt}/mr/v1/workers").json()
    assert sorted((x["id"], x["url"]) for x in live) == workers
    assert all(x["state"] == "LIVE" for x in live)


def test_hostile_payloads_are_unpickled_only_when_sealed_with_the_key(
    world: World, tmp_path: Path
) -> None:
    marker = tmp_path / "unpickled"
    hostile = pickle.dumps(Touch(marker))
    jobs_before = world.http.get(f"{world.jt}/mr/v1/jobs?limit=10000").json()
    sealed = seal_payload(hostile, Keys.derive(world.token).seal)
    for make in NOT_THE_TOKEN:
        headers, query = make(world.token)
        body = {"inputs": [world.text], "output": "/badinput/evil"}
        body["payload"] = base64.b64encode(sealed).decode()
        url = f"{world.jt}/mr/v1/jobs" + (f"?{query}" if query else "")
        remote(world.http.post(url, json=body, headers=headers), 401, exception="SecurityException")
    # Signed with the token, but the payload not sealed, or sealed with another key.
    remote(submit(world, hostile, world.auth, sealed=False), 401, exception="SecurityException")
    forged = seal_payload(hostile, Keys.derive(world.token + "x").seal)
    remote(submit(world, forged, world.auth, sealed=False), 401, exception="SecurityException")
    time.sleep(1.0)  # ten worker heartbeats: any job would have been launched by now
    assert world.http.get(f"{world.jt}/mr/v1/jobs?limit=10000").json() == jobs_before
    assert not marker.exists()
    # Sealed with the key, the same bytes are a job — workers unpickle it, it fails cleanly.
    status = run_job(world, hostile)
    assert marker.exists()
    assert status["state"] == "FAILED" and "not a minihadoop job" in status["error"]
    assert_healthy(world)


class SignedRequests(requests.auth.AuthBase):
    """Signs a `requests` request (the fuzzer's client) as a holder of the token would."""

    def __init__(self, token: str) -> None:
        self.keys = Keys.derive(token)

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body.encode() if isinstance(r.body, str) else r.body or b""
        host = urlsplit(r.url).netloc
        r.headers.update(
            sign_request(self.keys, r.method or "GET", host, r.path_url, digest(body), time.time())
        )
        return r


# --- fuzzing from the OpenAPI schemas ------------------------------------------------------------

FUZZ_EXAMPLES = 200  # per daemon and generation mode; the whole fuzz stays well under a minute


def test_openapi_fuzz_gets_no_server_errors(make_cluster: Callable[..., LocalCluster]) -> None:
    """Requests generated from each daemon's /openapi.json — valid and invalid, with the
    token and without — never get a 5xx, and every 4xx is a RemoteException. A cluster of
    its own: with the token, generated requests may enter safe mode or delete things."""
    schemathesis = pytest.importorskip("schemathesis")
    cluster = make_cluster(datanodes=1, replication=1)
    info = cluster._require()
    with FileSystem.from_cluster(cluster.directory) as fs:
        fs.write_bytes("/fuzz/file.txt", b"some text\n" * 1000)
    failures: list[str] = []
    sent = 0
    for daemon in ("namenode", "datanode-0", "jobtracker", "worker-0"):
        base = cluster.daemon(daemon).url
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            strategies = [op.as_strategy(generation_mode=mode) for op in operations]
            sent += fuzz(base, strategies, info.token, failures)
    assert failures == []
    assert sent > 4 * FUZZ_EXAMPLES  # of 8 runs: most generated requests were really sent
    for d in info.daemons:
        assert httpx.get(f"{d.url}/health", timeout=10).status_code == 200, d.name
        os.kill(d.pid, 0)


def fuzz(base: str, strategies: list[Any], token: str, failures: list[str]) -> int:
    """Send FUZZ_EXAMPLES generated requests to `base`; note every 5xx and every error body
    that is not a RemoteException in `failures`. How many requests were sent."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    sent = 0

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # no shrinking: a failure is reported as it was found
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies), with_token=st.booleans())
    def run(case: Any, with_token: bool) -> None:
        nonlocal sent
        auth = SignedRequests(token) if with_token else None
        try:
            r = case.call(base_url=base, auth=auth, allow_redirects=False, timeout=30)
        except ValueError:  # a header value the HTTP client itself refuses to send
            return
        sent += 1
        what = f"{case.method} {r.request.url} token={with_token} -> {r.status_code}"
        if r.status_code >= 500:
            failures.append(f"{what}: {r.text[:300]}")
        elif r.status_code >= 400:
            try:
                remote((r.status_code, r.content), r.status_code)
            except (AssertionError, ValueError):
                failures.append(f"{what}: not a RemoteException: {r.text[:300]}")

    run()
    return sent


# --- text that is not Unicode, control characters, over-long ids -----------------------------

NOT_UNICODE = ["a%ED%A0%80b", "a%FF%FEb", "%C0%AF", "a%E2%82"]  # surrogate, bad bytes, overlong


@pytest.mark.parametrize("name", NOT_UNICODE)
def test_paths_that_are_not_unicode_are_refused_everywhere(
    world: World, unchanged: None, name: str
) -> None:
    """Bytes that are not UTF-8, percent-encoded in a URL path or query, on the namenode's
    and a datanode's WebHDFS and its internal API: 400, never a name stored as U+FFFD."""
    auth = cluster_auth(world.token)
    for method, url in [
        ("PUT", f"{world.nn}/webhdfs/v1/badinput/{name}?op=MKDIRS"),
        ("PUT", f"{world.nn}/webhdfs/v1/badinput/data.txt?op=RENAME&destination=/badinput/{name}"),
        ("GET", f"{world.nn}/webhdfs/v1/badinput/{name}?op=GETFILESTATUS"),
        ("GET", f"{world.nn}/nn/v1/blocks?path=/badinput/{name}"),
        ("PUT", f"{world.dn}/webhdfs/v1/badinput/{name}?op=CREATE&namenoderpcaddress=x"),
        ("GET", f"{world.dn}/webhdfs/v1/badinput/{name}?op=OPEN&namenoderpcaddress=x"),
    ]:
        r = world.http.request(method, url, auth=auth, content=b"x" if method == "PUT" else None)
        remote(r, 400, exception="IllegalArgumentException")


def test_lone_surrogates_in_json_paths_are_refused(world: World, unchanged: None) -> None:
    """JSON can carry a lone surrogate ("\\ud800") that UTF-8 cannot: a name made of one
    could be stored but never listed, so its folder and every folder above it would fail."""
    auth = cluster_auth(world.token)
    json_type = {"content-type": "application/json"}
    bad = '"/badinput/a\\ud800b"'
    sealed = base64.b64encode(seal_payload(b"x", Keys.derive(world.token).seal)).decode()
    for url, body in [
        (f"{world.nn}/nn/v1/create", f'{{"path": {bad}, "client": "c"}}'),
        (f"{world.nn}/nn/v1/append", f'{{"path": {bad}, "client": "c"}}'),
        (
            f"{world.jt}/mr/v1/jobs",
            f'{{"name": "n", "inputs": ["{world.text}"], "output": {bad}, "payload": "{sealed}"}}',
        ),
        (
            f"{world.jt}/mr/v1/jobs",
            f'{{"name": "n", "inputs": [{bad}], "output": "/badinput/o", "payload": "{sealed}"}}',
        ),
    ]:
        r = world.http.post(url, content=body.encode(), headers=json_type, auth=auth)
        assert "surrogate" in remote(r, 400, exception="IllegalArgumentException")
    listing = world.http.get(f"{world.nn}/webhdfs/v1/badinput?op=LISTSTATUS", auth=auth)
    assert listing.status_code == 200, listing.text


def test_control_characters_in_url_paths_are_400_not_a_missing_endpoint(
    world: World, unchanged: None
) -> None:
    auth = cluster_auth(world.token)
    for url in (
        f"{world.nn}/webhdfs/v1/badinput/a%0Ab?op=MKDIRS",
        f"{world.nn}/webhdfs/v1/badinput/a%0D%0AX-Injected:%201?op=MKDIRS",
        f"{world.dn}/webhdfs/v1/badinput/a%0Ab?op=CREATE&namenoderpcaddress=x",
        f"{world.jt}/mr/v1/jobs/job%0A1",
    ):
        method = "GET" if "/mr/" in url else "PUT"
        r = world.http.request(method, url, auth=auth)
        assert "control characters" in remote(r, 400, exception="IllegalArgumentException")


def test_over_long_ids_are_400_and_errors_show_no_server_path(
    world: World, unchanged: None
) -> None:
    """Ids the disk would refuse as names (ENAMETOOLONG) are refused at the edge; no error,
    whatever it is, names a file on the daemon's machine."""
    auth = cluster_auth(world.token)
    long_id = "j" * 300
    server_dirs = [str(Path(d.data_dir).parent) for d in world.info.daemons]
    for url in (
        f"{world.worker}/mr/v1/shuffle/{long_id}/attempt_1/0",
        f"{world.worker}/mr/v1/shuffle/job_1/{long_id}/0",
        f"{world.jt}/mr/v1/jobs/{long_id}/payload",
    ):
        message = remote(world.http.get(url, auth=auth), 400)
        assert not any(d in message for d in server_dirs), message


def real_block(w: World) -> tuple[int, int, int, int]:
    """(block id, generation, length, bytes per checksum) of the data file's first block."""
    auth = cluster_auth(w.token)
    blocks = w.http.get(f"{w.nn}/nn/v1/blocks", params={"path": w.data}, auth=auth).json()
    block = blocks["blocks"][0]["block"]
    sums = w.http.get(f"{w.dn}/dn/v1/blocks/{block['block_id']}/checksums", auth=auth)
    return (
        block["block_id"],
        block["gen"],
        block["length"],
        int(sums.headers["x-bytes-per-checksum"]),
    )


def test_a_finalized_replica_is_never_overwritten(world: World, unchanged: None) -> None:
    """Other bytes for a block and generation a datanode has finalized: 409
    ReplicaAlreadyExistsException, and the replica still serves the file's bytes. The same
    bytes again (a client retrying its pipeline) are accepted and change nothing."""
    auth = cluster_auth(world.token)
    block_id, gen, length, bpc = real_block(world)
    with FileSystem.from_cluster(Path(world.info.daemons[0].data_dir).parent) as fs:
        original = fs.read_bytes(world.data)[:length]

    def put(data: bytes, declared: int) -> httpx.Response:
        return world.http.put(
            f"{world.dn}/dn/v1/blocks/{block_id}",
            params={"gen": gen, "length": declared, "bpc": bpc},
            content=data + chunk_checksums(data, bpc),
            auth=auth,
        )

    other = random.Random(3).randbytes(length)
    remote(put(other, length), 409, exception="ReplicaAlreadyExistsException")
    remote(put(other[:1000], 1000), 409, exception="ReplicaAlreadyExistsException")
    served = world.http.get(f"{world.dn}/dn/v1/blocks/{block_id}/data", auth=auth)
    assert served.content == original
    retry = put(original, length)
    assert retry.status_code == 200, retry.text
    assert world.http.get(f"{world.dn}/dn/v1/blocks/{block_id}/data", auth=auth).content == original
    stored = f"current/subdir{block_id % 64}/blk_{block_id}"
    assert sorted(replica_files(world, block_id)[world.datanodes[0]]) == [stored, f"{stored}.meta"]
