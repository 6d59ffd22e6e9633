"""Which of the FileSystem client's namenode calls it sends again, in process: an answer
lost mid-call is retried only for calls that are safe to repeat — idempotent ones, and
those carrying a session (clientid, seq), sent again with the same one; a refused
connection or a 503 is retried for any call; the window ends it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from minihadoop.errors import ConnectionLostError, StartupSafeModeError, UnreachableError
from minihadoop.filesystem import FileSystem

Handler = Callable[[httpx.Request], httpx.Response]
OK = {"boolean": True}


class Namenode:
    """Fails the first `failures` calls as told, then answers `answer`; counts the calls."""

    def __init__(self, failures: int, how: str, answer: dict[str, object]) -> None:
        self.failures, self.how, self.answer = failures, how, answer
        self.calls = 0
        self.sessions: list[tuple[str | None, str | None]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        params = request.url.params
        self.sessions.append((params.get("clientid"), params.get("seq")))
        if self.calls <= self.failures:
            if self.how == "refused":
                raise httpx.ConnectError("connection refused", request=request)
            if self.how == "lost":
                raise httpx.ReadTimeout("no answer", request=request)
            body = StartupSafeModeError("Cannot change the namespace: Safe mode is ON")
            return httpx.Response(503, json=body.to_remote())
        return httpx.Response(200, json=self.answer)


@pytest.fixture
def connect() -> Iterator[Callable[[Namenode, float], FileSystem]]:
    made: list[FileSystem] = []

    def make(namenode: Namenode, window: float = 5.0) -> FileSystem:
        fs = FileSystem("http://nn:9870", "token", retry_window=window)
        fs._http.close()
        fs._http = httpx.Client(transport=httpx.MockTransport(namenode))
        made.append(fs)
        return fs

    yield make
    for fs in made:
        fs.close()


CREATED = {"block_size": 4096, "bytes_per_checksum": 512}
LOCATED = {"block": {"block_id": 7, "gen": 1001, "length": 0}, "offset": 0, "locations": []}


@pytest.mark.parametrize("how", ["refused", "lost", "safe-mode"])
def test_safe_calls_are_sent_again_after_any_unavailability(
    connect: Callable[[Namenode, float], FileSystem], how: str
) -> None:
    mkdir = Namenode(2, how, OK)
    connect(mkdir, 5.0).mkdir("/d")
    assert mkdir.calls == 3
    create = Namenode(1, how, CREATED)  # re-entrant: the same client starts the file afresh
    out = connect(create, 5.0).create("/d/f")
    assert create.calls == 2
    out._done = True  # nothing was written: closing it need not call the namenode


@pytest.mark.parametrize("how", ["refused", "safe-mode"])
def test_other_calls_are_sent_again_when_the_namenode_surely_did_not_act(
    connect: Callable[[Namenode, float], FileSystem], how: str
) -> None:
    rename = Namenode(2, how, OK)
    connect(rename, 5.0).mv("/a", "/b")
    assert rename.calls == 3
    delete = Namenode(1, how, OK)
    connect(delete, 5.0).rm("/b")
    assert delete.calls == 2


@pytest.mark.parametrize(
    ("call", "answer"),
    [
        (lambda fs: fs.mv("/a", "/b"), OK),
        (lambda fs: fs.rm("/b"), OK),
        (lambda fs: fs._add_block("/f", 1, None, []), LOCATED),
        (lambda fs: fs._complete("/f", 1, None), OK),
    ],
    ids=["rename", "delete", "add_block", "complete"],
)
def test_a_call_whose_answer_was_lost_is_repeated_as_the_same_request(
    connect: Callable[[Namenode, float], FileSystem],
    call: Callable[[FileSystem], object],
    answer: dict[str, object],
) -> None:
    namenode = Namenode(2, "lost", answer)
    fs = connect(namenode, 5.0)
    call(fs)
    # It may have been carried out: sent again as the same request, which the namenode
    # answers from its session table instead of carrying it out again.
    assert namenode.calls == 3
    first, *again = namenode.sessions
    assert first[0] == fs.client_name and first[1] is not None
    assert again == [first, first]
    call(fs)  # the next call is a new request
    assert namenode.sessions[-1][0] == fs.client_name
    assert int(namenode.sessions[-1][1] or 0) > int(first[1])


def test_a_call_without_a_session_whose_answer_was_lost_is_not_repeated(
    connect: Callable[[Namenode, float], FileSystem],
) -> None:
    namenode = Namenode(1, "lost", OK)
    with pytest.raises(ConnectionLostError):
        connect(namenode, 5.0).cancel_delegation_token("t")
    assert namenode.calls == 1  # it may have been carried out: not done a second time
    assert namenode.sessions == [(None, None)]


def test_the_window_ends_the_waiting(connect: Callable[[Namenode, float], FileSystem]) -> None:
    namenode = Namenode(10_000, "refused", OK)
    with pytest.raises(UnreachableError, match="cannot reach nn:9870"):
        connect(namenode, 0.3).stat("/")
    assert 1 < namenode.calls < 30
    once = Namenode(10_000, "refused", OK)
    with pytest.raises(UnreachableError):
        connect(once, 0.0).stat("/")
    assert once.calls == 1  # retry_window 0: no retries


def test_a_client_reads_its_retry_window_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A daemon-only setting that would not validate does not stop a client."""
    monkeypatch.setenv("MINIHADOOP_TLS_CERT", "/only/a/certificate.pem")  # no key: a daemon error
    monkeypatch.setenv("MINIHADOOP_RETRY_WINDOW", "2.5")
    with FileSystem("http://nn:9870", "token") as fs:
        assert fs.retry.window == 2.5
    monkeypatch.setenv("MINIHADOOP_RETRY_WINDOW", "soon")
    with pytest.raises(ValueError, match="MINIHADOOP_RETRY_WINDOW"):
        FileSystem("http://nn:9870", "token")


def test_a_fenced_client_and_its_clones_send_the_fence_with_every_change() -> None:
    seen: list[tuple[str | None, str | None]] = []

    def namenode(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.params.get("fence.lock"), request.url.params.get("fence.token")))
        return httpx.Response(200, json=OK)

    with FileSystem("http://nn:9870", "token") as plain:
        fenced = plain.fenced("committer", 7)
        once = fenced.with_retry_window(0.0)  # a clone for calls that must not wait
        for fs in (plain, fenced, once):
            fs._http.close()
            fs._http = httpx.Client(transport=httpx.MockTransport(namenode))
            fs.mkdir("/a")
            fs.close()
    assert seen == [(None, None), ("committer", "7"), ("committer", "7")]
