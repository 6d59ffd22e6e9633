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

import itertools
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
    return _Search(model, tuple(o for o in part if _constrains(model, o)), budget).run()


# Positions of the two lists' sentinels, relative to the number of events `m`: the events
# are 1..m in time order, the answered list runs from 0 to m + 1 and the unanswered list
# from m + 2 to m + 3 (a position greater than any return's).
_HEAD = 0


class _Search:
    """The search over one part. Answered operations' calls and returns are linked in one
    list in time order, unanswered operations' calls in another, so that either is taken out
    and put back in O(1) (Knuth's dancing links). An unanswered call may go next exactly when
    it comes before the first remaining return; the answered candidates are tried first, so
    an operation that never took effect is rarely placed only to be taken back."""

    def __init__(self, model: Model[Any], ops: tuple[Operation, ...], budget: _Budget) -> None:
        self.model, self.ops, self.budget = model, ops, budget
        events: list[tuple[float, int, int]] = []  # (time, 0 for a call | 1 for a return, op)
        for i, o in enumerate(ops):
            events.append((o.call, 0, i))
            if o.outcome is Outcome.OK:
                assert o.ret is not None
                events.append((o.ret, 1, i))
        events.sort()
        m = len(events)
        self.maybe_head = m + 2
        self.op_at = [-1] * (m + 4)
        self.is_return = [False] * (m + 4)
        self.ret_of = [-1] * (m + 4)  # a call's return position; -1 for none
        call_at = [-1] * len(ops)
        answered: list[int] = []
        unanswered: list[int] = []
        for pos, (_, kind, i) in enumerate(events, start=1):  # a call before its return
            self.op_at[pos] = i
            self.is_return[pos] = bool(kind)
            if kind:
                self.ret_of[call_at[i]] = pos
            else:
                call_at[i] = pos
            (answered if ops[i].outcome is Outcome.OK else unanswered).append(pos)
        self.nxt = [-1] * (m + 4)
        self.prv = [-1] * (m + 4)
        for chain in ([_HEAD, *answered, m + 1], [m + 2, *unanswered, m + 3]):
            for a, b in itertools.pairwise(chain):
                self.nxt[a], self.prv[b] = b, a

        self.required = [1 if o.outcome is Outcome.OK else 0 for o in ops]
        self.results = [o.result if o.outcome is Outcome.OK else UNKNOWN_RESULT for o in ops]
        self.remaining = sum(self.required)
        self.state: Hashable = model.init()
        self.linearized = 0  # a bitset of the operations placed
        self.seen: set[tuple[int, Hashable]] = set()
        # (call position, state and bitset before it, and if unanswered the first return
        # then and the calls worth trying)
        self.stack: list[tuple[int, Hashable, int, int, frozenset[int] | None]] = []
        self.uses_commutes = type(model).commutes is not Model.commutes
        self.conflicts: dict[tuple[int, int], bool] = {}
        self.best = _Frontier(-1, (), self.state, -1, ())
        self.steps = 0

    def run(self) -> PartResult:
        nxt, is_return = self.nxt, self.is_return
        limit, budget = self.budget.steps_left(), self.budget
        entry, bound = nxt[_HEAD], 0  # bound 0: scanning answered operations
        worth: frozenset[int] | None = None  # the unanswered calls worth trying, None for all
        while self.remaining:
            self.steps += 1
            if self.steps >= limit or (self.steps % _CLOCK_EVERY == 0 and budget.out_of_time()):
                return self._finish(Verdict.UNKNOWN)
            if bound == 0:
                if not is_return[entry]:
                    entry = nxt[_HEAD] if self._place(entry, 0, None) else nxt[entry]
                else:  # the unanswered operations called before this return may go next
                    bound, entry = entry, nxt[self.maybe_head]
                    worth = self._worth_trying(bound)
            elif entry < bound:
                if (worth is None or entry in worth) and self._place(entry, bound, worth):
                    entry, bound = nxt[_HEAD], 0
                else:
                    entry = nxt[entry]
            else:  # no candidate leads anywhere: the operation returning at `bound` is stuck
                if len(self.stack) > self.best.depth:
                    self.best = self._frontier(bound)
                if not self.stack:
                    return self._finish(Verdict.NOT_LINEARIZABLE)
                entry, bound, worth = self._undo()
        return self._finish(Verdict.LINEARIZABLE)

    def _place(self, entry: int, bound: int, worth: frozenset[int] | None) -> bool:
        i = self.op_at[entry]
        o = self.ops[i]
        accepted, after = self.model.step(self.state, o.op, o.args, self.results[i])
        if not accepted:
            return False
        # An unanswered operation that changes nothing here is the same as one that never
        # took effect, which the search also tries.
        if not self.required[i] and after == self.state:
            return False
        key = (self.linearized | (1 << i), after)
        if key in self.seen:
            return False
        self.seen.add(key)
        self.stack.append((entry, self.state, self.linearized, bound, worth))
        self.state, self.linearized = after, key[0]
        self.remaining -= self.required[i]
        nxt, prv = self.nxt, self.prv
        for pos in (entry, self.ret_of[entry]):
            if pos >= 0:
                nxt[prv[pos]], prv[nxt[pos]] = nxt[pos], prv[pos]
        return True

    def _undo(self) -> tuple[int, int, frozenset[int] | None]:
        """Take back the last placement; where to go on scanning, and in which list."""
        entry, self.state, self.linearized, bound, worth = self.stack.pop()
        self.remaining += self.required[self.op_at[entry]]
        nxt, prv = self.nxt, self.prv
        for pos in (self.ret_of[entry], entry):  # the reverse of taking them out
            if pos >= 0:
                nxt[prv[pos]] = prv[nxt[pos]] = pos
        return nxt[entry], bound, worth

    def _worth_trying(self, bound: int) -> frozenset[int] | None:
        """The unanswered calls before `bound` that may have to go before every answered
        candidate: those that fail to commute with one, or with one of these, and so on.
        If a way on starts with unanswered operations, those outside this set commute with
        everything in it and with the first answered operation placed, so moving them after
        that operation gives a way on that starts with an answered candidate (all of which
        were tried) or with a member of this set."""
        if not self.uses_commutes:
            return None
        answered: list[int] = []
        unanswered: list[int] = []
        for head, into in ((_HEAD, answered), (self.maybe_head, unanswered)):
            pos = self.nxt[head]
            while pos < bound:
                if not self.is_return[pos]:
                    into.append(pos)
                pos = self.nxt[pos]
        worth: set[int] = set()
        frontier = answered
        while frontier and unanswered:
            frontier = [u for u in unanswered if any(self._conflict(u, x) for x in frontier)]
            worth.update(frontier)
            unanswered = [u for u in unanswered if u not in worth]
        return frozenset(worth)

    def _conflict(self, a: int, b: int) -> bool:
        key = (a, b) if a < b else (b, a)
        known = self.conflicts.get(key)
        if known is None:
            x, y = self.ops[self.op_at[a]], self.ops[self.op_at[b]]
            known = self.conflicts[key] = not self.model.commutes(x.op, x.args, y.op, y.args)
        return known

    def _frontier(self, bound: int) -> _Frontier:
        candidates = []
        for head in (_HEAD, self.maybe_head):
            pos = self.nxt[head]
            while pos < bound:
                if not self.is_return[pos]:
                    candidates.append(self.op_at[pos])
                pos = self.nxt[pos]
        order = tuple(self.op_at[p] for p, *_ in self.stack)
        return _Frontier(
            len(self.stack), order, self.state, self.op_at[bound], tuple(sorted(candidates))
        )

    def _finish(self, verdict: Verdict) -> PartResult:
        self.budget.used += self.steps
        if verdict is not Verdict.LINEARIZABLE:
            return self.best.result(verdict, self.ops, self.steps)
        order = tuple(self.ops[self.op_at[p]] for p, *_ in self.stack)
        return PartResult(verdict, self.ops, order, self.state, steps=self.steps)


@dataclass(frozen=True)
class _Frontier:
    """Where the deepest partial linearization got stuck, as operation indices."""

    depth: int
    order: tuple[int, ...]
    state: Hashable
    blocked: int
    candidates: tuple[int, ...]

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
        blocked = part.blocked
        lines.append(f"    {blocked.describe(origin, whole=True)}{_expected(model, part, blocked)}")
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
