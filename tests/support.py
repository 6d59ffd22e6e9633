"""Helpers for tests: polling with a deadline instead of sleeping."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import httpx

from minihadoop.localcluster import LocalCluster
from minihadoop.models import RegisterRequest
from minihadoop.signing import UNSIGNED, ClusterAuth, Keys, digest, sign_request
from namenode.namesystem import Namesystem
from tests.lincheck.history import HistoryRecorder, Operation


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail the test after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def history_across_leader_kills(
    group: LocalCluster,
    recorder: HistoryRecorder,
    clients: int,
    run: Callable[[int, threading.Event], None],
    *,
    ops: int,
    kills: int = 2,
) -> list[Operation]:
    """Run `clients` threads, each `run(n, stop)` recording its operations in `recorder`,
    while the group's leader is killed with SIGKILL and started again `kills` times, `ops`
    operations apart; the history recorded. A client's exception fails the test."""
    stop = threading.Event()
    failures: list[BaseException] = []

    def guarded(n: int) -> None:
        try:
            run(n, stop)
        except BaseException as e:  # a test bug or a lost session: fail, do not hide it
            failures.append(e)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    try:
        for _ in range(kills):
            wait_for(lambda: failures or len(recorder.history()) > ops, what="operations to flow")
            assert not failures, failures
            name = group.daemon_at(group.leader(timeout=30)).name
            group.kill(name)
            wanted = len(recorder.history()) + ops
            wait_for(partial(_longer, recorder, wanted), what="ops after a kill")
            group.restart(name, timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=90)
    assert not failures, failures
    return recorder.history()


def _longer(recorder: HistoryRecorder, than: int) -> bool:
    return len(recorder.history()) > than


def cluster_auth(token: str) -> httpx.Auth:
    """What a test's raw HTTP call passes as ``auth=`` to prove it holds the cluster token."""
    return ClusterAuth(token)


def signed_headers(
    token: str, method: str, base: str, target: str, body: bytes | None = b""
) -> dict[str, str]:
    """The headers that sign `method target` (raw, as sent) to the daemon at `base`, for
    requests sent byte by byte; a `body` of None is signed as an unsigned payload."""
    content = UNSIGNED if body is None else digest(body)
    host = urlsplit(base).netloc
    signed = sign_request(Keys.derive(token), method, host, target, content, time.time())
    return {"host": host, **signed}


class Clock:
    """A clock a test moves by hand: pass it as a core's `clock`, then set `now`."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def register_datanodes(system: Namesystem, *ids: str, capacity: int = 1 << 40) -> None:
    """Register datanodes `ids` with an in-process namesystem, each at its own loopback URL
    and with `capacity` bytes free."""
    for datanode_id in ids:
        port = 9864 + len(system.datanodes.nodes)
        request = RegisterRequest(
            datanode_id=datanode_id,
            url=f"http://127.0.0.1:{port}",
            capacity=capacity,
            remaining=capacity,
        )
        system.register(request, peer_ip="127.0.0.1")


@contextlib.contextmanager
def http_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A threaded HTTP server on a free loopback port answering with `handler` (a fake peer
    for a client to meet), which logs nothing; its base URL. Shut down on exit."""
    quiet = type(handler.__name__, (handler,), {"log_message": lambda *_args: None})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
