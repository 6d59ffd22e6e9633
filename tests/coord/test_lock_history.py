"""The lock model for the linearizability checker (tests/lincheck/locks.py): it accepts
what a correct lock service may answer, rejects two holders at once and a token that does
not grow, and accepts every history the real machine produces."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from coord.machine import CoordMachine
from raft.machine import Request
from tests.lincheck import Operation, Verdict, check
from tests.lincheck.locks import LockModel

Op = Operation
LOCKS = LockModel()


def verdict(history: list[Operation]) -> Verdict:
    return check(LOCKS, history, timeout=10.0).verdict


def test_a_lock_passed_on_through_a_release_is_linearizable() -> None:
    history = [
        Op("a", 0, 1, "acquire", ("L", "a"), 5),
        Op("b", 2, 3, "acquire", ("L", "b"), None),
        Op("a", 4, 5, "acquire", ("L", "a"), 5),  # asking again: the same token
        Op("a", 6, 7, "release", ("L", "a"), True),
        Op("b", 8, 9, "release", ("L", "b"), False),
        Op("b", 10, 11, "acquire", ("L", "b"), 9),
        Op("c", 12, 13, "status", ("L",), "b"),
        Op("c", 12, 13, "status", ("M",), None),
    ]
    assert verdict(history) is Verdict.LINEARIZABLE


def test_overlapping_calls_may_take_effect_in_either_order() -> None:
    history = [
        Op("a", 0, 10, "acquire", ("L", "a"), 5),
        Op("b", 1, 2, "acquire", ("L", "b"), None),  # a's grant took effect before it
        Op("c", 3, 4, "status", ("L",), "a"),
        Op("d", 5, None, "acquire", ("L", "d")),  # no answer: refused or never applied
        Op("a", 11, 12, "release", ("L", "a"), True),
    ]
    assert verdict(history) is Verdict.LINEARIZABLE


def test_a_grant_whose_answer_was_lost_still_holds_the_lock() -> None:
    history = [
        Op("a", 0, None, "acquire", ("L", "a")),
        Op("b", 1, 2, "acquire", ("L", "b"), None),
        Op("c", 3, 4, "status", ("L",), "a"),
        Op("a", 5, 6, "release", ("L", "a"), True),
        Op("b", 7, 8, "acquire", ("L", "b"), 3),  # the unknown token was lower, or not
    ]
    assert verdict(history) is Verdict.LINEARIZABLE


def test_two_grants_overlapping_are_rejected_and_explained() -> None:
    history = [
        Op("a", 0, 1, "acquire", ("L", "a"), 5),
        Op("b", 2, 3, "acquire", ("L", "b"), 7),  # granted while a holds it
        Op("a", 4, 5, "release", ("L", "a"), True),
    ]
    result = check(LOCKS, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert "held by a with token 5" in result.explain()


def test_a_token_that_does_not_grow_is_rejected() -> None:
    history = [
        Op("a", 0, 1, "acquire", ("L", "a"), 5),
        Op("a", 2, 3, "release", ("L", "a"), True),
        Op("b", 4, 5, "acquire", ("L", "b"), 5),
    ]
    assert verdict(history) is Verdict.NOT_LINEARIZABLE


def test_a_stale_status_is_rejected() -> None:
    history = [
        Op("a", 0, 1, "acquire", ("L", "a"), 5),
        Op("a", 2, 3, "release", ("L", "a"), True),
        Op("c", 4, 5, "status", ("L",), "a"),
    ]
    assert verdict(history) is Verdict.NOT_LINEARIZABLE


# --- what the machine answers ------------------------------------------------------------

ops = st.tuples(
    st.sampled_from(["acquire", "release", "status"]),
    st.sampled_from(["L", "M"]),
    st.integers(0, 2),  # which session
    st.integers(0, 3),  # how long before its effect it was called
    st.integers(0, 3),  # how long after its effect it returned; 3: never
)


def answer(machine: CoordMachine, index: int, op: str, lock: str, session: str) -> Any:
    if op == "status":
        holders = machine.lock_status(lock)[0].holders
        return holders[0].session if holders else None
    command: dict[str, Any] = {"op": op, "session": session, "lock": lock}
    if op == "acquire":
        command |= {"mode": "exclusive", "wait": False}
    outcome = machine.apply(index, Request(command, session, index))
    if op == "release":
        return "ok" in outcome
    return outcome["ok"]["token"] if "ok" in outcome else None


@settings(max_examples=150, deadline=None)
@given(st.lists(ops, max_size=30))
def test_every_history_of_the_machine_is_linearizable(steps: list[tuple[Any, ...]]) -> None:
    """Operations take effect one after another on the machine, at times 10, 20, ...;
    each was called a little before its effect and returned a little after (or never),
    so they overlap as a concurrent workload's do."""
    machine = CoordMachine()
    opened = [machine.apply(i, Request({"op": "open", "ttl_ms": 1_000, "owner": ""}))
              for i in (1, 2, 3)]  # fmt: skip
    ids = [outcome["ok"]["session"] for outcome in opened]
    history = []
    for n, (op, lock, who, before, after) in enumerate(steps, 1):
        effect = 10 * n
        result = answer(machine, 3 + n, op, lock, ids[who])
        args = (lock,) if op == "status" else (lock, ids[who])
        ret = None if after == 3 else effect + after * 4
        history.append(Op(ids[who], effect - before * 4, ret, op, args, result))
    result = check(LOCKS, history, timeout=10.0)
    assert result.ok, result.explain()
