"""`FileSystem.whole_blocks` against a datanode that answers wrongly: a real socket, a fake
datanode. Nothing it says is trusted past what was asked: a block of another length, a
chunk size of 0 or less, checksums of the wrong size or another block's id never become
data, and never make the client read more than it asked for."""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest

from minihadoop.checksum import chunk_checksums
from minihadoop.errors import UnavailableError
from minihadoop.filesystem import FileSystem
from minihadoop.models import BLOCK_READ_HEADER, Block, LocatedBlock
from tests.support import http_server

H = BLOCK_READ_HEADER
DATA = b"hello world\n"
SUMS = chunk_checksums(DATA, 512)
GOOD = [H.pack(i, len(DATA), 512, len(SUMS)) + SUMS + DATA for i in (1, 2)]
ENDLESS = object()  # the answer: a header claiming 1 TiB, then zeros until the client leaves

ANSWERS: dict[str, list[bytes] | object] = {
    "good": GOOD,
    "flipped byte": [GOOD[0][:-1] + b"?", GOOD[1]],
    "not here": [H.pack(1, -1, 0, 0), GOOD[1]],
    "chunk size 0": [H.pack(1, len(DATA), 0, len(SUMS)) + SUMS + DATA, GOOD[1]],
    "chunk size -1, no checksums": [H.pack(1, len(DATA), -1, 0) + DATA, GOOD[1]],
    "another length": [H.pack(1, 5, 512, 4) + chunk_checksums(b"hello", 512) + b"hello"],
    "1 TiB": ENDLESS,
    "negative checksums": [H.pack(1, len(DATA), 512, -4) + SUMS + DATA, GOOD[1]],
    "another block": [GOOD[1], GOOD[0]],
    "cut short": [GOOD[0][:-3]],
}
EXPECTED: dict[str, list[bytes | None] | type[Exception]] = {
    "good": [DATA, DATA],
    "flipped byte": [None, DATA],  # reported (with a token) and read elsewhere
    "not here": [None, DATA],
    "chunk size 0": [None, None],
    "chunk size -1, no checksums": [None, None],
    "another length": [None, None],
    "1 TiB": [None, None],
    "negative checksums": UnavailableError,
    "another block": UnavailableError,
    "cut short": UnavailableError,
}


@pytest.fixture
def datanode() -> Iterator[tuple[str, dict[str, str]]]:
    """A fake datanode's URL, and where the test says which answer it gives."""
    said = {"answer": "good"}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # the body ends when the connection does

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(200)
            self.end_headers()
            answer = ANSWERS[said["answer"]]
            try:
                if answer is ENDLESS:
                    self.wfile.write(H.pack(1, 1 << 40, 512, 4 << 28))
                    for _ in range(4096):  # 4 GiB at most, if the client never left
                        self.wfile.write(bytes(1 << 20))
                else:
                    assert isinstance(answer, list)
                    self.wfile.write(b"".join(answer))
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: as it should

    with http_server(Handler) as url:
        yield url, said


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_a_wrong_answer_never_becomes_data(
    datanode: tuple[str, dict[str, str]], answer: str
) -> None:
    url, said = datanode
    said["answer"] = answer
    asked = [LocatedBlock(block=Block(block_id=i, gen=1, length=len(DATA)), offset=0,
                          locations=[]) for i in (1, 2)]  # fmt: skip
    with FileSystem("http://127.0.0.1:9", None, quick_timeout=10) as fs:
        expected = EXPECTED[answer]
        if isinstance(expected, list):
            assert fs.whole_blocks(url, asked) == expected
        else:
            with pytest.raises(expected):
                fs.whole_blocks(url, asked)
