"""What the checker asks of a model: the sequential specification of the object under test.

A model's states must be hashable and never mutated: the search memoises
(operations linearized so far, state) pairs and backtracks to earlier states freely.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from typing import Any, Final, Generic, TypeVar, final

from tests.lincheck.history import Operation

S = TypeVar("S", bound=Hashable)


@final
class _UnknownResult:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN_RESULT"


UNKNOWN_RESULT: Final = _UnknownResult()
"""The `result` a model's `step` is given for an operation whose answer nobody saw: any
answer the operation could give in that state is allowed."""


class Model(ABC, Generic[S]):
    @abstractmethod
    def init(self) -> S:
        """The state before any operation."""

    @abstractmethod
    def step(self, state: S, op: str, args: tuple[Any, ...], result: Any) -> tuple[bool, S]:
        """Whether `op(*args)` may answer `result` when applied in `state`, and if so the
        state after it. `result` may be UNKNOWN_RESULT (see there)."""

    def partition(self, history: Sequence[Operation]) -> list[list[Operation]]:
        """Split a history into parts that are linearizable together exactly when each is
        linearizable alone (P-compositionality: e.g. one part per key of a key-value store).
        The default keeps the history whole."""
        return [list(history)]

    def is_read_only(self, op: str) -> bool:
        """True when `op` never changes the state: such an operation left without an answer
        constrains nothing and is dropped before the search."""
        return False

    def commutes(self, op1: str, args1: tuple[Any, ...], op2: str, args2: tuple[Any, ...]) -> bool:
        """True only if, from every state, the two operations applied in either order reach
        the same state and each gives the same answer (e.g. writes to different keys). The
        search then need not try an unanswered operation where it commutes with everything
        that could go next. The default, False, is always safe."""
        return False

    def describe_state(self, state: S) -> str:
        return repr(state)


class DeterministicModel(Model[S]):
    """A model whose every operation has exactly one answer and one next state in each
    state. `apply` is then enough to check (`step`), to explain a failure ("the model
    answers X here"), and to simulate a correct server in tests."""

    @abstractmethod
    def apply(self, state: S, op: str, args: tuple[Any, ...]) -> tuple[Any, S]:
        """The answer of `op(*args)` in `state`, and the state after it."""

    def same_answer(self, op: str, observed: Any, expected: Any) -> bool:
        """Whether a recorded answer equals the model's (override to compare, say, a list
        with a tuple)."""
        return bool(observed == expected)

    def step(self, state: S, op: str, args: tuple[Any, ...], result: Any) -> tuple[bool, S]:
        expected, after = self.apply(state, op, args)
        if result is UNKNOWN_RESULT or self.same_answer(op, result, expected):
            return True, after
        return False, state
