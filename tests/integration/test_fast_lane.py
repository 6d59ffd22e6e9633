"""The fast lane (minihadoop.httpguard.FastLane) of a real server from `server.serve`, over
real sockets: what it is offered, how its answers are framed, and that everything it
declines, or fails on, reaches the app as if there were no lane.

The server's lane answers ``GET /fast/<word>`` with ``lane <word>``, declines
``/fast/decline`` and raises on ``/fast/boom``; its app answers anything with ``app
<method> <path>``, and ``/fast-to-app`` with how many ``/fast/`` requests it was given."""

from __future__ import annotations

import fcntl
import socket
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from tests.support import wait_for

pytestmark = pytest.mark.integration

SERVER = """
from minihadoop.config import Settings
from minihadoop.server import bind_socket, serve

class Lane:
    prefix = b"/fast/"

    def answer(self, url, headers):
        word = url[len(self.prefix):]
        if word == b"decline":
            return None
        if word == b"boom":
            raise RuntimeError("the lane broke")
        pad = b"." * (1 << 16) if word.startswith(b"big") else b""
        return [(b"content-type", b"text/plain"), (b"x-by", b"lane")], b"lane " + word + pad

fast_to_app = 0  # requests for /fast/ the app was given: the lane declined them

async def app(scope, receive, send):
    global fast_to_app
    if scope["type"] != "http":
        return
    if scope["path"] == "/fast-to-app":
        text = str(fast_to_app).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": text})
        return
    fast_to_app += scope["path"].startswith("/fast/")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"app {scope['method']} {scope['path']} {len(body)}".encode()
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})

sock = bind_socket("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
serve(app, sock, Settings(token="t"), lane=Lane())
"""


@dataclass(frozen=True)
class Served:
    url: str
    log: Path  # the server's stderr
    pid: int

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("lane") / "stderr.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, stderr=stderr, text=True
        ) as proc,
    ):
        try:
            assert proc.stdout is not None
            url = f"http://127.0.0.1:{int(proc.stdout.readline())}"
            wait_for(lambda: _up(url), timeout=20, what="the server up")
            yield Served(url, log, proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/up", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def exchange(url: str, *steps: tuple[bytes, int]) -> list[bytes]:
    """On one new connection, for each step: send its bytes in one write, then read as many
    answers as it says (each framed by its Content-Length; interim answers skipped)."""
    port = int(url.rsplit(":", 1)[1])
    got = []
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as conn,
        conn.makefile("rb") as stream,
    ):
        for raw, answers in steps:
            conn.sendall(raw)
            got += [read_answer(stream) for _ in range(answers)]
    return got


def read_answer(stream: BinaryIO) -> bytes:
    """One answer, framed by its Content-Length; interim answers skipped."""
    head = b""
    while not head.endswith(b"\r\n\r\n") or head.startswith(b"HTTP/1.1 100 "):
        if head.startswith(b"HTTP/1.1 100 ") and head.endswith(b"\r\n\r\n"):
            head = b""  # an interim answer ("100 Continue"): the answer follows
        line = stream.readline()
        assert line, "connection closed"
        head += line
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return head + stream.read(length)


def get(path: str, *extra: bytes, version: bytes = b"1.1") -> bytes:
    lines = [b"GET " + path.encode() + b" HTTP/" + version, b"Host: 127.0.0.1", *extra]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def body_of(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1]


def test_the_lane_answers_what_it_takes_and_the_app_the_rest(
    server: Served,
) -> None:
    url = server.url
    fast = httpx.get(f"{url}/fast/hello")
    assert fast.status_code == 200 and fast.text == "lane hello"
    assert fast.headers["x-by"] == "lane" and fast.headers["content-length"] == "10"
    assert fast.headers["content-type"] == "text/plain"
    assert "date" in fast.headers and "server" in fast.headers  # as the app's answers have
    # Declined, another prefix, another method: the app, as if there were no lane.
    assert httpx.get(f"{url}/fast/decline").text == "app GET /fast/decline 0"
    assert httpx.get(f"{url}/slow/hello").text == "app GET /slow/hello 0"
    assert httpx.head(f"{url}/fast/hello").headers["content-length"] == str(
        len("app HEAD /fast/hello 0")
    )
    assert httpx.post(f"{url}/fast/hello", content=b"xyz").text == "app POST /fast/hello 3"


def test_a_get_with_a_body_or_an_expect_goes_to_the_app(
    server: Served,
) -> None:
    url = server.url
    sized = get("/fast/x", b"Content-Length: 4")[:-2] + b"\r\nbody"
    (answer,) = exchange(url, (sized, 1))
    assert body_of(answer) == b"app GET /fast/x 4"
    chunked = get("/fast/x", b"Transfer-Encoding: chunked") + b"0\r\n\r\n"
    (answer,) = exchange(url, (chunked, 1))
    assert body_of(answer) == b"app GET /fast/x 0"
    expecting = get("/fast/x", b"Expect: 100-continue", b"Content-Length: 0")
    (answer,) = exchange(url, (expecting, 1))
    assert body_of(answer) == b"app GET /fast/x 0"


def test_pipelined_requests_are_answered_in_order_on_one_connection(
    server: Served,
) -> None:
    """Behind a request the app is still answering, the lane answers nothing (its answer
    would overtake); once the app has answered, it takes requests again."""
    url = server.url
    first = get("/fast/a") + get("/fast/b") + get("/slow/c") + get("/fast/d") + get("/fast/e")
    answers = exchange(url, (first, 5), (get("/fast/f") + get("/fast/decline"), 2))
    assert [body_of(a) for a in answers] == [
        b"lane a",
        b"lane b",
        b"app GET /slow/c 0",
        b"app GET /fast/d 0",
        b"app GET /fast/e 0",
        b"lane f",
        b"app GET /fast/decline 0",
    ]
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers)
    assert not any(b"connection: close" in a.lower() for a in answers)  # kept alive


def test_connection_close_and_http_1_0(server: Served) -> None:
    url = server.url
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(get("/fast/bye", b"Connection: close"))
        received = b""
        while chunk := conn.recv(65536):  # ends only when the server closes
            received += chunk
    assert body_of(received) == b"lane bye"
    assert b"\r\nconnection: close\r\n" in received.lower()
    # HTTP/1.0 is the app's (its keep-alive rules differ): answered, by the app.
    (answer,) = exchange(url, (get("/fast/old", version=b"1.0"), 1))
    assert body_of(answer) == b"app GET /fast/old 0"


def test_a_lane_that_fails_hands_the_request_to_the_app(
    server: Served,
) -> None:
    url, log = server.url, server.log
    for _ in range(3):
        assert httpx.get(f"{url}/fast/boom").text == "app GET /fast/boom 0"
    assert httpx.get(f"{url}/fast/after").text == "lane after"  # and the server goes on
    logged = wait_for(lambda: "the lane broke" in log.read_text() and log.read_text(), what="log")
    # Once, not per request: a caller that can make a lane fail cannot flood the log.
    assert logged.count("the fast lane failed on b'/fast/boom'") == 1


def test_bad_requests_are_logged_once_a_minute_not_once_each(server: Served) -> None:
    for _ in range(5):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 400 ")
    logged = wait_for(
        lambda: "Invalid HTTP request" in server.log.read_text() and server.log.read_text(),
        what="the log line",
    )
    assert logged.count("Invalid HTTP request received.") == 1


def rss(pid: int) -> int:
    """Resident memory of process `pid`, in bytes."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) * 1024


def fast_to_app(server: Served) -> int:
    """How many /fast/ requests the lane has handed the app so far."""
    return int(httpx.get(f"{server.url}/fast-to-app").text)


def unsent(conn: socket.socket) -> int:
    """Bytes written to `conn` that its peer has not taken yet."""
    return int(struct.unpack("i", fcntl.ioctl(conn, termios.TIOCOUTQ, b"\0" * 4))[0])


def kernel_buffers() -> int:
    """The most a TCP connection's two socket buffers can hold here: the sender's and the
    receiver's, each at its largest autotuned size."""
    most = 0
    for name in ("tcp_rmem", "tcp_wmem"):
        with open(f"/proc/sys/net/ipv4/{name}") as f:
            most += int(f.read().split()[2])
    return most


def test_a_client_that_does_not_read_meets_flow_control(server: Served) -> None:
    """Requests sent without reading any answer, more bytes of them than the kernel's socket
    buffers can hold, the first 200 for 64 KiB answers: the lane answers until the
    connection is paused for writing, then declines, so the app's flow control stops
    reading the requests (the sender blocks for good) and the server holds a few buffers,
    not every answer. Then every answer arrives, in order."""
    pad = b"X-Pad: " + b"p" * 4000
    count = (kernel_buffers() + (4 << 20)) // len(pad)
    raw = b"".join(get(f"/fast/{'big' if i < 200 else 'small'}-{i}", pad) for i in range(count))
    before, handed = rss(server.pid), fast_to_app(server)
    with socket.socket() as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        conn.settimeout(60)
        conn.connect(("127.0.0.1", server.port))
        sender = threading.Thread(target=conn.sendall, args=(raw,))
        sender.start()
        # The lane declines once writes are paused: the app gets a request of this
        # connection, and stops reading the rest behind it (the sender blocked: no buffer
        # can take them all).
        wait_for(lambda: fast_to_app(server) > handed, what="the lane stepping aside")
        wait_for(lambda: sender.is_alive() and unsent(conn) > 0, what="the server not reading")
        grown = rss(server.pid) - before
        with conn.makefile("rb") as stream:
            bodies = [body_of(read_answer(stream)) for _ in range(count)]
        sender.join(timeout=60)
    seen = [int(b.split(b"-")[1].split(b" ")[0].rstrip(b".")) for b in bodies]
    assert seen == list(range(count))  # each answer to its request, in order
    by_app = sum(b.startswith(b"app ") for b in bodies)
    assert 0 < by_app < count  # the lane answered until paused, then the app
    assert grown < 32 << 20, f"the server grew {grown >> 20} MiB for a client not reading"
