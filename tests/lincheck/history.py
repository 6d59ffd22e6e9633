"""What a linearizability check reads: one record per client operation, and a recorder that
makes them while a workload runs.

Times are taken from one clock that every recording thread and process shares
(`time.monotonic` is system-wide on Linux, so several worker processes on one host may
record into histories that are later concatenated). Only the order of times matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Outcome(Enum):
    """What the client learnt about an operation."""

    OK = "ok"
    """It answered `result`: it took effect exactly once, between its call and its return."""
    FAIL = "fail"
    """It was refused before it could take effect (e.g. "not the leader", safe mode): it
    constrains nothing and is left out of the search."""
    UNKNOWN = "unknown"
    """No answer (a timeout, a broken connection, a server killed mid-call): it may have
    taken effect at any instant after its call, even after the client gave up, or never."""


@dataclass(frozen=True, slots=True)
class Operation:
    """One call by one client. `ret` is None when no answer came: such an operation is
    UNKNOWN whatever `outcome` says, unless it says FAIL. `result` is read only when OK."""

    client: Hashable
    call: float
    ret: float | None
    op: str
    args: tuple[Any, ...]
    result: Any = None
    outcome: Outcome = Outcome.OK

    def __post_init__(self) -> None:
        if self.ret is None and self.outcome is Outcome.OK:
            object.__setattr__(self, "outcome", Outcome.UNKNOWN)
        if self.ret is not None and self.ret < self.call:
            raise ValueError(f"an operation cannot return before its call: {self}")

    def describe(self, origin: float = 0.0, *, whole: bool = False) -> str:
        """One line for a report, with times relative to `origin`; `whole` shows the
        arguments and answer uncut (for the operation a report is about)."""
        limit = None if whole else 40
        args = ", ".join(_short(a, limit) for a in self.args)
        ret = "…" if self.ret is None else f"{self.ret - origin:.3f}"
        answer = {
            Outcome.OK: f"-> {_short(self.result, limit)}",
            Outcome.FAIL: "refused",
            Outcome.UNKNOWN: "-> ? (no answer)",
        }[self.outcome]
        return f"[{self.call - origin:.3f}, {ret}] client {self.client}: {self.op}({args}) {answer}"


def _short(value: Any, limit: int | None = 40) -> str:
    text = repr(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"


class HistoryRecorder:
    """Records operations as client threads run them.

    A worker thread wraps each call::

        recorder.invoke(client, "read", (path,), lambda: read_or_none(fs, path),
                        refused=(SafeModeError,), unknown=(UnavailableError, httpx.HTTPError))

    The function returns the model's answer (an adapter maps expected errors to answers,
    e.g. FileNotFoundError to None). An exception in `refused` records FAIL and one in
    `unknown` records UNKNOWN; both are swallowed. Any other exception records UNKNOWN (the
    call may have reached the server) and propagates: a bug in an adapter must fail the
    test, not quietly turn every operation into "unknown", which is always linearizable.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._operations: list[Operation] = []

    def invoke(
        self,
        client: Hashable,
        op: str,
        args: tuple[Any, ...],
        fn: Callable[[], Any],
        *,
        refused: tuple[type[BaseException], ...] = (),
        unknown: tuple[type[BaseException], ...] = (),
    ) -> Operation:
        call = self._clock()
        try:
            result = fn()
        except refused:
            return self.add(Operation(client, call, self._clock(), op, args, None, Outcome.FAIL))
        except unknown:
            return self.add(Operation(client, call, None, op, args))
        except BaseException:
            self.add(Operation(client, call, None, op, args))
            raise
        return self.add(Operation(client, call, self._clock(), op, args, result))

    def add(self, operation: Operation) -> Operation:
        with self._lock:
            self._operations.append(operation)
        return operation

    def history(self) -> list[Operation]:
        """Every operation recorded so far, by call time."""
        with self._lock:
            return sorted(self._operations, key=lambda o: o.call)
