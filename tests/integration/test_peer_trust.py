"""Impostors at a dead daemon's address: what they receive is no credential, and what they
answer is never obeyed. Delegation tokens live, renew and die as the namenode says; a page
that rebinds its DNS name to a daemon cannot read it.

Each impostor is what an unprivileged local user can run: kill -9 takes the daemon away, and
a plain HTTP server binds its port and records (or answers) whatever comes.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from datanode.blockstore import BlockStore
from mapreduce import Job
from mapreduce.protocol import HeartbeatReply
from mapreduce.serialization import seal_payload
from minihadoop.errors import AuthenticationError, UnavailableError
from minihadoop.filesystem import FileSystem
from minihadoop.localcluster import LocalCluster
from minihadoop.signing import CONTENT, SIGNATURE, Keys, digest, sign_response
from tests.integration.test_mapreduce import wc_mapper, wc_reducer
from tests.support import wait_for

pytestmark = pytest.mark.integration


@dataclass
class Recorded:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    def raw(self) -> bytes:
        head = "".join(f"{k}: {v}\n" for k, v in self.headers.items())
        return f"{self.method} {self.target}\n{head}\n".encode() + self.body


Answer = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


@dataclass
class Impostor:
    """An HTTP server on a dead daemon's port: records every request, answers `answer`."""

    port: int
    answer: Answer
    seen: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        impostor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.headers.get("transfer-encoding") == "chunked":
                    body = _read_chunked(self.rfile)
                got = Recorded(self.command, self.path, dict(self.headers.items()), body)
                impostor.seen.append(got)
                status, headers, content = impostor.answer(got)
                self.send_response(status)
                # One request a connection, so once closed the impostor is gone for good.
                self.close_connection = True
                headers = {**headers, "content-length": str(len(content)), "connection": "close"}
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = _any

            def log_message(self, *_args: Any) -> None:
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def paths(self) -> set[str]:
        return {urlsplit(r.target).path for r in self.seen}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _read_chunked(rfile: Any) -> bytes:
    body = b""
    while True:
        size = int(rfile.readline().strip() or b"0", 16)
        if size == 0:
            rfile.readline()
            return body
        body += rfile.read(size)
        rfile.readline()


@pytest.fixture
def impostors() -> Iterator[Callable[..., Impostor]]:
    made: list[Impostor] = []

    def make(
        port: int, answer: Callable[[Recorded], tuple[int, dict[str, str], bytes]]
    ) -> Impostor:
        # The dead daemon's socket may linger a moment: bind as soon as the port is free.
        impostor = wait_for(lambda: _try(lambda: Impostor(port, answer)), 10, "the port")
        made.append(impostor)
        return impostor

    yield make
    for impostor in made:
        impostor.close()


def _try(make: Callable[[], Impostor]) -> Impostor | None:
    try:
        return make()
    except OSError:
        return None


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def secrets_of(token: str) -> list[bytes]:
    """Everything that would let its holder sign: the token and every key made from it,
    raw, hex and base64."""
    keys = Keys.derive(token)
    raw = [token.encode(), keys.request, keys.response, keys.seal, keys.delegation]
    forms = []
    for secret in raw:
        forms += [secret, secret.hex().encode(), base64.b64encode(secret).rstrip(b"=")]
        forms.append(base64.urlsafe_b64encode(secret).rstrip(b"="))
    return forms


def ok_json(_r: Recorded) -> tuple[int, dict[str, str], bytes]:
    return 200, {"content-type": "application/json"}, b'{"commands": [], "boolean": true}'


# --- an impostor namenode -------------------------------------------------------------------------


def test_an_impostor_namenode_learns_nothing_that_authenticates(
    make_cluster: Callable[..., LocalCluster], impostors: Callable[..., Impostor]
) -> None:
    cluster = make_cluster(datanodes=2, replication=2, heartbeat_interval=0.2)
    info = cluster._require()
    nn = info.namenode
    with FileSystem(nn, info.token) as fs:
        fs.write_bytes("/before", b"x" * 1000)
    service = info.namenode_service
    assert service is not None  # datanodes call the namenode on a port of their own
    cluster.kill("namenode", signal.SIGKILL)
    both = [impostors(port_of(nn), ok_json), impostors(port_of(service), ok_json)]

    def paths() -> set[str]:
        return both[0].paths() | both[1].paths()

    # The client is told the namenode is not there: the impostor's answers are not signed.
    with FileSystem(nn, info.token, retry_window=0) as fs:
        with pytest.raises(UnavailableError, match="not signed"):
            fs.ls("/")
        with pytest.raises(UnavailableError, match="not signed"):
            fs.write_bytes("/during", b"y")
    # A datanode whose heartbeat met the port empty re-registers rather than heartbeats.
    datanode_calls = {"/internal/v1/heartbeat", "/internal/v1/register"}
    wanted = {"/coord/v1/session/open", "/webhdfs/v1/", "/nn/v1/create"}

    def every_daemon_called() -> bool:
        return wanted <= paths() and bool(datanode_calls & paths())

    wait_for(every_daemon_called, 30, "calls from every daemon")

    # Nothing it received carries the token or a key made from it...
    seen = both[0].seen + both[1].seen
    recorded = b"\n".join(r.raw() for r in seen)
    for secret in secrets_of(info.token):
        assert secret not in recorded
    # ...and nothing it received can be used again: every request, replayed to a live
    # datanode (a relay) and to the namenode's own address once it is back, is refused —
    # by the nonce cache, the Host it was signed for, or its date (older than the daemon).
    for impostor in both:
        impostor.close()
    cluster.restart("namenode")
    datanode = cluster.daemon("datanode-0").url
    replays = [r for r in seen if r.method == "POST"][:60]
    with httpx.Client(timeout=10) as client:
        for r in replays:
            for base in (datanode, nn, service):
                headers = {k: v for k, v in r.headers.items() if k.lower() != "content-length"}
                answer = client.request(r.method, base + r.target, headers=headers, content=r.body)
                assert answer.status_code in (400, 401, 404), (base, r.target, answer.text)
    with FileSystem(nn, info.token) as fs:
        wait_for(lambda: not fs.cluster()["safemode"], 30, "safe mode off")
        assert not fs.exists("/during") and fs.read_bytes("/before") == b"x" * 1000


# --- an impostor job tracker ----------------------------------------------------------------------


class Touch:
    """Unpickling this creates a file: the proof that hostile code ran."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.path,))


def test_an_impostor_job_tracker_gets_no_worker_to_run_anything(
    make_cluster: Callable[..., LocalCluster],
    impostors: Callable[..., Impostor],
    tmp_path: Path,
) -> None:
    cluster = make_cluster(datanodes=1, replication=1, mr_heartbeat_interval=0.1)
    info = cluster._require()
    assert info.jobtracker
    with FileSystem(info.namenode, info.token) as fs:
        fs.write_bytes("/in.txt", b"hello\n")
    marker = tmp_path / "pwned"
    hostile = pickle.dumps(Touch(marker))
    spec = {
        "job_id": "job_evil",
        "attempt_id": "attempt_job_evil_m_000000_0",
        "kind": "MAP",
        "index": 0,
        "namenode": info.namenode,
        "output": "/evil",
        "user": "eve",
        "num_reducers": 0,
        "split": {"path": "/in.txt", "start": 0, "length": 6, "file_length": 6},
    }
    # Two impostors: one that cannot sign at all, and one that signs, for each request's
    # own nonce, with a key of its own. Each hands out a launch and serves a hostile payload
    # for it, raw and "sealed" with its key.
    forged = Keys.derive("not-the-token")

    def launcher(sign: bool) -> Callable[[Recorded], tuple[int, dict[str, str], bytes]]:
        def answer(r: Recorded) -> tuple[int, dict[str, str], bytes]:
            if r.target.endswith("/payload"):
                body = seal_payload(hostile, forged.seal) if sign else hostile
            else:
                reply = {"launch": [spec], "kill": [], "finished_jobs": []}
                body = json.dumps(reply).encode()
            headers = {"content-type": "application/json"}
            if sign:
                nonce = r.headers.get("x-mh-nonce", "")
                headers[CONTENT] = digest(body)
                headers[SIGNATURE] = sign_response(forged, nonce, 200, "", digest(body))
            return 200, headers, body

        return answer

    # The launch is one a worker would carry out, were it from the real job tracker.
    fake = HeartbeatReply.model_validate_json(launcher(False)(Recorded("", "", {}, b""))[2])
    assert fake.launch[0].split is not None
    worker = cluster.daemon("worker-0").url
    cluster.kill("jobtracker", signal.SIGKILL)
    for sign in (False, True):
        impostor = impostors(port_of(info.jobtracker), launcher(sign))
        wait_for(
            lambda: sum(r.target.endswith("/heartbeat") for r in impostor.seen) >= 10,  # noqa: B023
            60,
            "ten worker heartbeats at the impostor",
        )
        impostor.close()
        # The launch was not believed: the worker never even asked for its payload (which
        # it would not have unpickled either: it is not sealed with the cluster's key).
        assert not any(r.target.endswith("/payload") for r in impostor.seen)
    running = httpx.get(f"{worker}/mr/v1/worker", timeout=10).json()["running"]
    assert running == [] and not marker.exists()
    log = (cluster.logs / "worker-0.log").read_text()
    assert "not signed by a member of this cluster" in log
    # The worker is unharmed: with the real job tracker back, real jobs run.
    cluster.restart("jobtracker")
    result = Job(
        mapper=wc_mapper,
        reducer=wc_reducer,
        inputs=["/in.txt"],
        output="/out",
        cluster_dir=cluster.directory,
    ).run()
    assert result.ok, result.error
    assert not marker.exists()


# --- delegation tokens ------------------------------------------------------------------------


def test_a_delegation_token_lives_renews_and_dies_as_the_namenode_says(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    info = cluster._require()
    nn = info.namenode
    with FileSystem(nn, info.token) as admin:  # alice's folder, given by the superuser
        admin.mkdir("/dt")
        admin.chown("/dt", owner="alice")
    with FileSystem(nn, info.token, user="alice") as fs:
        token = fs.get_delegation_token()
        other = fs.get_delegation_token()
        fs.write_bytes("/dt/f", b"data")
    assert info.token not in token

    def create(name: str, tok: str) -> httpx.Response:
        r = httpx.put(f"{nn}/webhdfs/v1/dt/{name}?op=CREATE&delegation={tok}", timeout=10)
        if r.status_code != 307:
            return r
        return httpx.put(r.headers["location"], content=b"hello", timeout=10)

    assert create("a", token).status_code == 201
    with FileSystem(nn, info.token) as fs:
        assert fs.stat("/dt/a").owner == "alice"  # the token's user, whatever user.name says
        # A holder of the token may renew it, as its renewer: the expiry moves on.
        expiry = fs.renew_delegation_token(token)
        assert expiry > 0
    # The datanode a redirect names checks with the namenode too: a URL made while the
    # token was live stops working the moment it is cancelled.
    r = httpx.put(f"{nn}/webhdfs/v1/dt/b?op=CREATE&delegation={token}", timeout=10)
    location = r.headers["location"]
    # The redirect carries a token for that op on that path, made from the caller's: were
    # the datanode's port taken by someone else, the caller's own token would not leak.
    assert token not in location
    (scoped,) = parse_qs(urlsplit(location).query)["delegation"]
    assert httpx.put(f"{nn}/webhdfs/v1/dt/x?op=MKDIRS&delegation={scoped}").status_code == 401
    cluster.kill("namenode", signal.SIGTERM)
    cluster.restart("namenode")  # tokens survive a restart, cancelled ones stay cancelled
    with FileSystem(nn, info.token) as fs:
        wait_for(lambda: not fs.cluster()["safemode"], 30, "safe mode off")
        assert create("c", token).status_code == 201
        fs.cancel_delegation_token(token)
    for r in (
        httpx.put(location, content=b"late", timeout=10),
        create("d", token),
        httpx.get(f"{nn}/webhdfs/v1/dt?op=LISTSTATUS&delegation={token}", timeout=10),
    ):
        assert r.status_code == 401, r.text
        assert "cancelled" in r.json()["RemoteException"]["message"]
    cluster.kill("namenode", signal.SIGTERM)
    cluster.restart("namenode")
    with FileSystem(nn, info.token) as fs:
        wait_for(lambda: not fs.cluster()["safemode"], 30, "safe mode off")
        assert sorted(s.name for s in fs.ls("/dt")) == ["a", "c", "f"]
    assert create("e", token).status_code == 401
    assert create("e", other).status_code == 201  # cancelling one leaves the others


def test_a_token_cannot_get_tokens_and_a_redirect_token_only_does_its_op(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(datanodes=1, replication=1)
    info = cluster._require()
    nn = info.namenode
    with FileSystem(nn, info.token) as fs:
        token = fs.get_delegation_token()
        with httpx.Client(auth=fs._http.auth, timeout=10) as signed:
            r = signed.put(
                f"{nn}/webhdfs/v1/scoped/f?op=CREATE&noredirect=true&user.name={fs.user}"
            )
    scoped = dict(p.split("=", 1) for p in urlsplit(r.json()["Location"]).query.split("&"))
    redirect_token = scoped["delegation"]
    for url, status in [
        (f"/webhdfs/v1/?op=GETDELEGATIONTOKEN&delegation={token}", 401),
        (f"/webhdfs/v1/scoped/f?op=GETFILESTATUS&delegation={redirect_token}", 401),
        (f"/webhdfs/v1/elsewhere?op=MKDIRS&delegation={redirect_token}", 401),
    ]:
        method = "PUT" if "MKDIRS" in url else "GET"
        assert httpx.request(method, nn + url, timeout=10).status_code == status, url
    with FileSystem(nn, None) as anonymous, pytest.raises(AuthenticationError):
        anonymous.get_delegation_token()


# --- DNS rebinding --------------------------------------------------------------------------------


READS = ("/", "/webhdfs/v1/?op=LISTSTATUS", "/nn/v1/cluster", "/mr/v1/jobs", "/dn/v1/info")


def test_a_page_that_rebinds_its_name_reads_nothing(cluster: LocalCluster) -> None:
    """A browser on a page of attacker.example whose DNS now says 127.0.0.1 sends
    ``Host: attacker.example``: every daemon refuses it, the open read policy or not."""
    info = cluster._require()
    for daemon in info.daemons:
        host = f"attacker.example:{port_of(daemon.url)}"
        for path in (
            "/",
            "/webhdfs/v1/?op=LISTSTATUS",
            "/nn/v1/cluster",
            "/mr/v1/jobs",
            "/dn/v1/info",
        ):
            r = httpx.get(daemon.url + path, headers={"host": host}, timeout=10)
            assert r.status_code == 400, (daemon.name, path, r.status_code)
            assert "attacker.example" in r.json()["RemoteException"]["message"]
        assert httpx.get(daemon.url + "/health", timeout=10).status_code == 200
    names = os.uname().nodename
    assert (
        httpx.get(info.namenode + "/health", headers={"host": names}, timeout=10).status_code == 200
    )


ECHO_CLIENT = """
import json, sys
from minihadoop.config import Settings
from minihadoop.server import bind_socket, serve

async def app(scope, receive, send):  # says who it thinks called, and how
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"][0], "scheme": scope["scheme"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})

sock = bind_socket("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
serve(app, sock, Settings(token="t"))
"""


def test_a_daemon_takes_the_callers_address_from_the_socket_not_its_headers() -> None:
    with subprocess.Popen(
        [sys.executable, "-c", ECHO_CLIENT], stdout=subprocess.PIPE, text=True
    ) as server:
        _ask_the_echo(server)


def _ask_the_echo(server: subprocess.Popen[str]) -> None:
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        url = f"http://127.0.0.1:{port}/"
        forged = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
        seen = wait_for(lambda: _answer(url, forged), timeout=20, what="the server up")
        assert seen == {"client": "127.0.0.1", "scheme": "http"}
    finally:
        server.terminate()
        server.wait(timeout=20)


def _answer(url: str, headers: dict[str, str]) -> dict[str, str] | None:
    try:
        return dict(httpx.get(url, headers=headers, timeout=5).json())
    except httpx.TransportError:
        return None


def test_replicas_and_map_outputs_are_readable_by_their_daemons_account_only(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    info = cluster._require()
    for d in info.daemons:
        if d.name.startswith(("datanode-", "worker-")):
            assert Path(d.data_dir).stat().st_mode & 0o777 == 0o700, d.name
    # A folder made open before (by hand, or by an older version) is closed at start.
    old = tmp_path / "old-datanode"
    (old / "current").mkdir(parents=True, mode=0o755)
    old.chmod(0o755)
    BlockStore(old)
    assert old.stat().st_mode & 0o777 == 0o700
