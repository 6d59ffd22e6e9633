"""Where the running task is: `mapreduce.context()` inside a mapper or reducer.

A mapper is called with a line and its byte offset; which file and split that line came
from is here (Hadoop Streaming's ``mapreduce_map_input_file``, Spark's
``input_file_name()``). The task runtime installs it before the first record, on the
cluster and in the local runner alike; the same facts are in the task's environment as
Hadoop Streaming names them, for commands a task starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskContext:
    job_id: str
    attempt_id: str
    kind: str  # "map" or "reduce"
    index: int  # the task's number
    input_file: str | None = None  # a map's split: the file it is part of…
    split_start: int | None = None  # …the byte it starts at…
    split_length: int | None = None  # …and how many bytes it owns


_current: TaskContext | None = None


def context() -> TaskContext:
    """The running task's context; outside a task, a RuntimeError saying so."""
    if _current is None:
        raise RuntimeError("mapreduce.context() is only known inside a running map or reduce")
    return _current


def install(ctx: TaskContext | None) -> None:
    """Called by the task runtime: the context `context()` returns (None: none)."""
    global _current
    _current = ctx
    if ctx is None:
        return
    # Hadoop Streaming's names, lower case as Hadoop exports them.
    names = {"mapreduce_task_attempt_id": ctx.attempt_id}
    if ctx.input_file is not None:
        names["mapreduce_map_input_file"] = ctx.input_file
        names["mapreduce_map_input_start"] = str(ctx.split_start)
        names["mapreduce_map_input_length"] = str(ctx.split_length)
    os.environ.update(names)
