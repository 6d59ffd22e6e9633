"""Block reports, processed in batches by one thread, off the request path (HDFS's
BlockReportProcessingThread).

A datanode's report — full or incremental — is queued by its request and the request waits
for the answer without holding a server thread. One thread takes what is queued, up to
`max_batch` at a time, takes the namesystem's lock once for the batch, and hands each
report its answer. At a restart a thousand datanodes report at once: processed this way
they cost one lock hand-over a batch instead of one each, and they cannot fill the server's
thread pool so that a client's call waits behind them.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from minihadoop.errors import UnavailableError

_POLL = 0.5  # seconds: how often an idle processor looks whether it should stop


class ReportQueue:
    def __init__(self, lock: threading.RLock, *, max_batch: int = 64) -> None:
        self.lock = lock
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self.batches = 0  # how many times the lock was taken (tests read it)

    def submit(self, work: Callable[[], Any]) -> Future[Any]:
        """Queue `work` (run under the lock); its answer, or its exception, in the future."""
        future: Future[Any] = Future()
        self._queue.put((work, future))
        return future

    def pending(self) -> int:
        return self._queue.qsize()

    def run(self, stopping: threading.Event) -> None:
        while not stopping.is_set():
            try:
                first = self._queue.get(timeout=_POLL)
            except queue.Empty:
                continue
            batch = [first]
            with contextlib.suppress(queue.Empty):
                while len(batch) < self.max_batch:
                    batch.append(self._queue.get_nowait())
            self._process(batch)
        self._fail_queued()

    def _process(self, batch: list[tuple[Callable[[], Any], Future[Any]]]) -> None:
        answers: list[tuple[Future[Any], Any, BaseException | None]] = []
        with self.lock:
            self.batches += 1
            for work, future in batch:
                try:
                    answers.append((future, work(), None))
                except Exception as exc:  # that report's answer; the others go on
                    answers.append((future, None, exc))
        for future, result, error in answers:  # the waiters run on, outside the lock
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

    def _fail_queued(self) -> None:
        """Stopping: what is still queued is answered with an error (the datanode retries,
        against whichever namenode is serving then)."""
        while True:
            try:
                _work, future = self._queue.get_nowait()
            except queue.Empty:
                return
            future.set_exception(UnavailableError("the namenode is stopping"))
