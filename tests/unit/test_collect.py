"""The map side's per-record loops, compiled and in Python, and the built-in reducers.

Every behaviour is checked on both implementations of `mapreduce.collect`: the compiled one
must be a drop-in for the Python one, errors included.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from fractions import Fraction
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mapreduce
from mapreduce import collect
from mapreduce.aggregates import Aggregate
from mapreduce.serialization import JobFunctions, dumps
from mapreduce.shuffle import MapOutputBuffer, read_run


def _compiled() -> Any:
    from mapreduce import _collect  # built by `pip install` (setup.py)

    return _collect


IMPLS = {
    "compiled": lambda: (_compiled().collect, _compiled().SumTable),
    "python": lambda: (collect.collect_py, collect.SumTablePy),
}


@pytest.fixture(params=sorted(IMPLS))
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """(collect, SumTable) of one implementation, also installed for `MapOutputBuffer`."""
    loops = IMPLS[request.param]()
    monkeypatch.setattr(collect, "collect", loops[0])
    monkeypatch.setattr(collect, "SumTable", loops[1])
    return loops


def folding(table_of: Any) -> Any:
    """A SumTable driven as the other loop is, ``loop(target, pairs, limit)``: a table per
    target dict, its sums copied into the dict after every call, a failed one too."""
    # (target, table): the targets are held, so a new dict never takes a dead one's id
    # and its table.
    tables: list[tuple[dict[Any, Any], Any]] = []

    def loop(target: dict[Any, Any], pairs: Iterator[tuple[Any, Any]], limit: int) -> int:
        table = next((t for d, t in tables if d is target), None)
        if table is None:
            table = table_of()
            tables.append((target, table))
        try:
            return int(table.fold(pairs, limit))
        finally:
            target.clear()
            target.update(table.items())

    return loop


def test_the_compiled_loops_are_built_and_used() -> None:
    assert _compiled().__file__.endswith(".so")
    assert collect.IMPLEMENTATION == "compiled"


def test_collect_groups_values_in_order_and_stops_at_the_limit(impl: tuple[Any, Any]) -> None:
    loop, _ = impl
    pairs = iter([("a", 1), ("b", 2), ("a", 3), ["c", 4], ("a", 5)])  # any 2-iterable
    groups: dict[Any, list[Any]] = {}
    assert loop(groups, pairs, 4) == 4
    assert groups == {"a": [1, 3], "b": [2], "c": [4]}
    assert next(pairs) == ("a", 5)  # the rest is left for the next call
    assert loop(groups, pairs, 4) == 0


def test_a_sum_table_adds_from_zero_as_builtin_sum(impl: tuple[Any, Any]) -> None:
    _, table_of = impl
    table = table_of()
    pairs = [("a", 1), ("b", 0.5), ("a", 2), ("b", 0.25), ("c", True)]
    assert table.fold(iter(pairs), 100) == 5
    assert table.items() == [("a", 3), ("b", 0.75), ("c", 1)]
    assert type(table.items()[2][1]) is int  # 0 + True, as sum([True]) is 1
    assert table.fold(iter([("a", 10)]), 0) == 0 and table.items()[0] == ("a", 3)
    assert len(table) == 3
    table.clear()
    assert len(table) == 0 and table.items() == []
    assert table.fold(iter([("a", 1)]), 5) == 1 and table.items() == [("a", 1)]


def test_a_sum_table_goes_past_64_bits_and_on_to_any_number(impl: tuple[Any, Any]) -> None:
    """Compiled, int sums are 64-bit counts until one would overflow or a value is not an
    int: the sums are the same as Python's all the same."""
    _, table_of = impl
    table = table_of()
    pairs = [
        ("up", 2**63 - 1), ("up", 1), ("up", 1),  # past the top
        ("down", -(2**63)), ("down", -1),  # past the bottom
        ("big", 2**70), ("big", -(2**70)), ("big", 5),  # big first, small again
        ("mixed", 1), ("mixed", 0.5), ("mixed", 1),  # int, then float
        ("frac", Fraction(1, 3)), ("frac", 1),
    ]  # fmt: skip
    assert table.fold(iter(pairs), 100) == len(pairs)
    sums = dict(table.items())
    assert sums == {
        "up": 2**63 + 1, "down": -(2**63) - 1, "big": 5, "mixed": 2.5, "frac": Fraction(4, 3)
    }  # fmt: skip
    assert type(sums["mixed"]) is float and type(sums["big"]) is int
    with pytest.raises(TypeError, match=r"pairs must be an iterator"):
        table.fold([("a", 1)], 5)


BAD_PAIRS = [
    (("a", 1, 2), ValueError, "too many values to unpack (expected 2)"),
    (("a",), ValueError, "not enough values to unpack (expected 2, got 1)"),
    (7, TypeError, "cannot unpack non-iterable int object"),
    ((["unhashable"], 1), TypeError, "unhashable type: 'list'"),
]


@pytest.mark.parametrize(("bad", "error", "message"), BAD_PAIRS)
def test_bad_pairs_fail_as_unpacking_does(
    impl: tuple[Any, Any], bad: Any, error: type[Exception], message: str
) -> None:
    for loop in (impl[0], folding(impl[1])):
        target: dict[Any, Any] = {}
        with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
            loop(target, iter([("ok", 1), bad]), 10)
        assert list(target) == ["ok"]  # what came before is kept; nothing of the bad pair


def test_a_sum_table_cannot_change_under_its_own_fold(impl: tuple[Any, Any]) -> None:
    """Values and keys run Python during a fold (``__radd__``, ``__eq__``, ``__del__``): the
    compiled table must not be cleared or folded into under itself."""
    _, table_of = impl

    class Meddling:
        def __init__(self, meddle: Any) -> None:
            self.meddle = meddle

        def __radd__(self, other: Any) -> Any:
            self.meddle()
            return other

    for how in ("clear", "fold"):
        table = table_of()
        meddle = table.clear if how == "clear" else lambda t=table: t.fold(iter([("b", 1)]), 5)
        with pytest.raises(RuntimeError, match="cannot change during its own fold"):
            table.fold(iter([("a", 2**70), ("a", Meddling(meddle))]), 10)
        assert table.items() == [("a", 2**70)]
        table.clear()  # and once the fold is over, it may
        assert table.items() == []


def test_a_sum_tables_limit_and_clear_behave_alike(impl: tuple[Any, Any]) -> None:
    _, table_of = impl
    table = table_of()
    for bad in (-1, 2**70):
        with pytest.raises(ValueError, match=r"limit must be from 0 to sys\.maxsize"):
            table.fold(iter([("a", 1)]), bad)
    with pytest.raises(TypeError):
        table.fold(iter([("a", 1)]), 1.5)
    assert table.fold(iter([("a", 1), ("a", 1)]), True) == 1  # operator.index(True) is 1
    seen: list[Any] = []

    class Noting:
        def __radd__(self, other: Any) -> Any:
            return self  # 0 + Noting(): the sum is the object itself

        def __del__(self) -> None:
            seen.append((len(table), table.items()))

    assert table.fold(iter([("b", Noting())]), 5) == 1
    assert len(table) == 2
    table.clear()  # the sum's __del__ runs: the table is empty by then
    assert seen == [(0, [])]


def test_a_value_sum_cannot_add_names_its_key(impl: tuple[Any, Any]) -> None:
    fold = folding(impl[1])
    for first in (1, 2**70, 0.5):  # a 64-bit count, or a Python number, before the bad value
        folded: dict[Any, Any] = {}
        with pytest.raises(TypeError, match=r"mapreduce.sum cannot add the value 'x' of key") as e:
            fold(folded, iter([("k", first), ("k", "x")]), 10)
        assert isinstance(e.value.__cause__, TypeError)
        assert folded == {"k": first}  # unchanged by the pair that failed
        new: dict[Any, Any] = {}
        with pytest.raises(TypeError, match=r"cannot add the value 'y' of key 'n'"):
            fold(new, iter([("n", "y")]), 10)  # 0 + "y": no key made
        assert new == {}


def test_the_mappers_own_exception_passes_unchanged(impl: tuple[Any, Any]) -> None:
    class Boom(Exception):
        pass

    def pairs() -> Iterator[tuple[str, int]]:
        yield "a", 1
        raise Boom("mapper failed")

    for loop in (impl[0], folding(impl[1])):
        with pytest.raises(Boom, match="mapper failed"):
            loop({}, pairs(), 10)


class Clash:
    """A key whose hash every Clash shares: a probe must pass the others by ==."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __hash__(self) -> int:
        return 7

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Clash) and other.name == self.name

    def __repr__(self) -> str:
        return f"Clash({self.name!r})"


class Word(str):
    """A str subclass: compared by ==, never by the characters a table may keep."""


# Keys a compiled table tells apart in different ways: short and long ASCII strs (whose
# characters an entry may hold), other strs, ints with equal hashes (-1 and -2), numbers
# equal across types (1, 1.0, True: one key, as in a dict), a str subclass, shared hashes.
KEYS = st.one_of(
    st.integers(-3, 3),
    st.text(max_size=2),
    st.text(alphabet="ab\u00e9", min_size=29, max_size=34),
    st.sampled_from([1.0, True, 0.0, -0.0, "", "x" * 31, "x" * 32, b"a", ("a", 1)]),
    st.builds(Word, st.text(alphabet="ab", max_size=2)),
    st.builds(Clash, st.sampled_from("abcd")),
)


@settings(max_examples=60, deadline=None)
@given(
    pairs=st.lists(
        st.tuples(
            KEYS,
            st.one_of(
                st.integers(-(2**70), 2**70),
                st.integers(2**62, 2**63),  # near the 64-bit edge, both sides
                st.integers(-(2**63) - 2, -(2**62)),
                st.floats(allow_nan=False, width=32),
            ),
        ),
        max_size=60,
    ),
    limit=st.integers(1, 70),
)
def test_compiled_and_python_agree(pairs: list[tuple[Any, Any]], limit: int) -> None:
    c_collect, c_table = IMPLS["compiled"]()
    sums = (folding(c_table), folding(collect.SumTablePy))
    for compiled, python in ((c_collect, collect.collect_py), sums):
        a: dict[Any, Any] = {}
        b: dict[Any, Any] = {}
        ia, ib = iter(pairs), iter(pairs)
        while (n := compiled(a, ia, limit)) == limit:
            assert python(b, ib, limit) == n
        assert python(b, ib, limit) == n
        assert repr(a) == repr(b)  # same values of the same types, in the same key order


def test_a_sum_table_holds_many_keys_in_the_order_they_came(impl: tuple[Any, Any]) -> None:
    """Past every growth of the compiled table, and again after a clear."""
    _, table_of = impl
    table = table_of()
    words = [f"w{i}" for i in range(50_000)] + [
        f"a long word past the kept characters {i}" for i in range(500)
    ]
    pairs = [(w, 1) for w in words] + [(w, i) for i, w in enumerate(reversed(words))]
    for _ in range(2):
        assert table.fold(iter(pairs), len(pairs)) == len(pairs)
        got = table.items()
        assert [k for k, _ in got] == words
        assert got[0] == ("w0", 1 + len(words) - 1) and got[-1] == (words[-1], 1)
        table.clear()
        assert len(table) == 0


def test_keys_that_share_a_hash_are_told_apart_by_eq(impl: tuple[Any, Any]) -> None:
    _, table_of = impl
    table = table_of()
    pairs = [(Clash(n), 1) for n in "abcabca"] + [(-1, 1), (-2, 1), (-1, 1)]
    assert table.fold(iter(pairs), 100) == len(pairs)
    assert [(getattr(k, "name", k), v) for k, v in table.items()] == [
        ("a", 3),
        ("b", 2),
        ("c", 2),
        (-1, 2),
        (-2, 1),
    ]

    class Refusing(Clash):
        def __eq__(self, other: object) -> bool:
            raise ValueError("no comparing")

        __hash__ = Clash.__hash__

    with pytest.raises(ValueError, match="no comparing"):
        table.fold(iter([("z", 1), (Refusing("a"), 1)]), 10)
    assert len(table) == 4 + 1 + 1  # "z" went in; the key that could not compare did not
    assert table.items()[-1] == ("z", 1)


def test_keys_chosen_to_crowd_one_slot_are_spread_by_the_secret() -> None:
    """An int's hash is the int. Keys whose Fibonacci hash (hash * 0x9E3779B97F4A7C15 mod
    2**64) shares its top 40 bits would all start their probe at one slot of an unsalted
    table, at every size: each new key would walk all the others. Mixed with the process's
    secret first, they probe about as little as any keys."""
    phi_inverse = pow(0x9E3779B97F4A7C15, -1, 2**64)
    keys: list[int] = []
    j = 0
    while len(keys) < 20_000:
        k = ((0x123456789A << 24 | j) * phi_inverse) % 2**64
        j += 1
        if k < 2**61 - 1:  # below the modulus of int hashes: hash(k) == k
            keys.append(k)
    table = _compiled().SumTable()
    assert table.fold(iter([(k, 1) for k in keys]), len(keys)) == len(keys)
    assert len(table) == len(keys)
    assert table.probes < 4 * len(keys)  # crowded: ~len(keys) ** 2 / 2


def test_a_deep_chain_of_tables_is_freed_without_a_c_frame_each() -> None:
    """Each table the only key of the next: freeing the last frees them all."""
    head = _compiled().SumTable()
    for _ in range(400_000):
        table = _compiled().SumTable()
        table.fold(iter([(head, 1)]), 1)
        head = table
    del head, table  # a crash (stack overflow) without the trashcan


def test_a_keys_eq_cannot_change_the_table_it_is_looked_for_in(impl: tuple[Any, Any]) -> None:
    _, table_of = impl
    table = table_of()

    class Meddling(Clash):
        def __eq__(self, other: object) -> bool:
            table.clear()
            return False

        __hash__ = Clash.__hash__

    table.fold(iter([(Clash("a"), 5)]), 10)
    with pytest.raises(RuntimeError, match="cannot change during its own fold"):
        table.fold(iter([(Meddling("a"), 1)]), 10)
    assert [(k.name, v) for k, v in table.items()] == [("a", 5)]


# --- the built-in reducers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "values", "expected"),
    [("sum", [3, 4, 5], 12), ("min", [3, 1, 5], 1), ("max", [3, 9, 5], 9), ("sum", [], 0)],
)
def test_builtins_reduce_as_the_builtin_functions(
    name: str, values: list[int], expected: int
) -> None:
    reducer = getattr(mapreduce, name)
    assert isinstance(reducer, Aggregate)
    assert list(reducer("k", values)) == [("k", expected)]
    assert repr(reducer) == f"mapreduce.{name}"


def test_builtins_pickle_by_name_so_workers_recognise_them() -> None:
    for reducer in (mapreduce.sum, mapreduce.min, mapreduce.max):
        assert pickle.loads(pickle.dumps(reducer)) is reducer
        assert cloudpickle.loads(cloudpickle.dumps(reducer)) is reducer
    shipped = cloudpickle.loads(
        dumps(JobFunctions(mapper=lambda k, v: [], reducer=mapreduce.sum, combiner=mapreduce.sum))
    )
    assert shipped.combiner is mapreduce.sum


def test_builtins_are_not_exported_by_star_import() -> None:
    names: dict[str, Any] = {}
    exec("from mapreduce import *", names)
    assert "sum" not in names and "max" not in names and "min" not in names


def _final(directory: Path, combiner: Any, pairs: list[tuple[Any, Any]], limit: int) -> Any:
    buffer = MapOutputBuffer(directory, 2, limit=limit, combiner=combiner)
    buffer.add_all(pairs)
    runs = [list(read_run(p)) for p in buffer.finish()]
    return runs, buffer.counters, buffer.output_records


def _own_sum(key: Any, values: list[Any]) -> Iterator[tuple[Any, Any]]:
    yield key, sum(values)


def _own_min(key: Any, values: list[Any]) -> Iterator[tuple[Any, Any]]:
    yield key, min(values)


@pytest.mark.parametrize("limit", [3, 8, 10_000])  # 3 and 8: many spills and merges
@pytest.mark.parametrize(("builtin", "own"), [("sum", _own_sum), ("min", _own_min)])
def test_a_builtin_combiner_gives_what_the_users_own_gives(
    tmp_path: Path, impl: tuple[Any, Any], limit: int, builtin: str, own: Any
) -> None:
    words = [f"w{i % 23}" for i in range(400)]
    pairs = list(zip(words, chain.from_iterable(repeat(range(7), 60)), strict=False))
    (tmp_path / "own").mkdir()
    (tmp_path / "builtin").mkdir()
    own_runs, _, own_n = _final(tmp_path / "own", own, pairs, limit)
    runs, counters, n = _final(tmp_path / "builtin", getattr(mapreduce, builtin), pairs, limit)

    # The same keys in the same partitions and order, each reducing to the same value.
    def reduced(runs: Any) -> Any:
        return [[(k, next(own(k, v))[1]) for k, v in r] for r in runs]

    assert reduced(runs) == reduced(own_runs)
    assert sorted(k for r in runs for k, _ in r) == sorted(set(words))
    assert n == own_n == len(pairs)
    assert counters["COMBINE_INPUT_RECORDS"] >= len(pairs) - 23 * 2
    if limit == 10_000:
        assert counters["SPILLS"] == 1 and all(len(v) == 1 for r in runs for _, v in r)
    else:
        assert counters["SPILLS"] > 1


# --- Tally: a map's records, counted on their way to the mapper ------------------------------

TALLIES = {"compiled": lambda: _compiled().Tally, "python": lambda: collect.TallyPy}


@pytest.mark.parametrize("kind", sorted(TALLIES))
def test_a_tally_passes_items_on_counting_them_and_keeping_the_last(kind: str) -> None:
    tally = TALLIES[kind]()(iter([(0, "a"), (2, "b"), (4, "c")]))
    assert (tally.count, tally.last) == (0, None)
    assert next(tally) == (0, "a")
    assert (tally.count, tally.last) == (1, (0, "a"))  # as consumed, not ahead
    assert list(tally) == [(2, "b"), (4, "c")]
    assert (tally.count, tally.last) == (3, (4, "c"))
    assert list(tally) == [] and tally.count == 3
    assert iter(tally) is tally


@pytest.mark.parametrize("kind", sorted(TALLIES))
def test_a_tally_passes_its_sources_error_on_and_refuses_what_does_not_iterate(kind: str) -> None:
    def source() -> Iterator[int]:
        yield 1
        raise OSError("the disk went away")

    tally = TALLIES[kind]()(source())
    assert next(tally) == 1
    with pytest.raises(OSError, match="the disk went away"):
        next(tally)
    assert (tally.count, tally.last) == (1, 1)
    with pytest.raises(TypeError):
        TALLIES[kind]()(5)


def test_the_compiled_tally_is_collected_in_a_cycle() -> None:
    import gc
    import weakref

    class Item:
        pass

    item = Item()
    tally = _compiled().Tally([item])
    item.tally = tally  # type: ignore[attr-defined]  # item -> tally -> its list -> item
    next(tally)
    gone = weakref.ref(item)
    del item, tally
    gc.collect()
    assert gone() is None


def gen_mapper(offset: int, line: str) -> Iterator[tuple[str, int]]:
    if line == "poison":
        raise ValueError("no")
    for word in line.split():
        yield word, offset


def plain_mapper(offset: int, line: str) -> list[tuple[str, int]] | None:
    if line == "poison":
        raise ValueError("no")
    return [(w, offset) for w in line.split()] or None  # None: nothing from this line


@pytest.mark.parametrize("kind", sorted(TALLIES))
@pytest.mark.parametrize("mapper", [gen_mapper, plain_mapper])
def test_map_input_counts_records_and_says_where_a_mapper_failed(
    kind: str, mapper: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mapreduce.task import map_input, mapping

    monkeypatch.setattr(collect, "Tally", TALLIES[kind]())
    text = b"a b\n\nc\npoison\nd\n"
    counted, pairs = map_input(JobFunctions(mapper=mapper), [text], "/f", 0, len(text))
    out = []
    with pytest.raises(ValueError) as failed, mapping("/f", 0, len(text), counted):
        for pair in pairs:
            out.append(pair)
    assert out == [("a", 0), ("b", 0), ("c", 5)]
    assert counted.calls == 4 and counted.offset == 7  # the poison line, at byte 7
    assert "the record at byte 7" in "".join(failed.value.__notes__)
    counted, pairs = map_input(JobFunctions(mapper=mapper), [b"x\ny\n"], "/f", 0, 4)
    assert list(pairs) == [("x", 0), ("y", 2)] and counted.calls == 2
