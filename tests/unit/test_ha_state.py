"""Asking the namenode group for its state: a member that answers is parsed, and one that
never finishes answering — a stranger at its port sending a byte a second — is `down`
once the whole call's deadline has passed, however slowly it trickles."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator

import pytest

from minihadoop.ha import DOWN, group_state

pytestmark = pytest.mark.timeout(60)


def serve(answer: bytes, *, trickle: bool) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def run() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.recv(65536)
                if not trickle:
                    conn.sendall(answer)
                    continue
                for byte in answer:  # one byte, then a pause, for ever
                    if stop.wait(1.0):
                        break
                    conn.sendall(bytes([byte]))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    listener.close()


def response(body: dict[str, object]) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(data)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + data


STATE = {"id": "nn2", "role": "leader", "term": 4, "commit": 17, "applied": 17,
         "leader": "nn2", "peers": {"nn1": {"match": 17}, "nn2": {"match": 17}}}  # fmt: skip


@pytest.fixture
def healthy() -> Iterator[str]:
    yield from serve(response(STATE), trickle=False)


@pytest.fixture
def trickling() -> Iterator[str]:
    yield from serve(response(STATE) * 100, trickle=True)


def test_an_answer_is_parsed_and_a_trickle_is_down_within_the_deadline(
    healthy: str, trickling: str
) -> None:
    good, slow = group_state({"nn2": healthy, "nn3": trickling}, timeout=1.5)
    assert (good.name, good.role, good.term, good.commit) == ("nn2", "leader", 4, 17)
    assert good.match == {"nn1": 17, "nn2": 17}
    assert (slow.name, slow.role) == ("nn3", DOWN)
    assert "no answer" in slow.error


def test_nothing_listening_is_down() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    (state,) = group_state({"nn9": url}, timeout=1.0)
    assert state.role == DOWN
