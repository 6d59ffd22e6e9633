"""The block-report queue: reports wait in order for the one processing thread, which runs
them in batches under one taking of the lock; one report's error is its own; stopping
answers what is left with UnavailableError."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from minihadoop.errors import UnavailableError
from namenode.reportqueue import ReportQueue


@pytest.fixture
def running() -> Iterator[tuple[ReportQueue, threading.RLock, threading.Event]]:
    lock = threading.RLock()
    reports = ReportQueue(lock, max_batch=8)
    stopping = threading.Event()
    thread = threading.Thread(target=reports.run, args=(stopping,), daemon=True)
    thread.start()
    yield reports, lock, stopping
    stopping.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def test_reports_queued_behind_the_lock_run_in_order_in_batches(
    running: tuple[ReportQueue, threading.RLock, threading.Event],
) -> None:
    reports, lock, _ = running
    seen: list[int] = []
    holders: list[bool] = []

    def report(i: int) -> int:
        holders.append(lock._is_owned())  # type: ignore[attr-defined]
        seen.append(i)
        return i * i

    with lock:  # a long namespace operation: twenty reports arrive meanwhile
        futures = [reports.submit(lambda i=i: report(i)) for i in range(20)]
        assert not any(f.done() for f in futures)
    assert [f.result(timeout=10) for f in futures] == [i * i for i in range(20)]
    assert seen == list(range(20)) and all(holders)
    # At most 8 a batch, and fewer lock takings than reports: 20 -> 3 (one may be taken
    # by the first report alone, had the processor got it before the test took the lock).
    assert 3 <= reports.batches <= 4


def test_one_reports_error_is_its_own(
    running: tuple[ReportQueue, threading.RLock, threading.Event],
) -> None:
    reports, lock, _ = running

    def bad() -> None:
        raise ValueError("a bad report")

    with lock:
        good, failing, after = (reports.submit(f) for f in (lambda: 1, bad, lambda: 2))
    assert good.result(timeout=10) == 1 and after.result(timeout=10) == 2
    with pytest.raises(ValueError, match="a bad report"):
        failing.result(timeout=10)


def test_stopping_answers_what_is_queued_with_unavailable() -> None:
    lock = threading.RLock()
    reports = ReportQueue(lock)
    stopping = threading.Event()
    stopping.set()
    queued = reports.submit(lambda: 1)
    reports.run(stopping)  # stops at once, answering what it did not run
    with pytest.raises(UnavailableError, match="stopping"):
        queued.result(timeout=1)
    assert reports.batches == 0 and reports.pending() == 0
