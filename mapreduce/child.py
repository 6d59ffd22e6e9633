"""The entry point of a task attempt's child process.

The worker forks one process per attempt (from a fork server that has already imported
this module and the task runtime, so a start costs milliseconds, not an interpreter's
start-up). User code runs only here: an exception, a crash or a hang ends this process, never
the worker. The result travels back as a JSON file written to a temporary name and renamed,
so the worker reads either a whole result or none (then the process died: exit code tells).
The result carries the process's CPU time as the `CPU_MILLISECONDS` counter.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from mapreduce import task
from mapreduce.protocol import AttemptSpec, TaskState
from mapreduce.tasklogs import Capture


def run_child(
    spec_json: str,
    payload_path: str,
    work_dir: str,
    token: str,
    tls_ca: str,
    result_path: str,
    log_dir: str = "",
    log_limit: int = 1 << 20,
) -> None:
    spec = AttemptSpec.model_validate_json(spec_json)
    payload = Path(payload_path).read_bytes()
    # The user's prints and log records go to the attempt's logs (mapreduce.tasklogs).
    capture = Capture(Path(log_dir), log_limit) if log_dir else None
    try:
        result = task.execute(spec, payload, Path(work_dir), token, tls_ca=tls_ca)
        if capture is not None and result.state is TaskState.FAILED:
            tail = capture.stderr_tail()
            if tail:  # what the code said before it failed, beside its error
                result.error = f"{result.error}\nLast lines of stderr:\n{tail}"
            print(task.last_traceback or result.error, file=sys.stderr)  # the whole story
    finally:
        if capture is not None:
            capture.close()
    # Hadoop's CPU_MILLISECONDS: this process's user + system time, from its fork to here.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.counters["CPU_MILLISECONDS"] = round((usage.ru_utime + usage.ru_stime) * 1000)
    tmp = f"{result_path}.tmp"
    with open(tmp, "w") as f:
        f.write(result.model_dump_json())
    os.replace(tmp, result_path)
