"""The linearizability checker (tests.lincheck) and its models.

Hand-made histories pin down what must be accepted and rejected; Hypothesis then checks
that a simulated correct server's histories are always accepted, that a read no order can
explain is always rejected, and that on small histories the checker agrees exactly with
a brute-force search over every order.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.lincheck import (
    UNKNOWN_RESULT,
    DeterministicModel,
    HistoryRecorder,
    KeyValueModel,
    Model,
    NamespaceModel,
    Operation,
    Outcome,
    Verdict,
    check,
)

Op = Operation
KV = KeyValueModel()


def verdict(model: Model[Any], history: Sequence[Operation]) -> Verdict:
    return check(model, history, timeout=10.0).verdict


# --- registers: what is accepted -------------------------------------------------------


def test_a_sequential_history_is_linearizable() -> None:
    history = [
        Op(1, 0, 1, "put", ("x", 1)),
        Op(2, 2, 3, "get", ("x",), 1),
        Op(1, 4, 5, "cas", ("x", 1, 2), True),
        Op(2, 6, 7, "cas", ("x", 1, 3), False),
        Op(3, 8, 9, "get", ("x",), 2),
    ]
    result = check(KV, history)
    assert result.ok, result.explain()
    assert [o.op for o in result.parts[0].linearization] == ["put", "get", "cas", "cas", "get"]


def test_overlapping_operations_may_take_effect_in_any_order_that_explains_them() -> None:
    # Reads overlapping two writes see them land in the order 2 then 1.
    history = [
        Op(1, 0, 10, "put", ("x", 1)),
        Op(2, 1, 9, "put", ("x", 2)),
        Op(3, 2, 3, "get", ("x",), 2),
        Op(3, 4, 5, "get", ("x",), 1),
        Op(4, 11, 12, "get", ("x",), 1),
    ]
    assert verdict(KV, history) is Verdict.LINEARIZABLE


def test_operations_that_only_touch_are_concurrent() -> None:
    # The read is called the instant the write returns: either order is allowed.
    history = [Op(1, 0, 1, "put", ("x", 1)), Op(2, 1, 2, "get", ("x",), None)]
    assert verdict(KV, history) is Verdict.LINEARIZABLE


# --- registers: what is rejected -------------------------------------------------------


def test_a_planted_stale_read_is_rejected_and_explained() -> None:
    history = [
        Op(1, 0, 1, "put", ("x", 1)),
        Op(1, 2, 3, "put", ("x", 2)),
        Op(2, 4, 5, "get", ("x",), 2),
        Op(3, 6, 7, "get", ("x",), 1),  # stale: 2 was acknowledged before this read began
    ]
    result = check(KV, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    part = result.parts[0]
    assert part.blocked == history[3]
    assert list(part.linearization) == history[:3]
    report = result.explain()
    assert "get('x') -> 1" in report
    assert "the model answers 2 here" in report


def test_a_lost_acknowledged_write_is_rejected() -> None:
    history = [Op(1, 0, 1, "put", ("x", 1)), Op(2, 2, 3, "get", ("x",), None)]
    assert verdict(KV, history) is Verdict.NOT_LINEARIZABLE


def test_a_read_of_a_write_from_the_future_is_rejected() -> None:
    history = [Op(2, 0, 1, "get", ("x",), 1), Op(1, 2, 3, "put", ("x", 1))]
    assert verdict(KV, history) is Verdict.NOT_LINEARIZABLE


def test_readers_must_agree_on_one_order_of_concurrent_writes() -> None:
    history = [
        Op(1, 0, 10, "put", ("x", 1)),
        Op(2, 0, 10, "put", ("x", 2)),
        Op(3, 1, 2, "get", ("x",), 1),
        Op(3, 3, 4, "get", ("x",), 2),
        Op(4, 1, 2, "get", ("x",), 2),
        Op(4, 3, 4, "get", ("x",), 1),
    ]
    assert verdict(KV, history) is Verdict.NOT_LINEARIZABLE


def test_a_stale_read_on_one_key_is_found_among_many_keys() -> None:
    history = [Op(k, 0, 1, "put", (k, k)) for k in range(20)]
    history += [Op(k, 2, 3, "get", (k,), k) for k in range(20)]
    history[-7] = Op(13, 2, 3, "get", (13,), None)
    result = check(KV, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.parts[-1].blocked == history[-7]


# --- operations without an answer, and refusals ----------------------------------------


def test_an_unanswered_write_seen_later_took_effect() -> None:
    history = [
        Op(1, 0, None, "put", ("x", 1)),
        Op(2, 1, 2, "get", ("x",), None),
        Op(2, 50, 51, "get", ("x",), 1),  # long after the client gave up
    ]
    assert history[0].outcome is Outcome.UNKNOWN
    assert verdict(KV, history) is Verdict.LINEARIZABLE


def test_an_unanswered_write_never_seen_is_accepted() -> None:
    history = [
        Op(1, 0, None, "put", ("x", 1)),
        Op(2, 1, 2, "get", ("x",), None),
        Op(2, 50, 51, "get", ("x",), None),
    ]
    assert verdict(KV, history) is Verdict.LINEARIZABLE


def test_an_unanswered_write_takes_effect_after_its_call_and_at_most_once() -> None:
    before_call = [Op(2, 0, 1, "get", ("x",), 1), Op(1, 2, None, "put", ("x", 1))]
    twice = [
        Op(1, 0, None, "put", ("x", 1)),
        Op(2, 1, 2, "get", ("x",), 1),
        Op(3, 3, 4, "put", ("x", 2)),
        Op(2, 5, 6, "get", ("x",), 1),
    ]
    assert verdict(KV, before_call) is Verdict.NOT_LINEARIZABLE
    assert verdict(KV, twice) is Verdict.NOT_LINEARIZABLE


def test_a_refused_write_took_no_effect() -> None:
    refused = Op(1, 0, 1, "put", ("x", 1), None, Outcome.FAIL)
    assert verdict(KV, [refused, Op(2, 2, 3, "get", ("x",), None)]) is Verdict.LINEARIZABLE
    assert verdict(KV, [refused, Op(2, 2, 3, "get", ("x",), 1)]) is Verdict.NOT_LINEARIZABLE


def test_an_operation_cannot_return_before_it_is_called() -> None:
    with pytest.raises(ValueError, match="before its call"):
        Op(1, 2, 1, "get", ("x",), None)


# --- the budget ------------------------------------------------------------------------


def _exponential_history(writers: int = 40) -> list[Operation]:
    """Many overlapping writes, then a read of a value none wrote: refuting it means trying
    every subset of the writes in every order the memo cannot merge."""
    history = [Op(w, 0, 100, "put", ("x", w)) for w in range(writers)]
    history += [Op(w, 0, 100, "get", ("x",), w + 1) for w in range(writers // 2)]
    return [*history, Op("r", 200, 201, "get", ("x",), "never written")]


def test_a_step_budget_answers_unknown() -> None:
    result = check(KV, _exponential_history(), max_steps=20_000)
    assert result.verdict is Verdict.UNKNOWN
    assert result.steps == 20_000
    assert "unknown" in result.explain()


def test_a_time_budget_answers_unknown_without_hanging() -> None:
    ticks = itertools.count()
    result = check(KV, _exponential_history(), timeout=5, clock=lambda: float(next(ticks)))
    assert result.verdict is Verdict.UNKNOWN

    started = time.monotonic()
    assert check(KV, _exponential_history(), timeout=0.2).verdict is Verdict.UNKNOWN
    assert time.monotonic() - started < 5


# --- recording -------------------------------------------------------------------------


class Refused(Exception):
    pass


def test_the_recorder_keeps_answers_refusals_and_calls_left_without_answer() -> None:
    ticks = itertools.count()
    recorder = HistoryRecorder(clock=lambda: float(next(ticks)))
    kinds: dict[str, Any] = {"refused": (Refused,), "unknown": (TimeoutError,)}

    def raise_(exc: BaseException) -> Callable[[], Any]:
        def fn() -> Any:
            raise exc

        return fn

    recorder.invoke("a", "put", ("x", 1), lambda: None, **kinds)
    recorder.invoke("a", "put", ("x", 2), raise_(Refused()), **kinds)
    recorder.invoke("b", "put", ("x", 3), raise_(TimeoutError()), **kinds)
    with pytest.raises(KeyError):
        recorder.invoke("b", "get", ("x",), raise_(KeyError("adapter bug")), **kinds)
    history = recorder.history()
    assert [(o.call, o.ret, o.outcome) for o in history] == [
        (0.0, 1.0, Outcome.OK),
        (2.0, 3.0, Outcome.FAIL),
        (4.0, None, Outcome.UNKNOWN),
        (5.0, None, Outcome.UNKNOWN),
    ]
    assert verdict(KV, history) is Verdict.LINEARIZABLE


# --- a simulated correct server --------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One call a simulated client makes: when (after its previous call returned), for
    how long, at what fraction of that span it takes effect, and what the client learns."""

    client: int
    op: str
    args: tuple[Any, ...]
    delay: int
    duration: int
    point: float
    fate: str  # "ok", "lost" (applied, answer lost), "dropped" (never applied), "refused"


def simulate(model: DeterministicModel[Any], calls: Sequence[Call]) -> list[Operation]:
    """What a linearizable server records: each call takes effect atomically at one instant
    inside its span (a lost answer's call possibly later), or never for "dropped" and
    "refused". Integer times make ties, which count as overlaps, common."""
    clock: dict[int, int] = {}
    timed: list[tuple[float, int, Call, int, int]] = []
    for n, c in enumerate(calls):
        start = clock.get(c.client, 0) + c.delay
        end = start + c.duration
        clock[c.client] = end
        stretch = 3 if c.fate == "lost" else 0  # it may take effect after the client gave up
        timed.append((start + c.point * (c.duration + stretch), n, c, start, end))
    state = model.init()
    answers: dict[int, Any] = {}
    for _, n, c, _, _ in sorted(timed, key=lambda t: (t[0], t[1])):
        if c.fate in ("ok", "lost"):
            answers[n], state = model.apply(state, c.op, c.args)
    history = []
    for _, n, c, start, end in timed:
        if c.fate == "ok":
            history.append(Op(c.client, start, end, c.op, c.args, answers[n]))
        elif c.fate == "refused":
            history.append(Op(c.client, start, end, c.op, c.args, None, Outcome.FAIL))
        else:
            history.append(Op(c.client, start, None, c.op, c.args))
    return history


FATES = st.sampled_from(["ok"] * 6 + ["lost", "dropped", "refused"])


def calls(ops: st.SearchStrategy[tuple[str, tuple[Any, ...]]], clients: int) -> Any:
    return st.builds(
        lambda client, op, delay, duration, point, fate: Call(
            client, op[0], op[1], delay, duration, point, fate
        ),
        st.integers(0, clients - 1),
        ops,
        st.integers(0, 2),
        st.integers(0, 4),
        st.floats(0, 1),
        FATES,
    )


KEYS = st.sampled_from(["x", "y"])
VALUES = st.integers(0, 3)
KV_OPS = st.one_of(
    st.tuples(st.just("get"), st.tuples(KEYS)),
    st.tuples(st.just("put"), st.tuples(KEYS, VALUES)),
    st.tuples(st.just("cas"), st.tuples(KEYS, VALUES, VALUES)),
)


def brute_force(model: Model[Any], history: Sequence[Operation]) -> bool:
    """Linearizable by definition: some subset of the unanswered operations, with every
    answered one, in some order that keeps real-time precedence, is a legal sequential
    run. No event list, no memo: nothing shared with the checker but the model."""
    ops = [o for o in history if o.outcome is not Outcome.FAIL]

    def precedes(a: Operation, b: Operation) -> bool:
        return a.ret is not None and a.ret < b.call

    def extend(state: Any, left: list[Operation]) -> bool:
        if all(o.outcome is not Outcome.OK for o in left):
            return True
        for o in left:
            if any(precedes(p, o) for p in left if p is not o):
                continue
            result = o.result if o.outcome is Outcome.OK else UNKNOWN_RESULT
            accepted, after = model.step(state, o.op, o.args, result)
            rest = [p for p in left if p is not o]
            if accepted and extend(after, rest):
                return True
            if o.outcome is Outcome.UNKNOWN and extend(state, rest):  # it never took effect
                return True
        return False

    return extend(model.init(), ops)


def mutate(history: list[Operation], index: int, answer: Any) -> list[Operation]:
    """`history` with the answered operation nearest `index` answering `answer` instead."""
    answered = [i for i, o in enumerate(history) if o.outcome is Outcome.OK]
    if not answered:
        return history
    i = answered[index % len(answered)]
    o = history[i]
    return [*history[:i], Op(o.client, o.call, o.ret, o.op, o.args, answer), *history[i + 1 :]]


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(calls(KV_OPS, clients=4), max_size=60))
def test_a_correct_servers_kv_histories_are_linearizable(script: list[Call]) -> None:
    result = check(KV, simulate(KV, script))
    assert result.ok, result.explain()


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(calls(KV_OPS, clients=4), max_size=40), st.integers(0, 1000), KEYS)
def test_a_read_of_a_value_never_written_is_rejected(
    script: list[Call], index: int, key: str
) -> None:
    last_read = Call(99, "get", (key,), delay=1000, duration=1, point=0.5, fate="ok")
    history = simulate(KV, [*script, last_read])
    reads = [i for i, o in enumerate(history) if o.op == "get" and o.outcome is Outcome.OK]
    o = history[reads[index % len(reads)]]
    history[history.index(o)] = Op(o.client, o.call, o.ret, o.op, o.args, "never written")
    assert verdict(KV, history) is Verdict.NOT_LINEARIZABLE


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(calls(KV_OPS, clients=3), max_size=7),
    st.booleans(),
    st.integers(0, 100),
    st.sampled_from([None, 0, 1, 2, 3, True, False]),
)
def test_the_checker_agrees_with_brute_force_on_small_kv_histories(
    script: list[Call], tamper: bool, index: int, answer: Any
) -> None:
    history = simulate(KV, script)
    if tamper:
        history = mutate(history, index, answer)
    assert (verdict(KV, history) is Verdict.LINEARIZABLE) == brute_force(KV, history)


# --- the namespace model ---------------------------------------------------------------

NS = NamespaceModel()

# One client's operations in order, with the answers HDFS (and minihadoop) gives.
TRANSCRIPT: list[tuple[str, tuple[Any, ...], Any]] = [
    ("mkdir", ("/a/b/c",), True),  # parents made
    ("list", ("/a",), ("b",)),
    ("create", ("/a/f", b"one", False), True),
    ("create", ("/a/f", b"two", False), "exists"),
    ("read", ("/a/f",), b"one"),
    ("create", ("/a/f", "two", True), True),  # overwrite; str data is its UTF-8
    ("read", ("/a/f",), b"two"),
    ("create", ("/a/b", b"x", True), "exists"),  # a folder is there
    ("create", ("/a/f/g", b"x", False), "notdir"),
    ("mkdir", ("/a/f",), "exists"),
    ("mkdir", ("/a/f/g",), "notdir"),
    ("create", ("/n/e/w", b"x", False), True),  # parents made
    ("exists", ("/n/e",), True),
    ("rename", ("/a/f", "/n/e/w"), False),  # onto an existing file
    ("rename", ("/a/f", "/missing/f"), False),  # into a missing parent
    ("rename", ("/a/f", "/n/e/w/f"), False),  # under a file
    ("rename", ("/nothing", "/a/x"), False),
    ("rename", ("/a", "/a/b/c"), False),  # into itself
    ("rename", ("/a/f", "/n/e"), True),  # onto a folder: moves into it
    ("list", ("/n/e",), ("f", "w")),
    ("read", ("/a/f",), None),
    ("rename", ("/n", "/a/b/m"), True),  # a folder moves with all below it
    ("read", ("/a/b/m/e/f",), b"two"),
    ("list", ("/a/b/m/e/w",), ("w",)),  # a file lists as itself
    ("list", ("/n",), None),
    ("delete", ("/a/b",), "notempty"),
    ("delete", ("/a/b", True), True),
    ("delete", ("/a/b", True), False),
    ("exists", ("/a/b/m/e/f",), False),
    ("delete", ("/", True), "illegal"),
    ("list", ("/",), ("a",)),
]


def test_the_namespace_model_follows_hdfs() -> None:
    state = NS.init()
    for op, args, expected in TRANSCRIPT:
        if op == "delete" and len(args) == 1:
            args = (*args, False)
        answer, state = NS.apply(state, op, args)
        assert answer == expected, (op, args)


def test_a_sequential_namespace_history_is_linearizable() -> None:
    history = [
        Op(1, 2 * t, 2 * t + 1, op, args if len(args) > 1 or op != "delete" else (*args, False), a)
        for t, (op, args, a) in enumerate(TRANSCRIPT)
    ]
    history.append(Op(2, 100, 101, "list", ("/",), ["a"]))  # a listing recorded as a list
    history.append(Op(2, 102, 103, "read", ("/a/b/m/e/f",), None))
    result = check(NS, history)
    assert result.ok, result.explain()


def test_a_file_seen_under_both_names_of_a_rename_is_rejected() -> None:
    setup = [Op(1, 0, 1, "create", ("/d/f", b"x", False), True)]
    rename = Op(1, 2, 20, "rename", ("/d/f", "/d/g"), True)
    both_in_one_listing = [Op(2, 3, 4, "list", ("/d",), ("f", "g"))]
    new_then_old = [Op(2, 3, 4, "read", ("/d/g",), b"x"), Op(3, 5, 6, "read", ("/d/f",), b"x")]
    old_then_new = [Op(3, 3, 4, "read", ("/d/f",), b"x"), Op(2, 5, 6, "read", ("/d/g",), b"x")]
    assert verdict(NS, [*setup, rename, *both_in_one_listing]) is Verdict.NOT_LINEARIZABLE
    assert verdict(NS, [*setup, rename, *new_then_old]) is Verdict.NOT_LINEARIZABLE
    assert verdict(NS, [*setup, rename, *old_then_new]) is Verdict.LINEARIZABLE


def test_a_deleted_file_read_afterwards_is_rejected() -> None:
    history = [
        Op(1, 0, 1, "create", ("/d/f", b"x", False), True),
        Op(1, 2, 3, "delete", ("/d/f", False), True),
        Op(2, 4, 5, "read", ("/d/f",), b"x"),
    ]
    result = check(NS, history)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert "the model answers None here" in result.explain()


def test_a_read_during_a_create_sees_nothing_or_the_whole_file() -> None:
    create = Op(1, 0, 10, "create", ("/d/f", b"data", False), True)
    for seen in (None, b"data"):
        assert verdict(NS, [create, Op(2, 1, 2, "read", ("/d/f",), seen)]) is Verdict.LINEARIZABLE
    assert verdict(NS, [create, Op(2, 1, 2, "read", ("/d/f",), b"da")]) is Verdict.NOT_LINEARIZABLE


def test_a_split_by_top_folder_checks_each_alone_and_refuses_what_spans_folders() -> None:
    split = NamespaceModel(split_by_top_folder=True)
    history = [Op(c, 0, 1, "create", (f"/c{c}/f", str(c), False), True) for c in range(4)]
    history += [Op(c, 2, 3, "read", (f"/c{c}/f",), str(c).encode()) for c in range(4)]
    assert len(split.partition(history)) == 4
    assert verdict(split, history) is Verdict.LINEARIZABLE
    history[6] = Op(2, 2, 3, "read", ("/c2/f",), None)
    assert verdict(split, history) is Verdict.NOT_LINEARIZABLE
    for spanning in (Op(9, 4, 5, "rename", ("/c1/f", "/c2/g"), True), Op(9, 4, 5, "list", ("/",))):
        with pytest.raises(ValueError, match="one top-level folder at a time"):
            split.partition([*history, spanning])


PATHS = st.sampled_from(["/a", "/a/f", "/a/g", "/a/d", "/a/d/f", "/b", "/b/f"])
DATA = st.sampled_from([b"1", b"2"])
NS_OPS = st.one_of(
    st.tuples(st.just("mkdir"), st.tuples(PATHS)),
    st.tuples(st.just("create"), st.tuples(PATHS, DATA, st.booleans())),
    st.tuples(st.just("read"), st.tuples(PATHS)),
    st.tuples(st.just("delete"), st.tuples(PATHS, st.booleans())),
    st.tuples(st.just("rename"), st.tuples(PATHS, PATHS)),
    st.tuples(st.just("exists"), st.tuples(PATHS)),
    st.tuples(st.just("list"), st.tuples(PATHS)),
)
NS_ANSWERS = st.sampled_from(
    [True, False, None, "exists", "notdir", "notempty", b"1", b"2", ("f",), ("d", "f"), ()]
)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(calls(NS_OPS, clients=4), max_size=60))
def test_a_correct_servers_namespace_histories_are_linearizable(script: list[Call]) -> None:
    result = check(NS, simulate(NS, script))
    assert result.ok, result.explain()


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.lists(calls(NS_OPS, clients=4), max_size=40), st.integers(0, 1000), PATHS)
def test_a_read_of_data_never_written_is_rejected(
    script: list[Call], index: int, path: str
) -> None:
    last_read = Call(99, "read", (path,), delay=1000, duration=1, point=0.5, fate="ok")
    history = simulate(NS, [*script, last_read])
    reads = [i for i, o in enumerate(history) if o.op == "read" and o.outcome is Outcome.OK]
    o = history[reads[index % len(reads)]]
    history[history.index(o)] = Op(o.client, o.call, o.ret, o.op, o.args, b"never written")
    assert verdict(NS, history) is Verdict.NOT_LINEARIZABLE


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(calls(NS_OPS, clients=3), max_size=7), st.booleans(), st.integers(0, 100), NS_ANSWERS
)
def test_the_checker_agrees_with_brute_force_on_small_namespace_histories(
    script: list[Call], tamper: bool, index: int, answer: Any
) -> None:
    history = simulate(NS, script)
    if tamper:
        history = mutate(history, index, answer)
    assert (verdict(NS, history) is Verdict.LINEARIZABLE) == brute_force(NS, history)


# --- speed -----------------------------------------------------------------------------


def realistic_namespace_script(rng: random.Random, clients: int, ops: int) -> list[Call]:
    """What an integration test's workers do: each client writes files under its own
    folder and a shared one, renames within them, reads, lists and deletes; some calls
    lose their answer (a killed leader), a few are refused."""
    script = []
    for _ in range(ops):
        c = rng.randrange(clients)
        folder = rng.choice([f"/c{c}", "/shared"])
        path, other = (f"{folder}/{rng.choice('fgh')}{c}" for _ in range(2))
        op, args = rng.choice(
            [
                ("create", (path, f"{c}-{rng.randrange(1000)}", rng.random() < 0.5)),
                ("read", (path,)),
                ("read", (path,)),
                ("exists", (path,)),
                ("list", (folder,)),
                ("rename", (path, other)),
                ("delete", (path, False)),
                ("mkdir", (f"{folder}/d",)),
            ]
        )
        fate = rng.choices(["ok", "lost", "dropped", "refused"], [92, 3, 3, 2])[0]
        script.append(Call(c, op, args, rng.randrange(3), rng.randrange(1, 6), rng.random(), fate))
    return script


def test_a_few_hundred_operations_from_eight_clients_check_well_under_a_second() -> None:
    history = simulate(NS, realistic_namespace_script(random.Random(7), clients=8, ops=400))
    started = time.perf_counter()
    result = check(NS, history)
    assert result.ok, result.explain()
    assert time.perf_counter() - started < 1.0


# --- what the models declare commuting must commute ------------------------------------


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.sampled_from([(KV, KV_OPS), (NS, NS_OPS)]).flatmap(
        lambda m: st.tuples(st.just(m[0]), st.lists(m[1], max_size=8), m[1], m[1])
    )
)
def test_operations_a_model_says_commute_do_so_from_any_state(
    case: tuple[DeterministicModel[Any], list[tuple[str, Any]], tuple[str, Any], tuple[str, Any]],
) -> None:
    """The search skips unanswered operations on the strength of `commutes`, so a wrong
    claim would hide a violation."""
    model, setup, (op1, args1), (op2, args2) = case
    state = model.init()
    for op, args in setup:
        _, state = model.apply(state, op, args)
    if model.commutes(op1, args1, op2, args2):
        a1, s = model.apply(state, op1, args1)
        a2, one_way = model.apply(s, op2, args2)
        b2, s = model.apply(state, op2, args2)
        b1, other_way = model.apply(s, op1, args1)
        assert (a1, a2, one_way) == (b1, b2, other_way)


MOSTLY_UNANSWERED = st.sampled_from(["ok", "ok", "lost", "dropped"])


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda c, op, d, t, p, f: Call(c, op[0], op[1], d, t, p, f),
            st.integers(0, 2),
            NS_OPS,
            st.integers(0, 2),
            st.integers(0, 4),
            st.floats(0, 1),
            MOSTLY_UNANSWERED,
        ),
        max_size=7,
    ),
    st.integers(0, 100),
    NS_ANSWERS,
)
def test_the_checker_agrees_with_brute_force_when_many_answers_are_lost(
    script: list[Call], index: int, answer: Any
) -> None:
    history = mutate(simulate(NS, script), index, answer)
    assert (verdict(NS, history) is Verdict.LINEARIZABLE) == brute_force(NS, history)
