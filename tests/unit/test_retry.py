"""Riding out a restarting daemon (minihadoop.retry, minihadoop.rest, minihadoop.errors):
which failures are sent again, how long the waits are, and that a client tells a call that
never arrived from one whose answer was lost; in a namenode group, which namenode a failed
call goes to next, and when."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from minihadoop import errors
from minihadoop.errors import (
    ConnectionLostError,
    FileNotFoundError_,
    MiniHadoopError,
    SafeModeError,
    StartupSafeModeError,
    UnavailableError,
    UnreachableError,
)
from minihadoop.rest import call
from minihadoop.retry import (
    Move,
    NamenodeGroup,
    Replay,
    RetryPolicy,
    fail_over,
    failing_over,
    may_retry,
    retrying,
)

NEVER_ARRIVED = UnreachableError("cannot reach nn:9870: connection refused")
REFUSED_503 = StartupSafeModeError("Cannot change the namespace: Safe mode is ON")
IN_DOUBT = ConnectionLostError("cannot reach nn:9870: connection lost mid-call: timed out")


@pytest.mark.parametrize(
    ("exc", "replay", "expected"),
    [
        (NEVER_ARRIVED, Replay.SAFE, True),
        (NEVER_ARRIVED, Replay.IF_NOT_RECEIVED, True),
        (REFUSED_503, Replay.IF_NOT_RECEIVED, True),
        (UnavailableError("busy"), Replay.IF_NOT_RECEIVED, True),  # any 503: nothing done
        (IN_DOUBT, Replay.SAFE, True),
        (IN_DOUBT, Replay.SESSION, True),  # the namenode answers the repeat from memory
        (IN_DOUBT, Replay.IF_NOT_RECEIVED, False),  # it may have been carried out
        (SafeModeError("entered by an administrator"), Replay.SAFE, False),
        (FileNotFoundError_("/x"), Replay.SAFE, False),
        (ValueError("not ours"), Replay.SAFE, False),
    ],
)
def test_what_may_be_sent_again(exc: BaseException, replay: Replay, expected: bool) -> None:
    assert may_retry(exc, replay) is expected


def test_waits_grow_exponentially_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(window=1000, base=0.1, cap=2.0)
    rng = random.Random(1)
    for retries, ceiling in [(0, 0.1), (1, 0.2), (2, 0.4), (4, 1.6), (5, 2.0), (60, 2.0)]:
        waits = [policy.delay(retries, 0.0, rng) for _ in range(200)]
        assert all(w is not None and ceiling / 2 <= w <= ceiling for w in waits), retries
        assert len(set(waits)) > 100  # jittered: clients that failed together spread out


def test_the_window_bounds_the_last_wait_and_then_ends_the_retries() -> None:
    policy = RetryPolicy(window=10, base=0.1, cap=2.0)
    rng = random.Random(2)
    assert policy.delay(10, 9.9, rng) == pytest.approx(0.1)  # never past the window
    assert policy.delay(10, 10.0, rng) is None
    assert RetryPolicy(window=0).delay(0, 0.0, rng) is None  # 0: no retries at all


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times: int, exc: Exception, result: str = "ok") -> Callable[[], str]:
    calls = {"n": 0}

    def attempt() -> str:
        calls["n"] += 1
        if calls["n"] <= times:
            raise exc
        return result

    attempt.calls = calls  # type: ignore[attr-defined]
    return attempt


def run(attempt: Callable[[], str], replay: Replay, window: float = 60.0) -> tuple[str, FakeTime]:
    t = FakeTime()
    result = retrying(
        attempt,
        RetryPolicy(window=window),
        replay,
        clock=t.clock,
        sleep=t.sleep,
        rng=random.Random(3),
    )
    return result, t


def test_a_daemon_that_comes_back_within_the_window_is_waited_for() -> None:
    result, t = run(failing(12, NEVER_ARRIVED), Replay.IF_NOT_RECEIVED)
    assert result == "ok"
    assert len(t.sleeps) == 12
    assert max(t.sleeps) <= 2.0  # capped: a returning daemon is noticed within 2 s


def test_the_last_failure_is_raised_once_the_window_is_spent() -> None:
    attempt = failing(10_000, REFUSED_503)
    with pytest.raises(StartupSafeModeError):
        run(attempt, Replay.IF_NOT_RECEIVED, window=5.0)
    calls = attempt.calls["n"]  # type: ignore[attr-defined]
    assert 5 < calls < 60


def test_a_lost_answer_is_not_sent_again_unless_that_is_safe() -> None:
    attempt = failing(1, IN_DOUBT)
    with pytest.raises(ConnectionLostError):
        run(attempt, Replay.IF_NOT_RECEIVED)
    assert attempt.calls["n"] == 1  # type: ignore[attr-defined]
    assert run(failing(1, IN_DOUBT), Replay.SAFE)[0] == "ok"


def test_other_errors_are_raised_at_once() -> None:
    attempt = failing(1, FileNotFoundError_("/missing"))
    with pytest.raises(FileNotFoundError_):
        run(attempt, Replay.SAFE)
    assert attempt.calls["n"] == 1  # type: ignore[attr-defined]


# --- the client's side of the wire --------------------------------------------------------------


def client_raising(exc: Exception) -> httpx.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    ("transport_error", "expected"),
    [
        (httpx.ConnectError("refused"), UnreachableError),
        (httpx.ConnectTimeout("no answer to SYN"), UnreachableError),
        (httpx.ReadTimeout("sent, no answer"), ConnectionLostError),
        (httpx.RemoteProtocolError("server disconnected"), ConnectionLostError),
        (httpx.WriteError("broken pipe"), ConnectionLostError),
    ],
)
def test_a_client_tells_a_call_that_never_arrived_from_a_lost_answer(
    transport_error: Exception, expected: type[MiniHadoopError]
) -> None:
    with client_raising(transport_error) as client, pytest.raises(UnavailableError) as caught:
        call(client, "GET", "http://nn:9870/webhdfs/v1/x")
    assert type(caught.value) is expected


def test_startup_safe_mode_comes_back_as_both_safe_mode_and_unavailable() -> None:
    body = StartupSafeModeError("Cannot change the namespace: Safe mode is ON").to_remote()
    assert body["RemoteException"]["exception"] == "SafeModeException"  # Hadoop's name
    again = errors.from_remote(body, 503)
    assert isinstance(again, StartupSafeModeError)
    assert isinstance(again, SafeModeError) and isinstance(again, UnavailableError)
    manual = errors.from_remote(SafeModeError("by hand").to_remote(), 403)
    assert type(manual) is SafeModeError and not isinstance(manual, UnavailableError)


# --- a namenode group -------------------------------------------------------------------------

A, B, C = "http://a:9870", "http://b:9870", "http://c:9870"
GROUP = (A, B, C)


@pytest.mark.parametrize(
    "given",
    [
        f"{A};{B};{C}",  # HdfsCLI's way
        f"{A}, {B}/ ,{C}",
        f" {A}/;;{B};{C};{A.upper()}",  # blanks and repeats dropped
        [A, f"{B}/", C],
    ],
)
def test_a_group_is_given_as_a_list_or_one_string(given: str | list[str]) -> None:
    assert NamenodeGroup.parse(given).urls == GROUP
    assert NamenodeGroup.parse(given).current == A


def test_one_url_is_a_group_of_one_and_a_group_may_start_at_its_leader() -> None:
    assert NamenodeGroup.parse("http://nn:9870/").urls == ("http://nn:9870",)
    assert NamenodeGroup.parse(GROUP, leader=f"{C}/").current == C
    assert NamenodeGroup.parse(GROUP, leader="http://elsewhere:9870").current == A
    for nothing in ("", " ; ,", []):
        with pytest.raises(errors.IllegalArgumentError, match="no namenode"):
            NamenodeGroup.parse(nothing)


def standby(leader: str = "") -> errors.StandbyError:
    return errors.StandbyError("Operation category WRITE is not supported in state standby", leader)


@pytest.mark.parametrize(
    ("exc", "asked", "expected"),
    [
        (standby(C), {0}, Move(2, at_once=True)),  # the leader it names, at once
        (standby(C), {0, 2}, Move(1, at_once=True)),  # a stale hint: the rest first
        (standby(C), {0, 1, 2}, Move(2, at_once=False)),  # then the hint, after a wait
        (standby(), {0}, Move(1, at_once=True)),  # no hint: the next
        (standby(A), {0}, Move(1, at_once=True)),  # a hint naming itself is no hint
        (standby("http://elsewhere:9870"), {0}, Move(1, at_once=True)),  # nor one outside
        (NEVER_ARRIVED, {0}, Move(1, at_once=True)),
        (IN_DOUBT, {0}, Move(1, at_once=True)),
        (NEVER_ARRIVED, {0, 1, 2}, Move(1, at_once=False)),  # a pass is over: wait first
        (REFUSED_503, {0}, Move(0, at_once=False)),  # the leader, starting up: wait for it
        (UnavailableError("busy"), {0}, Move(0, at_once=False)),
    ],
)
def test_where_a_failed_call_goes_next(
    exc: UnavailableError, asked: set[int], expected: Move
) -> None:
    assert fail_over(GROUP, 0, exc, asked) == expected


def test_with_one_namenode_a_failed_call_waits_for_the_same_one() -> None:
    for exc in (standby(), standby(C), NEVER_ARRIVED, IN_DOUBT, REFUSED_503):
        assert fail_over(("http://nn:9870",), 0, exc, {0}) == Move(0, at_once=False)


class FakeGroup:
    """Namenodes in process: `answer[url]` says what each does when asked."""

    def __init__(self, answer: dict[str, Exception | str]) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def __call__(self, url: str) -> str:
        self.asked.append(url)
        outcome = self.answer[url]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def run_group(
    namenodes: FakeGroup, group: NamenodeGroup, window: float = 60.0, t: FakeTime | None = None
) -> tuple[str, FakeTime]:
    t = t or FakeTime()
    result = failing_over(
        namenodes,
        group,
        RetryPolicy(window=window),
        Replay.SESSION,
        clock=t.clock,
        sleep=t.sleep,
        rng=random.Random(4),
    )
    return result, t


def test_a_call_reaches_the_leader_without_waiting_and_the_next_starts_there() -> None:
    namenodes = FakeGroup({A: NEVER_ARRIVED, B: standby(), C: "ok"})
    group = NamenodeGroup(GROUP)
    result, t = run_group(namenodes, group)
    assert (result, namenodes.asked, t.sleeps) == ("ok", [A, B, C], [])
    assert group.current == C
    run_group(namenodes, group)
    assert namenodes.asked[3:] == [C]


def test_an_error_answered_by_a_namenode_makes_it_the_one_to_start_at() -> None:
    namenodes = FakeGroup({A: standby(B), B: FileNotFoundError_("/x"), C: "ok"})
    group = NamenodeGroup(GROUP)
    with pytest.raises(FileNotFoundError_):
        run_group(namenodes, group)
    assert group.current == B


def test_standbys_naming_each_other_ask_each_namenode_once_between_waits() -> None:
    namenodes = FakeGroup({A: standby(B), B: standby(A), C: NEVER_ARRIVED})
    t = FakeTime()
    with pytest.raises(UnreachableError) as caught:
        run_group(namenodes, NamenodeGroup(GROUP), window=10.0, t=t)
    # A names B: asked at once; B names A, asked already: C, not asked yet, first; then a
    # wait, and the same again until the window is spent. Never a spin.
    assert namenodes.asked[:6] == [A, B, C, A, B, C]
    assert len(namenodes.asked) == 3 * (len(t.sleeps) + 1)
    assert 3 < len(namenodes.asked) < 90 and t.now == pytest.approx(10.0)
    assert str(caught.value).endswith(
        f"(no namenode answered as the leader within 10s; asked {A}, {B}, {C})"
    )


def test_a_spent_window_names_every_namenode_asked_and_keeps_the_class() -> None:
    namenodes = FakeGroup({A: NEVER_ARRIVED, B: NEVER_ARRIVED, C: standby()})
    with pytest.raises(errors.StandbyError, match=f"asked {A}, {B}, {C}"):
        run_group(namenodes, NamenodeGroup(GROUP), window=3.0)
    assert namenodes.asked[:3] == [A, B, C]


def test_window_zero_is_one_pass_over_the_group() -> None:
    namenodes = FakeGroup({A: NEVER_ARRIVED, B: NEVER_ARRIVED, C: NEVER_ARRIVED})
    with pytest.raises(UnreachableError, match="asked"):
        run_group(namenodes, NamenodeGroup(GROUP), window=0.0)
    assert namenodes.asked == [A, B, C]
    namenodes = FakeGroup({A: NEVER_ARRIVED, B: standby(C), C: "ok"})
    assert run_group(namenodes, NamenodeGroup(GROUP), window=0.0)[0] == "ok"


def test_a_lost_answer_is_not_sent_to_another_namenode_unless_that_is_safe() -> None:
    namenodes = FakeGroup({A: IN_DOUBT, B: "ok", C: "ok"})
    t = FakeTime()
    with pytest.raises(ConnectionLostError):
        failing_over(
            namenodes,
            NamenodeGroup(GROUP),
            RetryPolicy(60),
            Replay.IF_NOT_RECEIVED,
            clock=t.clock,
            sleep=t.sleep,
        )
    assert namenodes.asked == [A]
