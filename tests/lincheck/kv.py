"""A key-value store of registers: the simplest model, mostly for testing the checker.

    get(key)                  -> the value, or None when never put
    put(key, value)           -> None
    cas(key, expected, new)   -> True (and the value becomes `new`) when the value is
                                 `expected`, else False

Operations on different keys commute, so the history is checked one key at a time.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from tests.lincheck.history import Operation
from tests.lincheck.model import DeterministicModel

# The values of the keys ever put, as (key, value) pairs; a frozenset hashes once.
KVState = frozenset[tuple[Hashable, Hashable]]


def _get(state: KVState, key: Hashable) -> Hashable:
    for k, v in state:
        if k == key:
            return v
    return None


def _put(state: KVState, key: Hashable, value: Hashable) -> KVState:
    return frozenset({(k, v) for k, v in state if k != key} | {(key, value)})


class KeyValueModel(DeterministicModel[KVState]):
    def init(self) -> KVState:
        return frozenset()

    def apply(self, state: KVState, op: str, args: tuple[Any, ...]) -> tuple[Any, KVState]:
        match op, args:
            case "get", (key,):
                return _get(state, key), state
            case "put", (key, value):
                return None, _put(state, key, value)
            case "cas", (key, expected, new):
                if _get(state, key) == expected:
                    return True, _put(state, key, new)
                return False, state
        raise ValueError(f"not a key-value operation: {op}{args!r}")

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        by_key: dict[Hashable, list[Operation]] = {}
        for o in history:
            by_key.setdefault(o.args[0], []).append(o)
        return list(by_key.values())

    def is_read_only(self, op: str) -> bool:
        return op == "get"

    def commutes(self, op1: str, args1: tuple[Any, ...], op2: str, args2: tuple[Any, ...]) -> bool:
        return args1[0] != args2[0] or op1 == op2 == "get"

    def describe_state(self, state: KVState) -> str:
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in sorted(state, key=repr)) + "}"
