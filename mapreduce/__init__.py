"""MapReduce on minihadoop: `from mapreduce import Job`.

Exports are imported lazily, so worker child processes and the pure scheduler do not pay
for what they do not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mapreduce.aggregates import max as max
    from mapreduce.aggregates import min as min
    from mapreduce.aggregates import sum as sum
    from mapreduce.counters import counter
    from mapreduce.job import Job, JobResult, RunningJob
    from mapreduce.protocol import JobState
    from mapreduce.taskcontext import TaskContext, context

__all__ = ["Job", "JobResult", "JobState", "RunningJob", "TaskContext", "context", "counter"]

_LAZY = {
    "Job": "mapreduce.job",
    "JobResult": "mapreduce.job",
    "RunningJob": "mapreduce.job",
    "JobState": "mapreduce.protocol",
    "counter": "mapreduce.counters",
    "context": "mapreduce.taskcontext",
    "TaskContext": "mapreduce.taskcontext",
    # Built-in reducers. Not in __all__: `from mapreduce import *` must not shadow builtins.
    "sum": "mapreduce.aggregates",
    "min": "mapreduce.aggregates",
    "max": "mapreduce.aggregates",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mapreduce' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
