"""Where a MapReduce job's time goes: its phases from the attempts, its CPU by stage from
stack samples.

Two sources, because the job tracker records only when each attempt started and finished:

* **Phases** (`phases`): wall time from the attempts, on the job tracker's clock. An attempt
  runs from the heartbeat that launched it to the one that reported it, so the map phase
  (first map start -> last map finish) holds the reading, the mapper, the map-side
  combine, sort and spill of every map, and the reduce phase holds the shuffle fetch, the
  merge, the reducer and the output write of every reduce. Reduces start only once every
  map has finished, so the two phases do not overlap.
* **Stages** (`StackSampler`, `classify`): py-spy samples every process of this script's tree
  (``py-spy record --subprocesses --nonblocking``) while the job runs. A task process's sample
  is put in a stage by the innermost minihadoop frame on its stack that names one
  (`STAGE_FRAMES`); a daemon's by the daemon it is. py-spy skips idle threads, but a thread
  that is runnable and waiting for a core counts as busy: with six map tasks on two cores,
  samples / rate is three times the CPU time. So the samples are only shares, and
  `StackSampler.cpu_seconds` spreads the tree's CPU time as measured from /proc over them
  (assuming the runnable threads share the cores fairly).

`wall_split` joins the two: each phase's wall time is shared among its stages in proportion
to its tasks' CPU samples. That is an estimate (it assumes a task's CPU and wall time split
alike), printed and stored as such. Sampling costs CPU of its own, so a profiled job is an
extra run, never one of the timed ones.
"""

from __future__ import annotations

import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import cpu_seconds

# The stages of a task, in pipeline order; and the CPU that is not a task's.
MAP_STAGES = ("read", "map", "collect", "combine", "sort+spill")
REDUCE_STAGES = ("shuffle", "reduce", "write")
TASK_OTHER = "task start"  # unpickling the job, clients and connections, imports
STAGES = (*MAP_STAGES, *REDUCE_STAGES, TASK_OTHER)
DAEMONS = ("namenode", "datanode", "jobtracker", "worker", "client")

# Innermost frame first: the first of a sample's frames (from the leaf up) whose function
# is named here decides its stage. Names are py-spy's: "Class.method" or "function".
STAGE_FRAMES: dict[str, str] = {
    # reading the split: the DFS stream, the line reader
    "DFSInputStream.iter_chunks": "read",
    "DFSInputStream._chunks_from": "read",
    "FileSystem._read_block": "read",
    "FileSystem._read_replica": "read",
    "split_records": "read",
    "_records": "read",
    "_complete_lines": "read",
    "_skip_foreign_line": "read",
    "_through_next_newline": "read",
    # the mapper's own code is "map" (see `classify`); the framework's call per record too
    "_CountingMapper.__call__": "map",
    # the map output buffer: partitioning and buffering pairs, the combiner, the spills
    "MapOutputBuffer.add_all": "collect",
    "MapOutputBuffer.add": "collect",
    "MapOutputBuffer._combine_buffer": "combine",
    "MapOutputBuffer._combine_sorted": "combine",
    "MapOutputBuffer._full": "sort+spill",
    "MapOutputBuffer.spill": "sort+spill",
    "MapOutputBuffer._write_spill": "sort+spill",
    "MapOutputBuffer.finish": "sort+spill",
    "MapOutputBuffer._partition": "sort+spill",
    "MapOutputBuffer._count_spilled": "sort+spill",
    "sort_keys": "sort+spill",
    "write_run": "sort+spill",
    "_write_frames": "sort+spill",
    # reduce side: fetching the map outputs and merging them is the shuffle
    "_fetch_all": "shuffle",
    "_fetch": "shuffle",
    "merge_passes": "shuffle",
    "merge_runs": "shuffle",
    "read_run": "shuffle",
    "_read_path": "shuffle",
    "_read_frames": "shuffle",
    "_Reduced.__iter__": "reduce",
    "TextOutput.write_all": "write",
    "TextOutput._write": "write",
    "DFSOutputStream.write": "write",
    "DFSOutputStream.close": "write",
    "DFSOutputStream._flush_block": "write",
}
TASK_FRAME = "execute (mapreduce/task.py"
USER_CODE = "(<dynamic-code>"  # functions that travelled by value (cloudpickle)


def phases(status: dict[str, Any]) -> dict[str, float]:
    """Seconds of each phase of a finished job, from its attempts (job tracker's clock)."""
    attempts = [a for a in status["attempts"] if a["started"] is not None]
    maps = [a for a in attempts if a["kind"] == "MAP"]
    reduces = [a for a in attempts if a["kind"] == "REDUCE"]

    def end(xs: list[dict[str, Any]]) -> float:
        return float(max(a["finished"] for a in xs if a["state"] == "SUCCEEDED"))

    submitted, finished = status["submitted"], status["finished"]
    map_start, map_end = min(a["started"] for a in maps), end(maps)
    out = {"submit -> first map": map_start - submitted, "map phase": map_end - map_start}
    if reduces:
        reduce_start, reduce_end = min(a["started"] for a in reduces), end(reduces)
        out |= {
            "last map -> first reduce": reduce_start - map_end,
            "reduce phase": reduce_end - reduce_start,
            "commit": finished - reduce_end,
        }
    else:
        out["commit"] = finished - map_end
    out["job (tracker)"] = finished - submitted
    return out


def classify(frames: list[str]) -> str:
    """The stage of one task sample; `frames` run from the root to the leaf."""
    user = False
    for frame in reversed(frames):
        if USER_CODE in frame:
            user = True
            continue
        stage = STAGE_FRAMES.get(frame.split(" (", 1)[0])
        if stage == "collect" and user:
            return "map"  # the mapper's generator, resumed by the buffer's loop
        if stage is not None:
            return stage
    return TASK_OTHER


def role(processes: list[str]) -> str:
    """Which daemon a sampled process belongs to, from its chain of process labels
    (``process <pid>:"<command line>"``, outermost first); the first is this script."""
    for label in reversed(processes):
        words = label.split('"', 1)[-1].split()
        if "cli" in words and words.index("cli") + 1 < len(words):
            daemon = words[words.index("cli") + 1]
            if daemon in DAEMONS:
                return daemon
    return "client"


def parse(raw: str) -> dict[str, collections.Counter[str]]:
    """py-spy's raw (folded) output -> samples per stage of map tasks, of reduce tasks and
    of other task code ("task"), and per daemon ("daemons")."""
    out: dict[str, collections.Counter[str]] = {
        k: collections.Counter() for k in ("map", "reduce", "task", "daemons")
    }
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("process ")]
        if not any(f.startswith(TASK_FRAME) for f in frames):
            out["daemons"][role(processes)] += int(count)
            continue
        kind = (
            "map"
            if any(f.startswith("_run_map ") for f in frames)
            else "reduce"
            if any(f.startswith("_run_reduce ") for f in frames)
            else "task"
        )
        out[kind][classify(frames)] += int(count)
    return out


def wall_split(job_phases: dict[str, float], samples: dict[str, Any]) -> dict[str, float]:
    """Estimated wall seconds per stage: each phase shared among its tasks' stages in
    proportion to their CPU samples; the phases without tasks kept as they are."""
    out = {"schedule": job_phases.get("submit -> first map", 0.0)}
    for kind, phase in (("map", "map phase"), ("reduce", "reduce phase")):
        counts = samples.get(kind, {})
        total = sum(counts.values())
        seconds = job_phases.get(phase, 0.0)
        if not total:
            out[f"{kind} (not sampled)"] = seconds
            continue
        for stage in STAGES:
            if counts.get(stage):
                out[stage] = out.get(stage, 0.0) + seconds * counts[stage] / total
        if kind == "map":
            out["wait for reduces"] = job_phases.get("last map -> first reduce", 0.0)
    out["commit"] = job_phases.get("commit", 0.0)
    return out


def py_spy() -> str | None:
    """The py-spy beside this interpreter (the venv's), or on the PATH; None if neither."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class StackSampler:
    """py-spy recording `pid` and every process under it, while in its `with` block.

    Non-blocking: the processes are read while they run, never paused, so a sample can be
    torn (a stack half-updated); over thousands of samples that is noise, not bias. The
    recording stops on SIGINT, which makes py-spy write its file."""

    def __init__(self, pid: int, output: Path, rate: int, executable: str) -> None:
        self.argv = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--nonblocking",
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--output",
            str(output),
        ]
        self.output = output
        self.rate = rate
        self.samples: dict[str, collections.Counter[str]] = {}
        self.own_cpu = 0.0  # py-spy's CPU time: it is in this script's tree too
        self.error = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> StackSampler:
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1.0)  # py-spy finds the tree and starts sampling
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._proc is not None
        self.own_cpu = cpu_seconds(self._proc.pid)
        self._proc.send_signal(signal.SIGINT)
        try:
            _, err = self._proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            _, err = self._proc.communicate()
        if self.output.exists():
            self.samples = parse(self.output.read_text())
        else:
            self.error = err.decode(errors="replace").strip()[-500:]

    def counts(self) -> dict[str, dict[str, int]]:
        return {kind: dict(counts.most_common()) for kind, counts in self.samples.items()}

    def cpu_seconds(self, total: float) -> dict[str, dict[str, float]]:
        """`total` CPU seconds shared out in proportion to the samples."""
        samples = sum(sum(c.values()) for c in self.samples.values())
        scale = total / samples if samples else 0.0
        return {
            kind: {k: round(n * scale, 2) for k, n in counts.most_common()}
            for kind, counts in self.samples.items()
        }
