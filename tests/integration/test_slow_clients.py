"""Clients that hold connections open without finishing a request (slowloris) starve
nobody: not the datanodes' heartbeats, not other clients.

The flood is bounded: at most FLOOD sockets at a time, for FLOOD_SECONDS, loopback only.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest

from minihadoop.localcluster import LocalCluster
from tests.support import cluster_auth, wait_for

pytestmark = pytest.mark.integration

FLOOD = 2000
FLOOD_SECONDS = 8.0  # four times the dead-node timeout of the test clusters (2 s)
PARTIAL_REQUEST = b"GET /webhdfs/v1/?op=LISTSTATUS HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
CLIENT_ADDRESS = "127.0.0.100"  # a well-behaved client's own loopback address


class SlowlorisFlood(threading.Thread):
    """Keeps up to `count` connections to `target` open from `source`, each having sent
    part of a request's headers and nothing more; reopens those the server closes, until
    `seconds` have passed."""

    def __init__(self, target: tuple[str, int], source: str, count: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.target, self.source, self.count, self.seconds = target, source, count, seconds
        self.opened = 0
        self.closed_by_server = 0

    def _open(self, selector: selectors.BaseSelector) -> None:
        s = socket.socket()
        s.bind((self.source, 0))
        try:
            s.connect(self.target)
            s.sendall(PARTIAL_REQUEST)
        except OSError:
            s.close()
            self.closed_by_server += 1
            return
        s.setblocking(False)
        selector.register(s, selectors.EVENT_READ)
        self.opened += 1

    def run(self) -> None:
        deadline = time.monotonic() + self.seconds
        with selectors.DefaultSelector() as selector:
            try:
                while time.monotonic() < deadline:
                    while len(selector.get_map()) < self.count and time.monotonic() < deadline:
                        self._open(selector)
                    for key, _ in selector.select(timeout=0.1):
                        # Readable: the server answered or hung up. Either way it let go.
                        selector.unregister(key.fileobj)
                        key.fileobj.close()  # type: ignore[union-attr]
                        self.closed_by_server += 1
            finally:
                for key in list(selector.get_map().values()):
                    key.fileobj.close()  # type: ignore[union-attr]


def test_a_slowloris_flood_starves_neither_heartbeats_nor_clients(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(
        datanodes=2,
        replication=2,
        http_header_timeout=1.0,
        http_max_connections_per_client=100,
    )
    info = cluster._require()
    nn = urlsplit(info.namenode)
    # From the datanodes' own address, so a per-address cap on the client port alone could
    # not tell the flood from the heartbeats.
    flood = SlowlorisFlood((nn.hostname or "", nn.port or 0), "127.0.0.1", FLOOD, FLOOD_SECONDS)
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    client = httpx.Client(transport=transport, auth=cluster_auth(info.token), timeout=30)
    # The datanode URLs the namenode redirects to carry a delegation token for that op.
    follow = httpx.Client(transport=httpx.HTTPTransport(local_address=CLIENT_ADDRESS), timeout=30)
    with client, follow:
        flood.start()
        done = 0
        while flood.is_alive():
            data = os.urandom(50_000)
            path = f"{info.namenode}/webhdfs/v1/tmp/busy/f{done}"  # /tmp: anybody's
            create = client.put(f"{path}?op=CREATE&overwrite=true")
            assert create.status_code == 307, create.text
            put = follow.put(create.headers["location"], content=data)
            assert put.status_code == 201, put.text
            got = follow.get(client.get(f"{path}?op=OPEN").headers["location"])
            assert got.status_code == 200 and got.content == data
            done += 1
        flood.join()
        status = client.get(f"{info.namenode}/nn/v1/cluster").json()
    assert flood.opened >= FLOOD  # the flood was really there
    assert done >= 1
    deaths = [e["message"] for e in status["events"] if "is dead" in e["message"]]
    assert deaths == []
    assert sorted(d["state"] for d in status["datanodes"]) == ["LIVE", "LIVE"]
    with contextlib.suppress(OSError):
        socket.create_connection((nn.hostname or "", nn.port or 0), timeout=5).close()


def closed_by_server(s: socket.socket) -> bool:
    """True once the server has hung up on `s` (or answered and hung up)."""
    s.setblocking(False)
    try:
        while s.recv(65536):
            pass
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def test_headers_and_bodies_must_keep_coming_and_one_address_gets_a_share(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(
        datanodes=1,
        http_header_timeout=3.0,
        http_body_timeout=3.0,
        http_max_connections_per_client=5,
    )
    nn = urlsplit(cluster._require().namenode)
    target = (nn.hostname or "", nn.port or 0)
    with contextlib.ExitStack() as stack:

        def connect(source: str, first: bytes) -> socket.socket:
            s = stack.enter_context(socket.create_connection(target, source_address=(source, 0)))
            s.sendall(first)
            return s

        silent = connect("127.0.0.2", b"")
        slow_headers = connect("127.0.0.3", PARTIAL_REQUEST)
        body = b"PUT /webhdfs/v1/x?op=MKDIRS HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        body += b"Content-Length: 100\r\n\r\n"
        slow_body = connect("127.0.0.4", body + b"0123456789")
        for s, what in ((silent, "silent"), (slow_headers, "headers"), (slow_body, "body")):
            wait_for(lambda s=s: closed_by_server(s), timeout=20, what=f"the {what} cut-off")

        crowd = [connect("127.0.0.5", PARTIAL_REQUEST) for _ in range(5)]
        extra = connect("127.0.0.5", PARTIAL_REQUEST)
        wait_for(lambda: closed_by_server(extra), timeout=20, what="the sixth refused")
        # Refused at once, not cut off by the header deadline like the five before it.
        assert not any(closed_by_server(s) for s in crowd)
        other = httpx.get(f"{cluster._require().namenode}/health", timeout=10)  # 127.0.0.1
        assert other.status_code == 200


def test_headers_too_large_are_refused_before_they_cost_memory(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    """Many header lines, or one endless one: answered 400 and closed once past the cap
    (64 KiB, Hadoop's), not buffered for as long as the header deadline allows."""
    cluster = make_cluster(datanodes=1)
    nn = urlsplit(cluster._require().namenode)
    line = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    for head in (line * 200, b"X-Pad: " + b"a" * (4 << 20)):
        with socket.create_connection((nn.hostname or "", nn.port or 0), timeout=10) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            with contextlib.suppress(OSError):  # the server may close while we still send
                for i in range(0, len(head), 65536):
                    s.sendall(head[i : i + 65536])
            answer = b""
            with contextlib.suppress(OSError):
                while chunk := s.recv(65536):
                    answer += chunk
            assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
            assert b"request headers larger than 65536 bytes" in answer
    assert httpx.get(f"{cluster._require().namenode}/health", timeout=10).status_code == 200
