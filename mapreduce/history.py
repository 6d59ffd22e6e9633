"""The job tracker's job history: jobs, task attempts and their counters in SQLite.

Scheduling state lives in memory, and what a job tracker taking over needs to resume it in
the DFS (`mapreduce.journal`); this is this machine's index of it, read back by the API,
the CLI and the dashboard (a job tracker taking over adds the jobs its predecessors ended
from the journal). On becoming active the job tracker calls `mark_interrupted`: the
attempts the previous process was running died with it (KILLED), and a job that was PREP
or RUNNING that it does not resume — one journaled by no one — is FAILED with a reason.

Contracts:
* Every write is committed before it returns. The database is in WAL mode with
  ``synchronous=NORMAL``: a commit has been written to the ``-wal`` file (the OS page cache)
  but not fsynced. So a crash of the *process*, kill -9 included, loses no committed write;
  a power loss or OS crash may lose the last few commits, but never leaves the database
  inconsistent. That is the guarantee chosen: FULL would fsync on every attempt update, and
  what it adds (the last moments before a power cut) is what `mark_interrupted` writes off
  anyway.
* Thread safety: one connection (``check_same_thread=False``) guarded by one lock, held for
  the whole of each call. SQLite serialises writers anyway, so a connection per call would
  buy only SQLITE_BUSY retries and the cost of reopening; the calls are short. Other
  processes (a CLI reading the file) may read while the job tracker writes: WAL readers do
  not block the writer.
* Each save is an upsert of the whole record: the newest save wins, field by field.
  Attempts are not tied to their job by a foreign key, so an attempt may be saved before
  its job; `attempts(job_id)` simply finds whatever was saved under that id.
* The schema's version is ``PRAGMA user_version``. A database written by a newer minihadoop
  (a higher version) is refused with `HistorySchemaError` rather than misread, and is left
  untouched.
* Counters and lists are stored as JSON text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from mapreduce.protocol import Counters, JobState, TaskKind, TaskState
from minihadoop.errors import MiniHadoopError

SCHEMA_VERSION = 1

# Version 1. Later versions add numbered migrations run in order from the file's version.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    user          TEXT NOT NULL,
    state         TEXT NOT NULL,
    inputs        TEXT NOT NULL,  -- JSON list of paths
    output        TEXT NOT NULL,
    num_maps      INTEGER NOT NULL,
    num_reducers  INTEGER NOT NULL,
    submitted     REAL NOT NULL,
    started       REAL,
    finished      REAL,
    error         TEXT,
    counters      TEXT NOT NULL,  -- JSON object name -> int
    maps_done     INTEGER NOT NULL,
    reduces_done  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_submitted ON jobs (submitted, id);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state);
CREATE TABLE IF NOT EXISTS attempts (
    id            TEXT PRIMARY KEY,
    job_id        TEXT NOT NULL,
    kind          TEXT NOT NULL,
    task_index    INTEGER NOT NULL,
    worker        TEXT NOT NULL,
    state         TEXT NOT NULL,
    started       REAL NOT NULL,
    finished      REAL,
    error         TEXT,
    counters      TEXT NOT NULL,  -- JSON object name -> int
    speculative   INTEGER NOT NULL,
    data_local    INTEGER         -- NULL: not known, or not a map
);
CREATE INDEX IF NOT EXISTS attempts_by_job ON attempts (job_id, started, id);
"""

_JOB_COLUMNS = (
    "id, name, user, state, inputs, output, num_maps, num_reducers, submitted, started, "
    "finished, error, counters, maps_done, reduces_done"
)
_ATTEMPT_COLUMNS = (
    "id, job_id, kind, task_index, worker, state, started, finished, error, counters, "
    "speculative, data_local"
)
_UNFINISHED = (JobState.PREP.value, JobState.RUNNING.value)
_LIVE_ATTEMPT = (TaskState.PREP.value, TaskState.RUNNING.value)


class HistorySchemaError(MiniHadoopError):
    """The file is not a job history this version of minihadoop can read."""


@dataclass
class JobRecord:
    id: str
    name: str
    user: str
    state: JobState
    inputs: list[str]
    output: str
    num_maps: int
    num_reducers: int
    submitted: float
    started: float | None
    finished: float | None
    error: str | None
    counters: Counters = field(default_factory=dict)
    maps_done: int = 0
    reduces_done: int = 0


@dataclass
class AttemptRecord:
    id: str
    job_id: str
    kind: TaskKind
    index: int  # map index or reduce partition
    worker: str
    state: TaskState
    started: float
    finished: float | None
    error: str | None
    counters: Counters = field(default_factory=dict)
    speculative: bool = False
    data_local: bool | None = None  # maps: ran beside a replica of its split


class JobHistory:
    """Jobs and attempts in the SQLite file at `path` (created, with its folder, if absent)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit: each statement commits on its own; multi-statement writes use explicit
        # BEGIN IMMEDIATE ... COMMIT, so nothing is ever left in an implicit transaction.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            self._open()
        except BaseException:
            self._db.close()
            raise

    def _open(self) -> None:
        try:
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        except sqlite3.DatabaseError as e:
            raise HistorySchemaError(f"{self.path}: not a job history database: {e}") from e
        # Checked before anything is written, so a newer file is left exactly as it was.
        if version > SCHEMA_VERSION:
            raise HistorySchemaError(
                f"{self.path}: job history schema version {version} is newer than this "
                f"minihadoop supports ({SCHEMA_VERSION}); upgrade minihadoop to read it"
            )
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise HistorySchemaError(f"{self.path}: cannot use WAL mode (got {mode!r})")
        self._db.execute("PRAGMA synchronous=NORMAL")
        if version == 0:
            # One transaction, so a crash mid-way leaves version 0 and no tables; IF NOT
            # EXISTS, so two processes creating the same file at once both succeed.
            self._db.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
            )

    def save_job(self, job: JobRecord) -> None:
        """Insert or replace the job `job.id`; committed on return."""
        row = (
            job.id,
            job.name,
            job.user,
            JobState(job.state).value,
            json.dumps(list(job.inputs)),
            job.output,
            job.num_maps,
            job.num_reducers,
            job.submitted,
            job.started,
            job.finished,
            job.error,
            json.dumps(dict(job.counters), sort_keys=True),
            job.maps_done,
            job.reduces_done,
        )
        with self._lock:
            self._db.execute(_upsert("jobs", _JOB_COLUMNS), row)

    def save_attempt(self, attempt: AttemptRecord) -> None:
        """Insert or replace the attempt `attempt.id`; committed on return."""
        row = (
            attempt.id,
            attempt.job_id,
            TaskKind(attempt.kind).value,
            attempt.index,
            attempt.worker,
            TaskState(attempt.state).value,
            attempt.started,
            attempt.finished,
            attempt.error,
            json.dumps(dict(attempt.counters), sort_keys=True),
            int(attempt.speculative),
            None if attempt.data_local is None else int(attempt.data_local),
        )
        with self._lock:
            self._db.execute(_upsert("attempts", _ATTEMPT_COLUMNS), row)

    def job(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else _job(row)

    def jobs(self, limit: int = 100) -> list[JobRecord]:
        """The `limit` most recently submitted jobs, newest first."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, not {limit}")
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs ORDER BY submitted DESC, id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_job(row) for row in rows]

    def attempts(self, job_id: str) -> list[AttemptRecord]:
        """Every attempt saved under `job_id`, by start time, then id."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ATTEMPT_COLUMNS} FROM attempts WHERE job_id = ? ORDER BY started, id",
                (job_id,),
            ).fetchall()
        return [_attempt(row) for row in rows]

    def counts(self) -> tuple[dict[str, int], dict[str, int], int]:
        """How many jobs, and how many attempts, the history holds in each state; and the
        map output bytes its successful reduce attempts fetched."""
        with self._lock:
            jobs = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
            attempts = self._db.execute(
                "SELECT state, COUNT(*) FROM attempts GROUP BY state"
            ).fetchall()
            (shuffled,) = self._db.execute(
                "SELECT COALESCE(SUM(json_extract(counters, '$.REDUCE_SHUFFLE_BYTES')), 0) "
                "FROM attempts WHERE kind = ? AND state = ?",
                (TaskKind.REDUCE.value, TaskState.SUCCEEDED.value),
            ).fetchone()
        jobs_by = {str(s): int(n) for s, n in jobs}
        return jobs_by, {str(s): int(n) for s, n in attempts}, int(shuffled)

    def unfinished_jobs(self) -> list[JobRecord]:
        """Jobs in PREP or RUNNING, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_JOB_COLUMNS} FROM jobs WHERE state IN (?, ?) ORDER BY submitted, id",
                _UNFINISHED,
            ).fetchall()
        return [_job(row) for row in rows]

    def mark_interrupted(self, now: float, reason: str, resumed: Collection[str] = ()) -> list[str]:
        """Kill every PREP and RUNNING attempt of an unfinished job, and fail each such job
        but those `resumed` (error `reason`, finished `now`), in one transaction; the ids of
        the jobs failed, oldest first.

        For a job tracker becoming active, before any new job is accepted: the attempts it
        finds unfinished were running for a process that no longer exists.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    row[0]
                    for row in self._db.execute(
                        "SELECT id FROM jobs WHERE state IN (?, ?) ORDER BY submitted, id",
                        _UNFINISHED,
                    )
                ]
                for job_id in ids:
                    if job_id not in resumed:
                        self._db.execute(
                            "UPDATE jobs SET state = ?, error = ?, finished = ? WHERE id = ?",
                            (JobState.FAILED.value, reason, now, job_id),
                        )
                    self._db.execute(
                        "UPDATE attempts SET state = ?, finished = ?, error = COALESCE(error, ?)"
                        " WHERE job_id = ? AND state IN (?, ?)",
                        (TaskState.KILLED.value, now, reason, job_id, *_LIVE_ATTEMPT),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return [job_id for job_id in ids if job_id not in resumed]

    def close(self) -> None:
        """Close the database; idempotent. Any later call raises sqlite3.ProgrammingError."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> JobHistory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _upsert(table: str, columns: str) -> str:
    names = [name.strip() for name in columns.split(",")]
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "id")
    marks = ", ".join("?" for _ in names)
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({marks}) ON CONFLICT (id) DO UPDATE SET {updates}"
    )


def _counters(text: str) -> Counters:
    return {str(name): int(value) for name, value in json.loads(text).items()}


def _job(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        name=row["name"],
        user=row["user"],
        state=JobState(row["state"]),
        inputs=[str(path) for path in json.loads(row["inputs"])],
        output=row["output"],
        num_maps=row["num_maps"],
        num_reducers=row["num_reducers"],
        submitted=row["submitted"],
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        counters=_counters(row["counters"]),
        maps_done=row["maps_done"],
        reduces_done=row["reduces_done"],
    )


def _attempt(row: sqlite3.Row) -> AttemptRecord:
    data_local = row["data_local"]
    return AttemptRecord(
        id=row["id"],
        job_id=row["job_id"],
        kind=TaskKind(row["kind"]),
        index=row["task_index"],
        worker=row["worker"],
        state=TaskState(row["state"]),
        started=row["started"],
        finished=row["finished"],
        error=row["error"],
        counters=_counters(row["counters"]),
        speculative=bool(row["speculative"]),
        data_local=None if data_local is None else bool(data_local),
    )
