"""The pure MapReduce scheduler (mapreduce.scheduler): events in, instructions out.

Every test drives `Scheduler` with heartbeats, ticks and kills at explicit times (plain
numbers, no clock, no sleeping) and asserts on the instructions it hands back, in the style
of dask's worker_state_machine tests. `Cluster` plays the workers: it remembers what each one
runs, so a heartbeat reports those attempts as running until a test finishes them. The last
tests run a seeded random cluster and check invariants after every step.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from mapreduce.protocol import (
    AttemptResult,
    JobState,
    Split,
    TaskKind,
    TaskState,
    WorkerHeartbeat,
)
from mapreduce.scheduler import (
    FETCH_FAILURE_LIMIT,
    CommitTask,
    FinishJob,
    Instruction,
    Kill,
    Launch,
    Scheduler,
    Succeeded,
    Task,
    Touched,
)
from tests.unit.test_pure_core import forbidden_imports

WORKER_TIMEOUT = 10.0
TASK_TIMEOUT = 100.0
LAUNCH_GRACE = 5.0

# --- builders ---------------------------------------------------------------------------------


def make_scheduler(**overrides: float) -> Scheduler:
    settings = {
        "worker_timeout": WORKER_TIMEOUT,
        "task_timeout": TASK_TIMEOUT,
        "launch_grace": LAUNCH_GRACE,
        "speculative_after": 1.5,
        "speculative_min": 2.0,
        **overrides,
    }
    return Scheduler(**settings)


def split(i: int, *hosts: str) -> Split:
    return Split(path=f"/in/part-{i}", start=0, length=100, file_length=100, hosts=list(hosts))


def splits(n: int, *hosts: str) -> list[Split]:
    return [split(i, *hosts) for i in range(n)]


def hb(
    worker: str,
    slots: int = 2,
    *,
    running: Iterable[str] = (),
    finished: Iterable[AttemptResult] = (),
    datanode: str | None = None,
) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        worker_id=worker,
        url=f"http://{worker}:8042",
        datanode_id=datanode,
        slots=slots,
        running=sorted(running),
        finished=list(finished),
    )


def ok(attempt_id: str, **counters: int) -> AttemptResult:
    return AttemptResult(attempt_id=attempt_id, state=TaskState.SUCCEEDED, counters=counters)


def failed(attempt_id: str, error: str = "Traceback: ValueError: boom") -> AttemptResult:
    return AttemptResult(attempt_id=attempt_id, state=TaskState.FAILED, error=error)


def fetch_failed(attempt_id: str, *maps: int) -> AttemptResult:
    return AttemptResult(
        attempt_id=attempt_id,
        state=TaskState.FAILED,
        error="could not fetch map output",
        fetch_failures=list(maps),
    )


def killed(attempt_id: str) -> AttemptResult:
    return AttemptResult(attempt_id=attempt_id, state=TaskState.KILLED, error="killed")


# --- reading instructions ---------------------------------------------------------------------


def launches(out: Sequence[Instruction]) -> list[Launch]:
    return [i for i in out if isinstance(i, Launch)]


def kills(out: Sequence[Instruction]) -> list[Kill]:
    return [i for i in out if isinstance(i, Kill)]


def commits(out: Sequence[Instruction]) -> list[CommitTask]:
    return [i for i in out if isinstance(i, CommitTask)]


def finishes(out: Sequence[Instruction]) -> list[FinishJob]:
    return [i for i in out if isinstance(i, FinishJob)]


def tasks_of(out: Sequence[Instruction]) -> list[tuple[TaskKind, int]]:
    return [(launch.kind, launch.index) for launch in launches(out)]


# --- a scripted cluster -----------------------------------------------------------------------


@dataclass
class Cluster:
    """Fake workers around a scheduler: what each one runs, as the scheduler told it.

    Launches and kills are carried out at once (as if the heartbeat reply arrived);
    `beat(worker, now, *results)` reports the results and everything else still running.
    """

    sched: Scheduler
    slots: dict[str, int] = field(default_factory=dict)
    datanodes: dict[str, str | None] = field(default_factory=dict)
    running: dict[str, set[str]] = field(default_factory=dict)
    log: list[Instruction] = field(default_factory=list)

    def add_job(
        self,
        job_id: str,
        job_splits: list[Split],
        num_reducers: int,
        now: float = 0.0,
        *,
        max_attempts: int = 4,
        speculative: bool = True,
    ) -> list[Instruction]:
        out = self.sched.add_job(
            job_id,
            job_splits,
            num_reducers=num_reducers,
            now=now,
            max_attempts=max_attempts,
            speculative=speculative,
        )
        self.log += out
        return out

    def beat(self, worker: str, now: float, *results: AttemptResult) -> list[Instruction]:
        running = self.running.setdefault(worker, set())
        running -= {r.attempt_id for r in results}
        beat = hb(
            worker,
            self.slots.get(worker, 2),
            running=running,
            finished=results,
            datanode=self.datanodes.get(worker),
        )
        return self._carry_out(self.sched.heartbeat(beat, now))

    def tick(self, now: float) -> list[Instruction]:
        return self._carry_out(self.sched.tick(now))

    def _carry_out(self, out: list[Instruction]) -> list[Instruction]:
        self.log += out
        for ins in out:
            if isinstance(ins, Launch):
                self.running.setdefault(ins.worker, set()).add(ins.attempt_id)
            elif isinstance(ins, Kill):
                self.running.setdefault(ins.worker, set()).discard(ins.attempt_id)
            elif isinstance(ins, Succeeded):  # journaled at once
                self.sched.journaled(ins.job_id, ins.index)
        return out

    def task(self, job_id: str, kind: TaskKind, index: int) -> Task:
        job = self.sched.jobs[job_id]
        return (job.maps if kind is TaskKind.MAP else job.reduces)[index]

    def only(self, out: Sequence[Instruction]) -> Launch:
        (launch,) = launches(out)
        return launch


def cluster(*workers: str, slots: int = 2, **overrides: float) -> Cluster:
    return Cluster(
        make_scheduler(**overrides),
        slots={w: slots for w in workers},
        datanodes={w: f"dn-{w}" for w in workers},
    )


# --- purity -----------------------------------------------------------------------------------


def test_the_scheduler_imports_no_io_clock_or_threads() -> None:
    assert forbidden_imports("mapreduce.scheduler") == {}


# --- jobs -------------------------------------------------------------------------------------


def test_adding_a_job_touches_it_and_launches_nothing_by_itself() -> None:
    sched = make_scheduler()
    assert sched.add_job("j", splits(2), num_reducers=1, now=0.0) == [Touched("j")]
    assert sched.jobs["j"].state is JobState.RUNNING
    assert [t.state for t in sched.jobs["j"].tasks()] == [TaskState.PREP] * 3


def test_a_job_with_no_splits_and_no_reducers_finishes_at_once() -> None:
    sched = make_scheduler()
    out = sched.add_job("j", [], num_reducers=0, now=3.0)
    assert finishes(out) == [FinishJob("j", JobState.SUCCEEDED, None)]
    assert sched.jobs["j"].finished == 3.0
    assert launches(sched.heartbeat(hb("w1"), 4.0)) == []


def test_a_job_with_no_splits_runs_its_reduces() -> None:
    c = cluster("w1", slots=4)
    c.add_job("j", [], num_reducers=2)
    out = c.beat("w1", 1.0)
    assert tasks_of(out) == [(TaskKind.REDUCE, 0), (TaskKind.REDUCE, 1)]
    c.beat("w1", 2.0, *(ok(launch.attempt_id) for launch in launches(out)))
    assert finishes(c.tick(3.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_the_oldest_job_is_served_first() -> None:
    c = cluster("w1", slots=1)
    c.add_job("new", splits(1), num_reducers=0, now=5.0)
    c.add_job("old", splits(1), num_reducers=0, now=1.0)
    assert c.only(c.beat("w1", 6.0)).job_id == "old"


# --- maps, then reduces -----------------------------------------------------------------------


def test_maps_launch_before_reduces() -> None:
    c = cluster("w1", slots=8)
    c.add_job("j", splits(3), num_reducers=2)
    out = c.beat("w1", 1.0)
    assert tasks_of(out) == [(TaskKind.MAP, 0), (TaskKind.MAP, 1), (TaskKind.MAP, 2)]
    assert all(launch.job_id == "j" and not launch.speculative for launch in launches(out))


def test_reduces_start_only_once_every_map_has_succeeded() -> None:
    c = cluster("w1", slots=8)
    c.add_job("j", splits(2), num_reducers=2)
    m0, m1 = launches(c.beat("w1", 1.0))
    assert launches(c.beat("w1", 2.0, ok(m0.attempt_id))) == []  # map 1 still running
    out = c.beat("w1", 3.0, ok(m1.attempt_id))
    assert tasks_of(out) == []  # map 1's success is journaled first
    assert tasks_of(c.beat("w1", 3.1)) == [(TaskKind.REDUCE, 0), (TaskKind.REDUCE, 1)]


def test_reduces_wait_while_a_failed_map_is_retried() -> None:
    c = cluster("w1", slots=8)
    c.add_job("j", splits(2), num_reducers=1)
    m0, m1 = launches(c.beat("w1", 1.0))
    out = c.beat("w1", 2.0, ok(m0.attempt_id), failed(m1.attempt_id))
    assert tasks_of(out) == [(TaskKind.MAP, 1)]  # the retry, no reduce yet
    c.beat("w1", 3.0, ok(c.only(out).attempt_id))
    assert tasks_of(c.beat("w1", 3.1)) == [(TaskKind.REDUCE, 0)]


def test_launches_are_bounded_by_free_slots() -> None:
    c = cluster("w1", slots=2)
    c.add_job("j", splits(5), num_reducers=1)
    first = c.beat("w1", 1.0)
    assert tasks_of(first) == [(TaskKind.MAP, 0), (TaskKind.MAP, 1)]
    assert launches(c.beat("w1", 2.0)) == []  # both slots taken
    out = c.beat("w1", 3.0, ok(launches(first)[0].attempt_id))
    assert tasks_of(out) == [(TaskKind.MAP, 2)]
    assert len(c.sched.workers["w1"].attempts) == 2


def test_assigned_attempts_count_against_slots_before_the_worker_reports_them() -> None:
    c = cluster("w1", slots=3)
    c.add_job("j", splits(5), num_reducers=0)
    sched = c.sched
    assert len(launches(sched.heartbeat(hb("w1", 3), 1.0))) == 3
    # The worker has not started them yet (within the launch grace): still no free slot.
    assert launches(sched.heartbeat(hb("w1", 3), 2.0)) == []


def test_a_worker_with_no_slots_gets_nothing_and_fewer_slots_mean_fewer_launches() -> None:
    c = cluster("w1")
    c.add_job("j", splits(4), num_reducers=0)
    c.slots["w1"] = 0
    assert launches(c.beat("w1", 1.0)) == []
    c.slots["w1"] = 1
    assert len(launches(c.beat("w1", 2.0))) == 1


# --- data locality ----------------------------------------------------------------------------


def test_a_worker_beside_a_replica_gets_that_split_first() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", [split(0, "dn-b"), split(1, "dn-c"), split(2, "dn-a", "dn-c")], 0)
    launch = c.only(c.beat("a", 1.0))
    assert (launch.index, launch.data_local) == (2, True)
    launch = c.only(c.beat("b", 1.0))
    assert (launch.index, launch.data_local) == (0, True)


def test_without_a_local_split_a_worker_takes_any_and_the_launch_says_so() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", [split(0, "dn-x"), split(1, "dn-y")], 0)
    launch = c.only(c.beat("a", 1.0))
    assert (launch.index, launch.data_local) == (0, False)


def test_a_worker_without_a_datanode_is_never_data_local() -> None:
    c = cluster("a", slots=1)
    c.datanodes["a"] = None
    c.add_job("j", [split(0, "dn-a")], 0)
    assert c.only(c.beat("a", 1.0)).data_local is False


def test_data_local_and_other_maps_are_counted_with_the_winners_counters() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", [split(0, "dn-a"), split(1, "dn-a"), split(2, "dn-x")], 1)
    local0, local1 = launches(c.beat("a", 1.0))
    remote = c.only(c.beat("b", 1.0))
    assert (local0.data_local, local1.data_local, remote.data_local) == (True, True, False)
    c.beat("a", 2.0, ok(local0.attempt_id, MAP_INPUT_RECORDS=3), ok(local1.attempt_id))
    c.beat("b", 2.0, ok(remote.attempt_id, MAP_INPUT_RECORDS=4, **{"user:x": 1}))
    counters = c.sched.jobs["j"].counters()
    assert counters["DATA_LOCAL_MAPS"] == 2
    assert counters["OTHER_LOCAL_MAPS"] == 1
    assert counters["MAP_INPUT_RECORDS"] == 7
    assert counters["user:x"] == 1


def test_counters_of_failed_attempts_are_not_summed() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", [split(0, "dn-a")], 0)
    first = c.only(c.beat("a", 1.0))
    c.beat("b", 1.0)
    c.beat("a", 2.0, failed(first.attempt_id, "MAP_INPUT_RECORDS would be 9"))
    retry = c.only(c.beat("b", 2.0))
    c.beat("b", 3.0, ok(retry.attempt_id, MAP_INPUT_RECORDS=5))
    counters = c.sched.jobs["j"].counters()
    assert counters["MAP_INPUT_RECORDS"] == 5
    assert (counters["DATA_LOCAL_MAPS"], counters["OTHER_LOCAL_MAPS"]) == (0, 1)


# --- commits and map outputs ------------------------------------------------------------------


def test_reduces_are_committed_and_maps_only_record_their_output() -> None:
    c = cluster("w1", slots=4)
    c.add_job("j", splits(2), num_reducers=1)
    m0, m1 = launches(c.beat("w1", 1.0))
    out = c.beat("w1", 2.0, ok(m0.attempt_id), ok(m1.attempt_id))
    assert commits(c.log) == []
    assert [(o.map_index, o.attempt_id, o.worker_url) for o in c.sched.map_outputs("j")] == [
        (0, m0.attempt_id, "http://w1:8042"),
        (1, m1.attempt_id, "http://w1:8042"),
    ]
    assert launches(out) == []
    r0 = c.only(c.beat("w1", 2.5))
    out = c.beat("w1", 3.0, ok(r0.attempt_id))
    assert commits(out) == [CommitTask("j", TaskKind.REDUCE, 0, r0.attempt_id)]
    assert finishes(out) == []  # the job tracker carries out the commit first
    assert finishes(c.tick(3.5)) == [FinishJob("j", JobState.SUCCEEDED, None)]
    assert c.sched.jobs["j"].finished == 3.5
    assert finishes(c.tick(4.0)) == []  # once only


def test_maps_of_a_map_only_job_are_committed_and_record_no_output() -> None:
    c = cluster("w1", slots=4)
    c.add_job("j", splits(2), num_reducers=0)
    m0, m1 = launches(c.beat("w1", 1.0))
    out = c.beat("w1", 2.0, ok(m0.attempt_id), ok(m1.attempt_id))
    assert commits(out) == [
        CommitTask("j", TaskKind.MAP, 0, m0.attempt_id),
        CommitTask("j", TaskKind.MAP, 1, m1.attempt_id),
    ]
    assert c.sched.map_outputs("j") == []
    assert finishes(c.beat("w1", 3.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_a_failed_commit_retries_the_task() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", [], num_reducers=2)
    r0, r1 = c.only(c.beat("a", 1.0)), c.only(c.beat("b", 1.0))
    out = c.beat("a", 2.0, ok(r0.attempt_id))
    assert commits(out) == [CommitTask("j", TaskKind.REDUCE, 0, r0.attempt_id)]
    out = c.sched.commit_failed(r0.attempt_id, "rename failed", 2.0)
    assert finishes(out) == []
    task = c.task("j", TaskKind.REDUCE, 0)
    assert (task.state, task.winner, task.failures) == (TaskState.PREP, None, 1)
    assert c.sched.attempts[r0.attempt_id].state is TaskState.FAILED
    assert "output commit failed: rename failed" in (c.sched.attempts[r0.attempt_id].error or "")
    assert launches(c.beat("a", 2.5)) == []  # the commit failed on a: b should take it
    retry = c.only(c.beat("b", 3.0, ok(r1.attempt_id)))
    assert (retry.kind, retry.index, retry.worker) == (TaskKind.REDUCE, 0, "b")
    out = c.beat("b", 5.0, ok(retry.attempt_id))
    assert commits(out) == [CommitTask("j", TaskKind.REDUCE, 0, retry.attempt_id)]
    assert finishes(c.tick(6.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


@pytest.mark.parametrize("num_reducers", [0, 1])
def test_a_failed_commit_of_the_last_task_keeps_the_job_running(num_reducers: int) -> None:
    # The job tracker applies CommitTask, and reports commit_failed, before the next
    # stimulus: the job must not have been declared SUCCEEDED in the meantime.
    c = cluster("w1", slots=1)
    c.add_job("j", splits(1 - num_reducers), num_reducers=num_reducers)
    only = c.only(c.beat("w1", 1.0))
    out = c.beat("w1", 2.0, ok(only.attempt_id))
    assert commits(out) == [CommitTask("j", only.kind, 0, only.attempt_id)]
    assert finishes(out) == []
    assert finishes(c.sched.commit_failed(only.attempt_id, "no space", 2.0)) == []
    assert c.sched.jobs["j"].state is JobState.RUNNING
    assert finishes(c.tick(3.0)) == []
    retry = c.only(c.beat("w1", 3.0))
    assert (retry.kind, retry.index) == (only.kind, 0)
    out = c.beat("w1", 4.0, ok(retry.attempt_id))
    assert commits(out) == [CommitTask("j", only.kind, 0, retry.attempt_id)]
    assert finishes(c.beat("w1", 5.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_commit_failures_count_toward_max_attempts() -> None:
    c = cluster("w1", slots=1)
    c.add_job("j", [], num_reducers=1, max_attempts=2)
    first = c.only(c.beat("w1", 1.0))
    c.beat("w1", 2.0, ok(first.attempt_id))
    c.sched.commit_failed(first.attempt_id, "denied", 2.0)
    second = c.only(c.beat("w1", 3.0))
    c.beat("w1", 4.0, ok(second.attempt_id))
    (finish,) = finishes(c.sched.commit_failed(second.attempt_id, "denied again", 4.0))
    assert finish.state is JobState.FAILED
    assert "denied again" in (finish.error or "")


# --- failures and retries ---------------------------------------------------------------------


def test_a_failed_attempt_is_retried_on_another_worker() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", [split(0, "dn-a")], 0)
    first = c.only(c.beat("a", 1.0))
    c.beat("b", 1.0)
    out = c.beat("a", 2.0, failed(first.attempt_id))
    assert launches(out) == []  # it failed here, and b is alive
    task = c.task("j", TaskKind.MAP, 0)
    assert (task.state, task.failures, task.failed_on) == (TaskState.PREP, 1, {"a"})
    retry = c.only(c.beat("b", 2.0))
    assert retry.index == 0
    assert retry.attempt_id != first.attempt_id


def test_a_failed_attempt_is_retried_on_the_same_worker_when_it_is_the_only_one() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", splits(1), 0)
    first = c.only(c.beat("a", 1.0))
    retry = c.only(c.beat("a", 2.0, failed(first.attempt_id)))
    assert retry.index == 0


def test_a_failed_attempt_goes_back_to_its_worker_when_the_others_have_no_slots() -> None:
    c = cluster("a", "b", slots=1)
    c.slots["b"] = 0
    c.add_job("j", splits(1), 0)
    c.beat("b", 0.5)
    first = c.only(c.beat("a", 1.0))
    assert c.only(c.beat("a", 2.0, failed(first.attempt_id))).index == 0


def test_a_task_that_failed_on_every_live_worker_runs_again_anywhere() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(1), 0, max_attempts=4)
    first = c.only(c.beat("a", 1.0))
    c.beat("b", 1.0)
    c.beat("a", 2.0, failed(first.attempt_id))
    second = c.only(c.beat("b", 2.0))
    third = c.only(c.beat("b", 3.0, failed(second.attempt_id)))  # it used to wait forever
    assert c.task("j", TaskKind.MAP, 0).failed_on == {"a", "b"}
    assert (third.index, third.worker) == (0, "b")
    c.beat("b", 5.0, ok(third.attempt_id))
    assert finishes(c.tick(6.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_a_map_that_fails_only_once_lets_the_job_succeed() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(2), num_reducers=1)
    m0, m1 = launches(c.beat("a", 1.0))
    c.beat("b", 1.0)
    c.beat("a", 2.0, failed(m0.attempt_id), ok(m1.attempt_id))
    retry = c.only(c.beat("b", 2.0))
    c.beat("b", 3.0, ok(retry.attempt_id))
    reduce = c.only(c.beat("b", 3.1))
    assert reduce.kind is TaskKind.REDUCE
    c.beat("b", 4.0, ok(reduce.attempt_id))
    assert finishes(c.tick(5.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]
    assert c.sched.jobs["j"].error is None
    assert [t.state for t in c.sched.jobs["j"].tasks()] == [TaskState.SUCCEEDED] * 3


def test_max_attempts_failures_fail_the_job_with_the_users_traceback() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(2), num_reducers=1, max_attempts=2)
    m0, m1 = launches(c.beat("a", 1.0))
    c.beat("b", 1.0)
    c.beat("a", 2.0, failed(m0.attempt_id, "Traceback: KeyError: 'first'"))
    retry = c.only(c.beat("b", 2.0))
    assert retry.index == 0
    out = c.beat("b", 3.0, failed(retry.attempt_id, "Traceback: KeyError: 'second'"))
    (finish,) = finishes(out)
    assert finish.state is JobState.FAILED
    assert finish.error is not None
    assert "Traceback: KeyError: 'second'" in finish.error
    assert "map task 0 failed 2 times" in finish.error
    assert kills(out) == [Kill("a", m1.attempt_id)]  # the job's other running attempt
    job = c.sched.jobs["j"]
    assert (job.state, job.error, job.finished) == (JobState.FAILED, finish.error, 3.0)
    assert [t.state for t in job.tasks()] == [TaskState.KILLED] * 3
    assert c.sched.workers["a"].attempts == set()
    # Nothing more is launched for it, and its late results change nothing.
    assert c.beat("a", 4.0, ok(m1.attempt_id)) == []
    assert c.sched.jobs["j"].state is JobState.FAILED


def test_a_failed_job_does_not_stop_other_jobs() -> None:
    c = cluster("a", slots=1)
    c.add_job("bad", splits(1), 0, now=0.0, max_attempts=1)
    c.add_job("good", splits(1), 0, now=1.0)
    first = c.only(c.beat("a", 1.0))
    out = c.beat("a", 2.0, failed(first.attempt_id))
    assert finishes(out)[0].state is JobState.FAILED
    assert c.only(out).job_id == "good"


def test_a_worker_reported_kill_is_retried_without_counting() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", splits(1), 0, max_attempts=1)
    first = c.only(c.beat("a", 1.0))
    retry = c.only(c.beat("a", 2.0, killed(first.attempt_id)))
    assert retry.index == 0
    assert c.task("j", TaskKind.MAP, 0).failures == 0
    assert c.sched.jobs["j"].state is JobState.RUNNING


def test_a_duplicate_result_is_ignored() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", [], num_reducers=2, max_attempts=2)
    r0 = c.only(c.beat("a", 1.0))
    out = c.beat("a", 2.0, ok(r0.attempt_id))
    assert len(commits(out)) == 1
    r1 = c.only(out)
    # The heartbeat reply was lost: the worker reports the same result again, and more.
    out = c.beat("a", 3.0, ok(r0.attempt_id), failed(r1.attempt_id))
    assert commits(out) == []
    retry = c.only(out)
    out = c.beat("a", 4.0, failed(r1.attempt_id), failed(retry.attempt_id, "late"))
    assert c.task("j", TaskKind.REDUCE, 1).failures == 2
    assert finishes(out)[0].state is JobState.FAILED
    assert c.beat("a", 5.0, failed(retry.attempt_id), ok(r0.attempt_id)) == []


def test_results_of_unknown_attempts_are_ignored() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", splits(1), 0)
    launch = c.only(c.beat("a", 1.0))
    assert c.beat("a", 2.0, ok("attempt_nobody_m_000000_0")) == []
    assert c.sched.attempts[launch.attempt_id].state is TaskState.RUNNING


# --- timeouts ---------------------------------------------------------------------------------


def test_a_hung_attempt_is_killed_and_counted_as_a_failure() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(1), 0, now=0.0, max_attempts=2)
    first = c.only(c.beat("a", 1.0))
    c.beat("a", 95.0)
    c.beat("b", 95.0)
    assert c.tick(1.0 + TASK_TIMEOUT) == []  # not over the limit yet
    out = c.tick(1.5 + TASK_TIMEOUT)
    assert kills(out) == [Kill("a", first.attempt_id)]
    attempt = c.sched.attempts[first.attempt_id]
    assert attempt.state is TaskState.FAILED
    assert "timed out" in (attempt.error or "")
    assert c.task("j", TaskKind.MAP, 0).failures == 1
    assert c.only(c.beat("b", 102.0)).index == 0  # retried elsewhere


def test_hanging_on_every_attempt_fails_the_job() -> None:
    c = cluster("a", slots=1, task_timeout=10.0)
    c.add_job("j", splits(1), 0, max_attempts=2)
    c.beat("a", 0.0)
    c.beat("a", 9.0)
    out = c.tick(10.5)
    assert len(kills(out)) == 1 and finishes(out) == []
    c.beat("a", 11.0)
    c.beat("a", 20.0)
    (finish,) = finishes(c.tick(21.5))
    assert finish.state is JobState.FAILED
    assert "timed out" in (finish.error or "")


# --- lost workers -----------------------------------------------------------------------------


def test_a_worker_is_lost_only_after_the_worker_timeout() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(1), 0)
    c.beat("a", 0.0)
    c.beat("b", 0.0)
    assert c.tick(WORKER_TIMEOUT) == []
    assert {w.id for w in c.sched.live_workers()} == {"a", "b"}
    c.beat("b", WORKER_TIMEOUT)
    c.tick(WORKER_TIMEOUT + 0.5)
    assert {w.id for w in c.sched.live_workers()} == {"b"}
    assert c.sched.workers["a"].lost


def test_silence_while_the_job_tracker_waited_on_the_dfs_is_not_the_workers() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(1), 0)
    c.beat("a", 0.0)
    c.beat("b", 1.0)
    # The job tracker spent 10 s on a commit while the namenode restarted; heartbeats
    # queued behind it. Neither worker is to blame for the gap.
    c.sched.excuse_silence(10.0, now=12.0)
    assert c.tick(12.0) == []
    assert {w.id for w in c.sched.live_workers()} == {"a", "b"}
    assert c.sched.workers["b"].last_seen == 11.0  # moved on by the gap, never past now
    c.sched.excuse_silence(5.0, now=12.5)
    assert c.sched.workers["a"].last_seen == 12.5
    # Silence after that is theirs again.
    c.tick(12.5 + WORKER_TIMEOUT + 0.1)
    assert c.sched.live_workers() == []


def test_a_lost_workers_running_attempts_run_elsewhere_without_counting() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", [split(0, "dn-a"), split(1, "dn-a")], 1, max_attempts=1)
    m0, m1 = launches(c.beat("a", 0.0))
    c.beat("b", 0.0)
    c.beat("b", 8.0)
    out = c.tick(11.0)
    assert finishes(out) == []  # not failures, though max_attempts is 1
    for launch in (m0, m1):
        attempt = c.sched.attempts[launch.attempt_id]
        assert attempt.state is TaskState.KILLED
        assert "lost" in (attempt.error or "")
    assert c.task("j", TaskKind.MAP, 0).failures == 0
    out = c.beat("b", 11.0)
    assert tasks_of(out) == [(TaskKind.MAP, 0), (TaskKind.MAP, 1)]
    assert all(launch.worker == "b" for launch in launches(out))


def test_a_lost_workers_finished_maps_run_again_while_reduces_need_them() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(2), num_reducers=2)
    c.slots["a"] = 1
    m0, m1 = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id))
    c.beat("b", 2.0, ok(m1.attempt_id))
    r0, r1 = launches(c.beat("b", 2.1))
    c.beat("b", 3.0, ok(r0.attempt_id))  # one reduce done, one still to go
    c.beat("b", 9.0)
    c.tick(12.0)  # a, holding map 0's output, is lost
    assert c.task("j", TaskKind.MAP, 0).state is TaskState.PREP
    assert c.task("j", TaskKind.MAP, 1).state is TaskState.SUCCEEDED
    assert [o.map_index for o in c.sched.map_outputs("j")] == [1]
    rerun = c.only(c.beat("b", 12.0, ok(r1.attempt_id)))
    assert (rerun.kind, rerun.index, rerun.worker) == (TaskKind.MAP, 0, "b")
    c.beat("b", 13.0, ok(rerun.attempt_id))
    assert finishes(c.tick(14.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_a_lost_workers_maps_are_not_rerun_once_every_reduce_is_done() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(2), num_reducers=1)
    m0, m1 = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id))
    c.beat("b", 1.0, ok(m1.attempt_id))
    r0 = c.only(c.beat("b", 1.1))
    c.beat("b", 2.0, ok(r0.attempt_id))
    out = c.tick(20.0)  # both workers silent: lost, but no output is needed any more
    assert launches(c.beat("b", 20.0)) == []
    assert finishes(out) == [FinishJob("j", JobState.SUCCEEDED, None)]
    assert [t.state for t in c.sched.jobs["j"].maps] == [TaskState.SUCCEEDED] * 2


def test_a_lost_workers_maps_are_not_rerun_for_a_map_only_job() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(2), num_reducers=0)
    m0, m1 = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id))  # committed: its output is in the DFS
    c.beat("b", 9.0)
    c.tick(12.0)
    assert c.sched.workers["a"].lost
    assert c.task("j", TaskKind.MAP, 0).state is TaskState.SUCCEEDED
    assert launches(c.beat("b", 12.0)) == []
    c.beat("b", 13.0, ok(m1.attempt_id))
    assert finishes(c.tick(14.0))[0].state is JobState.SUCCEEDED
    assert len(commits(c.log)) == 2


def test_a_returning_worker_has_its_stale_attempts_killed_and_late_results_ignored() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(2), 0)
    m0, m1 = launches(c.beat("a", 0.0))
    c.beat("b", 9.0)
    c.tick(11.0)
    retries = launches(c.beat("b", 11.0))
    assert tasks_of(retries) == [(TaskKind.MAP, 0), (TaskKind.MAP, 1)]
    # a comes back: m0 finished meanwhile, m1 is still running. Neither counts any more.
    out = c.beat("a", 12.0, ok(m0.attempt_id))
    assert kills(out) == [Kill("a", m1.attempt_id)]
    assert commits(out) == []
    assert not c.sched.workers["a"].lost
    assert launches(out) == []  # nothing left to run
    c.beat("b", 13.0, *(ok(r.attempt_id) for r in retries))
    assert [ins.attempt_id for ins in commits(c.log)] == [r.attempt_id for r in retries]


# --- fetch failures ---------------------------------------------------------------------------


def test_a_fetch_failure_reruns_the_map_and_retries_the_reduce_without_counting() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(2), num_reducers=1, max_attempts=1)
    m0, m1 = launches(c.beat("a", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id), ok(m1.attempt_id))
    r0 = c.only(c.beat("a", 1.01))  # once both maps are journaled
    out = c.beat("a", 2.0, fetch_failed(r0.attempt_id, 1))
    assert finishes(out) == []
    reduce = c.task("j", TaskKind.REDUCE, 0)
    assert (reduce.state, reduce.failures, reduce.fetch_failures) == (TaskState.PREP, 0, 1)
    assert tasks_of(out) == [(TaskKind.MAP, 1)]  # the map again; the reduce waits for it
    rerun = c.only(out)
    assert rerun.attempt_id != m1.attempt_id
    assert c.sched.attempts[m1.attempt_id].state is TaskState.SUCCEEDED  # not its fault
    assert c.task("j", TaskKind.MAP, 0).state is TaskState.SUCCEEDED
    assert [o.map_index for o in c.sched.map_outputs("j")] == [0]
    assert launches(c.beat("b", 3.0)) == []  # the map output is still missing
    c.beat("a", 3.0, ok(rerun.attempt_id))
    retry = c.only(c.beat("a", 3.01))
    assert (retry.kind, retry.index) == (TaskKind.REDUCE, 0)
    assert [o.attempt_id for o in c.sched.map_outputs("j")] == [m0.attempt_id, rerun.attempt_id]
    c.beat("a", 4.0, ok(retry.attempt_id))
    assert finishes(c.tick(5.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]


def test_fetch_failures_naming_no_map_only_retry_the_reduce() -> None:
    c = cluster("a", slots=2)
    c.add_job("j", splits(1), num_reducers=1, max_attempts=1)
    m0 = c.only(c.beat("a", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id))
    r0 = c.only(c.beat("a", 1.01))
    retry = c.only(c.beat("a", 2.0, fetch_failed(r0.attempt_id, 7, -1)))
    assert (retry.kind, retry.index) == (TaskKind.REDUCE, 0)


def test_endless_fetch_failures_fail_the_job() -> None:
    c = cluster("a", slots=2)
    c.add_job("j", splits(1), num_reducers=1)
    m = c.only(c.beat("a", 0.0))
    c.beat("a", 1.0, ok(m.attempt_id))
    out = c.beat("a", 1.01)
    now = 1.0
    for _ in range(FETCH_FAILURE_LIMIT):
        now += 1
        r = c.only(out)
        out = c.beat("a", now, fetch_failed(r.attempt_id, 0))
        assert finishes(out) == []
        now += 1
        c.beat("a", now, ok(c.only(out).attempt_id))  # the map again, then the reduce
        out = c.beat("a", now + 0.5)
    out = c.beat("a", now + 1, fetch_failed(c.only(out).attempt_id, 0))
    (finish,) = finishes(out)
    assert finish.state is JobState.FAILED
    assert "reduce 0" in (finish.error or "")


# --- vanished and unknown attempts ------------------------------------------------------------


def test_an_attempt_never_reported_within_the_launch_grace_is_rescheduled() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", splits(1), 0, max_attempts=1)
    sched = c.sched
    first = c.only(sched.heartbeat(hb("a", 1), 0.0))  # the reply never reaches the worker
    assert sched.heartbeat(hb("a", 1), LAUNCH_GRACE) == []  # it may still be starting
    out = sched.heartbeat(hb("a", 1), LAUNCH_GRACE + 0.5)
    attempt = sched.attempts[first.attempt_id]
    assert attempt.state is TaskState.KILLED
    assert "vanished" in (attempt.error or "")
    assert c.task("j", TaskKind.MAP, 0).failures == 0
    retry = c.only(out)
    assert retry.index == 0 and retry.attempt_id != first.attempt_id
    assert finishes(out) == []


def test_an_attempt_that_stops_being_reported_has_vanished() -> None:
    c = cluster("a", slots=1)
    c.add_job("j", splits(1), 0)
    first = c.only(c.beat("a", 0.0))
    c.beat("a", 20.0)  # reported running all along
    c.running["a"].clear()  # the worker restarted and forgot it
    retry = c.only(c.beat("a", 21.0))
    assert c.sched.attempts[first.attempt_id].state is TaskState.KILLED
    assert retry.index == 0


def test_an_attempt_the_scheduler_does_not_know_gets_a_kill() -> None:
    c = cluster("a", slots=2)
    c.add_job("j", splits(1), 0)
    launch = c.only(c.beat("a", 0.0))
    out = c.sched.heartbeat(hb("a", running=[launch.attempt_id, "attempt_ghost_m_000000_0"]), 1.0)
    assert kills(out) == [Kill("a", "attempt_ghost_m_000000_0")]
    assert c.sched.attempts[launch.attempt_id].state is TaskState.RUNNING


def test_an_attempt_reported_by_the_wrong_worker_is_killed_there() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", splits(1), 0)
    launch = c.only(c.beat("a", 0.0))
    out = c.sched.heartbeat(hb("b", 1, running=[launch.attempt_id]), 1.0)
    assert kills(out) == [Kill("b", launch.attempt_id)]
    assert c.sched.attempts[launch.attempt_id].state is TaskState.RUNNING


# --- speculative execution --------------------------------------------------------------------


def straggling(speculative: bool = True) -> tuple[Cluster, Launch]:
    """Three maps on a, b, c; two finish in 2s, the one on `a` runs on. Returns the straggler."""
    c = cluster("a", "b", "c", slots=1)
    c.add_job("j", splits(3), 0, speculative=speculative)
    slow, fast1, fast2 = (c.only(c.beat(w, 0.0)) for w in ("a", "b", "c"))
    c.beat("b", 2.0, ok(fast1.attempt_id))
    c.beat("c", 2.0, ok(fast2.attempt_id))
    return c, slow


def test_a_straggler_gets_a_speculative_copy_elsewhere() -> None:
    c, slow = straggling()
    # median 2s * 1.5 = 3s (> speculative_min 2s): not yet at 3.0, but at 3.5.
    assert launches(c.beat("b", 3.0)) == []
    assert launches(c.beat("a", 3.5)) == []  # never beside the original
    spec = c.only(c.beat("b", 3.5))
    assert (spec.index, spec.worker, spec.speculative) == (slow.index, "b", True)
    assert c.sched.attempts[spec.attempt_id].speculative
    assert launches(c.beat("c", 4.0)) == []  # one copy only


def test_speculation_waits_for_speculative_min() -> None:
    c = cluster("a", "b", slots=1, speculative_min=10.0)
    c.add_job("j", splits(2), 0)
    slow, fast = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("b", 1.0, ok(fast.attempt_id))
    assert launches(c.beat("b", 9.0)) == []  # 9s > 1.5 * 1s, but < 10s
    assert c.only(c.beat("b", 10.5)).speculative
    assert slow.index == 0


def test_no_speculation_while_tasks_of_the_phase_wait_to_be_scheduled() -> None:
    c = cluster("a", "b", "c", slots=1)
    c.add_job("j", splits(3), 0)
    slow, fast, failing = (c.only(c.beat(w, 0.0)) for w in ("a", "b", "c"))
    c.beat("b", 1.0, ok(fast.attempt_id))
    assert launches(c.beat("c", 1.0, failed(failing.attempt_id))) == []  # b should retry it
    # Map 0 straggles, but map 2 still waits for a worker: c, free, gets no copy of map 0.
    assert launches(c.beat("c", 10.0)) == []
    retry = c.only(c.beat("b", 10.0))
    assert (retry.index, retry.speculative) == (failing.index, False)
    spec = c.only(c.beat("c", 10.5))  # every map is scheduled now
    assert (spec.index, spec.speculative) == (slow.index, True)


def test_speculation_disabled_for_the_job_launches_no_copy() -> None:
    c, _ = straggling(speculative=False)
    assert launches(c.beat("b", 50.0)) == []
    assert launches(c.beat("c", 90.0)) == []


def test_reduces_are_speculated_too() -> None:
    c = cluster("a", "b", slots=1)
    c.add_job("j", [], num_reducers=2)
    slow, fast = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("b", 2.0, ok(fast.attempt_id))
    spec = c.only(c.beat("b", 10.0))
    assert (spec.kind, spec.index, spec.speculative) == (TaskKind.REDUCE, slow.index, True)


@pytest.mark.parametrize("winner", ["original", "speculative"])
def test_the_first_attempt_to_succeed_wins_and_the_other_is_killed(winner: str) -> None:
    c = cluster("a", "b", "c", slots=1)
    c.add_job("j", [], num_reducers=3)
    slow, fast, last = (c.only(c.beat(w, 0.0)) for w in ("a", "b", "c"))
    c.beat("b", 2.0, ok(fast.attempt_id))
    spec = c.only(c.beat("b", 10.0))
    first, second = (slow, spec) if winner == "original" else (spec, slow)
    out = c.beat(first.worker, 11.0, ok(first.attempt_id, REDUCE_OUTPUT_RECORDS=1))
    assert kills(out) == [Kill(second.worker, second.attempt_id)]
    assert commits(out) == [CommitTask("j", TaskKind.REDUCE, slow.index, first.attempt_id)]
    # The loser's own report of success, killed or not, arrives later: ignored.
    out = c.sched.heartbeat(hb(second.worker, 1, finished=[ok(second.attempt_id)]), 12.0)
    assert commits(out) == [] and kills(out) == []
    task = c.task("j", TaskKind.REDUCE, slow.index)
    assert task.winner is not None and task.winner.id == first.attempt_id
    assert c.sched.attempts[second.attempt_id].state is TaskState.KILLED
    c.beat("c", 13.0, ok(last.attempt_id))
    assert finishes(c.tick(14.0)) == [FinishJob("j", JobState.SUCCEEDED, None)]
    assert len(commits(c.log)) == 3  # one per reduce
    assert c.sched.jobs["j"].counters()["REDUCE_OUTPUT_RECORDS"] == 1


def test_no_speculative_reduce_while_a_map_runs_again() -> None:
    # A reduce attempt fetches the map outputs known at its launch; launched while a map
    # re-runs, it would miss that map's records and still succeed.
    c = cluster("a", "b", "c", slots=1)
    c.slots["c"] = 2
    c.add_job("j", splits(2), num_reducers=2)
    m0, m1 = c.only(c.beat("a", 0.0)), c.only(c.beat("b", 0.0))
    c.beat("a", 1.0, ok(m0.attempt_id))
    c.beat("b", 1.0, ok(m1.attempt_id))
    r0 = c.only(c.beat("b", 1.01))
    r1 = c.only(c.beat("a", 1.5))  # the straggler
    c.beat("b", 3.0, ok(r0.attempt_id))
    c.beat("a", 13.0)
    c.tick(14.0)  # b, holding map 1's output, is lost: map 1 runs again
    out = c.beat("c", 14.0)
    assert tasks_of(out) == [(TaskKind.MAP, 1)]  # and no copy of reduce 1 beside it
    c.beat("a", 15.0)
    c.beat("c", 15.0, ok(c.only(out).attempt_id))
    spec = c.only(c.beat("c", 15.01))
    assert (spec.kind, spec.index, spec.speculative) == (TaskKind.REDUCE, r1.index, True)
    assert [o.map_index for o in c.sched.map_outputs("j")] == [0, 1]


def test_a_failing_original_leaves_the_speculative_copy_running() -> None:
    c, slow = straggling()
    spec = c.only(c.beat("b", 4.0))
    out = c.beat("a", 5.0, failed(slow.attempt_id))
    assert kills(out) == [] and finishes(out) == []
    task = c.task("j", TaskKind.MAP, slow.index)
    assert task.state is TaskState.RUNNING and task.failures == 1
    out = c.beat("b", 6.0, ok(spec.attempt_id))
    assert commits(out) == [CommitTask("j", TaskKind.MAP, slow.index, spec.attempt_id)]


# --- kill_job ---------------------------------------------------------------------------------


def test_killing_a_job_kills_its_running_attempts_and_ignores_late_results() -> None:
    c = cluster("a", "b", slots=2)
    c.add_job("j", splits(3), num_reducers=1)
    m0, m1 = launches(c.beat("a", 0.0))
    m2 = c.only(c.beat("b", 0.0))
    c.beat("b", 1.0, ok(m2.attempt_id))
    out = c.sched.kill_job("j", 2.0)
    assert sorted(kills(out), key=lambda k: k.attempt_id) == [
        Kill("a", m0.attempt_id),
        Kill("a", m1.attempt_id),
    ]
    assert finishes(out) == [FinishJob("j", JobState.KILLED, "killed by request")]
    job = c.sched.jobs["j"]
    assert job.state is JobState.KILLED and job.finished == 2.0
    assert c.sched.kill_job("j", 3.0) == []
    assert c.beat("a", 3.0, ok(m0.attempt_id), failed(m1.attempt_id)) == []
    assert c.sched.tick(50.0) == []
    assert commits(c.log) == []


def test_a_finished_job_cannot_be_killed() -> None:
    c = cluster("a")
    c.add_job("j", splits(1), 0)
    m = c.only(c.beat("a", 0.0))
    c.beat("a", 1.0, ok(m.attempt_id))
    c.tick(2.0)
    assert c.sched.kill_job("j", 3.0) == []
    assert c.sched.jobs["j"].state is JobState.SUCCEEDED


# --- a random cluster -------------------------------------------------------------------------


@dataclass
class SimAttempt:
    id: str
    job_id: str
    kind: TaskKind
    index: int
    ends: float
    fails: bool
    map_outputs: list[tuple[int, str, str]]  # reduces: (map, attempt, worker url) at launch


@dataclass
class SimWorker:
    id: str
    slots: int = 2
    up: bool = True
    back_at: float = 0.0
    running: dict[str, SimAttempt] = field(default_factory=dict)
    to_report: list[AttemptResult] = field(default_factory=list)
    disk: set[str] = field(default_factory=set)  # map attempts whose output it holds

    @property
    def url(self) -> str:
        return f"http://{self.id}:8042"


TaskKey = tuple[str, TaskKind, int]


class Simulation:
    """Three workers with two slots each, driven as the job tracker drives them, running
    `jobs` jobs (and, with `doomed`, one more that is killed part-way): random durations and
    stragglers, planned failures of attempts (errors and hangs) and of output commits (fewer
    than max_attempts per task), crashes (processes and map outputs gone) and partitions
    (both kept), lost heartbeat replies. Like the job tracker it carries out instructions in
    order, a commit's `commit_failed` answer after the rest of the batch; launches and kills
    wait in a queue per worker for its next heartbeat reply."""

    def __init__(
        self,
        seed: int,
        num_maps: int,
        num_reducers: int,
        max_attempts: int,
        *,
        jobs: int = 1,
        doomed: bool = False,
    ) -> None:
        self.rng = random.Random(seed)
        self.sched = make_scheduler(
            worker_timeout=6.0, task_timeout=20.0, launch_grace=3.0, speculative_min=4.0
        )
        self.workers = {w: SimWorker(w) for w in ("w0", "w1", "w2")}
        self.num_reducers = num_reducers
        self.max_attempts = max_attempts
        self.queued: dict[str, list[Launch | Kill]] = {w: [] for w in self.workers}
        self.failures_planned: Counter[TaskKey] = Counter()
        self.commits: list[CommitTask] = []
        # Map successes on their way to the journal: (when written, job, map index).
        self.journaling: list[tuple[float, str, int]] = []
        self.journaled: set[tuple[str, int]] = set()
        self.finishes: dict[str, FinishJob] = {}
        self.launched: set[str] = set()
        self.outages = 0
        self.job_ids = [f"job{n}" for n in range(jobs)]
        self.doomed = "doomed" if doomed else None
        self.kill_at = self.rng.uniform(1, 30)
        hosts = [f"dn-{w}" for w in self.workers]
        for n, job_id in enumerate([*self.job_ids, *([self.doomed] if self.doomed else [])]):
            job_splits = [split(i, *self.rng.sample(hosts, 2)) for i in range(num_maps)]
            added = self.sched.add_job(job_id, job_splits, num_reducers=num_reducers, now=n)
            self.record(added, float(n))

    def task(self, key: TaskKey) -> Task:
        job = self.sched.jobs[key[0]]
        return (job.maps if key[1] is TaskKind.MAP else job.reduces)[key[2]]

    # --- the fake workers ---

    def plan_failure(self, key: TaskKey, chance: float) -> bool:
        """At most max_attempts - 1 planned failures per task, so the job must succeed."""
        fails = self.failures_planned[key] < self.max_attempts - 1 and self.rng.random() < chance
        self.failures_planned[key] += fails
        return fails

    def start(self, worker: SimWorker, launch: Launch, now: float) -> None:
        fails = self.plan_failure((launch.job_id, launch.kind, launch.index), 0.2)
        duration = self.rng.choice([1, 1, 2, 2, 3, 4, 15])  # now and then a straggler
        if fails and self.rng.random() < 0.3:
            duration = 10_000  # it hangs, until the task timeout kills it
        outputs = [
            (o.map_index, o.attempt_id, o.worker_url) for o in self.sched.map_outputs(launch.job_id)
        ]
        worker.running[launch.attempt_id] = SimAttempt(
            launch.attempt_id,
            launch.job_id,
            launch.kind,
            launch.index,
            now + duration,
            fails,
            outputs,
        )

    def result(self, worker: SimWorker, attempt: SimAttempt) -> AttemptResult:
        if attempt.fails:
            return failed(attempt.id, f"Traceback: planned failure of {attempt.id}")
        if attempt.kind is TaskKind.REDUCE:
            missing = [i for i, m, url in attempt.map_outputs if not self.serves(url, m)]
            if missing:
                return fetch_failed(attempt.id, *missing)
        else:
            worker.disk.add(attempt.id)
        return ok(attempt.id, RECORDS=1)

    def serves(self, url: str, map_attempt: str) -> bool:
        return any(w.up and w.url == url and map_attempt in w.disk for w in self.workers.values())

    def beat(self, worker: SimWorker, now: float) -> None:
        for attempt in list(worker.running.values()):
            if attempt.ends <= now:
                del worker.running[attempt.id]
                worker.to_report.append(self.result(worker, attempt))
        reported, worker.to_report = worker.to_report, []
        beat = hb(
            worker.id,
            worker.slots,
            running=worker.running,
            finished=reported,
            datanode=f"dn-{worker.id}",
        )
        out = self.sched.heartbeat(beat, now)
        self.record(out, now)
        self.check_launches(out, worker)
        reply, self.queued[worker.id] = self.queued[worker.id], []
        if self.rng.random() < 0.05:  # the reply is lost; the worker will report again
            worker.to_report = reported + worker.to_report
            return
        for ins in reply:
            if isinstance(ins, Launch):
                self.start(worker, ins, now)
            elif ins.attempt_id in worker.running:
                del worker.running[ins.attempt_id]
                worker.to_report.append(killed(ins.attempt_id))

    def outage(self, worker: SimWorker, now: float) -> None:
        """A worker goes away for a while: a partition keeps its processes and map outputs, a
        crash loses both."""
        self.outages += 1
        worker.up = False
        worker.back_at = now + self.rng.choice([2, 4, 8, 12])
        if self.rng.random() < 0.5:
            worker.running.clear()
            worker.disk.clear()
            worker.to_report.clear()

    # --- the loop ---

    def step(self, now: float) -> None:
        for due, job_id, index in [j for j in self.journaling if j[0] <= now]:
            self.journaling.remove((due, job_id, index))
            self.journaled.add((job_id, index))
            self.sched.journaled(job_id, index)
        for worker in self.workers.values():
            if not worker.up and now >= worker.back_at:
                worker.up = True
            elif worker.up and self.outages < 4 and self.rng.random() < 0.02:
                self.outage(worker, now)
        if self.doomed and self.doomed not in self.finishes and now >= self.kill_at:
            self.record(self.sched.kill_job(self.doomed, now), now)
        for worker in self.rng.sample(list(self.workers.values()), len(self.workers)):
            if worker.up:
                self.beat(worker, now)
        self.record(self.sched.tick(now), now)
        self.check_state()

    def run(self) -> None:
        now = 0.0
        while any(job_id not in self.finishes for job_id in self.sched.jobs):
            now += 1.0
            assert now < 1000, "a job never finished"
            self.step(now)

    # --- invariants ---

    def record(self, out: list[Instruction], now: float) -> None:
        queue = list(out)
        while queue:
            ins = queue.pop(0)
            if isinstance(ins, Launch | Kill):
                self.queued[ins.worker].append(ins)
            if isinstance(ins, Succeeded):  # written a few steps later
                self.journaled.discard((ins.job_id, ins.index))
                self.journaling.append((now + self.rng.choice([0, 1, 3]), ins.job_id, ins.index))
            if isinstance(ins, CommitTask):
                key = (ins.job_id, ins.kind, ins.index)
                task, attempt = self.task(key), self.sched.attempts[ins.attempt_id]
                assert attempt.state is TaskState.SUCCEEDED
                assert task.winner is attempt and task.state is TaskState.SUCCEEDED
                assert ins.kind is TaskKind.REDUCE or self.num_reducers == 0
                assert ins.job_id not in self.finishes, f"a commit after the job finished: {ins}"
                done = [(c.job_id, c.kind, c.index) for c in self.commits]
                assert key not in done, f"a second commit: {ins}"
                if self.plan_failure(key, 0.1):
                    queue += self.sched.commit_failed(ins.attempt_id, "rename failed", now)
                else:
                    self.commits.append(ins)
            elif isinstance(ins, FinishJob):
                assert ins.job_id not in self.finishes, f"{ins.job_id} finished twice"
                self.finishes[ins.job_id] = ins
            elif isinstance(ins, Launch):
                assert ins.attempt_id not in self.launched
                assert ins.job_id not in self.finishes, "a launch after the job finished"
                self.launched.add(ins.attempt_id)

    def check_launches(self, out: list[Instruction], worker: SimWorker) -> None:
        mine = launches(out)
        assert all(launch.worker == worker.id for launch in mine)
        assert len(mine) <= worker.slots
        for launch in mine:
            job = self.sched.jobs[launch.job_id]
            if launch.kind is TaskKind.REDUCE:
                assert all(t.state is TaskState.SUCCEEDED for t in job.maps)
                assert len(self.sched.map_outputs(job.id)) == len(job.maps)
                waiting = [i for i in range(len(job.maps)) if (job.id, i) not in self.journaled]
                assert waiting == [], f"a reduce before maps {waiting} were journaled"

    def check_state(self) -> None:
        for w in self.sched.workers.values():
            assert len(w.attempts) <= w.slots, f"{w.id} over its slots"
            for attempt_id in w.attempts:
                assert self.sched.attempts[attempt_id].state is TaskState.RUNNING
        for job in self.sched.jobs.values():
            for task in job.tasks():
                assert task.failures < self.max_attempts
                running = task.running()
                assert len(running) <= 2
                assert sum(a.speculative for a in task.attempts) <= 1
                if job.state.finished:
                    assert running == []
                else:
                    assert (task.state is TaskState.RUNNING) == bool(running)


SEEDS = range(12)


def check_succeeded(sim: Simulation, job_id: str, num_maps: int, num_reducers: int) -> None:
    assert sim.finishes[job_id] == FinishJob(job_id, JobState.SUCCEEDED, None)
    job = sim.sched.jobs[job_id]
    assert job.state is JobState.SUCCEEDED
    assert all(t.state is TaskState.SUCCEEDED for t in job.tasks())
    mine = [c for c in sim.commits if c.job_id == job_id]
    committed = sorted((c.kind, c.index) for c in mine)
    if num_reducers:
        assert committed == [(TaskKind.REDUCE, r) for r in range(num_reducers)]
        assert [o.map_index for o in sim.sched.map_outputs(job_id)] == list(range(num_maps))
    else:
        assert committed == [(TaskKind.MAP, m) for m in range(num_maps)]
    for c in mine:
        task = sim.task((job_id, c.kind, c.index))
        assert task.winner is not None and task.winner.id == c.attempt_id
    counters = job.counters()
    assert counters.get("RECORDS", 0) == num_maps + num_reducers
    assert counters["DATA_LOCAL_MAPS"] + counters["OTHER_LOCAL_MAPS"] == num_maps


@pytest.mark.parametrize("num_reducers", [0, 1, 3])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_cluster_runs_the_job_to_success(seed: int, num_reducers: int) -> None:
    sim = Simulation(seed, num_maps=8, num_reducers=num_reducers, max_attempts=4)
    sim.run()
    check_succeeded(sim, "job0", 8, num_reducers)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_cluster_runs_jobs_side_by_side_and_kills_one(seed: int) -> None:
    sim = Simulation(seed, num_maps=5, num_reducers=2, max_attempts=4, jobs=2, doomed=True)
    sim.run()
    for job_id in sim.job_ids:
        check_succeeded(sim, job_id, 5, 2)
    killed_job = sim.finishes["doomed"]
    if killed_job.state is JobState.KILLED:  # it may have finished before its kill came
        assert killed_job.error == "killed by request"
        assert all(not t.running() for t in sim.sched.jobs["doomed"].tasks())
    else:
        check_succeeded(sim, "doomed", 5, 2)


def test_the_simulation_exercises_the_interesting_paths() -> None:
    # Guards the random test against becoming too tame to mean anything.
    seen: Counter[str] = Counter()
    for seed in SEEDS:
        sim = Simulation(seed, num_maps=8, num_reducers=3, max_attempts=4)
        sim.run()
        for attempt in sim.sched.attempts.values():
            seen["speculative"] += attempt.speculative
            seen["failed"] += attempt.state is TaskState.FAILED
            seen["lost"] += "lost" in (attempt.error or "")
            seen["vanished"] += "vanished" in (attempt.error or "")
            seen["timed out"] += "timed out" in (attempt.error or "")
            seen["commit failed"] += "commit failed" in (attempt.error or "")
        seen["fetch failures"] += sum(t.fetch_failures for t in sim.sched.jobs["job0"].reduces)
    paths = ["speculative", "failed", "commit failed", "lost", "vanished", "timed out"]
    assert all(seen[k] for k in [*paths, "fetch failures"]), seen


# --- delay scheduling -------------------------------------------------------------------------


def test_a_map_waits_for_a_worker_beside_its_data_before_running_elsewhere() -> None:
    c = cluster("a", "b", slots=1)
    c.sched.locality_delay = 1.0
    c.beat("a", 0.0)  # both workers known, with free slots
    c.beat("b", 0.0)
    c.add_job("j", [split(0, "dn-b")], 0, now=0.0)
    assert launches(c.beat("a", 0.5)) == []  # b holds the block and has a free slot: wait
    launch = c.only(c.beat("b", 0.6))
    assert (launch.worker, launch.data_local) == ("b", True)


def test_a_map_runs_remote_after_the_delay_or_when_its_holders_are_busy() -> None:
    c = cluster("a", "b", slots=1)
    c.sched.locality_delay = 1.0
    c.beat("a", 0.0)
    c.beat("b", 0.0)
    c.add_job("j", [split(0, "dn-b")], 0, now=0.0)
    assert launches(c.beat("a", 0.9)) == []
    launch = c.only(c.beat("a", 1.0))  # waited long enough: run it away from its data
    assert (launch.worker, launch.data_local) == ("a", False)

    c.add_job("k", [split(0, "dn-b"), split(1, "dn-b")], 0, now=2.0)
    busy = c.only(c.beat("b", 2.0))  # b's only slot is now taken by a local map
    assert busy.data_local
    other = c.only(c.beat("a", 2.1, ok(launch.attempt_id)))  # so the second need not wait
    assert (other.job_id, other.data_local) == ("k", False)
