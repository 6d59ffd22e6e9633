"""Riding out a daemon that is restarting: which failed calls may be sent again, and when.

Hadoop's clients retry a namenode that is down or starting up (`dfs.client.retry.policy`,
`ipc.client.connect.max.retries`): the call is sent again after a capped, jittered,
exponentially growing wait until a window of time is spent. The same here, with one rule
about *which* calls may be sent again, so that a retry never does something twice:

* a call whose connection was never made (`UnreachableError`) or that was answered 503
  (the daemon refused it without acting: `UnavailableError`, `StartupSafeModeError`) may
  always be sent again — the daemon certainly did not carry it out;
* a call whose connection broke after it was sent (`ConnectionLostError`) may be sent again
  only if repeating it is harmless: it is idempotent (a read, mkdir -p), or it carries a
  session (the client's id and the call's number) by which the namenode recognises the
  repeat and answers it with the first call's result instead of carrying it out again.

`RetryPolicy` is pure (the clock, the sleep and the randomness are passed in); `retrying`
is the loop every client shares.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from minihadoop.errors import ConnectionLostError, UnavailableError

log = logging.getLogger("minihadoop.retry")
T = TypeVar("T")


class Replay(Enum):
    """What may be sent again after a failure, by what the call does."""

    SAFE = "safe"  # idempotent: after any failure
    SESSION = "session"  # sent with a session, answered once by the namenode: after any failure
    IF_NOT_RECEIVED = "if-not-received"  # only when the daemon certainly did not act


def may_retry(exc: BaseException, replay: Replay) -> bool:
    """Whether a call that failed with `exc` may be sent again."""
    if not isinstance(exc, UnavailableError):
        return False
    if isinstance(exc, ConnectionLostError):
        return replay is not Replay.IF_NOT_RECEIVED
    return True  # never connected, or refused with a 503: nothing was done


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter, within `window` seconds of the first try
    (Hadoop's retry-up-to-maximum-time policy)."""

    window: float
    base: float = 0.1  # the first wait, before jitter
    cap: float = 2.0  # no single wait is longer: a restarted daemon is noticed within it

    def delay(self, retries: int, elapsed: float, rng: random.Random) -> float | None:
        """The wait before retry number `retries` (0 for the first), `elapsed` seconds after
        the first try; None once the window is spent. Half the wait is random, so clients
        that failed together do not all come back at the same instant."""
        left = self.window - elapsed
        if left <= 0:
            return None
        ceiling = min(self.cap, self.base * 2.0 ** min(retries, 30))
        return min(left, ceiling / 2 + rng.uniform(0, ceiling / 2))


def retrying(
    attempt: Callable[[], T],
    policy: RetryPolicy,
    replay: Replay,
    *,
    what: str = "call",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """`attempt()`, sent again while it fails in a way `replay` allows and the policy's
    window lasts; the last failure is raised as it was."""
    rng = rng or random.Random()
    start = clock()
    retries = 0
    while True:
        try:
            return attempt()
        except UnavailableError as exc:
            if not may_retry(exc, replay):
                raise
            wait = policy.delay(retries, clock() - start, rng)
            if wait is None:
                raise
            if retries == 0:
                log.warning("%s: %s; retrying for up to %.0fs", what, exc, policy.window)
            retries += 1
        sleep(wait)
