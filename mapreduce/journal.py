"""The job tracker's journal in the DFS: what a job tracker taking over needs to resume the
jobs of the one before it (Hadoop's job history and recovery files, in the same spirit).

One folder per job, ``/system/mapred/jobs/<job id>/`` (mode 700):

    job.json          the job as accepted: its request (but the payload) and its splits.
                      Written last at submission: a folder without it holds no job.
    payload.pkl       the sealed functions, as the client sent them (workers check the seal)
    epoch.json        how many times the job was taken over; attempts started in epoch e
                      are numbered from e * 1000, as Hadoop numbers them after a restart,
                      so no attempt id (nor its ``_temporary`` folder) is ever used twice
    tasks/m-00003.json, tasks/r-00000.json
                      a task that finished: its winning attempt, where that ran (a map's
                      output is served by that worker), its counters
    end.json          the job ended: its final record and every attempt, for history

Who writes: only the active job tracker, through a client fenced by its lock's token, so a
deposed one can write nothing here (nor commit anything). Which writes wait: the job and
its end before they are acknowledged or acted on; a task's record is written behind the
heartbeat that reported it (`Journal.later`) — one lost in a crash costs that task a re-run,
never a wrong answer, because what resumption trusts about output is read from the output
folder itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import Field, field_validator

from mapreduce.history import AttemptRecord, JobRecord
from mapreduce.protocol import Counters, JobState, Split, TaskKind, TaskState, Wire, is_job_id
from minihadoop import paths
from minihadoop.errors import FileNotFoundError_, MiniHadoopError
from minihadoop.filesystem import FileSystem

log = logging.getLogger("minihadoop.jobtracker")
ROOT = "/system/mapred/jobs"


class JobPlan(Wire):
    """A job as accepted: what `job.json` holds, checked as strictly as a submission."""

    id: str
    name: str
    user: str
    inputs: list[str]
    output: str
    num_reducers: int = Field(ge=0, le=10_000)
    max_attempts: int = Field(ge=1, le=20)
    speculative: bool
    submitted: float
    splits: list[Split] = Field(max_length=1_000_000)

    @field_validator("output")
    @classmethod
    def _absolute(cls, output: str) -> str:
        if paths.normalize(output) != output:
            raise ValueError(f"output {output[:100]!r} is not a normalized absolute path")
        return output


class TaskDone(Wire):
    """A finished task's winning attempt: what ``tasks/<m|r>-NNNNN.json`` holds."""

    kind: TaskKind
    index: int
    attempt_id: str
    worker_id: str
    worker_url: str
    started: float
    finished: float
    counters: Counters = Field(default_factory=dict)
    data_local: bool | None = None


class Epoch(Wire):
    epoch: int = Field(ge=0)


@dataclass
class StoredJob:
    plan: JobPlan
    epoch: int
    tasks: dict[tuple[TaskKind, int], TaskDone] = field(default_factory=dict)
    end: tuple[JobRecord, list[AttemptRecord]] | None = None


def task_name(kind: TaskKind, index: int) -> str:
    return f"{'m' if kind is TaskKind.MAP else 'r'}-{index:05d}"


class Journal:
    def __init__(self, fs: FileSystem, root: str = ROOT) -> None:
        self.fs = fs
        self.root = root
        self._queue: queue.Queue[Callable[[], object] | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._stopping = False

    def folder(self, job_id: str) -> str:
        return f"{self.root}/{job_id}"

    # --- writes -------------------------------------------------------------------------------

    def create(self, plan: JobPlan, payload: bytes) -> None:
        """Record an accepted job; durable on return. job.json goes last: its presence
        says the rest is there."""
        folder = self.folder(plan.id)
        self.fs.mkdir(f"{folder}/tasks", permission="700")
        self.fs.write_bytes(f"{folder}/payload.pkl", payload, overwrite=True)
        self.fs.write_bytes(f"{folder}/job.json", plan.model_dump_json().encode(), overwrite=True)

    def set_epoch(self, job_id: str, epoch: int) -> None:
        data = Epoch(epoch=epoch).model_dump_json().encode()
        self.fs.write_bytes(f"{self.folder(job_id)}/epoch.json", data, overwrite=True)

    def task_done(self, job_id: str, done: TaskDone) -> None:
        path = f"{self.folder(job_id)}/tasks/{task_name(done.kind, done.index)}.json"
        self.fs.write_bytes(path, done.model_dump_json().encode(), overwrite=True)

    def end(self, record: JobRecord, attempts: list[AttemptRecord]) -> None:
        """The job ended: its record and attempts; its payload is no longer needed."""
        folder = self.folder(record.id)
        body = {"job": _plain(asdict(record)), "attempts": [_plain(asdict(a)) for a in attempts]}
        # Once: a job's end, written by whoever ended it, is never rewritten by another.
        self.fs.write_bytes(f"{folder}/end.json", json.dumps(body).encode(), overwrite=False)
        with contextlib.suppress(FileNotFoundError_):
            self.fs.rm(f"{folder}/payload.pkl", skip_trash=True)

    def later(self, write: Callable[[], object]) -> None:
        """Carry out `write` behind the caller, in order with the other writes behind."""
        if self._writer is None:
            self._writer = threading.Thread(target=self._write, name="journal", daemon=True)
            self._writer.start()
        self._queue.put(write)

    def _write(self) -> None:
        while (write := self._queue.get()) is not None:
            try:
                write()
            except MiniHadoopError as exc:
                log.warning("journal write failed: %s", exc)
            except Exception as exc:  # the writer must outlive any one write
                if self._stopping:  # the job tracker closed its client, deposed or stopping
                    log.warning("journal write dropped as the job tracker stops: %r", exc)
                else:
                    log.exception("journal write failed")

    def close(self, timeout: float = 10.0) -> None:
        """Finish the writes behind (up to `timeout` seconds), then stop the writer. Writes
        still queued after that fail once the job tracker's client is closed: said in one
        line each, not as an unexpected error."""
        self._stopping = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout)

    # --- reads --------------------------------------------------------------------------------

    def job_ids(self) -> list[str]:
        try:
            return sorted(e.name for e in self.fs.ls(self.root) if e.is_dir and is_job_id(e.name))
        except FileNotFoundError_:
            return []

    def state(self, job_id: str) -> str:
        """ "ended", "unfinished", or "none" (no job.json: a submission that never finished),
        from one listing of the job's folder."""
        try:
            names = {e.name for e in self.fs.ls(self.folder(job_id))}
        except FileNotFoundError_:
            return "none"
        if "job.json" not in names:
            return "none"
        return "ended" if "end.json" in names else "unfinished"

    def payload(self, job_id: str) -> bytes:
        return self.fs.read_bytes(f"{self.folder(job_id)}/payload.pkl")

    def load(self, job_id: str) -> StoredJob | None:
        """The job as journaled; None for a folder whose submission never finished."""
        folder = self.folder(job_id)
        names = {e.name for e in self.fs.ls(folder)}
        if "job.json" not in names:
            return None
        plan = JobPlan.model_validate_json(self.fs.read_bytes(f"{folder}/job.json"))
        epoch = 0
        if "epoch.json" in names:
            epoch = Epoch.model_validate_json(self.fs.read_bytes(f"{folder}/epoch.json")).epoch
        stored = StoredJob(plan, epoch)
        if "end.json" in names:
            body = json.loads(self.fs.read_bytes(f"{folder}/end.json"))
            stored.end = (_job_record(body["job"]), [_attempt(a) for a in body["attempts"]])
            return stored
        if "tasks" in names:
            for entry in self.fs.ls(f"{folder}/tasks"):
                if entry.name.endswith(".json"):
                    done = TaskDone.model_validate_json(self.fs.read_bytes(entry.path))
                    stored.tasks[(done.kind, done.index)] = done
        return stored


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if isinstance(v, JobState | TaskState | TaskKind) else v)
            for k, v in record.items()}  # fmt: skip


def _job_record(raw: dict[str, Any]) -> JobRecord:
    return JobRecord(**{**raw, "state": JobState(raw["state"])})


def _attempt(raw: dict[str, Any]) -> AttemptRecord:
    return AttemptRecord(**{**raw, "kind": TaskKind(raw["kind"]), "state": TaskState(raw["state"])})
