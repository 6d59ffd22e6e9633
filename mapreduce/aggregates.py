"""Built-in reducers: `mapreduce.sum`, `mapreduce.min` and `mapreduce.max`.

Hadoop ships `IntSumReducer` and `LongSumReducer` so that a word count need not write its
own; these are the same idea. Each is a reducer (and combiner) like one a user writes::

    Job(mapper, mapreduce.sum, combiner=mapreduce.sum, ...)

is the word count of the README, with ``yield key, sum(values)`` written for you.

What they buy besides brevity: the framework knows what they do. As a combiner, a built-in
is not called on lists of buffered values; the map side folds each value into its key's one
running result as the mapper emits it (`MapOutputBuffer`), so it keeps no list per key and
never calls a combiner over a list. That is the same combining a user's summing combiner
would do, in fewer steps, and the result is exactly what the reducer's own call would give
(``sum`` adds from 0, left to right, as the builtin does; ``min``/``max`` keep the first of
equal values, as the builtins do).

They pickle by name, so a worker unpickles the very same object and recognises it.
"""

from __future__ import annotations

import builtins
import operator
from collections.abc import Callable, Iterable, Iterator
from typing import Any


class Aggregate:
    """A reducer that folds a key's values into one with a binary function.

    `fold(acc, value)` is the step from a key's first value on (``sum`` folds from 0
    instead, as ``builtins.sum`` does: `collect.SumTable`). Calling it as a reducer yields
    ``(key, whole(values))`` once per key.
    """

    def __init__(
        self, name: str, whole: Callable[[Iterable[Any]], Any], fold: Callable[[Any, Any], Any]
    ) -> None:
        self.name = name
        self.whole = whole
        self.fold = fold
        self.__name__ = self.__qualname__ = name
        self.__doc__ = f"Reducer: yields (key, {name}(values))."

    def __call__(self, key: Any, values: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        try:
            result = self.whole(values)
        except TypeError as exc:
            exc.add_note(f"while reducing the values of key {key!r} with {self!r}")
            raise
        yield key, result

    def __reduce__(self) -> str:
        return self.name  # a module global: pickled by name, unpickled as this very object

    def __repr__(self) -> str:
        return f"mapreduce.{self.name}"


def _keep_min(acc: Any, value: Any) -> Any:
    return value if value < acc else acc


def _keep_max(acc: Any, value: Any) -> Any:
    return value if value > acc else acc


sum = Aggregate("sum", builtins.sum, operator.add)
min = Aggregate("min", builtins.min, _keep_min)
max = Aggregate("max", builtins.max, _keep_max)
