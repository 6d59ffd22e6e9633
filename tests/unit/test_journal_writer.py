"""The job journal's background writer (mapreduce.journal): in order, outliving a failed
write, and quiet about writes that fail because the job tracker is stopping."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from mapreduce.journal import Journal
from minihadoop.errors import UnavailableError


class Recorder:
    """A file system client that records writes and can be made to fail like a closed
    httpx client does."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.closed = False
        self.gate = threading.Event()

    def write_bytes(self, path: str, _data: bytes, **_kw: Any) -> None:
        self.gate.wait(10)
        if self.closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        if path.endswith("bad"):
            raise UnavailableError("the namenode is down")
        self.written.append(path)


def test_writes_behind_keep_their_order_and_outlive_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fs = Recorder()
    journal = Journal(fs)  # type: ignore[arg-type]
    for name in ("a", "bad", "b", "c"):
        journal.later(lambda name=name: fs.write_bytes(name, b""))
    fs.gate.set()
    journal.close()
    assert fs.written == ["a", "b", "c"]
    assert "journal write failed: the namenode is down" in caplog.text


def test_writes_left_when_the_tracker_stops_are_dropped_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fs = Recorder()
    journal = Journal(fs)  # type: ignore[arg-type]
    journal.later(lambda: fs.write_bytes("late", b""))
    with caplog.at_level(logging.WARNING):
        journal.close(timeout=0.0)  # the writer is still held up: it outlives close
        fs.closed = True  # then the job tracker closes its client
        fs.gate.set()
        assert journal._writer is not None
        journal._writer.join(10)
    assert fs.written == []
    assert "journal write dropped as the job tracker stops" in caplog.text
    assert all(r.exc_info is None for r in caplog.records)  # no traceback
