"""Wire models of MapReduce: job submission, worker heartbeats, task attempts.

States are named as Hadoop names them, everywhere: API, CLI, dashboard.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from minihadoop.errors import IllegalArgumentError


def is_job_id(text: str) -> bool:
    """Whether `text` can be a job id: letters, digits, ``_`` and ``-``, 1 to 200 of them
    (the job tracker makes ``job_<time>_<hex>``). Checked wherever one names a file or a
    folder, so none leaves its folder; bounded, so none is a name the disk refuses."""
    return 0 < len(text) <= 200 and all(c.isalnum() or c in "_-" for c in text)


def checked_job_id(text: str) -> str:
    if not is_job_id(text):
        raise IllegalArgumentError(f"invalid job id {text[:100]!r}")
    return text


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobState(StrEnum):
    PREP = "PREP"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.KILLED)


class TaskState(StrEnum):
    PREP = "PREP"  # waiting to be scheduled
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class TaskKind(StrEnum):
    MAP = "MAP"
    REDUCE = "REDUCE"


Counters = dict[str, int]


class Split(Wire):
    """One map task's input: a byte range of a file and the datanodes holding it."""

    path: str
    start: Annotated[int, Field(ge=0)]
    length: Annotated[int, Field(ge=0)]
    file_length: Annotated[int, Field(ge=0)]
    hosts: list[str] = []  # datanode ids with a replica of the block
    # A combined split (many small files, `mapreduce.splits`): the whole files read after
    # this one by the same map, each a split of its own file. Never nested.
    more: list[Split] = []

    def pieces(self) -> list[Split]:
        """What the map reads, in order: this split, then those packed with it."""
        return [self, *self.more]


class MapOutput(Wire):
    """Where a finished map attempt's output can be fetched."""

    map_index: int
    attempt_id: str
    worker_url: str


class AttemptSpec(Wire):
    """Everything a worker's child process needs to run one task attempt."""

    job_id: str
    attempt_id: str
    kind: TaskKind
    index: int  # map index or reduce partition
    num_reducers: int
    namenode: str  # the namenode to ask first: the job tracker's leader when it sent this
    namenodes: list[str] = []  # the namenode group, when the cluster has one
    output: str  # the job's output folder
    user: str = "hadoop"  # the submitter: owner of the output files
    split: Split | None = None  # maps
    map_outputs: list[MapOutput] = []  # reduces: every map's output for this partition
    datanode_url: str | None = None  # the worker's own datanode, preferred for reads
    sort_buffer_records: int = 1_000_000
    retry_window: float = Field(default=60.0, ge=0)  # seconds to ride out a namenode restart


class AttemptResult(Wire):
    """What a child process reports when its attempt ends."""

    attempt_id: str
    state: TaskState
    counters: Counters = {}
    error: str | None = None  # the user's traceback, or why the attempt died
    fetch_failures: list[int] = []  # reduces: map indexes whose output could not be fetched
    partition_bytes: list[int] = []  # maps: bytes of output per partition


class SubmitRequest(Wire):
    name: str = Field(default="job", max_length=200)
    # Whose job it is: its files are read and written as this user. A client that names
    # nobody is nobody in particular, as WebHDFS's caller without user.name.
    user: str = Field(default="dr.who", pattern=r"^[A-Za-z0-9._-]{1,64}$")
    whole_files: bool = False  # the wholefile input format: a file is one split
    inputs: list[str] = Field(min_length=1, max_length=10_000)
    output: str
    num_reducers: int = Field(default=1, ge=0, le=10_000)
    payload: str  # base64 of the cloudpickled JobFunctions
    max_attempts: int = Field(default=4, ge=1, le=20)
    speculative: bool = True


class WorkerHeartbeat(Wire):
    worker_id: str = Field(min_length=1, max_length=100)
    url: str = Field(min_length=1, max_length=500)
    datanode_id: str | None = None
    datanode_url: str | None = None
    slots: int = Field(ge=0, le=1024)
    running: list[str] = []  # attempt ids still running
    finished: list[AttemptResult] = []
    # Jobs whose files (payload, map outputs) the worker holds on its disk. The job tracker
    # answers which of them it no longer runs, so a worker that was down, or a job tracker
    # that restarted and forgot its jobs, still leaves no files behind.
    jobs: list[Annotated[str, Field(max_length=200)]] = Field(default=[], max_length=10_000)
    # The highest fencing token of a job tracker the worker has taken instructions from: a
    # job tracker with a lower one was deposed, and refuses the heartbeat.
    token: int = Field(default=0, ge=0)


class HeartbeatReply(Wire):
    launch: list[AttemptSpec] = []
    kill: list[str] = []  # attempt ids to kill
    finished_jobs: list[str] = []  # of the heartbeat's `jobs`, those not running: delete them
    token: int = 0  # the job tracker's fencing token: a worker ignores a reply with an older one
