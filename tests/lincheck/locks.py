"""Exclusive locks with fencing tokens, as clients of the lock service (coord) see them.

Operations, each on one lock by one session:

    acquire(lock, session)    the fencing token when granted (without waiting), None when
                              another session holds the lock. A holder asking again gets
                              its own token again. A new grant's token is greater than
                              every token the lock granted before: its exact value (a log
                              index) is not the model's to predict, only that it grows.
    release(lock, session)    True when `session` held the lock (it is free after), False
                              when it did not.
    status(lock)              the holding session, or None.

Not deterministic (a new token may be any greater number), so it is a `Model` stepping
with the recorded answer. Locks are independent: the history is checked one lock at a
time. A grant whose answer was lost leaves its token unknown until the holder asks again;
later tokens are checked against the last one known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tests.lincheck.history import Operation
from tests.lincheck.model import UNKNOWN_RESULT, Model

# (holder or None, the holder's token or the last granted, whether that token is known:
# a grant whose answer was lost took some greater token, learnt only if the holder asks
# again)
LockState = tuple[str | None, int, bool]


class LockModel(Model[LockState]):
    def init(self) -> LockState:
        return (None, 0, True)

    def step(
        self, state: LockState, op: str, args: tuple[Any, ...], result: Any
    ) -> tuple[bool, LockState]:
        holder, token, known = state
        unknown = result is UNKNOWN_RESULT
        match op, args:
            case "acquire", (_, session):
                if holder is not None and holder != session:
                    return unknown or result is None, state
                if unknown:
                    return True, (session, token, known and holder == session)
                if holder == session and known:
                    return result == token, state
                # A new grant, or the first answer to tell the holder its token: greater
                # than every token granted before.
                ok = type(result) is int and result > token
                return ok, ((session, result, True) if ok else state)
            case "release", (_, session):
                if holder == session:
                    return unknown or result is True, (None, token, True)
                return unknown or result is False, state
            case "status", (_,):
                return unknown or result == holder, state
        raise ValueError(f"not a lock operation: {op}{args!r}")

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        by_lock: dict[Any, list[Operation]] = {}
        for o in history:
            by_lock.setdefault(o.args[0], []).append(o)
        return list(by_lock.values())

    def is_read_only(self, op: str) -> bool:
        return op == "status"

    def commutes(self, op1: str, args1: tuple[Any, ...], op2: str, args2: tuple[Any, ...]) -> bool:
        return args1[0] != args2[0] or op1 == op2 == "status"

    def describe_state(self, state: LockState) -> str:
        holder, token, known = state
        if holder is None:
            return f"free (last token {token})"
        return f"held by {holder} with token {token if known else f'> {token}'}"
