"""User counters: `mapreduce.counter("bad_lines")` inside a mapper or reducer.

Each task attempt runs in its own process, so the current attempt's counters are simply a
module-level dict the task runtime installs and collects; outside a task, counting is a
no-op. Built-in counters use Hadoop's names (MAP_INPUT_RECORDS, …); user counters are
reported as ``user:<name>``.
"""

from __future__ import annotations

from collections import Counter

_current: Counter[str] | None = None


def counter(name: str, amount: int = 1) -> None:
    """Add `amount` to the user counter `name` of the running task."""
    if _current is not None:
        _current[f"user:{name}"] += amount


def install(counters: Counter[str] | None) -> None:
    """Called by the task runtime: where `counter()` adds to (None: nowhere)."""
    global _current
    _current = counters
