"""The job tracker: accepts jobs, drives the scheduler, commits output, keeps history.

`JobTracker` holds the pure `Scheduler` behind a lock and carries out its instructions:
launches and kills are queued for the worker's next heartbeat reply; task commits and job
commits are DFS renames; every change to a job is written to this machine's SQLite history
(what the API shows), and what another job tracker needs to resume the job to the journal
in the DFS (`mapreduce.journal`).

One job tracker is active at a time: the holder of the lock `JOBTRACKER_LOCK`
(`mapreduce.jobtracker_app`). It is made with that lock's fencing `token` and a DFS client
fenced by it, so everything it changes in the DFS — commits, the journal — is refused once
another has taken the lock; its heartbeat replies carry the token, and workers ignore
replies with a token older than one they have seen. `recover` is what it does first:
resume every job the journal holds unfinished (finished tasks are not run again; the rest
are scheduled afresh), and add the jobs it holds finished to the history.

Output commit, as Hadoop's v1 committer: an attempt writes under
``<output>/_temporary/<attempt>/``; committing a task moves its file to
``<output>/_temporary/committed/``; committing the job moves every part into ``<output>/``,
removes ``_temporary`` and finally writes ``_SUCCESS``. A job that fails or is killed leaves
no ``_SUCCESS`` and no ``_temporary``. The job tracker never unpickles a job's payload: it
only stores it for workers.

A namenode restart: the job tracker's DFS client retries within `retry_window`, so a commit
waits for the namenode to come back (heartbeats wait behind it, and that silence is not held
against the workers). A rename whose answer was lost is recognised by its result. Removing a
failed or killed job's ``_temporary`` never waits: it is recorded (`PendingCleanups`), tried
once, and tried again by `retry_cleanups` on a timer and after a restart until it is done.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import getpass
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from coord.errors import StaleFenceError
from mapreduce.cleanup import PendingCleanups
from mapreduce.history import AttemptRecord, JobHistory, JobRecord
from mapreduce.journal import JobPlan, Journal, StoredJob, TaskDone, task_name
from mapreduce.protocol import (
    AttemptSpec,
    HeartbeatReply,
    JobState,
    SubmitRequest,
    TaskKind,
    TaskState,
    WorkerHeartbeat,
    checked_job_id,
)
from mapreduce.scheduler import (
    CommitTask,
    FinishJob,
    Instruction,
    Job,
    Kill,
    Launch,
    Scheduler,
    Succeeded,
    Touched,
)
from mapreduce.serialization import unseal_payload
from mapreduce.splits import plan_splits
from minihadoop import paths
from minihadoop.config import JOBTRACKER_USER, Settings
from minihadoop.errors import (
    AccessControlError,
    ConnectionLostError,
    FileAlreadyExistsError,
    FileNotFoundError_,
    IllegalArgumentError,
    MiniHadoopError,
    StandbyError,
    UnavailableError,
)
from minihadoop.filesystem import FileSystem
from minihadoop.globbing import has_magic
from minihadoop.groups import GroupMapping
from minihadoop.signing import Keys

log = logging.getLogger("minihadoop.jobtracker")
_INTERRUPTED = "the job tracker restarted while this job was running"
MAX_PAYLOAD = 64 << 20


class JobTracker:
    def __init__(
        self,
        directory: Path,
        fs: FileSystem,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        token: int = 0,
    ) -> None:
        """`fs`: the DFS client, fenced by `token` when the job tracker holds the lock."""
        self.directory = directory
        self.fs = fs
        self.settings = settings
        self._groups = GroupMapping(settings.user_groups)
        self.clock = clock
        self.token = token
        self._seal_key = Keys.derive(settings.token).seal
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "payloads").mkdir(exist_ok=True)
        self.history = JobHistory(directory / "history.db")
        self.cleanups = PendingCleanups(directory / "cleanup")
        self.journal = Journal(fs)
        # Cleanups are tried where the job tracker must not wait (under its lock, at start):
        # with no retries. What fails stays pending for `retry_cleanups`.
        self._fs_once = fs.with_retry_window(0.0)  # fenced as `fs` is
        self._journal_once = Journal(self._fs_once)
        self._unjournaled: set[str] = set()  # jobs of a version that kept no journal
        self.scheduler = Scheduler(
            worker_timeout=settings.worker_timeout,
            task_timeout=settings.task_timeout,
            launch_grace=max(5.0, 10 * settings.mr_heartbeat_interval),
            locality_delay=3 * settings.mr_heartbeat_interval,
        )
        self.lock = threading.RLock()
        self.records: dict[str, JobRecord] = {}
        self._launches: dict[str, list[AttemptSpec]] = {}
        self._kills: dict[str, list[str]] = {}
        self._worker_datanode: dict[str, str | None] = {}
        self._saved: dict[str, tuple[str, float | None]] = {}
        self.resumed: list[str] = []
        self.maps_restored = 0
        # Whether this job tracker may still believe it holds the lock (its session's lease).
        self.still_active: Callable[[], bool] = lambda: True
        self._deposed = False
        # Called (from the journal's thread) when a job's reduces may start: the last of its
        # maps is journaled. The daemon asks the workers to heartbeat now.
        self.on_reduces_ready: Callable[[], object] = lambda: None
        # How often each job's status changed (its "version"), and what is called, under the
        # lock, with the jobs whose status changed: what long polls of a status wait on. It
        # must only hand the news on (the daemon wakes its waiting requests), never call in.
        self._versions: dict[str, int] = {}
        # Jobs that succeeded whose end is not journaled yet: shown as RUNNING until it is,
        # so no client hears of a success a restarted job tracker would not know.
        self._ending: set[str] = set()
        self.on_change: Callable[[set[str]], object] = lambda _job_ids: None

    # --- taking over ----------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Resume the jobs the journal holds unfinished; the ids of those resumed. Called
        once, before the job tracker answers anyone: a worker told that a job is not
        running would delete its map outputs."""
        now = self.clock()
        # Nothing runs yet, so every payload cached here is of a job that ended, or that
        # the journal will give again.
        for stale in (self.directory / "payloads").iterdir():
            stale.unlink(missing_ok=True)
        ended: list[str] = []
        pending = self.cleanups.pending()  # failed or killed here, their end not journaled
        for job_id in self.journal.job_ids():
            state = self.journal.state(job_id)  # one listing: takeovers stay quick
            if state == "ended":
                ended.append(job_id)
            elif state == "unfinished" and job_id not in pending:
                stored = self._load(job_id)
                if stored is not None:  # None: unreadable, said in the log
                    self._resume_or_skip(stored, now)
        interrupted = self.history.mark_interrupted(now, _INTERRUPTED, [*self.resumed, *ended])
        self._unjournaled.update(interrupted)  # jobs of a version that kept no journal
        for job_id in interrupted:
            if (record := self.history.job(job_id)) is not None:
                self.cleanups.add(job_id, record.output)
        for job_id in self.resumed:
            self._persist(job_id)
        self._import_ended(ended)
        self.retry_cleanups()
        if self.resumed:
            log.warning(
                "resumed %d job(s) (%s); %d finished map(s) not run again",
                len(self.resumed), ", ".join(self.resumed), self.maps_restored,
            )  # fmt: skip
        return self.resumed

    @contextlib.contextmanager
    def _or_skipped(self, job_id: str, consequence: str) -> Iterator[None]:
        """Run the block on job `job_id`'s journal; if what it holds cannot be read or does
        not make sense, say so in the log with `consequence` and go on — one bad folder
        must not keep every other job (and the job tracker) from resuming. A namenode that
        cannot be reached is raised: the takeover is tried again."""
        try:
            yield
        except UnavailableError:
            raise
        except (MiniHadoopError, ValueError, TypeError, KeyError, IndexError) as exc:
            log.error("job %s: %s: %s", job_id, consequence, str(exc)[:500])

    def _load(self, job_id: str) -> StoredJob | None:
        """A job's journal; None for one whose submission never finished, or unreadable."""
        with self._or_skipped(job_id, "its journal cannot be read, so it is not resumed"):
            stored = self.journal.load(job_id)
            if stored is not None and stored.plan.id != job_id:
                raise ValueError(f"its job.json is job {stored.plan.id}'s")
            return stored
        return None

    def _resume_or_skip(self, stored: StoredJob, now: float) -> None:
        job_id = stored.plan.id
        with self._or_skipped(job_id, "its journal cannot be resumed, so it is not"):
            self._resume(stored, now)
            return
        self.records.pop(job_id, None)  # what it got as far as doing is undone
        self.scheduler.jobs.pop(job_id, None)
        if job_id in self.resumed:
            self.resumed.remove(job_id)

    def _resume(self, stored: StoredJob, now: float) -> None:
        plan = stored.plan
        epoch = stored.epoch + 1
        committed = self._committed_parts(plan.output, self.fs.as_user(plan.user))
        self.journal.set_epoch(plan.id, epoch)  # before any attempt of this epoch is named
        self.records[plan.id] = JobRecord(
            id=plan.id, name=plan.name, user=plan.user, state=JobState.RUNNING,
            inputs=plan.inputs, output=plan.output, num_maps=len(plan.splits),
            num_reducers=plan.num_reducers, submitted=plan.submitted, started=plan.submitted,
            finished=None, error=None, counters={},
        )  # fmt: skip
        self.scheduler.add_job(
            plan.id, plan.splits, num_reducers=plan.num_reducers, now=now,
            max_attempts=plan.max_attempts, speculative=plan.speculative, epoch=epoch,
            submitted=plan.submitted,
        )  # fmt: skip
        # What the output folder holds is what was committed, journaled or not; once every
        # part is, no map output is needed any more (the job was committing).
        commits = TaskKind.REDUCE if plan.num_reducers else TaskKind.MAP
        count = plan.num_reducers or len(plan.splits)
        every = all(_part_name(commits, i) in committed for i in range(count))
        tasks = [(TaskKind.MAP, i) for i in range(len(plan.splits))]
        tasks += [(TaskKind.REDUCE, r) for r in range(plan.num_reducers)]
        for kind, index in tasks:
            done = stored.tasks.get((kind, index))
            if kind is commits:
                if _part_name(kind, index) in committed:
                    self._restore(plan.id, kind, index, done, now)
            elif done is not None or every:
                self._restore(plan.id, kind, index, done, now)
        self.resumed.append(plan.id)

    def _restore(
        self, job_id: str, kind: TaskKind, index: int, done: TaskDone | None, now: float
    ) -> None:
        if done is None:  # committed, its record lost with the job tracker: no counters
            done = TaskDone(kind=kind, index=index, attempt_id=f"{job_id}_{task_name(kind, index)}",
                            worker_id="", worker_url="", started=now, finished=now)  # fmt: skip
        self.scheduler.restore_task(
            job_id, kind, index, attempt_id=done.attempt_id, worker_id=done.worker_id,
            worker_url=done.worker_url, started=done.started, finished=done.finished,
            counters=done.counters, data_local=done.data_local, now=now,
        )  # fmt: skip
        if kind is TaskKind.MAP:
            self.maps_restored += 1

    def _committed_parts(self, output: str, fs: FileSystem) -> set[str]:
        """Part files committed: in ``_temporary/committed``, or already in place."""
        names: set[str] = set()
        for folder in (f"{output}/_temporary/committed", output):
            with contextlib.suppress(FileNotFoundError_):
                names |= {e.name for e in fs.ls(folder) if e.name.startswith("part-")}
        return names

    def _import_ended(self, job_ids: list[str]) -> None:
        """Jobs the journal holds ended, into this machine's history where it does not
        know their end: ended elsewhere, or running when this machine last saw them."""
        for job_id in job_ids:
            local = self.history.job(job_id)
            if local is not None and local.state.finished and local.error != _INTERRUPTED:
                continue
            self._import_end(job_id)

    def _import_end(self, job_id: str) -> None:
        with self._or_skipped(job_id, "its journaled end cannot be read"):
            stored = self.journal.load(job_id)
            if stored is None or stored.end is None:
                return
            record, attempts = stored.end
            self.history.save_job(record)
            for attempt in attempts:
                self.history.save_attempt(attempt)

    # --- jobs -------------------------------------------------------------------------------

    def submit(self, req: SubmitRequest) -> str:
        """Validate, plan splits and start a job; returns its id. Nothing runs on a bad job."""
        output = paths.normalize(req.output)
        # A job's files are read and written as its user, whose permissions they need.
        fs = self.fs.as_user(req.user)
        if fs.exists(output):
            raise FileAlreadyExistsError(f"Output directory {output} already exists")
        try:
            payload = base64.b64decode(req.payload, validate=True)
        except (binascii.Error, ValueError):
            raise IllegalArgumentError("job payload is not valid base64") from None
        if not payload or len(payload) > MAX_PAYLOAD:
            raise IllegalArgumentError(f"job payload must be 1 byte to {MAX_PAYLOAD} bytes")
        unseal_payload(payload, self._seal_key)  # workers would refuse it: refuse it now
        files = self._input_files([paths.normalize(p) for p in req.inputs], fs)
        splits = plan_splits(fs.blocks_many(files), whole=req.whole_files)
        now = self.clock()
        job_id = f"job_{time.strftime('%Y%m%d%H%M%S', time.gmtime(now))}_{uuid.uuid4().hex[:6]}"
        fs.mkdir(f"{output}/_temporary/committed")  # fails first for a bad output path
        plan = JobPlan(
            id=job_id, name=req.name, user=req.user, inputs=files, output=output,
            num_reducers=req.num_reducers, max_attempts=req.max_attempts,
            speculative=req.speculative, submitted=now, splits=splits,
        )  # fmt: skip
        self.journal.create(plan, payload)  # durable before the job is acknowledged
        (self.directory / "payloads" / f"{job_id}.pkl").write_bytes(payload)
        record = JobRecord(
            id=job_id,
            name=req.name,
            user=req.user,
            state=JobState.RUNNING,
            inputs=files,
            output=output,
            num_maps=len(splits),
            num_reducers=req.num_reducers,
            submitted=now,
            started=now,
            finished=None,
            error=None,
            counters={},
        )
        with self.lock:
            self.records[job_id] = record
            self._apply(
                self.scheduler.add_job(
                    job_id,
                    splits,
                    num_reducers=req.num_reducers,
                    now=now,
                    max_attempts=req.max_attempts,
                    speculative=req.speculative,
                )
            )
        log.warning("job %s submitted: %d maps, %d reduces", job_id, len(splits), req.num_reducers)
        return job_id

    def _input_files(self, inputs: list[str], fs: FileSystem) -> list[str]:
        """Every file named, or below a folder named — a glob naming those it matches, as
        Hadoop's FileInputFormat expands them; hidden (`.`/`_`) names are skipped."""
        files: list[str] = []
        named: list[str] = []
        for pattern in inputs:
            if not has_magic(pattern):
                named.append(pattern)
                continue
            matched = fs.glob(pattern)
            if not matched:
                raise FileNotFoundError_(f"Input Pattern {pattern} matches 0 files")
            named += matched
        for path in named:
            status = fs.stat(path)  # FileNotFound for a missing input
            if not status.is_dir:
                files.append(path)
                continue
            todo = [path]
            while todo:
                for entry in fs.ls(todo.pop()):
                    if entry.name.startswith(("_", ".")):
                        continue
                    (todo if entry.is_dir else files).append(entry.path)
        if not files:
            raise FileNotFoundError_(f"no input files in {', '.join(inputs)}")
        return list(dict.fromkeys(files))  # each once, where it first came

    def payload(self, job_id: str) -> bytes:
        """A running job's payload: from this machine's cache, else from the journal."""
        path = self.directory / "payloads" / f"{checked_job_id(job_id)}.pkl"
        if path.exists():
            return path.read_bytes()
        if not self._running(job_id):
            raise FileNotFoundError_(f"no payload for job {job_id}")
        data = self.journal.payload(job_id)
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return data

    def kill(self, job_id: str, user: str | None = None) -> JobState:
        """Kill a job for `user`: its owner or an administrator (None: the tracker's own
        doing), as Hadoop's KILL_JOB rule."""
        with self.lock:
            record = self.records.get(job_id) or self.history.job(job_id)
            if record is None:
                raise FileNotFoundError_(f"no job {job_id}")
            if user is not None and user != record.user and not self._administrator(user):
                raise AccessControlError(
                    f"User {user} cannot perform operation KILL_JOB on {job_id}"
                )
            if job_id not in self.scheduler.jobs:
                return record.state
            self._apply(self.scheduler.kill_job(job_id, self.clock()))
            return self.scheduler.jobs[job_id].state

    def _administrator(self, user: str) -> bool:
        """Hadoop's cluster administrators: the job tracker's users (its DFS one and the
        account it runs as) and the file system's superuser group."""
        if user in (JOBTRACKER_USER, getpass.getuser()):
            return True
        return self.settings.supergroup in self._groups.groups(user)

    # --- workers ------------------------------------------------------------------------------

    def heartbeat(self, hb: WorkerHeartbeat) -> HeartbeatReply:
        if hb.token > self.token:
            raise StandbyError(
                f"this job tracker's fencing token {self.token} is older than the worker's "
                f"{hb.token}: another job tracker is active"
            )
        with self.lock:
            self._worker_datanode[hb.worker_id] = hb.datanode_url
            self._apply(self.scheduler.heartbeat(hb, self.clock()))
            # Commits this heartbeat carried out may have finished a job: end it now rather
            # than a tick later (the scheduler ends a job one stimulus after its last commit).
            self._apply(self.scheduler.tick(self.clock()))
            return HeartbeatReply(
                launch=self._launches.pop(hb.worker_id, []),
                kill=self._kills.pop(hb.worker_id, []),
                finished_jobs=[j for j in hb.jobs if not self._running(j)],
                token=self.token,
            )

    def _running(self, job_id: str) -> bool:
        job = self.scheduler.jobs.get(job_id)
        return job is not None and not job.state.finished

    def tick(self) -> None:
        with self.lock:
            self._apply(self.scheduler.tick(self.clock()))

    # --- carrying out instructions ----------------------------------------------------------------

    def _apply(self, instructions: list[Instruction]) -> None:
        started = self.clock()
        try:
            self._carry_out(instructions)
        finally:
            # Commits may have waited out a namenode restart with heartbeats queued behind;
            # a batch that took no longer than a heartbeat held nobody up.
            now = self.clock()
            if now - started > self.settings.mr_heartbeat_interval:
                self.scheduler.excuse_silence(now - started, now)

    def _carry_out(self, instructions: list[Instruction]) -> None:
        queue = list(instructions)
        touched: set[str] = set()
        while queue:
            ins = queue.pop(0)
            match ins:
                case Launch():
                    self._launches.setdefault(ins.worker, []).append(self._spec(ins))
                case Kill():
                    self._kills.setdefault(ins.worker, []).append(ins.attempt_id)
                case CommitTask():
                    queue += self._commit_task(ins)
                case FinishJob():
                    self._finish_job(ins)
                case Succeeded():
                    self._journal_task(ins.job_id, ins.kind, ins.index, ins.attempt_id, True)
                case Touched():
                    touched.add(ins.job_id)
        for job_id in touched:
            self._persist(job_id)
            self._versions[job_id] = self._versions.get(job_id, 0) + 1
        if touched:
            self.on_change(touched)

    def _spec(self, launch: Launch) -> AttemptSpec:
        job = self.scheduler.jobs[launch.job_id]
        task = (job.maps if launch.kind is TaskKind.MAP else job.reduces)[launch.index]
        record = self.records[launch.job_id]
        if launch.kind is TaskKind.REDUCE or not job.num_reducers:  # it will write output
            with contextlib.suppress(MiniHadoopError):  # if this fails, so will the attempt
                self.fs.as_user(record.user).mkdir(
                    f"{record.output}/_temporary/{launch.attempt_id}"
                )
        return AttemptSpec(
            job_id=launch.job_id,
            attempt_id=launch.attempt_id,
            kind=launch.kind,
            index=launch.index,
            num_reducers=job.num_reducers,
            namenode=self.fs.namenode,
            namenodes=list(self.fs.namenodes),
            output=record.output,
            user=record.user,
            split=task.split,
            map_outputs=self.scheduler.map_outputs(job.id)
            if launch.kind is TaskKind.REDUCE
            else [],
            datanode_url=self._worker_datanode.get(launch.worker),
            sort_buffer_records=self.settings.sort_buffer_records,
            retry_window=self.settings.retry_window,
        )

    def _commit_task(self, ins: CommitTask) -> list[Instruction]:
        record = self.records[ins.job_id]
        output, name = record.output, _part_name(ins.kind, ins.index)
        try:
            self._move(
                self.fs.as_user(record.user),
                f"{output}/_temporary/{ins.attempt_id}/{name}",
                f"{output}/_temporary/committed/{name}",
            )
        except MiniHadoopError as exc:
            if self.deposed(exc):  # not the attempt's fault: the successor commits it
                return []
            return self.scheduler.commit_failed(ins.attempt_id, str(exc), self.clock())
        self._journal_task(ins.job_id, ins.kind, ins.index, ins.attempt_id)
        return []

    def deposed(self, exc: BaseException | None = None) -> bool:
        """Whether another job tracker has (or may have) taken over: the DFS refused a
        change as fenced by a stale token, or this one's lock can no longer be believed
        held. A deposed job tracker records no job's end: its successor resumes the job."""
        if isinstance(exc, StaleFenceError) or not self.still_active():
            self._deposed = True
        return self._deposed

    def _journal_task(
        self, job_id: str, kind: TaskKind, index: int, attempt_id: str, gate: bool = False
    ) -> None:
        """Journal a finished task behind the caller; with `gate`, a map the job's reduces
        wait for until it is journaled (or the write was given up)."""
        attempt = self.scheduler.attempts[attempt_id]
        worker = self.scheduler.workers.get(attempt.worker)
        done = TaskDone(
            kind=kind, index=index, attempt_id=attempt_id, worker_id=attempt.worker,
            worker_url=worker.url if worker else "", started=attempt.started,
            finished=attempt.finished or self.clock(), counters=attempt.counters,
            data_local=attempt.data_local,
        )  # fmt: skip

        def write() -> None:
            try:
                self.journal.task_done(job_id, done)
            finally:
                if gate:
                    with self.lock:
                        self.scheduler.journaled(job_id, index)
                        job = self.scheduler.jobs.get(job_id)
                        ready = job is not None and not job.unjournaled
                    if ready:
                        self.on_reduces_ready()

        self.journal.later(write)

    def _move(self, fs: FileSystem, src: str, dst: str) -> None:
        """Rename `src` to `dst`: `src` gone and `dst` there means it happened."""
        self._unless_done(
            lambda: fs.mv(src, dst),
            lambda: not fs.exists(src) and fs.exists(dst),
        )

    def _unless_done(self, action: Callable[[], object], done: Callable[[], bool]) -> None:
        """Carry out a commit step that must not be sent twice. If the namenode went away
        before answering, whether it happened is read from the namespace, which only this
        job tracker changes under a job's output folder."""
        try:
            action()
        except ConnectionLostError:
            if not done():
                raise

    def _finish_job(self, ins: FinishJob) -> None:
        record = self.records[ins.job_id]
        state, error = ins.state, ins.error
        if self.deposed():
            log.warning("job %s: not ended here (%s): this job tracker was deposed", ins.job_id,
                        state.value)  # fmt: skip
            return
        if state is JobState.SUCCEEDED:
            try:
                self._commit_job(record)
            except MiniHadoopError as exc:
                if self.deposed(exc):
                    log.warning("job %s: its commit is left to the job tracker that took over",
                                ins.job_id)  # fmt: skip
                    return
                state, error = JobState.FAILED, f"job commit failed: {exc}"
                self.scheduler.jobs[ins.job_id].state = state
        record.state, record.error, record.finished = state, error, self.clock()
        if state is not JobState.SUCCEEDED:
            # Recorded here first, then journaled and cleaned up now or when the namenode
            # can be reached: this job tracker, restarted, does not resume it meanwhile.
            self.cleanups.add(record.id, record.output)
            self._try_cleanup(record.id, record.output)
        else:
            self._ending.add(record.id)
            self.journal.later(lambda: self._journal_end(record.id, self.journal))
        (self.directory / "payloads" / f"{ins.job_id}.pkl").unlink(missing_ok=True)
        log.warning("job %s %s%s", ins.job_id, state.value, f": {error}" if error else "")

    def _journal_end(self, job_id: str, journal: Journal) -> None:
        """Journal the end of job `job_id`, as its history has it."""
        with self.lock:
            self._persist(job_id)
            record = self.records.get(job_id) or self.history.job(job_id)
            attempts = self.history.attempts(job_id)
        if record is not None and job_id not in self._unjournaled:
            try:
                journal.end(record, attempts)
            except MiniHadoopError as exc:
                log.warning("job %s: its end is not journaled yet: %s", job_id, exc)
                raise
        with self.lock:  # durable now: its success may be told
            if job_id in self._ending:
                self._ending.discard(job_id)
                self._versions[job_id] = self._versions.get(job_id, 0) + 1
                self.on_change({job_id})

    def _commit_job(self, record: JobRecord) -> None:
        committed = f"{record.output}/_temporary/committed"
        fs = self.fs.as_user(record.user)
        try:
            entries = fs.ls(committed)
        except FileNotFoundError_:  # moved and removed by a job tracker before this one
            entries = []
        for entry in entries:
            self._move(fs, entry.path, f"{record.output}/{entry.name}")
        temporary, success = f"{record.output}/_temporary", f"{record.output}/_SUCCESS"
        with contextlib.suppress(FileNotFoundError_):  # removed by a predecessor
            self._unless_done(
                lambda: fs.rm(temporary, recursive=True, skip_trash=True),
                lambda: not fs.exists(temporary),
            )
        self._unless_done(
            lambda: fs.write_bytes(success, b"", overwrite=True),
            lambda: fs.exists(success),
        )

    # --- cleaning up after failed and killed jobs ----------------------------------------------

    def retry_cleanups(self) -> None:
        """Try every pending cleanup again, oldest first, until the namenode is unavailable.
        Called on a timer, without the lock (it may wait on the namenode)."""
        pending = self.cleanups.pending()
        if not pending:
            return
        with self.lock:
            live = {r.output for r in self.records.values() if not r.state.finished}
        for job_id, output in pending.items():
            if output in live:  # a new job writes there now: that _temporary is not ours
                self.cleanups.done(job_id)
            elif not self._try_cleanup(job_id, output):
                return

    def _try_cleanup(self, job_id: str, output: str) -> bool:
        """Journal the failed or killed job's end — a job tracker taking over must not
        resume it — then remove its ``_temporary``: once each, without waiting; False if
        the namenode could not be reached (the cleanup stays pending)."""
        try:
            try:
                self._journal_end(job_id, self._journal_once)
            except FileAlreadyExistsError:  # ended by another job tracker: its end stands
                self._import_end(job_id)
            with self.lock:
                record = self.records.get(job_id) or self.history.job(job_id)
            fs = self._fs_once if record is None else self._fs_once.as_user(record.user)
            fs.rm(f"{output}/_temporary", recursive=True, skip_trash=True)
        except FileNotFoundError_:
            pass  # never made, or removed by an earlier try whose answer was lost
        except UnavailableError as exc:
            log.warning("job %s: %s/_temporary not removed yet: %s", job_id, output, exc)
            return False
        except MiniHadoopError as exc:  # waiting will not help: say so, and stop trying
            log.warning("job %s: cannot remove %s/_temporary: %s", job_id, output, exc)
        self.cleanups.done(job_id)
        return True

    def _persist(self, job_id: str) -> None:
        job = self.scheduler.jobs.get(job_id)
        record = self.records.get(job_id)
        if job is None or record is None:
            return
        record.counters = job.counters()
        record.maps_done, record.reduces_done = job.maps_done(), job.reduces_done()
        if not job.state.finished or record.state.finished:
            record.state = job.state if not record.state.finished else record.state
        self.history.save_job(record)
        for task in job.tasks():
            for a in task.attempts:
                key = (a.state.value, a.finished)
                if self._saved.get(a.id) == key:
                    continue
                self._saved[a.id] = key
                self.history.save_attempt(
                    AttemptRecord(
                        id=a.id,
                        job_id=job_id,
                        kind=task.kind,
                        index=task.index,
                        worker=a.worker,
                        state=a.state,
                        started=a.started,
                        finished=a.finished,
                        error=a.error,
                        counters=a.counters,
                        speculative=a.speculative,
                        data_local=a.data_local,
                    )
                )

    # --- reports ----------------------------------------------------------------------------------

    def job_status(self, job_id: str) -> dict[str, Any]:
        with self.lock:
            record = self.records.get(job_id) or self.history.job(job_id)
            if record is None:
                raise FileNotFoundError_(f"no job {job_id}")
            attempts = self.history.attempts(job_id)
            return {
                **self._told(_summary(record, self.scheduler.jobs.get(job_id))),
                # Changes whenever the rest may have: `?since=` of a long poll. Opaque, and
                # with the fencing token in, so no two job trackers' versions are alike.
                "version": f"{self.token}.{self._versions.get(job_id, 0)}",
                "attempts": [
                    {
                        "id": a.id,
                        "kind": a.kind.value,
                        "index": a.index,
                        "worker": a.worker,
                        "state": a.state.value,
                        "started": a.started,
                        "finished": a.finished,
                        "error": a.error,
                        "speculative": a.speculative,
                        "data_local": a.data_local,
                        "counters": a.counters,
                    }
                    for a in attempts
                ],
            }

    def list_jobs(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._told(_summary(r, self.scheduler.jobs.get(r.id)))
                for r in self.history.jobs(limit)
            ]

    def _told(self, summary: dict[str, Any]) -> dict[str, Any]:
        """`summary` as clients may hear it: a success not journaled yet is still running."""
        if summary["id"] in self._ending:
            return {**summary, "state": JobState.RUNNING.value, "finished": None}
        return summary

    def workers(self) -> list[dict[str, Any]]:
        with self.lock:
            now = self.clock()
            return [
                {
                    "id": w.id,
                    "url": w.url,
                    "datanode": w.datanode_id,
                    "slots": w.slots,
                    "running": len(w.attempts),
                    "state": "LOST" if w.lost else "LIVE",
                    "last_heartbeat_age": round(now - w.last_seen, 1),
                }
                for w in self.scheduler.workers.values()
            ]

    def metric_figures(self) -> dict[str, tuple[str, Any]]:
        """What the job tracker's ``/metrics`` reads at each scrape: jobs and attempts by
        state (its history's, since it began), workers, slots and map output shuffled."""
        jobs, attempts, shuffled = self.history.counts()
        with self.lock:
            workers = list(self.scheduler.workers.values())
            live = [w for w in workers if not w.lost]
        return {
            "jobs": ("Jobs by state", {s.value.lower(): jobs.get(s.value, 0) for s in JobState}),
            "attempts": ("Task attempts by state",
                         {s.value.lower(): attempts.get(s.value, 0) for s in TaskState}),
            "workers": ("Workers by state", {"live": len(live), "lost": len(workers) - len(live)}),
            "slots": ("Task slots of the live workers", sum(w.slots for w in live)),
            "running_attempts": ("Attempts running now", sum(len(w.attempts) for w in live)),
            "shuffle_bytes_total": ("Map output bytes fetched by successful reduce attempts",
                              shuffled),
        }  # fmt: skip

    def close(self) -> None:
        self.journal.close()
        self._fs_once.close()
        self.history.close()


def _summary(record: JobRecord, job: Job | None) -> dict[str, Any]:
    maps_done = job.maps_done() if job else record.maps_done
    reduces_done = job.reduces_done() if job else record.reduces_done
    end = record.finished or time.time()
    return {
        "id": record.id,
        "name": record.name,
        "user": record.user,
        "state": record.state.value,
        "inputs": record.inputs,
        "output": record.output,
        "maps": record.num_maps,
        "reduces": record.num_reducers,
        "maps_done": maps_done,
        "reduces_done": reduces_done,
        "map_progress": maps_done / record.num_maps if record.num_maps else 1.0,
        "reduce_progress": reduces_done / record.num_reducers if record.num_reducers else 1.0,
        "submitted": record.submitted,
        "finished": record.finished,
        "duration": round(end - record.submitted, 3),
        "error": record.error,
        "counters": job.counters() if job else record.counters,
    }


def _part_name(kind: TaskKind, index: int) -> str:
    return f"part-{'m' if kind is TaskKind.MAP else 'r'}-{index:05d}"
