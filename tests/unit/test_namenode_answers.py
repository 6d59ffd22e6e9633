"""What a client without the cluster token makes of an answer at the namenode's address that
is not a namenode's (another program took the port, a proxy's error page): an IOException
that says so, never a validation error that reads like a mistake in the caller's settings."""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest

from minihadoop.errors import MiniHadoopError
from minihadoop.filesystem import FileSystem
from minihadoop.models import FileStatus, FileType, LocatedBlocks, LocatedBlocksBatch
from tests.support import http_server

GOOD = LocatedBlocks(status=FileStatus(path="/x", type=FileType.FILE), blocks=[])
ANSWERS = {
    "good": GOOD.model_dump_json().encode(),
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "other json": b'{"status": "ok"}',
    "empty": b"",
}


@pytest.fixture
def namenode() -> Iterator[tuple[str, dict[str, str]]]:
    """A fake namenode's URL, and where the test says which answer it gives."""
    said = {"answer": "good"}

    class Handler(http.server.BaseHTTPRequestHandler):
        def answer(self, many: bool) -> None:
            body = ANSWERS[said["answer"]]
            if many and said["answer"] == "good":
                body = LocatedBlocksBatch(files=[GOOD]).model_dump_json().encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.answer(many=False)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.answer(many=True)

    with http_server(Handler) as url:
        yield url, said


@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_an_answer_that_is_not_a_namenodes_is_an_ioexception_saying_so(
    namenode: tuple[str, dict[str, str]], answer: str
) -> None:
    url, said = namenode
    said["answer"] = answer
    with FileSystem(url, None, quick_timeout=10) as fs:
        if answer == "good":
            assert fs.blocks("/x") == GOOD
            assert fs.blocks_many(["/x"]) == [GOOD]
            return
        for ask in (lambda: fs.blocks("/x"), lambda: fs.blocks_many(["/x"])):
            with pytest.raises(MiniHadoopError, match="is not one minihadoop sends") as e:
                ask()
            assert "/nn/v1/blocks" in str(e.value)
            assert e.value.__cause__ is None  # not a pydantic error dressed up
