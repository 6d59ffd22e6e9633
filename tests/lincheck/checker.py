"""Is a recorded history linearizable against a model? Wing & Gong's search with Lowe's
memoisation, the algorithm Porcupine runs.

The history becomes a list of events (each operation's call and, if it answered, its
return) in time order; at equal times calls come first, so operations that merely touch
are concurrent and the checker errs towards acceptance. The search repeatedly takes an
operation whose call precedes every remaining return ("minimal"), steps the model with it
and, if the model accepts its answer, removes its two events from the list and goes on;
meeting a return means that operation could not be placed in time, so it backtracks. A
set of (operations linearized, model state) pairs already explored cuts the search from
factorial to, in practice, near linear: two orders that reach the same state with the same
operations done have the same future.

Operations without an answer have no return event: they may take effect anywhere after
their call or never, so the search succeeds once every answered operation is placed.
Refused operations, and unanswered ones that only read, are dropped before the search.

The search is exponential in the worst case (many long overlapping operations), so the
model may split the history (`Model.partition`) and a budget of time and steps turns a
search that runs too long into Verdict.UNKNOWN instead of a hang.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from tests.lincheck.history import Operation, Outcome
from tests.lincheck.model import UNKNOWN_RESULT, DeterministicModel, Model

# How often (in search steps) the clock is read; reading it every step would cost more
# than the step.
_CLOCK_EVERY = 1024
# How many operations of the longest prefix a report shows, counting back from its end.
_PREFIX_SHOWN = 25


class Verdict(Enum):
    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not linearizable"
    UNKNOWN = "unknown"
    """The budget ran out before the search could decide."""


@dataclass(frozen=True)
class PartResult:
    """The search over one part of a partitioned history.

    `linearization` is a complete order of the part's operations when it is linearizable
    (answered ones all, unanswered ones that took effect in that order); otherwise the
    longest linearizable prefix the search found, `state` the model's state after it,
    `blocked` the operation whose return came while it was still unplaced, and
    `candidates` every operation that could have come next (each was tried).
    """

    verdict: Verdict
    operations: tuple[Operation, ...]
    linearization: tuple[Operation, ...]
    state: Any
    blocked: Operation | None = None
    candidates: tuple[Operation, ...] = ()
    steps: int = 0


@dataclass(frozen=True)
class CheckResult:
    verdict: Verdict
    parts: tuple[PartResult, ...]
    history: tuple[Operation, ...]
    steps: int
    seconds: float
    model: Model[Any] = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.LINEARIZABLE

    def explain(self) -> str:
        """A report for a failing test: the verdict, and for the first part that is not
        linearizable (or undecided) the longest prefix found and what could not follow."""
        unknown = sum(o.outcome is Outcome.UNKNOWN for o in self.history)
        refused = sum(o.outcome is Outcome.FAIL for o in self.history)
        head = (
            f"{self.verdict.value}: {len(self.history)} operations ({unknown} unanswered, "
            f"{refused} refused) in {len(self.parts)} parts; {self.steps} search steps, "
            f"{self.seconds:.3f}s"
        )
        if self.ok:
            return head
        bad = [(i, p) for i, p in enumerate(self.parts) if p.verdict is not Verdict.LINEARIZABLE]
        if not bad:
            return head
        index, part = next(((i, p) for i, p in bad if p.verdict is self.verdict), bad[0])
        origin = min((o.call for o in self.history), default=0.0)
        return "\n".join(
            [
                head,
                f"part {index + 1} ({part.verdict.value}, {len(part.operations)} operations):",
                *_explain_part(self.model, part, origin),
            ]
        )

    def __str__(self) -> str:
        return self.explain()


def check(
    model: Model[Any],
    history: Sequence[Operation],
    *,
    timeout: float | None = 60.0,
    max_steps: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> CheckResult:
    """Check `history` against `model`. Past `timeout` seconds of `clock`, or `max_steps`
    search steps over all parts, the verdict is UNKNOWN (unless a part has already been
    found not linearizable, which is final)."""
    start = clock()
    deadline = math.inf if timeout is None else start + timeout
    budget = _Budget(clock, deadline, math.inf if max_steps is None else max_steps)
    parts: list[PartResult] = []
    for part in model.partition(history):
        result = _search(model, part, budget)
        parts.append(result)
        if result.verdict is Verdict.NOT_LINEARIZABLE:
            break
    verdicts = {p.verdict for p in parts}
    if Verdict.NOT_LINEARIZABLE in verdicts:
        verdict = Verdict.NOT_LINEARIZABLE
    elif Verdict.UNKNOWN in verdicts:
        verdict = Verdict.UNKNOWN
    else:
        verdict = Verdict.LINEARIZABLE
    return CheckResult(verdict, tuple(parts), tuple(history), budget.used, clock() - start, model)


@dataclass
class _Budget:
    clock: Callable[[], float]
    deadline: float
    max_steps: float
    used: int = 0

    def steps_left(self) -> float:
        return self.max_steps - self.used

    def out_of_time(self) -> bool:
        return self.clock() >= self.deadline


def _constrains(model: Model[Any], op: Operation) -> bool:
    if op.outcome is Outcome.FAIL:
        return False
    return op.outcome is Outcome.OK or not model.is_read_only(op.op)


def _search(model: Model[Any], part: Sequence[Operation], budget: _Budget) -> PartResult:
    ops = tuple(o for o in part if _constrains(model, o))
    nxt, prv, op_at, is_return, ret_of = _event_list(ops)

    step = model.step
    names = [o.op for o in ops]
    argss = [o.args for o in ops]
    results = [o.result if o.outcome is Outcome.OK else UNKNOWN_RESULT for o in ops]
    required = [1 if o.outcome is Outcome.OK else 0 for o in ops]
    bits = [1 << i for i in range(len(ops))]

    remaining = sum(required)
    state: Hashable = model.init()
    linearized = 0
    seen: set[tuple[int, Hashable]] = set()
    stack: list[tuple[int, Hashable, int]] = []  # (call position, state before, set before)
    best = _Frontier(-1, (), state, -1, ())
    limit = budget.steps_left()
    steps = 0
    entry = nxt[0]
    while remaining:
        steps += 1
        if steps >= limit or (steps % _CLOCK_EVERY == 0 and budget.out_of_time()):
            budget.used += steps
            return best.result(Verdict.UNKNOWN, ops, steps)
        if not is_return[entry]:
            i = op_at[entry]
            accepted, after = step(state, names[i], argss[i], results[i])
            if accepted:
                key = (linearized | bits[i], after)
                if key not in seen:
                    seen.add(key)
                    stack.append((entry, state, linearized))
                    state, linearized = after, key[0]
                    remaining -= required[i]
                    a, b = prv[entry], nxt[entry]
                    nxt[a], prv[b] = b, a
                    r = ret_of[entry]
                    if r >= 0:
                        a, b = prv[r], nxt[r]
                        nxt[a], prv[b] = b, a
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        # A return: its operation found no place before it under this prefix.
        if len(stack) > best.depth:
            best = _Frontier.at(stack, state, entry, nxt, op_at, is_return)
        if not stack:
            budget.used += steps
            return best.result(Verdict.NOT_LINEARIZABLE, ops, steps)
        entry, state, linearized = stack.pop()
        remaining += required[op_at[entry]]
        r = ret_of[entry]
        if r >= 0:
            nxt[prv[r]] = r
            prv[nxt[r]] = r
        nxt[prv[entry]] = entry
        prv[nxt[entry]] = entry
        entry = nxt[entry]
    budget.used += steps
    order = tuple(ops[op_at[p]] for p, _, _ in stack)
    return PartResult(Verdict.LINEARIZABLE, ops, order, state, steps=steps)


def _event_list(
    ops: Sequence[Operation],
) -> tuple[list[int], list[int], list[int], list[bool], list[int]]:
    """The operations' events in time order as a doubly linked list over positions 0 (head)
    to len(events) + 1 (tail), so that an operation's two events are taken out and put back
    in O(1) (Knuth's dancing links). Returns the next and previous links, the operation at
    each position, which positions are returns, and each call's return position (-1 for
    none)."""
    events: list[tuple[float, int, int]] = []  # (time, 0 for a call | 1 for a return, op)
    for i, o in enumerate(ops):
        events.append((o.call, 0, i))
        if o.outcome is Outcome.OK:
            assert o.ret is not None
            events.append((o.ret, 1, i))
    events.sort()
    tail = len(events) + 1
    nxt = [*range(1, tail + 1), tail]
    prv = [0, *range(tail)]
    op_at = [-1] * (tail + 1)
    is_return = [False] * (tail + 1)
    return_at = [-1] * len(ops)
    for pos, (_, kind, i) in enumerate(events, start=1):
        op_at[pos] = i
        if kind:
            is_return[pos] = True
            return_at[i] = pos
    ret_of = [-1] * (tail + 1)
    for pos in range(1, tail):
        if not is_return[pos]:
            ret_of[pos] = return_at[op_at[pos]]
    return nxt, prv, op_at, is_return, ret_of


@dataclass(frozen=True)
class _Frontier:
    """Where the deepest partial linearization got stuck, in positions and op indices."""

    depth: int
    order: tuple[int, ...]
    state: Hashable
    blocked: int
    candidates: tuple[int, ...]

    @classmethod
    def at(
        cls,
        stack: list[tuple[int, Hashable, int]],
        state: Hashable,
        blocked_pos: int,
        nxt: list[int],
        op_at: list[int],
        is_return: list[bool],
    ) -> _Frontier:
        candidates = []
        pos = nxt[0]
        while pos != blocked_pos:
            if not is_return[pos]:
                candidates.append(op_at[pos])
            pos = nxt[pos]
        order = tuple(op_at[p] for p, _, _ in stack)
        return cls(len(stack), order, state, op_at[blocked_pos], tuple(candidates))

    def result(self, verdict: Verdict, ops: tuple[Operation, ...], steps: int) -> PartResult:
        return PartResult(
            verdict,
            ops,
            tuple(ops[i] for i in self.order),
            self.state,
            ops[self.blocked] if self.blocked >= 0 else None,
            tuple(ops[i] for i in self.candidates),
            steps,
        )


def _explain_part(model: Model[Any], part: PartResult, origin: float) -> list[str]:
    lines: list[str] = []
    prefix = part.linearization
    lines.append(f"  longest linearizable prefix found: {len(prefix)} operations, in order")
    if len(prefix) > _PREFIX_SHOWN:
        lines.append(f"    ... {len(prefix) - _PREFIX_SHOWN} earlier operations")
    start = max(0, len(prefix) - _PREFIX_SHOWN)
    lines += [f"    {n:4}. {o.describe(origin)}" for n, o in enumerate(prefix[start:], start + 1)]
    lines.append(f"  model state after it: {model.describe_state(part.state)}")
    if part.blocked is not None:
        lines.append("  had to be placed next, but no order allows it:")
        lines.append(f"    {part.blocked.describe(origin)}{_expected(model, part, part.blocked)}")
    others = [o for o in part.candidates if o is not part.blocked]
    if others:
        lines.append("  other operations that could have come next (each tried):")
        lines += [f"    {o.describe(origin)}{_expected(model, part, o)}" for o in others]
    return lines


def _expected(model: Model[Any], part: PartResult, op: Operation) -> str:
    if not isinstance(model, DeterministicModel):
        return ""
    answer, _ = model.apply(part.state, op.op, op.args)
    return f"   [the model answers {answer!r} here]"
