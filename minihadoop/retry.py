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

A namenode group (several namenodes, one leader; the others answer every call with
`StandbyError`) adds one question: *where* to send the call again (`fail_over`, pure):

* a standby that names the leader: to the leader;
* a standby that does not, a namenode that cannot be reached or whose connection broke:
  to the next namenode of the group, round robin;
* a namenode that answered 503 (starting up): to the same one, later.

A namenode not yet asked since the last wait is asked at once, as Hadoop's failover proxy
fails over the first time without sleeping; asking one again waits the backoff first. So a
call asks each namenode at most once between waits, and standbys that name each other
cannot keep it spinning. The client remembers the namenode that last answered (any answer
but an unavailability comes from the leader) and starts its next call there.

`RetryPolicy` and `fail_over` are pure (the clock, the sleep and the randomness are passed
in); `failing_over` is the loop every client of the namenode shares, `retrying` the same
loop for a daemon at one address.
"""

from __future__ import annotations

import logging
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

from minihadoop.errors import (
    AuthenticationError,
    ConnectionLostError,
    IllegalArgumentError,
    MiniHadoopError,
    StandbyError,
    UnavailableError,
    UnreachableError,
)

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


class NamenodeGroup:
    """The namenodes a client knows — one, or the members of a Raft group — and the one its
    calls go to first (`at`): the last that answered, so the leader once one has."""

    def __init__(self, urls: Sequence[str], leader: str | None = None) -> None:
        if not urls:
            raise IllegalArgumentError("no namenode URL given")
        self.urls = tuple(urls)
        found = index_of(self.urls, leader)
        self.at = 0 if found is None else found

    @classmethod
    def parse(cls, namenodes: str | Sequence[str], leader: str | None = None) -> NamenodeGroup:
        """`namenodes`: a list of URLs, or one string of URLs separated by ``;`` (HdfsCLI's
        way: ``http://a:9870;http://b:9870``) or ``,``. Each URL is kept once, in order,
        without a trailing slash. `leader`: the one to ask first, if it is among them."""
        items = re.split(r"[;,]", namenodes) if isinstance(namenodes, str) else namenodes
        urls: list[str] = []
        for item in items:
            url = item.strip().rstrip("/")
            if not url:
                continue
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise IllegalArgumentError(
                    f"not a namenode URL: {url[:200]!r} (like http://host:9870)"
                )
            if index_of(urls, url) is None:
                urls.append(url)
        if not urls:
            raise IllegalArgumentError(f"no namenode URL in {namenodes!r}")
        return cls(urls, leader)

    @property
    def current(self) -> str:
        return self.urls[self.at]


def index_of(urls: Sequence[str], url: str | None) -> int | None:
    """Where `url` is in `urls`, ignoring case and a trailing slash; None if it is not."""
    if not url:
        return None
    wanted = url.rstrip("/").lower()
    return next((i for i, u in enumerate(urls) if u.lower() == wanted), None)


@dataclass(frozen=True, slots=True)
class Move:
    """Where a failed call goes next: the namenode `to` (an index in the group), at once or
    after the backoff's wait."""

    to: int
    at_once: bool


def fail_over(urls: Sequence[str], at: int, exc: UnavailableError, asked: Set[int]) -> Move:
    """Where a call that failed with `exc` at namenode `at` is sent next; `asked` holds
    the namenodes asked since the last wait. A standby's hint is followed at once to a
    namenode not asked yet; a hint back to one asked already is stale (an election is under
    way), so the rest of the group is asked first, and the hint followed after the wait. A
    hint is followed only to a member of the group the client was given: an answer chooses
    among them, never adds to them."""
    if not isinstance(exc, (StandbyError, UnreachableError, ConnectionLostError)):
        return Move(at, at_once=False)  # it answered, starting up: the same one, later
    hinted = index_of(urls, exc.leader) if isinstance(exc, StandbyError) else None
    if hinted == at:
        hinted = None
    if hinted is not None and hinted not in asked:
        return Move(hinted, at_once=True)
    others = [(at + step) % len(urls) for step in range(1, len(urls))]
    fresh = next((i for i in others if i not in asked), None)
    if fresh is not None:
        return Move(fresh, at_once=True)
    return Move(hinted if hinted is not None else (at + 1) % len(urls), at_once=False)


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
    return failing_over(
        lambda _url: attempt(),
        NamenodeGroup([""]),  # one daemon, at an address `attempt` knows
        policy,
        replay,
        what=what,
        clock=clock,
        sleep=sleep,
        rng=rng,
    )


class _RefusedHere(UnreachableError):
    """One member of a group answered an unsigned 401 — which a process squatting a dead
    member's port can send as well as a member can (`minihadoop.signing` lets that one
    answer through unsigned): the call goes on to the others."""


def _ask(attempt: Callable[[str], T], group: NamenodeGroup, at: int, refused: set[int]) -> T:
    """`attempt` at member `at`; "not authenticated" from it is believed only once every
    member of the group has said it (then the token is wrong, not the member)."""
    try:
        return attempt(group.urls[at])
    except AuthenticationError as exc:
        refused.add(at)
        if len(refused) == len(group.urls):
            raise
        raise _RefusedHere(f"{group.urls[at]}: {exc}") from exc


def failing_over(
    attempt: Callable[[str], T],
    group: NamenodeGroup,
    policy: RetryPolicy,
    replay: Replay,
    *,
    what: str = "call",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """`attempt(url)` at the group's namenodes, starting at `group.at`: sent again while it
    fails in a way `replay` allows, to the namenode `fail_over` names, at once or once the
    policy's wait is over, until the window is spent. Then the last failure is raised —
    with one namenode as it was; with several, naming those asked."""
    rng = rng or random.Random()
    start = clock()
    retries = 0
    at = group.at
    asked: set[int] = set()  # since the last wait
    tried: list[int] = []  # by this call, in order
    refused: set[int] = set()  # answered 401 to this call
    while True:
        asked.add(at)
        if at not in tried:
            tried.append(at)
        try:
            result = _ask(attempt, group, at, refused)
        except UnavailableError as exc:
            if not may_retry(exc, replay):
                raise
            move = fail_over(group.urls, at, exc, asked)
            if move.to != at:
                log.info("%s: %s: %s; asking %s", what, group.urls[at], exc, group.urls[move.to])
            at = move.to
            if move.at_once:
                continue
            wait = policy.delay(retries, clock() - start, rng)
            if wait is None:
                if len(group.urls) == 1:
                    raise
                raise _none_leads(exc, [group.urls[i] for i in tried], policy.window) from exc
            if retries == 0:
                log.warning("%s: %s; retrying for up to %.0fs", what, exc, policy.window)
            retries += 1
            asked = set()
        except MiniHadoopError:
            group.at = at  # an answer, if an unwelcome one: from the leader
            raise
        else:
            group.at = at
            return result
        sleep(wait)


def _none_leads(exc: UnavailableError, tried: list[str], window: float) -> UnavailableError:
    """The last failure of a call no namenode of the group took, as the same class."""
    message = (
        f"{exc.message} (no namenode answered as the leader within {window:g}s; "
        f"asked {', '.join(tried)})"
    )
    if isinstance(exc, StandbyError):
        return StandbyError(message, exc.leader)
    return type(exc)(message)
