"""The map side's per-record loops: where every pair a mapper emits goes.

They are a map's hot path (a word count's 64 MiB split is ~9 million pairs), so each is a
tight loop over up to `limit` pairs that returns how many it consumed: fewer only when the
pairs ran out. `MapOutputBuffer` calls them between its checks for a full buffer.

* `collect(groups, pairs, limit)` — ``groups.setdefault(key, []).append(value)``: a job
  with no combiner, or a combiner of the user's.
* `SumTable()` — ``sums[key] = sums.get(key, 0) + value`` for each pair it is given
  (`fold(pairs, limit)`), and the sums (`items()`): a job whose combiner is
  `mapreduce.sum`. Compiled, it is a hash table of its own: a key's int sum is a 64-bit
  count in C until it is not an int any more, so a pair makes no int object, and a pair
  costs one probe that reads the index and one cache-line entry holding a short ASCII
  key's characters, where a dict lookup also read the stored key and the slot's int (a
  word count's job CPU: 17.5 -> 13.1 s; see ``_collect.c``).
* `Tally(records)` — the records passed on unchanged, counted (``count``), the last one
  kept (``last``): so a generator mapper is called straight from C (`itertools.starmap`),
  with no Python wrapper per record, and the task still knows what it mapped.

Both exist twice: compiled (`mapreduce._collect`, built from ``_collect.c`` at install when
a C compiler is there) and in pure Python below, with the same results and errors. The
compiled ones are used when they were built: they save ~15 % of a word count's map CPU by
not running bytecode per pair. `IMPLEMENTATION` says which are in use.
"""

from __future__ import annotations

import importlib
import operator
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

Loop = Callable[[dict[Any, Any], Iterator[tuple[Any, Any]], int], int]


def collect_py(groups: dict[Any, list[Any]], pairs: Iterator[tuple[Any, Any]], limit: int) -> int:
    n = 0
    get = groups.get
    # enumerate and islice count and stop in C: the loop body is the whole per-pair cost.
    for n, (key, value) in enumerate(islice(pairs, limit), 1):  # noqa: B007
        values = get(key)
        if values is None:
            groups[key] = [value]
        else:
            values.append(value)
    return n


class ResultTable:
    """A running result per key, in a dict: `items`, `clear` and `len` of `SumTable`, for
    its Python twin and the other built-in combiners' tables to add their `fold` to."""

    __slots__ = ("_busy", "_results")

    def __init__(self) -> None:
        self._results: dict[Any, Any] = {}
        self._busy = False  # in fold: keys and values run Python, which must not change it

    def _enter(self) -> None:
        if self._busy:
            raise RuntimeError("a result table cannot change during its own fold")

    def items(self) -> list[tuple[Any, Any]]:
        """(key, result) pairs, keys in the order they first came."""
        return list(self._results.items())

    def clear(self) -> None:
        self._enter()
        self._results.clear()

    def __len__(self) -> int:
        return len(self._results)


class SumTablePy(ResultTable):
    """`SumTable` in Python: a dict of the sums."""

    __slots__ = ()

    def fold(self, pairs: Iterator[tuple[Any, Any]], limit: int) -> int:
        """Add each of up to `limit` pairs' value to its key's sum; how many were taken."""
        if not isinstance(pairs, Iterator):
            raise TypeError("fold(pairs: iterator, limit: int): pairs must be an iterator")
        self._enter()
        limit = operator.index(limit)
        if not 0 <= limit <= sys.maxsize:
            raise ValueError("limit must be from 0 to sys.maxsize")
        self._busy = True
        try:
            return self._fold(pairs, limit)
        finally:
            self._busy = False

    def _fold(self, pairs: Iterator[tuple[Any, Any]], limit: int) -> int:
        n = 0
        sums = self._results
        get = sums.get
        for n, (key, value) in enumerate(islice(pairs, limit), 1):  # noqa: B007
            acc = get(key, 0)
            try:
                sums[key] = acc + value
            except TypeError as exc:
                raise TypeError(
                    f"mapreduce.sum cannot add the value {value!r} of key {key!r}: {exc}"
                ) from exc
        return n


class TallyPy:
    """`Tally`'s Python twin."""

    __slots__ = ("_items", "count", "last")

    def __init__(self, iterable: Iterable[Any]) -> None:
        self._items = iter(iterable)
        self.count = 0
        self.last: Any = None

    def __iter__(self) -> TallyPy:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        self.count += 1
        self.last = item
        return item


collect: Loop = collect_py
SumTable: Callable[[], SumTablePy] = SumTablePy
Tally: Callable[[Iterable[Any]], TallyPy] = TallyPy
IMPLEMENTATION = "python"
try:
    _collect = importlib.import_module("mapreduce._collect")
except ImportError:  # not built (no C compiler at install): the loops above
    pass
else:
    collect, SumTable, Tally = _collect.collect, _collect.SumTable, _collect.Tally
    IMPLEMENTATION = "compiled"
