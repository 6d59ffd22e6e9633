"""The job tracker's brain: jobs, tasks and attempts, events in, instructions out. Pure.

Stimuli: `add_job`, `heartbeat` (a worker's free slots, running and finished attempts),
`tick` (time passes: lost workers, hung attempts, stragglers), `kill_job`. Each returns
instructions for the job tracker to carry out:

* `Launch(worker, spec fields)` — start an attempt (delivered in the heartbeat reply);
* `Kill(worker, attempt)` — stop one (a losing speculative copy, a killed job, a hung task);
* `CommitTask(job, attempt)` — publish a successful reduce (or map-only map) attempt's
  output; only the first successful attempt of a task is ever committed;
* `FinishJob(job, state, error)` — commit or clean up the job's output. A job whose last
  task has just been committed finishes on the *next* stimulus (`heartbeat` or `tick`), not
  in the same batch as its last `CommitTask`: the job tracker carries out that commit first
  and, should it fail, reports `commit_failed` while the job can still retry the task;
* `Succeeded(job, kind, index, attempt)` — a task's first successful attempt (journal it);
* `Touched(job)` — the job's records changed (persist them).

A job tracker taking over resumes a job with `add_job(..., epoch=e)` — its attempts then
numbered from ``e * 1000`` — and `restore_task` for each task the journal says finished.

Rules, as Hadoop's: maps first, data-local when a worker beside a replica has a free slot;
reduces (speculative copies too) once every map has succeeded; a failed attempt is retried
up to `max_attempts` times, on another worker where one exists; a lost worker's running
attempts are rescheduled (not counted as failures) and its finished maps re-run while
reduces still need them; a reduce that cannot fetch a map's output has that map re-run; a
straggler gets one speculative copy once its siblings' typical duration has clearly passed.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from mapreduce.protocol import (
    AttemptResult,
    Counters,
    JobState,
    MapOutput,
    Split,
    TaskKind,
    TaskState,
    WorkerHeartbeat,
)

FETCH_FAILURE_LIMIT = 10  # reduce attempts lost to fetch failures before the job gives up


@dataclass(frozen=True, slots=True)
class Launch:
    worker: str
    attempt_id: str
    job_id: str
    kind: TaskKind
    index: int
    speculative: bool = False
    data_local: bool | None = None


@dataclass(frozen=True, slots=True)
class Kill:
    worker: str
    attempt_id: str


@dataclass(frozen=True, slots=True)
class CommitTask:
    job_id: str
    kind: TaskKind
    index: int
    attempt_id: str


@dataclass(frozen=True, slots=True)
class FinishJob:
    job_id: str
    state: JobState
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Succeeded:
    job_id: str
    kind: TaskKind
    index: int
    attempt_id: str


@dataclass(frozen=True, slots=True)
class Touched:
    job_id: str


Instruction = Launch | Kill | CommitTask | FinishJob | Succeeded | Touched
EPOCH_ATTEMPTS = 1000  # attempt numbers a takeover of a job moves on by


@dataclass
class Attempt:
    id: str
    task: Task
    worker: str
    started: float
    state: TaskState = TaskState.RUNNING
    finished: float | None = None
    error: str | None = None
    counters: Counters = field(default_factory=dict)
    speculative: bool = False
    data_local: bool | None = None


@dataclass
class Task:
    job: Job
    kind: TaskKind
    index: int
    split: Split | None = None
    state: TaskState = TaskState.PREP
    attempts: list[Attempt] = field(default_factory=list)
    failures: int = 0
    fetch_failures: int = 0
    failed_on: set[str] = field(default_factory=set)
    output: MapOutput | None = None  # maps: the successful attempt's output
    winner: Attempt | None = None

    def running(self) -> list[Attempt]:
        return [a for a in self.attempts if a.state is TaskState.RUNNING]


@dataclass
class Job:
    id: str
    num_reducers: int
    max_attempts: int
    speculative: bool
    submitted: float
    maps: list[Task] = field(default_factory=list)
    reduces: list[Task] = field(default_factory=list)
    state: JobState = JobState.RUNNING
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    first_attempt: int = 0  # the number of this epoch's first attempt of each task
    # Maps whose success is not journaled yet (`Succeeded` out, `journaled` not yet in):
    # reduces wait for them, so a takeover never has to run a finished map again.
    unjournaled: set[int] = field(default_factory=set)

    def tasks(self) -> list[Task]:
        return self.maps + self.reduces

    def counters(self) -> Counters:
        """Counters of every task's successful attempt, summed."""
        total: Counters = {}
        for task in self.tasks():
            if task.winner is not None:
                for name, value in task.winner.counters.items():
                    total[name] = total.get(name, 0) + value
        maps = [t.winner for t in self.maps if t.winner is not None]
        total["DATA_LOCAL_MAPS"] = sum(1 for a in maps if a.data_local)
        total["OTHER_LOCAL_MAPS"] = sum(1 for a in maps if a.data_local is False)
        return total

    def maps_done(self) -> int:
        return sum(1 for t in self.maps if t.state is TaskState.SUCCEEDED)

    def reduces_done(self) -> int:
        return sum(1 for t in self.reduces if t.state is TaskState.SUCCEEDED)


@dataclass
class Worker:
    id: str
    url: str
    datanode_id: str | None
    slots: int
    last_seen: float
    lost: bool = False
    attempts: set[str] = field(default_factory=set)  # attempt ids assigned and not ended


class Scheduler:
    def __init__(
        self,
        *,
        worker_timeout: float,
        task_timeout: float,
        launch_grace: float,
        speculative_after: float = 1.5,
        speculative_min: float = 2.0,
        locality_delay: float = 0.0,
    ) -> None:
        self.worker_timeout = worker_timeout
        self.task_timeout = task_timeout
        self.launch_grace = launch_grace  # a launched attempt must show up in reports by then
        self.speculative_after = speculative_after
        self.speculative_min = speculative_min
        # Delay scheduling: a map waits this long for a worker beside a replica with a free
        # slot before it runs anywhere else (0: run anywhere at once).
        self.locality_delay = locality_delay
        self.jobs: dict[str, Job] = {}
        self.workers: dict[str, Worker] = {}
        self.attempts: dict[str, Attempt] = {}

    # --- stimuli ----------------------------------------------------------------------------

    def add_job(
        self,
        job_id: str,
        splits: list[Split],
        *,
        num_reducers: int,
        now: float,
        max_attempts: int = 4,
        speculative: bool = True,
        epoch: int = 0,
        submitted: float | None = None,
    ) -> list[Instruction]:
        """A new job (`epoch` 0), or one resumed after `epoch` takeovers."""
        submitted = now if submitted is None else submitted
        job = Job(job_id, num_reducers, max_attempts, speculative, submitted, started=submitted)
        job.first_attempt = epoch * EPOCH_ATTEMPTS
        job.maps = [Task(job, TaskKind.MAP, i, split=s) for i, s in enumerate(splits)]
        job.reduces = [Task(job, TaskKind.REDUCE, r) for r in range(num_reducers)]
        self.jobs[job_id] = job
        out: list[Instruction] = [Touched(job_id)]
        if not job.maps and not job.reduces:
            out += self._finish(job, JobState.SUCCEEDED, None, now)
        return out

    def restore_task(
        self,
        job_id: str,
        kind: TaskKind,
        index: int,
        *,
        attempt_id: str,
        worker_id: str,
        worker_url: str,
        started: float,
        finished: float,
        counters: Counters,
        data_local: bool | None,
        now: float,
    ) -> None:
        """A resumed job's task finished before the takeover: it is not run again. A map's
        output is fetched from `worker_url`; its worker, until it heartbeats, is known
        with no free slots, and is lost — its maps run again — if it has not within
        `worker_timeout`."""
        job = self.jobs[job_id]
        task = (job.maps if kind is TaskKind.MAP else job.reduces)[index]
        attempt = Attempt(attempt_id, task, worker_id, started, TaskState.SUCCEEDED, finished,
                          counters=dict(counters), data_local=data_local)  # fmt: skip
        task.attempts.append(attempt)
        task.state, task.winner = TaskState.SUCCEEDED, attempt
        self.attempts[attempt_id] = attempt
        if kind is TaskKind.MAP and job.num_reducers:
            task.output = MapOutput(map_index=index, attempt_id=attempt_id, worker_url=worker_url)
            if worker_id and worker_id not in self.workers:
                self.workers[worker_id] = Worker(worker_id, worker_url, None, 0, now)

    def journaled(self, job_id: str, index: int) -> None:
        """Map `index`'s success is in the journal (or will never be: it was given up)."""
        job = self.jobs.get(job_id)
        if job is not None:
            job.unjournaled.discard(index)

    def heartbeat(self, hb: WorkerHeartbeat, now: float) -> list[Instruction]:
        out = self._finish_completed(now)
        worker = self.workers.get(hb.worker_id)
        if worker is None or worker.lost:
            worker = Worker(hb.worker_id, hb.url, hb.datanode_id, hb.slots, now)
            self.workers[hb.worker_id] = worker
        worker.url, worker.slots, worker.last_seen = hb.url, hb.slots, now
        worker.datanode_id = hb.datanode_id
        for result in hb.finished:
            out += self._attempt_ended(result, now)
        out += self._reconcile(worker, set(hb.running), now)
        out += self._assign(worker, now)
        return out

    def tick(self, now: float) -> list[Instruction]:
        out = self._finish_completed(now)
        for worker in self.workers.values():
            if not worker.lost and now - worker.last_seen > self.worker_timeout:
                out += self._worker_lost(worker, now)
        for attempt in list(self.attempts.values()):
            if attempt.state is TaskState.RUNNING and now - attempt.started > self.task_timeout:
                out.append(Kill(attempt.worker, attempt.id))
                out += self._attempt_failed(
                    attempt, f"task timed out after {self.task_timeout:.0f}s", now
                )
        return out

    def kill_job(self, job_id: str, now: float) -> list[Instruction]:
        job = self.jobs[job_id]
        if job.state.finished:
            return []
        return self._finish(job, JobState.KILLED, "killed by request", now)

    def excuse_silence(self, seconds: float, now: float) -> None:
        """The job tracker heard no worker for `seconds` because it was waiting on the DFS
        (a namenode restarting) while their heartbeats queued behind it. That silence was
        not the workers': it does not count towards `worker_timeout`."""
        for worker in self.live_workers():
            worker.last_seen = min(now, worker.last_seen + seconds)

    def commit_failed(self, attempt_id: str, reason: str, now: float) -> list[Instruction]:
        """The job tracker could not publish an attempt's output: treat it as failed."""
        attempt = self.attempts[attempt_id]
        task = attempt.task
        if task.winner is attempt:
            task.winner, task.state, task.output = None, TaskState.PREP, None
        attempt.state = TaskState.RUNNING  # so _attempt_failed sees it as ending now
        return self._attempt_failed(attempt, f"output commit failed: {reason}", now)

    # --- attempts ending ----------------------------------------------------------------------

    def _attempt_ended(self, result: AttemptResult, now: float) -> list[Instruction]:
        attempt = self.attempts.get(result.attempt_id)
        if attempt is None or attempt.state is not TaskState.RUNNING:
            return []  # already ended (killed, timed out, worker lost): a late report
        attempt.counters = dict(result.counters)
        if result.state is TaskState.SUCCEEDED:
            return self._attempt_succeeded(attempt, now)
        if result.state is TaskState.KILLED:
            return self._attempt_killed(attempt, result.error or "killed", now)
        if result.fetch_failures:
            return self._fetch_failed(attempt, result, now)
        return self._attempt_failed(attempt, result.error or "failed", now)

    def _close(self, attempt: Attempt, state: TaskState, error: str | None, now: float) -> None:
        attempt.state, attempt.error, attempt.finished = state, error, now
        worker = self.workers.get(attempt.worker)
        if worker is not None:
            worker.attempts.discard(attempt.id)

    def _attempt_succeeded(self, attempt: Attempt, now: float) -> list[Instruction]:
        task, job = attempt.task, attempt.task.job
        if task.state is TaskState.SUCCEEDED or job.state.finished:
            self._close(attempt, TaskState.KILLED, "another attempt finished first", now)
            return [Touched(job.id)]
        self._close(attempt, TaskState.SUCCEEDED, None, now)
        task.state, task.winner = TaskState.SUCCEEDED, attempt
        out: list[Instruction] = [Touched(job.id)]
        if task.kind is TaskKind.MAP and job.num_reducers:
            job.unjournaled.add(task.index)
            out.append(Succeeded(job.id, task.kind, task.index, attempt.id))
        for other in task.running():  # the losing speculative copy
            self._close(other, TaskState.KILLED, "another attempt finished first", now)
            out.append(Kill(other.worker, other.id))
        if task.kind is TaskKind.MAP and job.num_reducers:
            worker = self.workers[attempt.worker]
            task.output = MapOutput(
                map_index=task.index, attempt_id=attempt.id, worker_url=worker.url
            )
        else:
            out.append(CommitTask(job.id, task.kind, task.index, attempt.id))
        return out  # a job now complete finishes on the next stimulus: see _finish_completed

    def _attempt_failed(self, attempt: Attempt, error: str, now: float) -> list[Instruction]:
        task, job = attempt.task, attempt.task.job
        self._close(attempt, TaskState.FAILED, error, now)
        out: list[Instruction] = [Touched(job.id)]
        if job.state.finished or task.state is TaskState.SUCCEEDED:
            return out
        task.failures += 1
        task.failed_on.add(attempt.worker)
        if task.failures >= job.max_attempts:
            name = f"{task.kind.value.lower()} task {task.index}"
            message = f"{name} failed {task.failures} times; last attempt {attempt.id}:\n{error}"
            return out + self._finish(job, JobState.FAILED, message, now)
        if not task.running():
            task.state = TaskState.PREP
        return out

    def _attempt_killed(self, attempt: Attempt, reason: str, now: float) -> list[Instruction]:
        """Ended through no fault of its own (lost worker, vanished): retried, not counted."""
        task = attempt.task
        self._close(attempt, TaskState.KILLED, reason, now)
        if task.state is TaskState.RUNNING and not task.running():
            task.state = TaskState.PREP
        return [Touched(task.job.id)]

    def _fetch_failed(
        self, attempt: Attempt, result: AttemptResult, now: float
    ) -> list[Instruction]:
        task, job = attempt.task, attempt.task.job
        out = self._attempt_killed(attempt, result.error or "could not fetch map output", now)
        task.fetch_failures += 1
        if task.fetch_failures > FETCH_FAILURE_LIMIT:
            return out + self._finish(
                job, JobState.FAILED, f"reduce {task.index}: {result.error}", now
            )
        for index in result.fetch_failures:  # that map's output is gone: run it again
            if 0 <= index < len(job.maps):
                self._rerun_map(job.maps[index])
        return out

    def _rerun_map(self, task: Task) -> None:
        if task.state is TaskState.SUCCEEDED:
            task.state, task.output, task.winner = TaskState.PREP, None, None

    # --- workers --------------------------------------------------------------------------------

    def _reconcile(self, worker: Worker, running: set[str], now: float) -> list[Instruction]:
        """Attempts assigned to `worker` that it no longer reports have vanished."""
        out: list[Instruction] = []
        for attempt_id in list(worker.attempts):
            attempt = self.attempts[attempt_id]
            if attempt_id not in running and now - attempt.started > self.launch_grace:
                out += self._attempt_killed(attempt, f"attempt vanished from {worker.id}", now)
        for attempt_id in running - worker.attempts:  # not ours (any more): stop it
            out.append(Kill(worker.id, attempt_id))
        return out

    def _worker_lost(self, worker: Worker, now: float) -> list[Instruction]:
        worker.lost = True
        out: list[Instruction] = []
        for attempt_id in list(worker.attempts):
            out += self._attempt_killed(self.attempts[attempt_id], f"worker {worker.id} lost", now)
        for job in self.jobs.values():
            if job.state.finished or all(t.state is TaskState.SUCCEEDED for t in job.reduces):
                continue
            for task in job.maps:  # finished map output lived on that worker's disk
                if task.winner is not None and task.winner.worker == worker.id and job.num_reducers:
                    self._rerun_map(task)
                    out.append(Touched(job.id))
        return out

    def live_workers(self) -> list[Worker]:
        return [w for w in self.workers.values() if not w.lost]

    # --- assignment -----------------------------------------------------------------------------

    def _assign(self, worker: Worker, now: float) -> list[Instruction]:
        out: list[Instruction] = []
        free = worker.slots - len(worker.attempts)
        while free > 0:
            pick = self._pick(worker, now)
            if pick is None:
                break
            task, speculative = pick
            out.append(self._launch(task, worker, now, speculative))
            out.append(Touched(task.job.id))  # a running attempt is history too (timeline)
            free -= 1
        return out

    def _pick(self, worker: Worker, now: float) -> tuple[Task, bool] | None:
        """The next task for `worker`: oldest job first; its maps (data-local first), then
        its reduces once every map is done, then a straggler's speculative copy."""

        def allowed(t: Task) -> bool:
            return t.state is TaskState.PREP and not (
                worker.id in t.failed_on and self._elsewhere(t, worker)
            )

        for job in sorted(self.jobs.values(), key=lambda j: j.submitted):
            if job.state.finished:
                continue
            maps = [t for t in job.maps if allowed(t)]
            local = [t for t in maps if t.split and worker.datanode_id in t.split.hosts]
            remote = local or [t for t in maps if self._may_run_remote(t, worker, now)]
            if remote:
                return remote[0], False
            if not job.unjournaled and all(t.state is TaskState.SUCCEEDED for t in job.maps):
                reduces = [t for t in job.reduces if allowed(t)]
                if reduces:
                    return reduces[0], False
            straggler = self._straggler(job, worker, now)
            if straggler is not None:
                return straggler, True
        return None

    def _may_run_remote(self, task: Task, worker: Worker, now: float) -> bool:
        """Delay scheduling: a map runs away from its data only when no worker beside a
        replica has a free slot, or it has waited `locality_delay` for one."""
        if task.split is None or not task.split.hosts:
            return True
        holders_free = any(
            w.id != worker.id and w.datanode_id in task.split.hosts and w.slots > len(w.attempts)
            for w in self.live_workers()
        )
        if not holders_free:
            return True
        ready = max([task.job.submitted, *(a.finished for a in task.attempts if a.finished)])
        return now - ready >= self.locality_delay

    def _elsewhere(self, task: Task, worker: Worker) -> bool:
        """A task that failed on `worker` goes elsewhere while there is an elsewhere: a live
        worker with slots where it has not failed. Once it has failed on every one, any will
        do, or it would wait forever."""
        return any(
            w.id != worker.id and w.slots > 0 and w.id not in task.failed_on
            for w in self.live_workers()
        )

    def _straggler(self, job: Job, worker: Worker, now: float) -> Task | None:
        if not job.speculative:
            return None
        phases = [job.maps]
        if not job.unjournaled and all(t.state is TaskState.SUCCEEDED for t in job.maps):
            # A reduce attempt reads the map outputs known at its launch: while a map runs
            # again, a copy would be launched without that map's output and lose its records.
            phases.append(job.reduces)
        for tasks in phases:
            done = [
                a.finished - a.started
                for t in tasks
                if (a := t.winner) is not None and a.finished is not None
            ]
            if not done or any(t.state is TaskState.PREP for t in tasks):
                continue
            typical = statistics.median(done)
            limit = max(self.speculative_min, self.speculative_after * typical)
            for task in tasks:
                running = task.running()
                if (
                    task.state is TaskState.RUNNING
                    and len(running) == 1
                    and not any(a.speculative for a in task.attempts)
                    and running[0].worker != worker.id
                    and now - running[0].started > limit
                ):
                    return task
        return None

    def _launch(self, task: Task, worker: Worker, now: float, speculative: bool) -> Launch:
        job = task.job
        kind = "m" if task.kind is TaskKind.MAP else "r"
        number = job.first_attempt + len(task.attempts)  # restored ones too: still unique
        attempt_id = f"attempt_{job.id}_{kind}_{task.index:06d}_{number}"
        local = None
        if task.kind is TaskKind.MAP and task.split is not None:
            local = worker.datanode_id is not None and worker.datanode_id in task.split.hosts
        attempt = Attempt(
            attempt_id, task, worker.id, now, speculative=speculative, data_local=local
        )
        task.attempts.append(attempt)
        task.state = TaskState.RUNNING
        self.attempts[attempt_id] = attempt
        worker.attempts.add(attempt_id)
        return Launch(worker.id, attempt_id, job.id, task.kind, task.index, speculative, local)

    def map_outputs(self, job_id: str) -> list[MapOutput]:
        job = self.jobs[job_id]
        return [t.output for t in job.maps if t.output is not None]

    # --- the end ------------------------------------------------------------------------------

    def _finish_completed(self, now: float) -> list[Instruction]:
        """Jobs whose every task has succeeded, and whose commits the job tracker carried out
        since the previous stimulus without a `commit_failed`, are done."""
        out: list[Instruction] = []
        for job in self.jobs.values():
            if not job.state.finished and all(t.state is TaskState.SUCCEEDED for t in job.tasks()):
                out += self._finish(job, JobState.SUCCEEDED, None, now)
        return out

    def _finish(
        self, job: Job, state: JobState, error: str | None, now: float
    ) -> list[Instruction]:
        job.state, job.error, job.finished = state, error, now
        out: list[Instruction] = []
        for task in job.tasks():
            for attempt in task.running():
                self._close(attempt, TaskState.KILLED, f"job {state.value.lower()}", now)
                out.append(Kill(attempt.worker, attempt.id))
            if task.state in (TaskState.PREP, TaskState.RUNNING):
                task.state = TaskState.KILLED if state is not JobState.SUCCEEDED else task.state
        return [*out, FinishJob(job.id, state, error), Touched(job.id)]
